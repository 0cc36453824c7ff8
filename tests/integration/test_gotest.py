"""parse_go_test_json against real `go test -json` output from the host go (hand-written streams:
tests/unit/stages/test_gotest_json.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fixproof.stages.gotest_json import (
    BUILD_FAILED,
    NO_TEST_FILES,
    NO_TESTS_TO_RUN,
    PACKAGE_FAILED,
    GoTestReport,
    parse_go_test_json,
)
from fixproof.results import CheckResult, Status

from conftest import DATA

MODULE = "example.com/gtj"

SOURCES = {
    "go.mod": f"module {MODULE}\n\ngo 1.22\n",
    "ok/ok_test.go": """package ok

import (
\t"testing"
\t"time"
)

func TestPlain(t *testing.T) { t.Log("just a log line") }

func TestSleepy(t *testing.T) { time.Sleep(60 * time.Millisecond) }

func TestTable(t *testing.T) {
\tt.Run("with space case", func(t *testing.T) {})
\tt.Run("nested/name", func(t *testing.T) {})
}
""",
    "bad/bad_test.go": """package bad

import "testing"

func TestBoom(t *testing.T) {
\tt.Log("setting up")
\tt.Errorf("boom: got %d want %d\\nsecond line \\x1b[31mred\\x1b[0m", 1, 2)
}

func TestSubs(t *testing.T) {
\tt.Run("good one", func(t *testing.T) {})
\tt.Run("bad one", func(t *testing.T) { t.Fatal("nope") })
}
""",
    "skippy/skip_test.go": """package skippy

import "testing"

func TestNeedsDocker(t *testing.T) { t.Skip("needs a docker engine") }

func TestSilentSkip(t *testing.T) { t.SkipNow() }
""",
    "panicky/panic_test.go": """package panicky

import "testing"

func TestBefore(t *testing.T) {}

func TestPanics(t *testing.T) { panic("kaboom") }
""",
    "broken/broken_test.go": """package broken

import "testing"

func TestNeverBuilt(t *testing.T) { var x int = "not an int"; _ = x }
""",
    "notests/lib.go": "package notests\n\nfunc Answer() int { return 42 }\n",
    "slow/slow_test.go": """package slow

import (
\t"testing"
\t"time"
)

func TestQuick(t *testing.T) {}

func TestForever(t *testing.T) { time.Sleep(time.Minute) }
""",
    "mainexit/main_test.go": """package mainexit

import (
\t"fmt"
\t"os"
\t"testing"
)

func TestMain(m *testing.M) {
\tfmt.Println("refusing to run")
\tos.Exit(3)
}

func TestUnreached(t *testing.T) {}
""",
    "attrs/attr_test.go": """package attrs

import "testing"

