"""gdb commands fixproof sources into its probe sessions (gdb's Python API).

fixproof-snapshot EXPR [EXPR...]
    Evaluate each expression in the selected frame and print ONE line of
    JSON: {"EXPR": {"value": "..."} or {"error": "..."}, ...}. The arguments
    are either one JSON list of strings (what fixproof sends, so expressions
    may hold spaces and quotes) or words split like gdb's own arguments.

fixproof-goroutines
    Print ONE line of JSON: a list of the goroutines that are not dead, read
    from runtime.allgs without the Go runtime's runtime-gdb.py:
    [{"goid": 1, "status": "waiting", "pc": "0x...", "func": "runtime.gopark"}, ...].

Both print through gdb.write, which gdb/MI delivers as console stream records.
"""

import json

import gdb  # provided by gdb

# runtime2.go: _Gidle.._Gpreempted (the _Gscan bit 0x1000 is masked off).
_STATUS = {0: "idle", 1: "runnable", 2: "running", 3: "syscall", 4: "waiting", 5: "moribund", 6: "dead",
           7: "enqueue", 8: "copystack", 9: "preempted", 10: "leaked"}
_GDEAD = 6


def _args(arg):
    arg = arg.strip()
    if arg.startswith("["):
        exprs = json.loads(arg)
        if not isinstance(exprs, list) or not all(isinstance(e, str) for e in exprs):
            raise gdb.GdbError("fixproof-snapshot: the JSON argument must be a list of strings")
        return exprs
    return gdb.string_to_argv(arg)


class Snapshot(gdb.Command):
    """Print the values of expressions as one JSON line: fixproof-snapshot EXPR [EXPR...]"""

    def __init__(self):
        super().__init__("fixproof-snapshot", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        out = {}
        for expr in _args(arg):
            try:
                out[expr] = {"value": str(gdb.parse_and_eval(expr))}
            except (gdb.error, RuntimeError) as e:
                out[expr] = {"error": str(e)}
        gdb.write(json.dumps(out) + "\n")


def _global(name):
    sym = gdb.lookup_global_symbol(name) or gdb.lookup_static_symbol(name)
    if sym is None:
        raise gdb.GdbError(f"{name} is not in the binary's debug information")
    return sym.value()


def _field(value, *names):
    """The first field of a struct value that exists (field names vary across Go releases)."""
    fields = {f.name for f in value.type.strip_typedefs().fields()}
    for n in names:
        if n in fields:
            return value[n]
    raise gdb.GdbError(f"none of the fields {names} in {value.type}")


def _int(value):
    t = value.type.strip_typedefs()
    if t.code == gdb.TYPE_CODE_STRUCT:  # atomic.Uint32 and friends: {noCopy, value}
        return _int(_field(value, "value", "v"))
    return int(value)


class Goroutines(gdb.Command):
    """Print the goroutines that are not dead as one JSON line: fixproof-goroutines"""

    def __init__(self):
        super().__init__("fixproof-goroutines", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        allgs = _global("runtime.allgs")
        n = int(allgs["len"])
        array = allgs["array"]
        out = []
        for i in range(n):
            g = array[i].dereference()
            status = _int(_field(g, "atomicstatus")) & ~0x1000
            if status == _GDEAD:
                continue
            pc = int(_field(g, "sched")["pc"])
            block = None
            try:
                block = gdb.block_for_pc(pc)
            except RuntimeError:
                pass
            while block is not None and block.function is None:
                block = block.superblock
            func = block.function.name if block is not None else None
            out.append({"goid": _int(_field(g, "goid")), "status": _STATUS.get(status, str(status)),
                        "pc": hex(pc), "func": func})
        gdb.write(json.dumps(out) + "\n")


Snapshot()
Goroutines()
