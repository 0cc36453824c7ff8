"""Stage race: the app built with -race in the pinned image, exercised, and its
packages' tests run with -race; every data race report is a failure naming
both accesses with their stacks.

The race detector needs cgo: the build runs with CGO_ENABLED=1 (the stand-in
golang images carry gcc). The exercise runs in the same image with the
network off and GORACE="halt_on_error=0 exitcode=66", so every race in the
run is reported, not only the first.
"""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from fixproof.engine.docker import Mount
from fixproof.results import CheckResult, StageFacts, StageResult, error, failed, passed, skipped
from fixproof.stages.build import build_flags, cache_mounts, check_cache_volume, go_build_args, infrastructure_failure
from fixproof.config import Config
from fixproof.stages.common import OUT, StageContext, app_files, tail
from fixproof.stages.spec import Inputs, StageSpec

STAGE = "race"
RACE_EXIT = 66
EXERCISE_DIR = "/race"  # where the exercise container has the -race binary (read-only)
_SEPARATOR = "=================="
_ACCESS_RE = re.compile(r"^(?P<op>(?:Previous )?(?:[Aa]tomic )?(?:read|write|Read|Write))"
                        r"(?: of size \d+)? at (?P<addr>0x[0-9a-f]+) by (?P<who>main goroutine|goroutine \d+):$")


@dataclass(frozen=True)
class RaceFacts(StageFacts):
    """The -race binary the exercise built (it may be missing when the build failed) and its go
    command. Read with :meth:`of`; None when no exercise was built ([race] run unset, or a gate)."""

    binary: Path
    command: str

    def to_json(self) -> dict[str, Any]:
        return {"binary": str(self.binary), "command": self.command}

    @classmethod
    def from_json(cls, facts: Mapping[str, Any]) -> "RaceFacts | None":
        if not facts.get("binary"):
            return None
        return cls(Path(str(facts["binary"])), str(facts.get("command") or ""))


@dataclass(frozen=True)
class Access:
    op: str  # "Write", "Previous read", ...
    who: str  # "goroutine 7", "main goroutine"
    stack: tuple[str, ...]  # "func (file:line)" from the innermost frame out

    @property
    def top(self) -> str:
        return self.stack[0].split(" (", 1)[0] if self.stack else "?"


@dataclass(frozen=True)
class Race:
    current: Access
    previous: Access
    text: str  # the whole report block

    @property
    def key(self) -> tuple[str, str]:
        return self.current.top, self.previous.top


def parse_races(output: str) -> list[Race]:
    """Every "WARNING: DATA RACE" report in a race-enabled program's output."""
    races = []
    blocks = output.split(_SEPARATOR)
    for block in blocks:
        if "WARNING: DATA RACE" not in block:
            continue
        accesses = _accesses(block.splitlines())
        if len(accesses) >= 2:
            races.append(Race(accesses[0], accesses[1], block.strip()))
        elif accesses:
            races.append(Race(accesses[0], Access("unknown", "?", ()), block.strip()))
    return races


def _accesses(lines: list[str]) -> list[Access]:
    out: list[Access] = []
    i = 0
    while i < len(lines):
        m = _ACCESS_RE.match(lines[i].strip())
        if not m:
            i += 1
            continue
        stack: list[str] = []
        i += 1
        while i < len(lines) and lines[i].startswith("  "):
            func = lines[i].strip()
            loc = lines[i + 1].strip() if i + 1 < len(lines) and lines[i + 1].startswith("      ") else ""
            stack.append(f"{func.removesuffix('()')} ({loc.split(' +0x')[0]})" if loc else func.removesuffix("()"))
            i += 2 if loc else 1
        out.append(Access(m.group("op"), m.group("who"), tuple(stack)))
    return out


