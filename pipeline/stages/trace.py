"""Stage trace: the built binary runs under a bpftrace probe in the probe
container, and each [[trace]] check bounds what the probe measured.

Probes (probes/*.bt, uprobes and the raw_syscalls tracepoint only; their keys,
validation and evidence keys: fixproof.kinds.trace; their runners: ``_RUNNERS``):
goroutines (created vs exited), gc (cycles and the spread of their
intervals), panics (gopanic calls, recovered or not, and defers registered),
calls (hits of configured functions), alloc (heap allocations: count, bytes
requested, largest request), syscalls (the set the process makes). Where the
kernel or policy refuses BPF the check is skipped with bpftrace's own reason,
or is an error when the check is marked `required`; it never passes without
a measurement. The probe's raw output is kept in reports/trace/<check>.json;
the stage's facts name the probe image and, as `bpftrace_version`, the first
line of `bpftrace --version` in it.

alloc watches every allocation entry point of the binary's Go release, found
in the binary itself (fixproof.engine.allocprobe): runtime.mallocgc, and from
Go 1.27 on (or with GOEXPERIMENT=sizespecializedmalloc in 1.26) the
size-specialised entries compiled code calls directly, with mallocgc counted
only above the size it hands to them, so nothing is counted twice. The
entry points and the reason for them are in the check's evidence
(`alloc_entry_points`). A binary where a uprobe could miss allocations
(stripped, an entry without a symbol, a malloc layout newer than Go 1.27's)
makes the check an error that says why, as does a run where fewer probes
attached than the entry points need or no allocation was seen at all: a
low count never passes a bound.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Callable

from fixproof.errors import ConfigError, FixproofError
from fixproof.results import CheckResult, StageResult, error, failed, passed, skipped
from fixproof.engine.images import PROBE_REF
from fixproof.config import Config
from fixproof.kinds.trace import (TRACE_KINDS, AllocProbe, CallsProbe, CustomProbe, GcProbe, GoroutinesProbe,
                                  PanicsProbe, SyscallsProbe, TraceCheck)
from fixproof.stages.build import binary_unchanged
from fixproof.stages.common import StageContext, slug, timed
from fixproof.stages.spec import Inputs, StageSpec

STAGE = "trace"


def run(ctx: StageContext) -> StageResult:
    cfg = ctx.cfg
    if not cfg.trace:
        return StageResult(STAGE, (skipped("trace checks", "no [[trace]] checks in the config"),))
    gate = ctx.gate("build")
    if gate:
        return StageResult(STAGE, (gate,))
    binary = ctx.built_binary()

    info = ctx.probe_image()
    out = cfg.reports_dir / "trace"
    out.mkdir(parents=True, exist_ok=True)
    facts: dict[str, Any] = {"binary": str(binary), "probe_image": info.to_json()}
    checks = [_run_check(ctx, c, binary, out, facts) for c in cfg.trace]
    return StageResult(STAGE, tuple(checks), facts)


def _run_check(ctx: StageContext, c: TraceCheck, binary: Path, out: Path, facts: dict[str, Any]) -> CheckResult:
    """One [[trace]] check; the first bpftrace run that says its version records it in ``facts``."""
    from fixproof.engine import bpftrace as bt

    start = time.monotonic()
    if type(c) not in _RUNNERS:  # a kind registered without a runner (tests/unit/stages/test_trace_stage.py forbids it)
        return error(c.name, f"no runner for [[trace]] probe {c.probe!r}", evidence={"exit_code": FixproofError.exit_code})
    runline = "`" + " ".join([binary.name, *c.run]) + "`"
    # a standard probe by name, or a .bt file relative to the config file
    probe_file = str((ctx.cfg.base_dir / c.probe).resolve()) if isinstance(c, CustomProbe) else c.probe
    evidence: dict[str, Any] = {"probe": c.probe, "run": [binary.name, *c.run]}
    ctx.progress.say(f"{c.name}: {runline} under bpftrace ({c.probe})")
    alloc = None
    try:
        if bt.ALLOC_PLACEHOLDERS & bt.probe_placeholders(probe_file):
            from fixproof.engine.allocprobe import alloc_entry_points

            alloc = alloc_entry_points(str(binary))
            evidence["alloc_entry_points"] = alloc.to_json()
        text = bt.render_probe(probe_file, binary=bt.container_path(str(binary)), functions=c.probe_functions(),
                               alloc=alloc, **({"goarch": alloc.goarch} if alloc is not None and alloc.goarch else {}))
        trace = bt.run_probe(ctx.engine, PROBE_REF, str(binary), text, c.run, timeout=c.timeout,
                             profile=_profile(ctx), progress=ctx.progress)
    except bt.TraceDenied as e:
        msg = f"the kernel or policy refused BPF: {e.reason}"
        if c.required:
            return timed(error(c.name, msg + " (this check is required)", evidence=evidence), start)
        return timed(skipped(c.name, msg, evidence=evidence), start)
    except bt.UnknownFunction as e:
        parts = []
        for n in e.names:
            if n in e.inlined:
                parts.append(f"{n} is inlined at every call site, so no uprobe can see it (mark it //go:noinline)")
            else:
                close = e.close.get(n) or ()
                parts.append(f"no function {n}" + (f" (close names: {', '.join(close)})" if close else ""))
        return timed(error(c.name, f"[[trace]] {c.name!r}: " + "; ".join(parts) + ".",
                            evidence={**evidence, "exit_code": ConfigError.exit_code}), start)
    except bt.TraceTimeout as e:
        return timed(failed(c.name, f"{runline} did not finish within the check's {c.timeout} s under "
                             f"bpftrace ({e}); raise [[trace]] timeout if it is legitimately slow", evidence=evidence),
                      start)
    except FixproofError as e:
        return timed(error(c.name, str(e), evidence={**evidence, "exit_code": e.exit_code}), start)

    if trace.bpftrace_version:
        facts.setdefault("bpftrace_version", trace.bpftrace_version)
    raw = out / (slug(c.name) + ".json")
    raw.write_text(json.dumps(trace.to_json(), indent=2, sort_keys=True) + "\n")
    evidence.update(raw=str(raw), maps=dict(trace.maps), exit_code=trace.exit_code,
                    attached_probes=trace.attached_probes)
    details = f"program output:\n{trace.program_output.strip()[:4000]}" if trace.program_output.strip() else ""
    if trace.exit_code is None:
        return timed(error(c.name, f"{runline} did not run under bpftrace: {trace.bpftrace_stderr.strip()[:300]}",
                            evidence=evidence, details=details), start)
    try:
        problems, seen = _assess(c, trace, alloc)
    except bt.TraceError as e:
        return timed(error(c.name, f"the probe's output is not what {c.probe} should print: {e}",
                            evidence=evidence, details=details), start)
    evidence["measured"] = seen
    if problems:
        return timed(failed(c.name, "; ".join(problems) + f" while {runline} ran", evidence=evidence,
                             details=details), start)
    summary = ", ".join(f"{k} {v}" for k, v in seen.items())
    return timed(passed(c.name, f"{summary} while {runline} ran (exit code {trace.exit_code})",
                         evidence=evidence, details=details), start)


def _assess(c: TraceCheck, t, alloc=None) -> tuple[list[str], dict[str, Any]]:
    """(problems, measured values) for the bounds the check sets, by the runner of its kind.

    ``alloc``: the allocation entry points the probe was rendered with
    (AllocEntryPoints), when it counts allocations. TraceError when the
    output cannot be a complete measurement.
    """
    m = _Measure(c.bounds())
    _RUNNERS[type(c)](c, t, alloc, m)
    return m.problems, m.seen


class _Measure:
    """What a runner measured (``seen``) and the bounds it broke (``problems``)."""

    def __init__(self, bounds: dict[str, int]) -> None:
        self.bounds = bounds
        self.problems: list[str] = []
        self.seen: dict[str, Any] = {}

    def bound(self, label: str, value: int, limit_key: str, most: bool = True) -> None:
        self.seen[label] = value
        if limit_key in self.bounds:
            limit = self.bounds[limit_key]
            if (most and value > limit) or (not most and value < limit):
                self.problems.append(f"{label} {value} ({'max' if most else 'min'} {limit})")


def _goroutines(c: GoroutinesProbe, t, alloc, m: _Measure) -> None:
    created, exited = t.count("@created"), t.count("@exited")
    m.seen.update(created=created, exited=exited)
    m.bound("leaked goroutines", created - exited, "max_leaked")
    if m.problems:
        m.problems[0] = f"{created} goroutines created, {exited} exited: " + m.problems[0]


def _gc(c: GcProbe, t, alloc, m: _Measure) -> None:
    m.bound("GC cycles", t.count("@gc"), "max_gc")
    lo, hi = t.maps.get("@gc_interval_min_ns"), t.maps.get("@gc_interval_max_ns")
    if isinstance(lo, int) and isinstance(hi, int):
        m.bound("GC interval jitter ms", (hi - lo) // 1_000_000, "max_gc_jitter_ms")
    elif "max_gc_jitter_ms" in m.bounds:
        m.problems.append("fewer than two GC cycles: no interval to measure jitter on")


def _panics(c: PanicsProbe, t, alloc, m: _Measure) -> None:
    m.bound("panics", t.count("@panics"), "max_panics")
    m.bound("defers registered", t.count("@defers"), "max_defers_before_panic")
    if t.count("@fatal"):
        m.seen["fatal panics"] = t.count("@fatal")


def _calls(c: CallsProbe, t, alloc, m: _Measure) -> None:
    calls = {str(k): int(v) for k, v in t.keyed("@calls").items()}
    for fn in c.functions:
        n = sum(v for k, v in calls.items() if k == fn or k.endswith(":" + fn))
        m.bound(f"calls of {fn}", n, "min_hits", most=False)
        if "max_hits" in m.bounds and n > m.bounds["max_hits"]:
            m.problems.append(f"calls of {fn} {n} (max {m.bounds['max_hits']})")


def _alloc(c: AllocProbe, t, alloc, m: _Measure) -> None:
    from fixproof.engine.bpftrace import TraceError

    if alloc is not None and t.attached_probes < len(alloc.functions) + 1:  # + runtime.rt0_go
        raise TraceError(f"bpftrace attached {t.attached_probes} probes, fewer than the {len(alloc.functions) + 1} "
                         f"that the binary's allocation entry points need ({', '.join(alloc.functions)}), so "
                         "allocations would be missed")
    allocations = t.count("@allocs")
    if allocations == 0:
        raise TraceError("no heap allocation was seen at all, though every Go program allocates while it "
                         "starts: the allocation uprobes did not fire")
    m.bound("allocations", allocations, "max_allocs")
    m.seen["bytes"] = t.count("@alloc_bytes")
    m.bound("largest allocation bytes", t.count("@alloc_max"), "max_alloc_bytes")


def _syscalls(c: SyscallsProbe, t, alloc, m: _Measure) -> None:
    from fixproof.engine.bpftrace import syscall_names

    names = syscall_names(t.keyed("@syscalls"))
    m.seen["syscalls"] = dict(sorted(names.items()))
    bad = sorted(n for n in names if n in c.forbid_syscalls)
    if bad:
        m.problems.append("forbidden syscalls made: " + ", ".join(f"{n} x{names[n]}" for n in bad))
    if c.allow_syscalls:
        extra = sorted(n for n in names if n not in c.allow_syscalls)
        if extra:
            m.problems.append("syscalls outside allow_syscalls: " + ", ".join(extra))


def _custom(c: CustomProbe, t, alloc, m: _Measure) -> None:
    """A .bt file of one's own: every bound names a scalar map of the same name without the prefix."""
    for key in m.bounds:
        name = "@" + re.sub(r"^(max|min)_", "", key)
        m.bound(name, t.count(name), key, most=key.startswith("max_"))


