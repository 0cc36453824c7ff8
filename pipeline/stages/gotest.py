"""Stage test: the app's own Go tests, in the pinned image, network off (test.network), built
with the [build] flags, ldflags, tags and environment of the verified binary and never
answered from the Go test cache; test.skip, test.allow_fail and test.retries applied and
recorded as fixproof.stages.gotest_policy says."""

from __future__ import annotations

import shlex
import time
from contextlib import ExitStack
from dataclasses import asdict, replace
from typing import Sequence

from fixproof.config import Config
from fixproof.engine.docker import RunResult
from fixproof.results import CheckResult, StageResult, Status, error, failed, passed, skipped
from fixproof.stages.gotest_json import BUILD_FAILED, SETUP_FAILED, parse_go_test_json
from fixproof.stages.gotest_policy import (
    ALLOWED_FAILURE, ATTEMPTS, FLAKY, SKIPPED_BY_CONFIG, TESTS_DISABLED, Attempt, allow_failures, listed_tests,
    merge_attempts, pattern, retry_targets, skipped_cases,
)
from fixproof.stages.build import build_flags, cache_mounts, check_cache_volume, infrastructure_failure
from fixproof.stages.common import SRC, StageContext, app_files, decisive_line, tail
from fixproof.stages.spec import Inputs, StageSpec

STAGE = "test"
COPY = "/tmp/src"  # the throwaway copy of the sources the tests run in (a tmpfs)


# test.network -> what the test containers get. "off": a namespace with no usable interface (lo down,
# 127.0.0.1 removed: Engine.offline_netns); "loopback": Docker's "none" (its own namespace, lo only);
# "host": the host's network (needs test.network_reason, and the report warns).
NETWORKS = {
    "off": "a network namespace with no usable interface (loopback down, no address): nothing to connect to",
    "loopback": "its own network namespace with only the loopback interface (Docker's network mode none)",
    "host": "the host's network (Docker's network mode host)",
}
ATTEMPT_ENV = "FIXPROOF_TEST_ATTEMPT"  # 1 for the first run, 2.. for reruns (test.retries)


def go_test_args(cfg: Config, *, run: str = "", packages: Sequence[str] = ()) -> list[str]:
    """`go test` with exactly the build's flags, ldflags and tags (the tests prove the
    variant that ships), then [test] flags; `-count=1` unless the config sets a count,
    so the Go test cache never hands back a result of another run or variant; then
    -skip for test.skip and, for a rerun, -run naming the tests to run again (after any
    -run of [test] flags, so it wins)."""
    t = cfg.test
    count = [] if any(f == "-count" or f.startswith("-count=") for f in t.flags) else ["-count=1"]
    skip = ["-skip", pattern(r.test for r in t.skip)] if t.skip else []
    rerun = ["-run", run] if run else []
    return ["go", "test", "-json", *count, *build_flags(cfg.build), *t.flags, *skip, *rerun,
            *(packages or t.packages)]


def go_list_args(cfg: Config) -> list[str]:
    """`go test -list .` with the build's flags: which top-level tests each package has (for stale skips)."""
    return ["go", "test", "-json", "-list", ".", *build_flags(cfg.build), *cfg.test.packages]


