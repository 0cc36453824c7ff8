"""What `fixproof verify` prints last (the terminal's first screen): failures in full, the advisories let
through by fix.fail_on as one line per module with the upgrade that clears them (not one line each), then
the headline saying what a PASS covers, then the verdict."""

from __future__ import annotations

import io

from fixproof.publish.report import exit_code, headline, other_findings, print_summary
from fixproof.results import Status
from unit.publish.test_page_order import load_run, under_symbol_policy


def _summary(results, fail_on="listed"):
    code = exit_code(results)
    checks = [c for r in results for c in r.checks]
    return {
        "exit_code": code, "status": {0: "passed", 1: "failed"}.get(code, "error"),
        "headline": headline(results, code, fail_on), "junit": "reports/junit.xml", "html": "reports/index.html",
        "counts": {"tests": len(checks), "failures": sum(c.status is Status.FAILED for c in checks),
                   "errors": sum(c.status is Status.ERROR for c in checks),
                   "skipped": sum(c.status is Status.SKIPPED for c in checks)},
        "stages": {r.stage: [c.to_json() for c in r.checks if c.status is not Status.PASSED or c.warning]
                   for r in results},
        "other_findings": other_findings(results),
    }


def _printed(summary) -> list[str]:
    buf = io.StringIO()
    print_summary(summary, buf)
    return buf.getvalue().splitlines()


def test_pass_says_what_it_covers_and_groups_the_advisories_it_lets_through():
    lines = _printed(_summary(load_run("fixdemo-pass")))
    assert not [x for x in lines if "advisory GO-" in x]  # 57 advisories, no line each
    assert "  WARN    vulns: Go 1.22.5 -> 1.25.13 clears 56 advisories, 30 reachable (56 not failing under " \
           "fix.fail_on; each in reports/index.html)" in lines
    assert "  WARN    vulns: golang.org/x/text v0.3.8 -> v0.39.0 clears 1 advisory, 0 reachable (1 not failing " \
           "under fix.fail_on; each in reports/index.html)" in lines
    assert lines[-2].startswith("  Every check passed: the 2 listed advisories are fixed in the built artifact")
    assert "57 other known advisories affect it (30 reachable" in lines[-2]
    assert lines[-1].startswith("fixproof: PASS: 121 passed, 0 failed")
    assert len(lines) <= 10


def test_failing_findings_are_printed_in_full():
    lines = _printed(_summary(under_symbol_policy(load_run("fixdemo-pass")), "symbol"))
    assert sum(x.startswith("  FAILED  vulns: advisory GO-") for x in lines) == 30
    assert "  WARN    vulns: Go 1.22.5 -> 1.25.13 clears 56 advisories, 30 reachable (26 not failing under " \
           "fix.fail_on; each in reports/index.html)" in lines
    assert lines[-1].startswith("fixproof: FAIL:")