func TestWithAttr(t *testing.T) { t.Attr("ticket", "SEC-42") }
""",
}


def _go_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GOTOOLCHAIN="local",
        GOFLAGS="-mod=mod",
        GOPROXY="off",
        GOWORK="off",
        GOSUMDB="off",
        GO111MODULE="on",
        GOPATH=str(tmp / "gopath"),
        NO_COLOR="1",
    )
    return env


def _go_test(module: Path, *args: str) -> str:
    proc = subprocess.run(
        ["go", "test", "-json", *args],
        cwd=module, env=_go_env(module.parent), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stderr
    # Keep stderr in the stream, as a caller merging both would: it must not break parsing.
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("go") is None:
        pytest.skip("the go command is not on PATH; these tests need real go test -json output")
    root = tmp_path_factory.mktemp("gomod") / "m"
    for rel, text in SOURCES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture(scope="module")
def stream(module_dir: Path) -> str:
    return _go_test(module_dir, "-timeout", "2s", "-count=1", "./...")


@pytest.fixture(scope="module")
def report(stream: str) -> GoTestReport:
    return parse_go_test_json(stream)


def _case(report: GoTestReport, pkg: str, name: str) -> CheckResult:
    found = [c for c in report.cases if c.classname == f"{MODULE}/{pkg}" and c.name == name]
    assert len(found) == 1, [(c.classname, c.name) for c in report.cases]
    return found[0]


def test_every_line_of_the_real_stream_is_json(stream: str, report: GoTestReport) -> None:
    assert report.stray_lines == ()
    assert report.unknown_actions == ()
    assert all(json.loads(line) for line in stream.splitlines() if line.strip())


def test_passing_tests_and_subtests(report: GoTestReport) -> None:
    for name in ("TestPlain", "TestSleepy", "TestTable", "TestTable/with_space_case",
                 "TestTable/nested/name"):
        case = _case(report, "ok", name)
        assert case.status is Status.PASSED
        assert case.details == ""
    assert _case(report, "ok", "TestSleepy").duration_s >= 0.05


def test_failing_test_has_message_and_output(report: GoTestReport) -> None:
    case = _case(report, "bad", "TestBoom")
    assert case.status is Status.FAILED
    assert "\n" not in case.message
    assert case.message.startswith("bad_test.go:")
    assert "boom: got 1 want 2" in case.details
    assert "second line" in case.details
    assert "--- FAIL: TestBoom" in case.details


def test_failing_subtest_and_its_parent(report: GoTestReport) -> None:
    assert _case(report, "bad", "TestSubs/good_one").status is Status.PASSED
    bad = _case(report, "bad", "TestSubs/bad_one")
    assert bad.status is Status.FAILED
    assert "nope" in bad.message
    parent = _case(report, "bad", "TestSubs")
    assert parent.status is Status.FAILED
    assert "TestSubs/bad_one" in parent.message


def test_skips_keep_their_reason(report: GoTestReport) -> None:
    case = _case(report, "skippy", "TestNeedsDocker")
    assert case.status is Status.SKIPPED
    assert "needs a docker engine" in case.message
    silent = _case(report, "skippy", "TestSilentSkip")
    assert silent.status is Status.SKIPPED
    assert silent.message


def test_panic_fails_the_running_test(report: GoTestReport) -> None:
    assert _case(report, "panicky", "TestBefore").status is Status.PASSED
    case = _case(report, "panicky", "TestPanics")
    assert case.status is Status.FAILED
    assert case.message.startswith("panic: kaboom")
    assert "goroutine" in case.details


def test_compile_error_is_a_visible_failure(report: GoTestReport) -> None:
    case = _case(report, "broken", BUILD_FAILED)
    assert case.status is Status.FAILED
    assert "broken_test.go" in case.message
    assert "cannot use" in case.details  # the compiler's own words
    assert "[build failed]" in case.details
    assert not [c for c in report.cases if c.name == "TestNeverBuilt"]
    pkg = next(p for p in report.packages if p.import_path == f"{MODULE}/broken")
    assert pkg.status is Status.FAILED and pkg.failed_build
    assert any(b.failed and "cannot use" in b.output for b in report.builds)


def test_package_without_test_files_is_a_visible_skip(report: GoTestReport) -> None:
    case = _case(report, "notests", NO_TEST_FILES)
    assert case.status is Status.SKIPPED


def test_timeout_fails_the_unfinished_test(report: GoTestReport) -> None:
    assert _case(report, "slow", "TestQuick").status is Status.PASSED
    case = _case(report, "slow", "TestForever")
    assert case.status is Status.FAILED
    assert "timed out" in case.message
    assert "panic: test timed out after 2s" in case.details
    assert case.duration_s >= 1.5  # from the events' Time stamps, no Elapsed was sent
    assert not [c for c in report.cases if c.classname.endswith("/slow") and c.name == PACKAGE_FAILED]


def test_package_failure_without_failing_test(report: GoTestReport) -> None:
    case = _case(report, "mainexit", PACKAGE_FAILED)
    assert case.status is Status.FAILED
    assert case.message == "package failed: refusing to run"
    assert "refusing to run" in case.details
    assert "FAIL\t" in case.details


def test_attr_lands_in_evidence(report: GoTestReport) -> None:
    case = _case(report, "attrs", "TestWithAttr")
    assert case.status is Status.PASSED
    assert case.evidence.get("attr.ticket") == "SEC-42"


def test_summary_counts(report: GoTestReport) -> None:
    s = report.summary
    assert s.tests == len(report.cases) == s.passed + s.failed + s.skipped
    assert s.failed == 7  # TestBoom, TestSubs, bad_one, TestPanics, build, TestForever, mainexit
    assert s.skipped == 3
    assert s.packages == 9
    assert s.packages_failed == 5
    assert s.stray_lines == 0
    # Each (package, name) appears once in a single run.
    assert len({(c.classname, c.name) for c in report.cases}) == len(report.cases)


def test_cached_run(module_dir: Path) -> None:
    _go_test(module_dir, "./ok", "./notests")
    again = parse_go_test_json(_go_test(module_dir, "./ok", "./notests"))
    plain = next(c for c in again.cases if c.name == "TestPlain")
    assert plain.status is Status.PASSED
    assert plain.evidence.get("cached") is True
    assert next(p for p in again.packages if p.import_path.endswith("/ok")).cached


def test_no_tests_to_run(module_dir: Path) -> None:
    rep = parse_go_test_json(_go_test(module_dir, "-run", "^$", "./ok"))
    assert [(c.name, c.status) for c in rep.cases] == [(NO_TESTS_TO_RUN, Status.SKIPPED)]


def test_go_stream_converts_to_valid_junit(report: GoTestReport, tmp_path: Path) -> None:
    import xmlschema

    from fixproof.publish.junit import write_junit
    from fixproof.results import StageResult

    out = tmp_path / "junit.xml"
    summary = write_junit([StageResult("gotest", report.cases)], out)
    xmlschema.XMLSchema(str(DATA / "junit.xsd")).validate(str(out))
    assert "\x1b" not in out.read_text()
    assert summary.tests == len(report.cases)
    assert summary.failures == report.summary.failed



# -- the test stage under [test] skip, allow_fail, retries and network, in the pinned image ------------------
# The module of tests/data/gotest/audit (its streams, recorded on the host, feed the unit tests): a passing,
# an always failing, a flaky (fails when FIXPROOF_TEST_ATTEMPT=1), a partly broken, a dialing-out
# (1.1.1.1:53) and a loopback (listens and dials 127.0.0.1) test.

AUDIT = DATA / "gotest" / "audit"
AUDIT_PKG = "example.com/audit/audit"


def _audit_config(tmp_path: Path, test: str) -> Path:
    from conftest import write_config

    app = tmp_path / "audit"
    shutil.copytree(AUDIT, app)
    cfg = write_config(tmp_path, app, extra="[test]\n" + test, test_network=None)
    cfg.write_text(cfg.read_text().replace('packages = ["./cmd/fixdemo"]', 'packages = ["./cmd/app"]'))
    return cfg


def _checks(cfg: Path) -> dict[str, dict]:
    from conftest import stage

    return {c["name"]: c for c in stage(cfg, "test")["checks"] if c["classname"] in (AUDIT_PKG, "")}


@pytest.mark.docker
def test_network_off_has_no_loopback_and_retries_find_the_flaky_test(tmp_path, golang_image):
    from conftest import assert_no_traceback, verify

    cfg = _audit_config(tmp_path, "retries = 1\n")
    p = verify(cfg, "--only", "test")
    assert_no_traceback(p)
    assert p.returncode == 1, p.stdout + p.stderr
    checks = _checks(cfg)
    dial = checks["TestDialsOut"]
    assert dial["status"] == "failed" and "network is unreachable" in dial["message"], dial
    loop = checks["TestLoopback"]  # "off" is not "loopback": 127.0.0.1 is gone too
    assert loop["status"] == "failed" and "listen on loopback" in loop["message"], loop
    flaky = checks["TestFlaky"]
    assert flaky["status"] == "passed" and flaky["warning"] and flaky["evidence"]["flaky"] is True, flaky
    assert [a["status"] for a in flaky["evidence"]["attempts"]] == ["failed", "passed"]
    fails = checks["TestFails"]
    assert fails["status"] == "failed" and fails["message"].endswith("(failed on all 2 attempts)"), fails
    assert checks["TestPasses"]["status"] == "passed" and "attempts" not in checks["TestPasses"]["evidence"]
    facts = json.loads((cfg.parent / "reports" / "stages" / "test.json").read_text())["facts"]
    assert facts["network"]["mode"] == "off" and len(facts["reruns"]) == 1


@pytest.mark.docker
def test_skips_and_allowed_failures_pass_with_a_headline_that_says_so(tmp_path, golang_image):
    import xml.etree.ElementTree as ET

    from conftest import assert_no_traceback, verify

    cfg = _audit_config(tmp_path, """network = "loopback"
