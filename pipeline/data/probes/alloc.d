/*
 * fixproof probe: heap allocation sizes (DTrace, pid provider).
 * Same meaning and map names as alloc.bt: @allocs, @alloc_bytes,
 * @alloc_max, from runtime.mallocgc's size argument.
 * Untested here; run as `dtrace -s alloc.d -c "BINARY ARGS"`.
 * Placeholders: {{arg0}} is the first integer argument of Go's register ABI
 * (arg0 would be the C ABI's): uregs[R_RAX] on amd64, uregs[R_X0] on arm64.
 */
pid$target::runtime.mallocgc:entry
{
  @allocs = count();
  @alloc_bytes = sum({{arg0}});
  @alloc_max = max({{arg0}});
}
