"""Stage gdb: the built binary runs under real gdb in a probe container, and
each [[gdb]] check turns what gdb saw into a result.

Kinds of check (their keys, validation and evidence keys: fixproof.kinds.gdb;
their runners: ``_RUNNERS`` below, one per registered kind):

* path: a breakpoint on the fixed function (optionally conditional) must be
  hit as often as `expect_hits` says while the binary runs with `run`.
* panic: breakpoints on runtime.gopanic, runtime.fatalpanic and
  runtime.throw; any hit (recovered panics included) fails, with the Go
  backtrace.
* memory: an integer expression read at two moments (two hits of one
  breakpoint, or a breakpoint and an end breakpoint); the growth between
  them must stay within `max_growth`.
* interface: the binary's itab table (read from its data the way the runtime
  reads it, pipeline/goinfo/itabs.py, so Go 1.27 and stripped binaries work)
  must include `require_itab` pairs and exclude `forbid_itab` pairs; an
  unreadable table is an error. With `run`, breakpoints on the runtime's
  failed type assertion paths fail the check when hit.

A check passes only on positive evidence: a run that ends before a moment is
reached, a value gdb cannot read, or a stripped symbol table is an error or
a failure, never a pass. Each check's full MI transcript is written to
reports/gdb/<check>.mi.log and named in its evidence. The stage's facts name
the probe image and, as `gdb_version`, the first line of `gdb --version` in it.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Callable

from fixproof.errors import BinaryFormatError, ConfigError, FixproofError
from fixproof.goinfo.pclntab import close_names, read_functions
from fixproof.results import CheckResult, StageResult, Status, error, failed, passed, skipped
from fixproof.engine.docker import GDB_PROFILE
from fixproof.engine.images import PROBE_REF
from fixproof.config import Config
from fixproof.kinds.gdb import GDB_KINDS, GdbCheck, InterfaceCheck, MemoryCheck, PanicCheck, PathCheck
from fixproof.stages.build import binary_unchanged
from fixproof.stages.common import StageContext, slug, timed
from fixproof.stages.spec import Inputs, StageSpec

STAGE = "gdb"
PANIC_FUNCS = ("runtime.gopanic", "runtime.fatalpanic", "runtime.throw")
# Called only when a type assertion to a concrete type fails. (A failed
# assertion to an interface type panics from runtime.typeAssert/assertE2I,
# which also run for assertions that succeed: the panic check sees those.)
ASSERT_FUNCS = ("runtime.panicdottypeE", "runtime.panicdottypeI", "runtime.panicnildottype")
_COMPARE: dict[str, Callable[[int, int], bool]] = {
    ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "==": lambda a, b: a == b,
    ">": lambda a, b: a > b, "<": lambda a, b: a < b,
}


def run(ctx: StageContext) -> StageResult:
    cfg = ctx.cfg
    if not cfg.gdb:
        return StageResult(STAGE, (skipped("gdb checks", "no [[gdb]] checks in the config"),))
    gate = ctx.gate("build")
    if gate:
        return StageResult(STAGE, (gate,))
    binary = ctx.built_binary()
    try:
        functions = frozenset(read_functions(binary))
    except BinaryFormatError as e:
        return StageResult(STAGE, (error("gdb: function table", f"cannot read the function table of {binary}: {e}"),))

    info = ctx.probe_image()
    logs = cfg.reports_dir / "gdb"
    logs.mkdir(parents=True, exist_ok=True)
    facts: dict = {"binary": str(binary), "probe_image": info.to_json()}
    with _Boxes(ctx, binary) as boxes:  # one probe container for the stage's checks, reset between them
        checks = [_run_check(ctx, c, binary, functions, logs, facts, boxes) for c in cfg.gdb]
    return StageResult(STAGE, tuple(checks), facts)


class _Boxes:
    """The stage's probe container, started by the first check that runs gdb and removed at the end.
    A check whose container could not be reset gets a new one (the old one is removed first)."""

    def __init__(self, ctx: StageContext, binary: Path) -> None:
        self.ctx, self.binary = ctx, binary
        self._stack: ExitStack | None = None
        self._box = None

    def __enter__(self) -> "_Boxes":
        return self

    def __exit__(self, *exc) -> None:
        self.drop()

    def get(self):
        from fixproof.engine.gdb import probe_container

        if self._box is None:
            stack = ExitStack()
            self._box = stack.enter_context(probe_container(
                self.ctx.engine, PROBE_REF, str(self.binary),
                profile=self.ctx.container_profile(GDB_PROFILE, unprivileged=True), progress=self.ctx.progress))
            self._stack = stack
        return self._box

    def drop(self) -> None:
        stack, self._stack, self._box = self._stack, None, None
        if stack is not None:
            stack.close()


def _run_check(ctx: StageContext, c: GdbCheck, binary: Path, functions: frozenset[str],
               logs: Path, facts: dict, boxes: "_Boxes") -> CheckResult:
    """One [[gdb]] check; the first gdb session records gdb's version in ``facts``."""
    start = time.monotonic()
    name = c.name
    runner = _RUNNERS.get(type(c))
    if runner is None:  # a kind registered without a runner (tests/unit/stages/test_gdb_stage.py forbids it)
        return error(name, f"no runner for [[gdb]] kind {c.kind!r}", evidence={"exit_code": FixproofError.exit_code})
    try:
        for fn in c.go_functions():
            _require_function(fn, functions, c.name)
    except ConfigError as e:
        return error(name, str(e), evidence={"exit_code": e.exit_code})
    itab = None
    if isinstance(c, InterfaceCheck) and (c.require_itab or c.forbid_itab):
        itab = _itab_check(c, binary)
        if itab.status is not Status.PASSED or not c.run:
            return timed(itab, start)
    ctx.progress.say(f"{name}: {binary.name} {' '.join(c.run)} under gdb")
    log = logs / (slug(name) + ".mi.log")
    from fixproof.engine.gdb import GdbError, UnknownFunction, box_session

    session = None
    output = ""
    try:
        with box_session(boxes.get(), timeout=c.timeout, progress=ctx.progress) as session:
            session.load_go_support()  # the checks need no Go helpers; evidence says whether they were there
            try:
                result = runner(session, c, functions)
            except _ProgramTimeout as e:
                result = failed(name, f"{_runline(c, binary)} {e} within the check's {c.timeout} s (timeout); "
                                "the program was killed. Raise [[gdb]] timeout if it is legitimately slow.")
            output = _program_output(session)
    except UnknownFunction as e:
        if e.name in functions:  # in pclntab, so the binary has it: gdb lacks the symbol table
            result = error(name, f"{binary.name} contains {e.name} but has no symbol table (built with "
                           "-ldflags=-s?), so gdb cannot place a breakpoint by name; build without -s for the gdb stage.",
                           evidence={"exit_code": ConfigError.exit_code})
        else:
            close = f"; close names: {', '.join(e.close)}" if e.close else ""
            result = error(name, f"[[gdb]] {name!r}: gdb finds no function {e.name}{close}.",
                           evidence={"exit_code": ConfigError.exit_code})
    except GdbError as e:
        boxes.drop()  # the next check gets a new container
        result = error(name, f"gdb could not complete the check: {e}", evidence={"exit_code": e.exit_code})
    except FixproofError as e:
        result = error(name, str(e), evidence={"exit_code": e.exit_code})
    finally:
        if session is not None:
            log.write_text("\n".join(session.transcript) + "\n")
            if session.gdb_version:
                facts.setdefault("gdb_version", session.gdb_version)
    evidence = {**result.evidence, "kind": c.kind, "run": [binary.name, *c.run]}
    if itab is not None:
        evidence.update(itab.evidence)
        if result.status is Status.PASSED:
            result = passed(name, f"{itab.message}; {result.message}")
    if session is not None:
        evidence["transcript"] = str(log)
        evidence["go_support"] = session.go_support
    details = "\n\n".join(p for p in (result.details, output) if p)
    return timed(CheckResult(result.name, result.status, result.message, evidence=evidence,
                              details=details), start)


