/*
 * fixproof probe: panics and deferred calls (DTrace, pid provider).
 * Same meaning and map names as panics.bt: @panics (runtime.gopanic),
 * @fatal (runtime.fatalpanic), @defers (runtime.deferproc and
 * runtime.deferprocStack; open-coded defers call neither).
 * Untested here; run as `dtrace -s panics.d -c "BINARY ARGS"`.
 * Placeholders: none; $target is the process dtrace -c started.
 */
pid$target::runtime.gopanic:entry { @panics = count(); }
pid$target::runtime.fatalpanic:entry { @fatal = count(); }
pid$target::runtime.deferproc:entry, pid$target::runtime.deferprocStack:entry { @defers = count(); }
