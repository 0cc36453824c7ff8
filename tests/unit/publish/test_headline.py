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