def run(ctx: StageContext) -> StageResult:
    cfg = ctx.cfg
    t = cfg.test
    if not t.enabled:
        return StageResult(STAGE, (skipped("go test", "test.enabled = false in the config: the app's Go tests did "
                                           "not run, so nothing here proves them", evidence={TESTS_DISABLED: True}),),
                           {"enabled": False})
    gate = ctx.gate("toolchain", "modules")
    if gate:
        return StageResult(STAGE, (gate,))
    check_cache_volume(ctx)
    t0 = time.monotonic()
    listing: dict[str, set[str]] | None = None
    if t.skip:
        listed = _go(ctx, go_list_args(cfg), attempt=0)
        listing = listed_tests(listed.stdout) if listed.exit_code == 0 else None
    args = go_test_args(cfg)
    res = _go(ctx, args, attempt=1)
    report = parse_go_test_json(res.stdout)
    cases: list[CheckResult] = list(report.cases)
    infra = infrastructure_failure(res.stderr + res.stdout) if res.exit_code != 0 else ""
    if infra:  # the machine failed, not the app's tests: no verdict on the fix
        return StageResult(STAGE, (error("go test", f"go test could not run to the end: {infra}; free the resource "
                                         "and rerun", details=res.stderr + res.stdout, evidence={"exit_code": 3},
                                         duration_s=time.monotonic() - t0),))
    if not cases:
        msg = decisive_line(res.stderr + res.stdout, f"exit code {res.exit_code}")
        return StageResult(STAGE, (failed("go test", f"go test produced no test results: {msg}",
                                          details=res.stderr + res.stdout, duration_s=time.monotonic() - t0),))
    if res.exit_code != 0 and all(c.status.value != "failed" for c in cases):
        cases.append(error("go test exit status", f"go test exited {res.exit_code} but no test failed: "
                           f"{tail(res.stderr, 2)}", details=res.stderr))
    stderr = res.stderr.strip()
    build_failed = [i for i, c in enumerate(cases) if c.name in (BUILD_FAILED, SETUP_FAILED)]
    for i in build_failed:  # before Go 1.24 compiler output goes to stderr, not into the JSON
        if stderr and stderr not in cases[i].details:
            cases[i] = replace(cases[i], details=(cases[i].details + "\n" + stderr).strip())
    attempts: list[Attempt] = []
    commands = [" ".join(args)]
    for number in range(2, t.retries + 2):
        targets = retry_targets(merge_attempts(cases, attempts), t.allow_fail)
        if not targets:
            break
        rerun = go_test_args(cfg, run=pattern(n for names in targets.values() for n in names),
                             packages=tuple(targets))
        again = _go(ctx, rerun, attempt=number)
        commands.append(" ".join(rerun))
        if again.exit_code != 0 and infrastructure_failure(again.stderr + again.stdout):
            cases.append(error(f"go test attempt {number}", f"the rerun of failed tests could not run to the end: "
                               f"{infrastructure_failure(again.stderr + again.stdout)}; free the resource and rerun",
                               details=again.stderr + again.stdout, evidence={"exit_code": 3}))
            break
        attempts.append(Attempt(number, targets, parse_go_test_json(again.stdout)))
    cases = merge_attempts(cases, attempts)
    cases = allow_failures(cases, t.allow_fail)
    cases += skipped_cases(t.skip, listing)
    if report.stray_lines or (stderr and not build_failed):
        stray = "\n".join([*report.stray_lines, stderr]).strip()
        cases.append(passed("go test output", "go test printed lines that are not test events; they are kept here",
                            details=stray, warning=True))
    if t.network == "host":
        cases.append(passed("test network", f"the app's tests ran with the host's network (test.network = "
                            f"\"host\"): {t.network_reason}; they may depend on what the network answered",
                            evidence={"network": "host", "reason": t.network_reason}, warning=True))
    workdir = COPY + ctx.workdir.removeprefix(SRC)
    return StageResult(STAGE, tuple(cases), {
        "command": commands[0], "reruns": commands[1:], "summary": _summary(cases),
        "network": {"mode": t.network, "means": NETWORKS[t.network], "reason": t.network_reason},
        "policy": {"skip": [asdict(r) for r in t.skip], "allow_fail": [asdict(r) for r in t.allow_fail],
                   "retries": t.retries},
        "sources": f"a writable copy ({workdir}) of the verified sources mounted read-only at {ctx.workdir}, "
                   "discarded with the container"})


def _go(ctx: StageContext, args: list[str], *, attempt: int) -> RunResult:
    """One go command in a fresh container on a throwaway, writable copy of the verified sources,
    with the network test.network names."""
    cfg = ctx.cfg
    network = cfg.test.network
    what = "go test -list" if attempt == 0 else "go test" if attempt == 1 else f"go test (attempt {attempt})"
    ctx.progress.say(" ".join(args) + {"off": " (network off)", "loopback": " (loopback only)",
                                       "host": " (host network)"}[network])
    # the app's own code runs here: its own Go build cache, the unprivileged user, no capability
    mounts = cache_mounts(ctx, ctx.verified_image_id(), untrusted=True)
    # tests may write into their own tree (golden files, generated docs): they run in a throwaway,
    # writable copy of exactly the verified sources; the read-only mount and the host stay untouched
    workdir = COPY + ctx.workdir.removeprefix(SRC)
    script = f"cp -R -P {SRC}/. {COPY}/ && cd {shlex.quote(workdir)} && exec \"$@\""
    env = {**ctx.offline_env(), **cfg.build.env}
    if attempt:
        env[ATTEMPT_ENV] = str(attempt)
    with ExitStack() as stack:
        mode = stack.enter_context(ctx.engine.offline_netns(cfg.toolchain.image)) if network == "off" \
            else {"loopback": "none", "host": "host"}[network]
        return ctx.engine.run(cfg.toolchain.image, ["sh", "-c", f"mkdir -p {COPY} && {script}", "sh", *args],
                              env=env, mounts=mounts, profile=ctx.go_profile(mounts), workdir=ctx.workdir,
                              network=mode, timeout=cfg.timeouts.test, progress=ctx.progress, what=what)


def _summary(cases: Sequence[CheckResult]) -> dict[str, int]:
    go = [c for c in cases if c.classname]  # Go test cases (fixproof's own checks have no package)

    def count(status: Status) -> int:
        return sum(1 for c in go if c.status is status)

    return {"tests": len(go), "passed": count(Status.PASSED), "failed": count(Status.FAILED),
            "skipped": count(Status.SKIPPED),
            "skipped_by_config": sum(1 for c in go if SKIPPED_BY_CONFIG in c.evidence),
            "allowed_failures": sum(1 for c in go if ALLOWED_FAILURE in c.evidence),
            "flaky": sum(1 for c in go if c.evidence.get(FLAKY)),
            "rerun": sum(1 for c in go if ATTEMPTS in c.evidence)}


def inputs(cfg: Config) -> Inputs:
    return Inputs(file_dep=tuple(app_files(cfg)))


SPEC = StageSpec(
    name=STAGE, order=400, run=run, needs=("toolchain", "modules"), config=("build", "test"), inputs=inputs,
    doc="The app's own Go tests (go test -json), each one a JUnit testcase.",
)
