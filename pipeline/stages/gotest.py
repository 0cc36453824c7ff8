"""Stage test: the app's own Go tests, in the pinned image, network off, built with
the [build] flags, ldflags, tags and environment of the verified binary and never
answered from the Go test cache."""

from __future__ import annotations

import shlex
import time

from dataclasses import replace

from fixproof.stages.gotest_json import BUILD_FAILED, SETUP_FAILED, parse_go_test_json
from fixproof.results import CheckResult, StageResult, error, failed, passed, skipped
from fixproof.config import Config
from fixproof.stages.build import build_flags, cache_mounts, check_cache_volume, infrastructure_failure
from fixproof.stages.common import SRC, StageContext, app_files, decisive_line, tail
from fixproof.stages.spec import Inputs, StageSpec

STAGE = "test"
COPY = "/tmp/src"  # the throwaway copy of the sources the tests run in (a tmpfs)


def go_test_args(cfg: Config) -> list[str]:
    """`go test` with exactly the build's flags, ldflags and tags (the tests prove the
    variant that ships), then [test] flags; `-count=1` unless the config sets a count,
    so the Go test cache never hands back a result of another run or variant."""
    count = [] if any(f == "-count" or f.startswith("-count=") for f in cfg.test.flags) else ["-count=1"]
    return ["go", "test", "-json", *count, *build_flags(cfg.build), *cfg.test.flags, *cfg.test.packages]


def run(ctx: StageContext) -> StageResult:
    cfg = ctx.cfg
    if not cfg.test.enabled:
        return StageResult(STAGE, (skipped("go test", "test.enabled = false in the config"),))
    gate = ctx.gate("toolchain", "modules")
    if gate:
        return StageResult(STAGE, (gate,))
    check_cache_volume(ctx)
    args = go_test_args(cfg)
    t0 = time.monotonic()
    ctx.progress.say(" ".join(args) + " (network off)")
    # the app's own code runs here: its own Go build cache, the unprivileged user, no capability
    mounts = cache_mounts(ctx, ctx.verified_image_id(), untrusted=True)
    # tests may write into their own tree (golden files, generated docs): they run in a throwaway,
    # writable copy of exactly the verified sources; the read-only mount and the host stay untouched
    workdir = COPY + ctx.workdir.removeprefix(SRC)
    script = f"cp -R -P {SRC}/. {COPY}/ && cd {shlex.quote(workdir)} && exec \"$@\""
    res = ctx.engine.run(cfg.toolchain.image, ["sh", "-c", f"mkdir -p {COPY} && {script}", "sh", *args],
                         env={**ctx.offline_env(), **cfg.build.env},
                         mounts=mounts, profile=ctx.go_profile(mounts), workdir=ctx.workdir, network=False,
                         timeout=cfg.timeouts.test, progress=ctx.progress, what="go test")
    dur = time.monotonic() - t0
    report = parse_go_test_json(res.stdout)
    cases: list[CheckResult] = list(report.cases)
    infra = infrastructure_failure(res.stderr + res.stdout) if res.exit_code != 0 else ""
    if infra:  # the machine failed, not the app's tests: no verdict on the fix
        return StageResult(STAGE, (error("go test", f"go test could not run to the end: {infra}; free the resource "
                                         "and rerun", details=res.stderr + res.stdout, evidence={"exit_code": 3},
                                         duration_s=dur),))
    if not cases:
        msg = decisive_line(res.stderr + res.stdout, f"exit code {res.exit_code}")
        return StageResult(STAGE, (failed("go test", f"go test produced no test results: {msg}",
                                          details=res.stderr + res.stdout, duration_s=dur),))
    if res.exit_code != 0 and all(c.status.value != "failed" for c in cases):
        cases.append(error("go test exit status", f"go test exited {res.exit_code} but no test failed: "
                           f"{tail(res.stderr, 2)}", details=res.stderr))
    stderr = res.stderr.strip()
    build_failed = [i for i, c in enumerate(cases) if c.name in (BUILD_FAILED, SETUP_FAILED)]
    for i in build_failed:  # before Go 1.24 compiler output goes to stderr, not into the JSON
        if stderr and stderr not in cases[i].details:
            cases[i] = replace(cases[i], details=(cases[i].details + "\n" + stderr).strip())
    if report.stray_lines or (stderr and not build_failed):
        stray = "\n".join([*report.stray_lines, stderr]).strip()
        cases.append(passed("go test output", "go test printed lines that are not test events; they are kept here",
                            details=stray, warning=True))
    s = report.summary
    return StageResult(STAGE, tuple(cases), {"command": " ".join(args), "summary": {
        "tests": s.tests, "passed": s.passed, "failed": s.failed, "skipped": s.skipped},
        "sources": f"a writable copy ({workdir}) of the verified sources mounted read-only at {ctx.workdir}, "
                   "discarded with the container"})


def inputs(cfg: Config) -> Inputs:
    return Inputs(file_dep=tuple(app_files(cfg)))


SPEC = StageSpec(
    name=STAGE, order=400, run=run, needs=("toolchain", "modules"), config=("build", "test"), inputs=inputs,
    doc="The app's own Go tests (go test -json), each one a JUnit testcase.",
)