# -- kinds -----------------------------------------------------------------------


def _path(s, c: PathCheck, functions: frozenset[str]) -> CheckResult:
    bp = s.break_insert(c.breakpoint, condition=c.condition or None)
    s.run(c.run)
    stop = _wait(s, "did not stop or exit", started=True)
    evidence: dict = {"breakpoint": c.breakpoint, "condition": c.condition}
    if stop.bkptno == bp:
        evidence["first_stop"] = {"args": _args(s, stop), "backtrace": [f.to_json() for f in s.backtrace(limit=12)]}
        # Count the remaining hits without stopping at each one.
        _mi_ok(s, f"-break-after {bp} 1000000000")
        stop = _wait(s, "did not exit")
    if not stop.exited:
        return failed(c.name, f"{_runline(c, s)} did not exit normally under gdb (stopped: {stop.reason})",
                      evidence=evidence)
    hits = s.hit_count(bp)
    op, n = c.hits_bound()
    evidence.update(hits=hits, expect_hits=c.expect_hits, exit_code=stop.exit_code)
    cond = f" with {c.condition}" if c.condition else ""
    msg = f"{c.breakpoint}{cond} was hit {hits} time(s) while {_runline(c, s)} ran (expected {op}{n})"
    if _COMPARE[op](hits, n):
        return passed(c.name, msg, evidence=evidence)
    return failed(c.name, msg, evidence=evidence)


