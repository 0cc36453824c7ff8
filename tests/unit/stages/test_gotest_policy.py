"""[test] skip, allow_fail, retries and network: the stage against recorded `go test -json` streams of
tests/data/gotest/audit-*.json (a module with a passing, a failing, a flaky (fails on attempt 1), a
partly broken and a dialing-out test; recorded with go 1.26 on the host), through a fake engine."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest

from fixproof import config
from fixproof.engine.docker import RunResult
from fixproof.errors import ConfigError
from fixproof.results import StageResult, Status, passed
from fixproof.stages import gotest
from fixproof.stages.common import StageContext
from fixproof.stages.gotest_json import parse_go_test_json
from fixproof.stages.gotest_policy import (
    ALLOWED_FAILURE, ATTEMPTS, FLAKY, SKIPPED_BY_CONFIG, TESTS_DISABLED, Attempt, allow_failures, anchored,
    listed_tests, merge_attempts, pattern, retry_targets, skipped_cases,
)

from conftest import DATA, EXAMPLE, write_config

PKG = "example.com/audit/audit"
STREAMS = DATA / "gotest"
SKIP = '{ test = "TestDialsOut", reason = "dials 1.1.1.1, no network in the sandbox" }'
ALLOW = '{ test = "TestKnownBroken", package = "example.com/audit/audit", reason = "upstream bug #12" }'


def _cfg(tmp_path, test: str):
    return config.load(write_config(tmp_path, EXAMPLE, extra="[test]\n" + test, test_network=None))


def _stream(name: str) -> str:
    return (STREAMS / f"audit-{name}.json").read_text()


def _rule(test, reason="r", package=""):
    return config.TestRule(test=test, package=package, reason=reason)


# -- config ------------------------------------------------------------------------------------------------


def test_config_reads_every_key(tmp_path):
    cfg = _cfg(tmp_path, f"skip = [{SKIP}]\nallow_fail = [{ALLOW}]\nretries = 2\nnetwork = \"loopback\"\n")
    t = cfg.test
    assert t.skip == (_rule("TestDialsOut", "dials 1.1.1.1, no network in the sandbox"),)
    assert t.allow_fail == (_rule("TestKnownBroken", "upstream bug #12", PKG),)
    assert (t.retries, t.network) == (2, "loopback")
    assert cfg.section("test")["skip"] == [{"test": "TestDialsOut", "package": "",
                                            "reason": "dials 1.1.1.1, no network in the sandbox"}]
    default = _cfg(tmp_path, "")
    assert (default.test.skip, default.test.allow_fail, default.test.retries, default.test.network) == ((), (), 0, "off")


def test_array_of_tables_form(tmp_path):
    cfg = config.load(write_config(tmp_path, EXAMPLE, extra='[[test.skip]]\ntest = "TestA/case"\nreason = "slow"\n',
                                     test_network=None))
    assert cfg.test.skip == (_rule("TestA/case", "slow"),)


@pytest.mark.parametrize("test, message", [
    ('skip = [{ test = "TestX" }]', r"test.skip\[0\] \(TestX\) needs reason"),
    ('allow_fail = [{ test = "TestX", reason = "  " }]', r"test.allow_fail\[0\] \(TestX\) needs reason"),
    ('skip = [{ reason = "x" }]', "needs test ="),
    ('skip = [{ test = "Test X", reason = "x" }]', "not a Go test name"),
    ('skip = [{ test = "TestX", reason = "x", why = "y" }]', r"unknown key test.skip\[0\].why; allowed keys there "
                                                           "are: package, reason, test"),
    ('skip = ["TestX"]', r"test.skip\[0\] must be a table"),
    ('skip = [{ test = "TestX", reason = "x" }, { test = "TestX", reason = "y" }]', "listed twice"),
    ('skip = [{ test = "TestX", reason = "x" }]\nallow_fail = [{ test = "TestX", reason = "y" }]', "in both"),
    ('skip = [{ test = "TestX", reason = "x" }]\nflags = ["-skip", "TestY"]', "move each skipped test"),
    ("retries = 4", "more than 3"),
    ("retries = -1", "whole number >= 0"),
    ('network = "bridge"', 'must be "off", "loopback" or "host"'),
    ('network = "host"', "network_reason"),
    ('network_reason = "x"', "only for test.network = \"host\""),
])
def test_config_errors(tmp_path, test, message):
    with pytest.raises(ConfigError, match=message):
        _cfg(tmp_path, test + "\n")


def test_a_skip_without_reason_is_exit_2(tmp_path):
    from fixproof.errors import EXIT_USAGE

    with pytest.raises(ConfigError) as e:
        _cfg(tmp_path, 'skip = [{ test = "TestX" }]\n')
    assert e.value.exit_code == EXIT_USAGE == 2


# -- patterns and arguments ----------------------------------------------------------------------------------


def test_patterns_are_anchored_and_escaped():
    assert anchored("TestDialsOut") == "^TestDialsOut$"
    assert anchored("TestTable/case_1.5+x") == r"^TestTable$/^case_1\.5\+x$"
    assert anchored("TestA/[x]|(y)") == r"^TestA$/^\[x\]\|\(y\)$"
    assert pattern(["TestA", "TestB/c", "TestA"]) == "^TestA$|^TestB$/^c$"


def test_go_test_args_pass_the_skips_and_the_rerun(tmp_path):
    cfg = _cfg(tmp_path, f'skip = [{SKIP}, {{ test = "TestT/sub.case", reason = "x" }}]\nflags = ["-v"]\n')
    args = gotest.go_test_args(cfg)
    assert args[-4:] == ["-v", "-skip", r"^TestDialsOut$|^TestT$/^sub\.case$", "./..."]
    rerun = gotest.go_test_args(cfg, run="^TestFails$", packages=[PKG])
    assert rerun[-5:] == ["-skip", r"^TestDialsOut$|^TestT$/^sub\.case$", "-run", "^TestFails$", PKG]
    assert gotest.go_list_args(cfg)[:5] == ["go", "test", "-json", "-list", "."]


# -- the pure steps ------------------------------------------------------------------------------------------


def test_listing():
    assert listed_tests(_stream("list")) == {PKG: {"TestPasses", "TestFails", "TestFlaky", "TestKnownBroken",
                                                   "TestDialsOut", "TestLoopback"}}


def test_skipped_cases_and_stale_skips():
    listing = listed_tests(_stream("list"))
    cases = skipped_cases([_rule("TestDialsOut", "needs network"), _rule("TestGone", "old"),
                           _rule("TestFails", "elsewhere", "example.com/audit/other")], listing)
    dial = cases[0]
    assert (dial.name, dial.classname, dial.status) == ("TestDialsOut", PKG, Status.SKIPPED)
    assert dial.message == "skipped by config (test.skip): needs network"
    assert dial.evidence[SKIPPED_BY_CONFIG] == "needs network"
    stale = [c for c in cases if c.name.startswith("stale")]
    assert [c.name for c in stale] == ["stale test.skip: TestGone", "stale test.skip: TestFails (package "
                                       "example.com/audit/other)"]
    assert all(c.status is Status.PASSED and c.warning for c in stale)
    # go test -skip is global: the test is skipped where it is, and the report says so
    elsewhere = next(c for c in cases if c.name == "TestFails")
    assert "applies to every package" in elsewhere.message and elsewhere.classname == PKG
    unconfirmed = skipped_cases([_rule("TestDialsOut")], None)
    assert len(unconfirmed) == 1 and "not confirmed" in unconfirmed[0].message


def test_allowed_failures_are_skipped_with_reason_and_output():
    cases = list(parse_go_test_json(_stream("attempt1")).cases)
    out = {c.name: c for c in allow_failures(cases, [_rule("TestKnownBroken", "upstream bug #12", PKG)])}
    for name in ("TestKnownBroken", "TestKnownBroken/bad"):
        c = out[name]
        assert c.status is Status.SKIPPED and c.evidence[ALLOWED_FAILURE] == "upstream bug #12"
        assert c.message.startswith("allowed failure (test.allow_fail): upstream bug #12; the test failed:")
    assert "known bug" in out["TestKnownBroken/bad"].details
    assert out["TestKnownBroken/ok"].status is Status.PASSED
    assert out["TestFails"].status is Status.FAILED  # not listed: still fails
    stale = allow_failures(cases, [_rule("TestNope")])
    assert stale[-1].name == "stale test.allow_fail: TestNope" and stale[-1].warning


def test_a_passing_allowed_test_stays_a_pass():
    cases = list(parse_go_test_json(_stream("attempt1")).cases)
    out = {c.name: c for c in allow_failures(cases, [_rule("TestPasses", "was broken")])}
    assert out["TestPasses"].status is Status.PASSED and out["TestPasses"].evidence["allowed_to_fail"] == "was broken"


def test_retries_keep_every_attempt_and_flag_the_flaky_test():
    first = list(parse_go_test_json(_stream("attempt1")).cases)
    allowed = [_rule("TestKnownBroken", "bug")]
    targets = retry_targets(first, allowed)
    assert targets == {PKG: ["TestFails", "TestFlaky"]}
    merged = {c.name: c for c in merge_attempts(first, [Attempt(2, targets, parse_go_test_json(_stream("attempt2")))])}
    flaky = merged["TestFlaky"]
    assert flaky.status is Status.PASSED and flaky.warning and flaky.evidence[FLAKY] is True
    assert flaky.message.startswith("flaky: failed on attempt 1, passed on attempt 2")
    assert [(a["attempt"], a["status"]) for a in flaky.evidence[ATTEMPTS]] == [(1, "failed"), (2, "passed")]
    assert "=== fixproof: attempt 1 of this test: failed ===" in flaky.details
    assert "flaky: first attempt fails" in flaky.details
    fails = merged["TestFails"]
    assert fails.status is Status.FAILED and fails.message.endswith("(failed on all 2 attempts)")
    assert len(fails.evidence[ATTEMPTS]) == 2
    assert ATTEMPTS not in merged["TestPasses"].evidence  # ran once
    assert retry_targets(list(merged.values()), allowed) == {PKG: ["TestFails"]}


# -- the stage, through a fake engine ------------------------------------------------------------------------


class FakeEngine:
    """Answers go test -list, the first run and a -run rerun with the recorded streams."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.holders = 0

    def volume_exists(self, name: str) -> bool:
        return True

    def ensure_volume(self, *a, **kw) -> None:
        pass

    @contextmanager
    def offline_netns(self, image: str):
        self.holders += 1
        yield "container:holder"

    def run(self, image, command, **kw) -> RunResult:
        args = list(command[4:])
        self.calls.append({"args": args, **kw})
        name = "list" if "-list" in args else "attempt2" if "-run" in args else "attempt1"
        out = _stream(name)
        failed = any(json.loads(line).get("Action") == "fail" for line in out.splitlines())
        return RunResult(1 if failed else 0, out, "", 0.1, "sha256:img", tuple(command))


