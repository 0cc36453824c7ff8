"""A PASS headline says what it covers: reachable advisories that do not fail under the policy are named."""

from fixproof.results import StageResult, passed, skipped
from fixproof.publish.report import headline


def test_pass_with_tolerated_advisories_says_so():
    vulns = StageResult("vulns", (passed("advisory GO-2024-2963", "not affected"),
                                  passed("advisory GO-2025-0001", "affected but not failing", warning=True),
                                  passed("advisory GO-2025-0002", "affected but not failing", warning=True)))
    text = headline([vulns], 0, "listed")
    assert text.startswith("Every check passed: the listed advisories are fixed")
    assert "2 other known advisories (GO-2025-0001, GO-2025-0002) affect it" in text
    assert "fix.fail_on = 'listed'" in text


def test_clean_pass_and_skips():
    gdb = StageResult("gdb", (passed("a", "ok"), skipped("b", "no checks")))
    assert headline([gdb], 0, "symbol") == ("Every check passed: the listed advisories are fixed in the built artifact "
                                            "and every runtime check held; 1 check did not run (skipped, each with its reason).")
    assert headline([gdb], 1, "listed").startswith("At least one check failed")
    assert headline([gdb], 3, "listed").startswith("At least one check could not run")


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
                    "retry (test.retries): TestFlaky. Every other check passed: the listed advisories are fixed in "
                    "the built artifact and every runtime check held; 2 checks did not run (skipped, each with its "
                    "reason).")


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
