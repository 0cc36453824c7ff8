/*
 * fixproof probe: which system calls the traced process makes (DTrace).
 * Same meaning and map name as syscalls.bt, but keyed by name
 * (@syscalls[NAME]) since DTrace's syscall provider names each call.
 * Untested here; run as `dtrace -s syscalls.d -c "BINARY ARGS"`.
 * Placeholders: none; $target is the process dtrace -c started.
 */
syscall:::entry /pid == $target/ { @syscalls[probefunc] = count(); }