def _run_stage(tmp_path, test: str) -> tuple[StageResult, FakeEngine]:
    cfg = _cfg(tmp_path, test)
    for up in ("toolchain", "modules"):
        StageResult(up, (passed("ok", "ok"),), {"image": {"id": "sha256:img"}}).write(cfg.stages_dir / f"{up}.json")
    eng = FakeEngine()
    return gotest.run(StageContext(cfg, "test", engine_factory=lambda: eng)), eng


def test_stage_applies_skip_allow_fail_and_retries(tmp_path):
    result, eng = _run_stage(tmp_path, f"skip = [{SKIP}, {{ test = \"TestGone\", reason = \"removed\" }}]\n"
                                       f"allow_fail = [{ALLOW}]\nretries = 1\n")
    checks = {(c.classname, c.name): c for c in result.checks}
    assert checks[(PKG, "TestDialsOut")].status is Status.SKIPPED
    assert checks[(PKG, "TestDialsOut")].evidence[SKIPPED_BY_CONFIG] == "dials 1.1.1.1, no network in the sandbox"
    assert checks[(PKG, "TestKnownBroken/bad")].evidence[ALLOWED_FAILURE] == "upstream bug #12"
    assert checks[(PKG, "TestFlaky")].evidence[FLAKY] and checks[(PKG, "TestFlaky")].warning
    assert checks[(PKG, "TestFails")].status is Status.FAILED  # the one real failure still fails the stage
    assert checks[("", "stale test.skip: TestGone")].warning
    # go test -list, the run, one rerun of the two failed tests (not the allowed failure); attempt numbers in env
    assert [c["what"] for c in eng.calls] == ["go test -list", "go test", "go test (attempt 2)"]
    assert "-skip" in eng.calls[1]["args"] and eng.calls[1]["env"][gotest.ATTEMPT_ENV] == "1"
    rerun = eng.calls[2]["args"]
    assert rerun[rerun.index("-run") + 1] == "^TestFails$|^TestFlaky$" and rerun[-1] == PKG
    assert eng.calls[2]["env"][gotest.ATTEMPT_ENV] == "2"
    assert all(c["network"] == "container:holder" for c in eng.calls) and eng.holders == 3  # off: one each
    s = result.facts["summary"]
    assert (s["skipped_by_config"], s["allowed_failures"], s["flaky"], s["failed"]) == (1, 2, 1, 1)
    assert result.facts["reruns"] and result.facts["policy"]["retries"] == 1
    assert result.facts["network"]["mode"] == "off" and "loopback down" in result.facts["network"]["means"]


def test_without_retries_the_flaky_test_fails(tmp_path):
    result, eng = _run_stage(tmp_path, "")
    assert [c["what"] for c in eng.calls] == ["go test"]
    assert next(c for c in result.checks if c.name == "TestFlaky").status is Status.FAILED


def test_loopback_is_dockers_none(tmp_path):
    result, eng = _run_stage(tmp_path, 'network = "loopback"\n')
    assert [c["network"] for c in eng.calls] == ["none"] and eng.holders == 0
    assert not any(c.name == "test network" for c in result.checks)


def test_host_network_is_a_warning(tmp_path):
    result, eng = _run_stage(tmp_path, 'network = "host"\nnetwork_reason = "tests call the staging API"\n')
    assert all(c["network"] == "host" for c in eng.calls)
    net = next(c for c in result.checks if c.name == "test network")
    assert net.status is Status.PASSED and net.warning and "tests call the staging API" in net.message


def test_disabled_stage_is_skipped_not_passed(tmp_path):
    result, eng = _run_stage(tmp_path, "enabled = false\n")
    assert eng.calls == []
    assert [c.status for c in result.checks] == [Status.SKIPPED]
    assert result.checks[0].evidence[TESTS_DISABLED] is True and not result.ok
