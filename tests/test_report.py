"""The verdict: exit codes from stage results, fail closed."""

from pipeline.results import CheckResult, StageResult, Status, error, failed, passed, skipped
from pipeline.stages.report import exit_code
from pipeline.tasks import closure


def sr(*checks):
    return StageResult("s", tuple(checks))


def test_exit_codes():
    assert exit_code([sr(passed("a", "ok"))]) == 0
    assert exit_code([sr(passed("a", "ok"), failed("b", "no"))]) == 1
    assert exit_code([sr(failed("b", "no"), error("c", "engine down"))]) == 3
    assert exit_code([sr(error("c", "bad go.mod", evidence={"exit_code": 2}))]) == 2


def test_nothing_passed_is_not_a_pass():
    assert exit_code([sr(skipped("a", "not run"))]) == 1
    assert exit_code([sr()]) == 1


def test_policy_failures_do_not_block_downstream():
    policy = CheckResult("build list vs GO-1", Status.FAILED, "affected", blocks=False)
    assert sr(passed("a", "ok"), policy).usable_downstream
    assert not sr(passed("a", "ok"), failed("go.sum lines", "tampered")).usable_downstream
    assert not sr(skipped("a", "not run")).usable_downstream


def test_stage_closure():
    assert closure(["build"]) == ["toolchain", "modules", "build"]
    assert closure(["vulns"]) == ["toolchain", "modules", "build", "vulns"]
    assert closure(["toolchain"]) == ["toolchain"]