def run(ctx: StageContext) -> StageResult:
    cfg = ctx.cfg
    if not cfg.race.run and not cfg.race.test_packages:
        return StageResult(STAGE, (skipped("race", "no [race] run or test_packages in the config"),))
    gate = ctx.gate("toolchain", "modules")
    if gate:
        return StageResult(STAGE, (gate,))
    check_cache_volume(ctx)
    image_id = ctx.verified_image_id()
    out_dir = cfg.reports_dir / "race"
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {**ctx.offline_env(), **cfg.build.env, "CGO_ENABLED": "1",
           "GORACE": f"halt_on_error=0 exitcode={RACE_EXIT}"}
    # the app's own code runs in these containers: its own Go build cache, no writable host directory
    mounts = cache_mounts(ctx, image_id, untrusted=True)
    checks: list[CheckResult] = []
    facts: RaceFacts | None = None
    if cfg.race.run:
        facts, exercised = _exercise(ctx, env, mounts, out_dir)
        checks += exercised
    if cfg.race.test_packages:
        checks += _go_test(ctx, env, mounts)
    return StageResult(STAGE, tuple(checks), facts.to_json() if facts is not None else {})


def _exercise(ctx: StageContext, env: dict, mounts: list[Mount], out_dir: Path) -> tuple[RaceFacts, list[CheckResult]]:
    """Build the -race binary into ``out_dir`` (a container that runs no code of the app), then run
    the exercise in a second container that has the binary read-only and no writable host directory.
    Returns the binary and its build command (the stage's facts), and the checks."""
    cfg = ctx.cfg
    name = cfg.binary_name + "-race"
    build = go_build_args(ctx, f"{OUT}/{name}")
    build.insert(2, "-race")
    ctx.progress.say(" ".join(build) + f" and run {name} {' '.join(cfg.race.run)} (network off)")
    t0 = time.monotonic()
    binary = out_dir / name
    binary.unlink(missing_ok=True)  # what is there after the build is this build's output or nothing
    build_mounts = [*mounts, ctx.output_mount(out_dir)]
    try:
        built = ctx.engine.run(cfg.toolchain.image, build, env=env, mounts=build_mounts,
                               profile=ctx.go_profile(build_mounts), workdir=ctx.workdir, network=False,
                               timeout=cfg.race.timeout, progress=ctx.progress, what="go build -race")
    finally:
        ctx.reclaim_output(out_dir)
    cmd = " ".join(shlex.quote(a) for a in build)
    run_line = " ".join([name, *cfg.race.run])
    facts = RaceFacts(out_dir / name, cmd)
    build_err = built.stderr
    evidence = {"build": cmd, "run": run_line, "image_id": built.image_id, "exit_code": built.exit_code,
                "GORACE": env["GORACE"], "network": "none"}
    if built.exit_code != 0 or not binary.is_file() or binary.is_symlink():
        dur = time.monotonic() - t0
        first = next((line for line in build_err.splitlines() if line and not line.startswith("#")),
                     f"exit code {built.exit_code}")
        infra = infrastructure_failure(build_err)
        if infra:
            return facts, [error("go build -race", f"go build -race could not run to the end: {infra}; free the "
                                 "resource and rerun", details=build_err, evidence={**evidence, "exit_code": 3},
                                 duration_s=dur)]
        return facts, [failed("go build -race", f"go build -race failed: {first}", details=build_err, evidence=evidence,
                              duration_s=dur)]
    checks = [passed("go build -race", f"built {name} with {cmd}", evidence={"build": cmd}, details=tail(build_err, 10))]
    target = f"{EXERCISE_DIR}/{name}"
    run_mounts = [*ctx.source_mounts(), Mount(str(binary), target, read_only=True)]
    res = ctx.engine.run(cfg.toolchain.image, [target, *cfg.race.run], env=env, mounts=run_mounts,
                         profile=ctx.go_profile(run_mounts), workdir=ctx.workdir, network=False,
                         timeout=max(1.0, cfg.race.timeout - (time.monotonic() - t0)), progress=ctx.progress,
                         what=f"{name} exercise")
    dur = time.monotonic() - t0
    evidence.update(image_id=res.image_id, exit_code=res.exit_code)
    run_err = res.stderr
    races = parse_races(run_err)
    if races:
        checks += _race_checks(races, run_line, evidence, dur)
    elif res.exit_code != 0:
        checks.append(failed(f"no data race in {run_line}", f"`{run_line}` exited {res.exit_code} without a race "
                             "report; the exercise itself failed", evidence=evidence,
                             details=tail(run_err + res.stdout, 40), duration_s=dur))
    else:
        checks.append(passed(f"no data race in {run_line}", f"the race detector saw no data race while `{run_line}` "
                             "ran to exit code 0", evidence=evidence, details=tail(res.stdout, 20), duration_s=dur))
    return facts, checks