# One runner per registered kind (fixproof.kinds.trace): (check, bpftrace's output, alloc entry points, measure).
_RUNNERS: dict[type[TraceCheck], Callable[..., None]] = {
    GoroutinesProbe: _goroutines, GcProbe: _gc, PanicsProbe: _panics, CallsProbe: _calls, AllocProbe: _alloc,
    SyscallsProbe: _syscalls, CustomProbe: _custom,
}


def _profile(ctx: StageContext):
    from fixproof.engine.docker import TRACE_PROFILE

    return ctx.container_profile(TRACE_PROFILE)




def inputs(cfg: Config) -> Inputs:
    return Inputs(uptodate=(binary_unchanged(cfg),))


def raw_output(cfg: Config) -> dict[str, Path]:
    """The probes' raw output, one file per check (the bundle's logs/: measurements vary between runs)."""
    return {f"trace/{p.name}": p for p in sorted((cfg.reports_dir / "trace").glob("*.json"))}


SPEC = StageSpec(
    name=STAGE, order=800, run=run, needs=("build",), config=("trace",), inputs=inputs, logs=raw_output,
    runtime=True,
    # what every check's evidence has (the probe and command line, the probes bpftrace attached, where the raw
    # output is, how the program or fixproof ended), and each kind's own stable keys
    stable_evidence_keys=("attached_probes", "exit_code", "probe", "raw", "run", *TRACE_KINDS.evidence_keys()),
    doc="The built binary under bpftrace probes in a probe container: goroutines, GC, panics, calls, allocations, "
        "syscalls.",
)
