/*
 * fixproof probe: heap allocations and their sizes (DTrace, pid provider).
 * Same meaning and map names as alloc.bt: @allocs, @alloc_bytes,
 * @alloc_max, from the size argument of runtime.mallocgc (requests larger
 * than {{mallocgc_above}} only) and of every size-specialised allocation
 * entry of the binary (Go 1.27+: runtime.mallocgcTinySC2,
 * runtime.mallocgcSmallNoScanSC<N>, runtime.mallocgcSmallScanNoHeaderSC<N>),
 * as found by pipeline.engine.allocprobe.alloc_entry_points; see alloc.bt.
 * Untested here; run as `dtrace -s alloc.d -c "BINARY ARGS"`.
 * Placeholders: {{arg0}} is the first integer argument of Go's register ABI
 * (arg0 would be the C ABI's): uregs[R_RAX] on amd64, uregs[R_X0] on arm64.
 * {{mallocgc_above}}: the size above which a runtime.mallocgc call is not
 * handed to a specialised entry (0 without them). A line containing
 * {{alloc_entry}} is repeated once per specialised entry (none without).
 */
pid$target::runtime.mallocgc:entry
/{{arg0}} > {{mallocgc_above}}/
{
  @allocs = count();
  @alloc_bytes = sum({{arg0}});
  @alloc_max = max({{arg0}});
}

pid$target::{{alloc_entry}}:entry { @allocs = count(); @alloc_bytes = sum({{arg0}}); @alloc_max = max({{arg0}}); }
