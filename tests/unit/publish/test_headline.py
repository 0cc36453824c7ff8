"""A PASS headline says exactly what passed: how many listed advisories are proven fixed, how many other
known advisories affect the artifact and how many of those are reachable yet let through by fix.fail_on,
and how many checks did not run. It names no advisory: the page and the CLI show each finding once."""

import json

from conftest import DATA
from fixproof.publish.report import exit_code, headline
from fixproof.results import StageResult, passed, skipped


def _vulns(*checks, listed=("GO-2024-2963",), vex=("fixed",)):
    return StageResult("vulns", checks, facts={"listed": list(listed), "vex": [
        {"id": i, "status": s} for i, s in zip(listed, vex)]})


def test_pass_with_tolerated_advisories_says_how_many_are_reachable():
    vulns = _vulns(passed("advisory GO-2024-2963", "not affected"),
                   passed("advisory GO-2025-0001", "affected but not failing", warning=True,
                          evidence={"level": "symbol"}),
                   passed("advisory GO-2025-0002", "affected but not failing", warning=True,
                          evidence={"level": "module"}))
    text = headline([vulns], 0, "listed")
    assert text == ("Every check passed: the 1 listed advisory is fixed in the built artifact; 2 other known "
                    "advisories affect it (1 reachable: a vulnerable function is in the binary) and do not fail "
                    "under fix.fail_on = 'listed'.")
    assert "GO-2025-0001" not in text  # named once, below the headline


def test_not_affected_and_shipped_artifact_and_runtime_checks():
    vulns = _vulns(passed("advisory GO-2024-2963", "not affected"),
                   passed("shipped artifact: advisory GO-2024-2963", "not affected"),
                   vex=("not_affected",))
    gdb = StageResult("gdb", (passed("a", "ok"), passed("b", "ok"), skipped("c", "no probe")))
    assert headline([vulns, gdb], 0, "symbol") == (
        "Every check passed: the 1 listed advisory does not affect the built artifact and the shipped one, and "
        "its 2 runtime checks held; 1 check did not run (skipped, each with its reason).")


def test_nothing_listed_or_no_vulns_stage_claims_no_fix():
    assert headline([_vulns(listed=(), vex=())], 0, "listed").startswith(
        "Every check passed, but [fix] advisories lists no advisory, so no fix is proven")
    assert headline([StageResult("build", (passed("go build", "ok"),))], 0, "listed") == (
        "Every check passed (the vulns stage did not run, so no advisory was judged).")


def test_failures_and_errors():
    gdb = StageResult("gdb", (passed("a", "ok"),))
    assert headline([gdb], 1, "listed").startswith("At least one check failed")
    assert headline([gdb], 3, "listed").startswith("At least one check could not run")


def test_the_example_run_headline():
    """The bundled example's real stage results (tests/data/runs): 57 advisories let through, 30 reachable."""
    results = [StageResult.from_json(d) for d in json.loads((DATA / "runs" / "fixdemo-pass.json").read_text())]
    assert exit_code(results) == 0
    assert headline(results, 0, "listed") == (
        "Every check passed: the 2 listed advisories are fixed in the built artifact, and its 14 runtime checks "
        "held; 57 other known advisories affect it (30 reachable: a vulnerable function is in the binary) and do "
        "not fail under fix.fail_on = 'listed'; 2 checks did not run (skipped, each with its reason).")


def test_tests_not_run_are_named_in_a_pass():
    from fixproof.stages.gotest_policy import ALLOWED_FAILURE, FLAKY, SKIPPED_BY_CONFIG

    test = StageResult("test", (
        passed("TestA", "passed", classname="m/p"),
        skipped("TestNet", "skipped by config", classname="m/p", evidence={SKIPPED_BY_CONFIG: "needs network"}),
        skipped("TestOld", "allowed failure", classname="m/p", evidence={ALLOWED_FAILURE: "upstream bug"}),
        passed("TestFlaky", "flaky", classname="m/p", evidence={FLAKY: True}, warning=True)))
    text = headline([test], 0, "listed")
    assert text == ("Not every Go test ran and passed: 1 skipped by config (test.skip): TestNet (needs network); "
                    "1 failed and allowed to (test.allow_fail): TestOld (upstream bug); 1 flaky, passed only on a "
                    "retry (test.retries): TestFlaky. Every other check passed (the vulns stage did not run, so no "
                    "advisory was judged); 2 checks did not run (skipped, each with its reason).")


def test_an_allowed_subtest_is_named_once_with_its_parent():
    from fixproof.stages.gotest_policy import ALLOWED_FAILURE

    test = StageResult("test", (
        skipped("TestB", "allowed", classname="m/p", evidence={ALLOWED_FAILURE: "bug"}),
        skipped("TestB/x", "allowed", classname="m/p", evidence={ALLOWED_FAILURE: "bug"}),
        skipped("TestB/x", "allowed", classname="m/q", evidence={ALLOWED_FAILURE: "bug"})))
    assert "2 failed and allowed to (test.allow_fail): TestB (bug), TestB/x (bug)." in headline([test], 0, "listed")


def test_a_disabled_test_stage_is_not_a_plain_pass():
    from fixproof.stages.gotest_policy import TESTS_DISABLED

    test = StageResult("test", (skipped("go test", "test.enabled = false", evidence={TESTS_DISABLED: True}),))
    build = StageResult("build", (passed("go build", "ok"),))
    text = headline([build, test], 0, "listed")
    assert text.startswith("Not every Go test ran and passed: the app's Go tests did not run (test.enabled = false). "
                           "Every other check passed")