def _panic(s, c: PanicCheck, functions: frozenset[str]) -> CheckResult:
    return _no_hits(s, c, [f for f in PANIC_FUNCS if f in functions],
                    "no panic (recovered or not), fatal error or runtime throw")


def _interface(s, c: InterfaceCheck, functions: frozenset[str]) -> CheckResult:
    return _no_hits(s, c, [f for f in ASSERT_FUNCS if f in functions], "no failed type assertion")


def _no_hits(s, c: PanicCheck | InterfaceCheck, watched: list[str], what: str) -> CheckResult:
    if not watched:
        return error(c.name, "none of the runtime functions to watch is in the binary "
                     f"({', '.join(PANIC_FUNCS if c.kind == 'panic' else ASSERT_FUNCS)}); nothing can be proven")
    bps = {s.break_insert(f): f for f in watched}
    s.run(c.run)
    stop = _wait(s, "did not stop or exit", started=True)
    evidence: dict = {"watched": watched}
    if stop.bkptno in bps:
        trace = s.backtrace(limit=20)
        evidence["backtrace"] = [f.to_json() for f in trace]
        where = next((f.func for f in trace[1:] if not f.func.startswith("runtime.")), "?")
        return failed(c.name, f"{bps[stop.bkptno]} was called from {where} while {_runline(c, s)} ran",
                      evidence=evidence, details="\n".join(f"#{f.level} {f.func} {f.file}:{f.line}" for f in trace))
    if not stop.exited:
        return failed(c.name, f"{_runline(c, s)} did not exit normally under gdb (stopped: {stop.reason})",
                      evidence=evidence)
    evidence["exit_code"] = stop.exit_code
    return passed(c.name, f"{what} while {_runline(c, s)} ran to exit code {stop.exit_code} "
                  f"(watched {', '.join(watched)})", evidence=evidence)


def _memory(s, c: MemoryCheck, functions: frozenset[str]) -> CheckResult:
    bp = s.break_insert(c.breakpoint, ignore_count=c.first_hit - 1)
    s.run(c.run)
    first = _value_at(s, c, bp, f"hit {c.first_hit} of {c.breakpoint}", started=True)
    if isinstance(first, CheckResult):
        return first
    if c.end_breakpoint:
        _mi_ok(s, f"-break-delete {bp}")
        bp = s.break_insert(c.end_breakpoint)
        moment = f"the first hit of {c.end_breakpoint}"
    else:
        _mi_ok(s, f"-break-after {bp} {c.last_hit - c.first_hit - 1}")
        moment = f"hit {c.last_hit} of {c.breakpoint}"
    second = _value_at(s, c, bp, moment)
    if isinstance(second, CheckResult):
        return second
    growth = second - first
    evidence = {"expression": c.expression, "first": first, "second": second, "growth": growth,
                "max_growth": c.max_growth, "first_moment": f"hit {c.first_hit} of {c.breakpoint}",
                "second_moment": moment}
    msg = (f"{c.expression} went from {first} (hit {c.first_hit} of {c.breakpoint}) to {second} "
           f"({moment}): growth {growth}, allowed {c.max_growth}")
    if growth <= c.max_growth:
        return passed(c.name, msg, evidence=evidence)
    return failed(c.name, msg, evidence=evidence)


def _value_at(s, c: MemoryCheck, bp: int, moment: str, started: bool = False) -> int | CheckResult:
    from fixproof.engine.gdb import MiError

    stop = _wait(s, f"did not reach {moment}", started=started)
    if stop.bkptno != bp:
        return failed(c.name, f"{_runline(c, s)} never reached {moment} (gdb stopped: {stop.reason}); "
                      "the moment to measure did not happen", evidence={"expression": c.expression})
    try:
        raw = s.evaluate(c.expression)
    except MiError as e:
        return error(c.name, f"gdb cannot evaluate {c.expression} at {moment}: {e.msg}",
                     evidence={"expression": c.expression, "exit_code": ConfigError.exit_code})
    try:
        return int(raw, 0)
    except ValueError:
        return error(c.name, f"{c.expression} at {moment} is {raw!r}, not an integer; "
                     "give an integer expression (a length, a counter, a field)",
                     evidence={"expression": c.expression, "value": raw, "exit_code": ConfigError.exit_code})