retries = 1
skip = [{ test = "TestDialsOut", reason = "dials 1.1.1.1: no network here" },
        { test = "TestRemoved", reason = "gone upstream" }]
allow_fail = [{ test = "TestFails", package = "example.com/audit/audit", reason = "known bug #7" },
              { test = "TestKnownBroken/bad", reason = "known bug #8" }]
""")
    p = verify(cfg, "--only", "test")
    assert_no_traceback(p)
    assert p.returncode == 0, p.stdout + p.stderr
    checks = _checks(cfg)
    assert checks["TestLoopback"]["status"] == "passed"  # loopback: its own 127.0.0.1
    assert checks["TestDialsOut"]["status"] == "skipped"
    assert checks["TestDialsOut"]["message"] == "skipped by config (test.skip): dials 1.1.1.1: no network here"
    assert checks["TestFails"]["status"] == "skipped" and "allowed failure" in checks["TestFails"]["message"]
    assert checks["TestKnownBroken/bad"]["evidence"]["allowed_failure"] == "known bug #8"
    assert checks["TestKnownBroken"]["status"] == "skipped"  # failed only through its allowed subtest
    assert checks["stale test.skip: TestRemoved"]["warning"]
    assert checks["TestFlaky"]["evidence"]["flaky"] is True
    summary = json.loads((cfg.parent / "reports" / "summary.json").read_text())
    headline = summary["headline"]
    assert headline.startswith("Not every Go test ran and passed: 1 skipped by config (test.skip): TestDialsOut "
                               "(dials 1.1.1.1: no network here); 2 failed and allowed to (test.allow_fail): "
                               "TestFails (known bug #7), TestKnownBroken (known bug #8); 1 flaky, passed only on a "
                               "retry (test.retries): TestFlaky. Every other check passed"), headline
    assert headline in p.stdout
    root = ET.parse(summary["junit"]).getroot()
    dial = next(c for c in root.iter("testcase") if c.get("name") == "TestDialsOut")
    assert dial.find("skipped").get("message") == "skipped by config (test.skip): dials 1.1.1.1: no network here"


@pytest.mark.docker
def test_a_disabled_test_stage_is_skipped_and_the_headline_says_so(tmp_path, golang_image):
    from conftest import assert_no_traceback, verify

    cfg = _audit_config(tmp_path, "enabled = false\n")
    p = verify(cfg, "--only", "test")
    assert_no_traceback(p)
    assert p.returncode == 0, p.stdout + p.stderr
    assert [c["status"] for c in _checks(cfg).values()] == ["skipped"]
    summary = json.loads((cfg.parent / "reports" / "summary.json").read_text())
    assert summary["headline"].startswith("Not every Go test ran and passed: the app's Go tests did not run")
