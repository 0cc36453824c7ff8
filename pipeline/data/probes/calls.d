/*
 * fixproof probe: how often configured functions are called (DTrace, pid provider).
 * Same meaning and map name as calls.bt: @calls[FUNC] (probefunc is the
 * function name).
 * Untested here; run as `dtrace -s calls.d -c "BINARY ARGS"`.
 * Placeholders: a line containing {{function}} is repeated once per
 * configured function with the Go symbol name substituted. DTrace matches
 * the name as a glob, so the `*` of `(*T)` also matches itself.
 */
pid$target::{{function}}:entry { @calls[probefunc] = count(); }