def _race_checks(races: list[Race], where: str, evidence: dict, dur: float, label: str = "") -> list[CheckResult]:
    grouped: dict[tuple[str, str], list[Race]] = {}
    for r in races:
        grouped.setdefault(r.key, []).append(r)
    out = []
    for (cur, prev), rs in grouped.items():
        r = rs[0]
        msg = (f"data race in `{where}`: {r.current.op.lower()} in {cur} ({r.current.who}) vs "
               f"{r.previous.op.lower()} in {prev} ({r.previous.who})"
               + (f"; reported {len(rs)} times" if len(rs) > 1 else ""))
        ev = {**evidence, "current": {"op": r.current.op, "goroutine": r.current.who, "stack": list(r.current.stack)},
              "previous": {"op": r.previous.op, "goroutine": r.previous.who, "stack": list(r.previous.stack)},
              "reports": len(rs)}
        out.append(failed(f"{label}data race: {cur} vs {prev}", msg, evidence=ev, details=r.text, duration_s=dur))
    return out


def _go_test(ctx: StageContext, env: dict, mounts: list[Mount]) -> list[CheckResult]:
    cfg = ctx.cfg
    args = ["go", "test", "-race", "-count=1", *build_flags(cfg.build), *cfg.race.test_packages]
    ctx.progress.say(" ".join(args) + " (network off)")
    t0 = time.monotonic()
    res = ctx.engine.run(cfg.toolchain.image, args, env=env, mounts=mounts, profile=ctx.go_profile(mounts),
                         workdir=ctx.workdir, network=False, timeout=cfg.race.timeout, progress=ctx.progress,
                         what="go test -race")
    dur = time.monotonic() - t0
    cmd = " ".join(shlex.quote(a) for a in args)
    output = res.stdout + res.stderr
    evidence = {"command": cmd, "exit_code": res.exit_code, "image_id": res.image_id}
    races = parse_races(output)
    if races:
        return _race_checks(races, cmd, evidence, dur, label="go test -race: ")
    if res.exit_code != 0:
        first = next((line for line in output.splitlines() if line.startswith(("---", "FAIL", "#"))),
                     f"exit code {res.exit_code}")
        return [failed("go test -race", f"{cmd} failed without a race report: {first}", evidence=evidence,
                       details=tail(output, 60), duration_s=dur)]
    if "ok " not in output and "no test files" not in output:
        return [error("go test -race", f"{cmd} exited 0 but printed no package result", evidence=evidence,
                      details=tail(output, 40))]
    return [passed("go test -race", f"{cmd}: tests pass and the race detector saw no data race",
                   evidence=evidence, details=tail(output, 20), duration_s=dur)]


def inputs(cfg: Config) -> Inputs:
    return Inputs(file_dep=tuple(app_files(cfg)))


SPEC = StageSpec(
    name=STAGE, order=900, run=run, needs=("toolchain", "modules"), config=("build", "race"), inputs=inputs,
    runtime=True, facts=RaceFacts,
    stable_evidence_keys=(
        # what was built and run (from the config)
        "GORACE", "build", "command", "network", "run",
        # the image, and how the program (or fixproof, for an error) ended
        "exit_code", "image_id",
    ),
    doc="A -race build exercised in the pinned image, and go test -race: every data race report fails.",
)
