/*
 * fixproof probe: goroutines created vs exited (DTrace, pid provider).
 * Same meaning and map names as goroutines.bt: @created (runtime.newproc1
 * entries), @exited (runtime.goexit1 entries).
 * Untested here (the Linux machines fixproof is developed on have no DTrace
 * that traces user processes); for hosts whose dtrace does, run as
 * `dtrace -s goroutines.d -c "BINARY ARGS"`.
 * Placeholders: none; $target is the process dtrace -c started.
 */
pid$target::runtime.newproc1:entry { @created = count(); }
pid$target::runtime.goexit1:entry { @exited = count(); }
