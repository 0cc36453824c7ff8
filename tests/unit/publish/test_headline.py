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
    assert text.startswith("Every check passed")
    assert "1 Go test skipped by config (test.skip): TestNet (needs network)" in text
    assert "1 Go test failed and allowed to (test.allow_fail): TestOld (upstream bug)" in text
    assert "1 Go test flaky, passed only on a retry: TestFlaky" in text


def test_a_disabled_test_stage_is_not_a_plain_pass():
    from fixproof.stages.gotest_policy import TESTS_DISABLED

    test = StageResult("test", (skipped("go test", "test.enabled = false", evidence={TESTS_DISABLED: True}),))
    build = StageResult("build", (passed("go build", "ok"),))
    text = headline([build, test], 0, "listed")
    assert text.startswith("Every check that ran passed, but the app's Go tests did not run (test.enabled = false)")
    assert not text.startswith("Every check passed")