# One runner per registered kind (fixproof.kinds.gdb): (session, check, functions in the binary) -> result.
_RUNNERS: dict[type[GdbCheck], Callable[..., CheckResult]] = {
    PathCheck: _path, PanicCheck: _panic, MemoryCheck: _memory, InterfaceCheck: _interface,
}


# -- interface: static itabs ---------------------------------------------------------


def _itab_check(c: InterfaceCheck, binary: Path) -> CheckResult:
    from fixproof.goinfo.itabs import read_itabs

    wanted = (*c.require_itab, *c.forbid_itab)
    try:
        table = read_itabs(binary)
    except BinaryFormatError as e:
        return error(c.name, f"cannot read the itab table of {binary.name}, so its itabs cannot be checked: {e}",
                     evidence={"exit_code": e.exit_code})
    present = table.pairs()
    missing = [p for p in c.require_itab if p not in present]
    forbidden = [p for p in c.forbid_itab if p in present]
    evidence = {"require_itab": list(c.require_itab), "forbid_itab": list(c.forbid_itab),
                "found": sorted({p for p in wanted if p in present}), "missing": missing,
                "itabs_in_binary": len(table.itabs)}
    if missing or forbidden:
        parts = [f"no itab for {p} (the type does not satisfy the interface where the code converts it)"
                 for p in missing] + [f"forbidden itab {p} is in the binary" for p in forbidden]
        return failed(c.name, "; ".join(parts), evidence=evidence)
    return passed(c.name, f"itabs as required: {len(c.require_itab)} present, {len(c.forbid_itab)} absent "
                  f"(of {len(table.itabs)} itabs in the binary)", evidence=evidence)


# -- helpers ----------------------------------------------------------------------


class _ProgramTimeout(Exception):
    """The program under gdb did not reach the next stop in time (a check failure)."""


def _wait(s, what: str, started: bool = False):
    """The next stop; _ProgramTimeout when the program runs past the check's deadline."""
    from fixproof.engine.gdb import GdbTimeout

    try:
        return s.continue_until_stop(None, started=started)
    except GdbTimeout as e:
        raise _ProgramTimeout(what) from e


def _mi_ok(s, command: str) -> None:
    from fixproof.engine.gdb import MiError

    res = s.mi(command)
    if res.klass == "error":
        raise MiError(command, str(res.payload.get("msg", "")))


def _args(s, stop) -> list[dict[str, str]]:
    """The first stop's arguments: DWARF values, else integer registers at entry."""
    if stop.args:
        return [{"name": n, "value": v, "source": "dwarf"} for n, v in stop.args]
    try:
        regs = s.entry_args_from_registers(4)
    except FixproofError:
        return []
    return [{"name": f"arg{i}", "value": str(v), "source": "register"} for i, v in enumerate(regs)]


def _program_output(s) -> str:
    try:
        out, err = s.inferior_output()
    except FixproofError:
        return ""
    parts = [f"program stdout:\n{out.strip()}" if out.strip() else "",
             f"program stderr:\n{err.strip()}" if err.strip() else ""]
    return "\n".join(p for p in parts if p)[:8000]


def _require_function(fn: str, functions: frozenset[str], check: str) -> None:
    if fn in functions:
        return
    close = close_names(fn, sorted(functions))
    hint = f"; close names: {', '.join(close)}" if close else ""
    raise ConfigError(f"[[gdb]] {check!r}: the binary has no function {fn}{hint}.")



def _runline(c: GdbCheck, where) -> str:
    """`fixdemo -read 10000`: the command line of the check (where: the binary or the session)."""
    name = where.name if isinstance(where, Path) else Path(where.host_binary).name
    return "`" + " ".join([name, *c.run]) + "`"




def inputs(cfg: Config) -> Inputs:
    return Inputs(uptodate=(binary_unchanged(cfg),))


def transcripts(cfg: Config) -> tuple[Path, ...]:
    """The gdb MI transcripts, one per check (in the bundle's reports/, linked from the page)."""
    return tuple(sorted((cfg.reports_dir / "gdb").glob("*.mi.log")))


SPEC = StageSpec(
    name=STAGE, order=700, run=run, needs=("build",), config=("gdb",), inputs=inputs, reports=transcripts,
    runtime=True,
    # what every check's evidence has (the kind and command line, whether gdb had the Go helpers, where the
    # transcript is, how the program or fixproof ended), and each kind's own stable keys
    stable_evidence_keys=("exit_code", "go_support", "kind", "run", "transcript", *GDB_KINDS.evidence_keys()),
    doc="The built binary under real gdb in a probe container: fixed paths hit, no panics, bounded growth, "
        "interface contracts.",
)
