"""JUnit of a test stage under [test] skip, allow_fail and retries (recorded streams of
tests/data/gotest/): skipped tests and allowed failures stay in the file as skipped with their reason,
a flaky test's attempts are in its system-out; the file stays junit-10 valid."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from fixproof import config
from fixproof.publish.junit import write_junit
from fixproof.results import StageResult
from fixproof.stages.gotest_json import parse_go_test_json
from fixproof.stages.gotest_policy import Attempt, allow_failures, listed_tests, merge_attempts, retry_targets, skipped_cases

from unit.publish.test_junit import _write, schema  # noqa: F401 (fixture)
from conftest import DATA

PKG = "example.com/audit/audit"


def _stage() -> StageResult:
    read = lambda name: (DATA / "gotest" / f"audit-{name}.json").read_text()  # noqa: E731
    allowed = [config.TestRule(test="TestKnownBroken", package=PKG, reason="upstream bug #12")]
    first = list(parse_go_test_json(read("attempt1")).cases)
    targets = retry_targets(first, allowed)
    cases = merge_attempts(first, [Attempt(2, targets, parse_go_test_json(read("attempt2")))])
    cases = allow_failures(cases, allowed)
    cases += skipped_cases([config.TestRule(test="TestDialsOut", reason="needs network")], listed_tests(read("list")))
    return StageResult("test", tuple(cases))


def _case(root: ET.Element, name: str) -> ET.Element:
    return next(c for c in root.iter("testcase") if c.get("name") == name and c.get("classname") == PKG)


def test_skips_allowed_failures_and_attempts_in_junit(tmp_path, schema):  # noqa: F811
    summary, root = _write(tmp_path, [_stage()], schema)
    skip = _case(root, "TestDialsOut").find("skipped")
    assert skip is not None and skip.get("message") == "skipped by config (test.skip): needs network"
    allowed = _case(root, "TestKnownBroken/bad").find("skipped")
    assert allowed is not None
    assert allowed.get("message").startswith("allowed failure (test.allow_fail): upstream bug #12; the test failed:")
    assert "known bug" in (allowed.text or "")
    flaky = _case(root, "TestFlaky")
    assert flaky.find("skipped") is None and flaky.find("failure") is None  # final verdict: passed ...
    out = flaky.findtext("system-out") or ""
    assert out.startswith("warning: flaky: failed on attempt 1, passed on attempt 2")  # ... but never silently
    assert '"attempt": 1' in out and "flaky: first attempt fails" in out
    fails = _case(root, "TestFails")
    assert fails.find("failure").get("message").endswith("(failed on all 2 attempts)")
    assert summary.failures == 1  # TestFails only
    assert summary.skipped == 4  # TestDialsOut, TestKnownBroken, TestKnownBroken/bad, cmd/app [no test files]
