/*
 * fixproof probe: GC cycles and the time between them (DTrace, pid provider).
 * Same meaning and map names as gc.bt: @gc, @gc_interval_ns (avg() here,
 * stats() in bpftrace), @gc_interval_min_ns, @gc_interval_max_ns.
 * Untested here; run as `dtrace -s gc.d -c "BINARY ARGS"`.
 * Placeholders: none; $target is the process dtrace -c started.
 */
uint64_t last_gc;

pid$target::runtime.gcStart:entry /last_gc != 0/
{
  this->d = timestamp - last_gc;
  @gc_interval_ns = avg(this->d);
  @gc_interval_min_ns = min(this->d);
  @gc_interval_max_ns = max(this->d);
}

pid$target::runtime.gcStart:entry { @gc = count(); last_gc = timestamp; }
