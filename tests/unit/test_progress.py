"""Progress display: plain timestamped lines for logs, a live rich display on a terminal, -q and -v."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
import threading

import pytest

from conftest import EXAMPLE, ROOT, write_config
from fixproof import progress
from fixproof.progress import Outcome, PlainReporter, Progress, RichReporter, Verbosity

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
FIXED = dt.datetime(2026, 12, 1, 18, 0, 5, tzinfo=dt.timezone.utc)


class Recorder:
    """A reporter that keeps the events it gets."""

    def __init__(self, level: Verbosity = Verbosity.NORMAL) -> None:
        self.level = level
        self.events: list[tuple] = []

    def plan(self, stages):
        self.events.append(("plan", tuple(stages)))

    def started(self, stage):
        self.events.append(("started", stage))

    def finished(self, stage, outcome):
        self.events.append(("finished", stage, outcome))

    def message(self, stage, text, *, level=Verbosity.NORMAL, elapsed=None):
        self.events.append(("message", stage, text, level))

    def error(self, stage, text, *, elapsed=None):
        self.events.append(("error", stage, text))

    def close(self):
        self.events.append(("close",))


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def plain(level: Verbosity = Verbosity.NORMAL) -> tuple[PlainReporter, io.StringIO]:
    buf = io.StringIO()
    return PlainReporter(buf, level, clock=lambda: FIXED), buf


# plain mode ---------------------------------------------------------------

def test_plain_lines_have_a_utc_timestamp_and_the_stage():
    r, buf = plain()
    r.message("build", "go build ./cmd/fixdemo", elapsed=3.2)
    assert buf.getvalue() == "2026-12-01T18:00:05Z fixproof: build: go build ./cmd/fixdemo [3s]\n"


def test_progress_say_goes_to_the_current_reporter_with_a_timestamp():
    buf = io.StringIO()
    with progress.use(PlainReporter(buf)):
        Progress("modules").say("go mod download")
    assert re.fullmatch(rf"{STAMP} fixproof: modules: go mod download \[\d+s\]\n", buf.getvalue())


def test_plain_stage_start_and_finish_with_counts():
    r, buf = plain()
    r.started("test")
    r.finished("test", Outcome(passed=10, failed=1))
    r.finished("build", Outcome(passed=3, up_to_date=True))
    lines = buf.getvalue().splitlines()
    assert lines[0] == "2026-12-01T18:00:05Z fixproof: test: started"
    assert re.fullmatch(rf"{STAMP} fixproof: test: failed \(10 passed, 1 failed\) \[\d+s\]", lines[1])
    assert lines[2] == "2026-12-01T18:00:05Z fixproof: build: up to date, not rerun: passed (3 passed)"


def test_quiet_shows_only_errors():
    r, buf = plain(Verbosity.QUIET)
    r.plan(["build"])
    r.started("build")
    r.message("build", "go build: still running (30s)")
    r.message("build", "docker run ...", level=Verbosity.VERBOSE)
    r.finished("build", Outcome(passed=1))
    assert buf.getvalue() == ""
    Progress("build", reporter=r).error("the Docker Engine went away")
    assert re.fullmatch(rf"{STAMP} fixproof: build: error: the Docker Engine went away \[\d+s\]\n", buf.getvalue())


def test_detail_only_with_verbose():
    r, buf = plain(Verbosity.NORMAL)
    Progress("gdb", reporter=r).detail("docker exec gdb --interpreter=mi3")
    assert buf.getvalue() == ""
    r, buf = plain(Verbosity.VERBOSE)
    Progress("gdb", reporter=r).detail("docker exec gdb --interpreter=mi3")
    assert "fixproof: gdb: docker exec gdb --interpreter=mi3" in buf.getvalue()


def test_explicit_stream_keeps_working():
    buf = io.StringIO()
    Progress("test-setup", buf).say("image present")
    assert re.fullmatch(rf"{STAMP} fixproof: test-setup: image present \[\d+s\]\n", buf.getvalue())


def test_use_sets_and_resets_the_current_reporter():
    rec = Recorder()
    before = progress.current()
    with progress.use(rec):
        assert progress.current() is rec
        Progress("vulns").say("fetching the index")
    assert ("message", "vulns", "fetching the index", Verbosity.NORMAL) in rec.events
    assert rec.events[-1] == ("close",)
    assert progress.current() is not rec and isinstance(before, PlainReporter)


def test_worker_threads_adopt_the_run_reporter():
    rec = Recorder()

    def work():
        progress.adopt(rec)
        Progress("build").say("from a doit worker thread")

    with progress.use(rec):
        t = threading.Thread(target=work)
        t.start()
        t.join()
    assert ("message", "build", "from a doit worker thread", Verbosity.NORMAL) in rec.events


# rich mode ----------------------------------------------------------------

def test_rich_display_shows_stages_and_finished_state():
    from rich.console import Console

    buf = io.StringIO()
    r = RichReporter(Console(force_terminal=True, file=buf, width=100), refresh_per_second=20)
    with progress.use(r):
        r.plan(["toolchain", "build", "test"])
        r.started("toolchain")
        Progress("toolchain").say("go version in golang:1.22.5-bookworm")
        r.finished("toolchain", Outcome(passed=3))
        r.started("build")
        Progress("build").error("compile error in main.go")
        r.finished("build", Outcome(errors=1))
        r.finished("test", Outcome(passed=10, failed=1, up_to_date=True))
    text = ANSI.sub("", buf.getvalue())
    final = text[text.rfind("toolchain") - 2:]  # the last frame
    for name in ("toolchain", "build", "test"):
        assert name in text
    assert re.search(r"✓ toolchain +\d+s 3 passed", final)
    assert re.search(r"✗ build +\d+s 1 error · compile error in main.go", final)
    assert re.search(r"✗ test +10 passed, 1 failed · up to date", final)
    assert "fixproof: build: error: compile error in main.go" in text  # also in the scrollback
    assert "\x1b[" in buf.getvalue()  # really a terminal rendering


def test_rich_messages_after_close_print_as_lines():
    from rich.console import Console

    buf = io.StringIO()
    r = RichReporter(Console(force_terminal=True, file=buf, width=100))
    r.plan(["build"])
    r.close()
    r.message("evidence", "bundle written to reports/evidence", elapsed=1)
    assert "fixproof: evidence: bundle written to reports/evidence [1s]" in ANSI.sub("", buf.getvalue())


# choosing -----------------------------------------------------------------

@pytest.mark.parametrize("stdout,stderr,env", [
    (io.StringIO(), FakeTTY(), {}),
    (FakeTTY(), io.StringIO(), {}),
    (FakeTTY(), FakeTTY(), {"CI": "true"}),
    (FakeTTY(), FakeTTY(), {"CI": "1"}),
    (FakeTTY(), FakeTTY(), {"TERM": "dumb"}),
])
def test_plain_when_not_a_terminal_or_in_ci(stdout, stderr, env):
    assert isinstance(progress.choose(Verbosity.NORMAL, stdout=stdout, stderr=stderr, env=env), PlainReporter)


def test_rich_on_a_terminal_outside_ci():
    r = progress.choose(Verbosity.VERBOSE, stdout=FakeTTY(), stderr=FakeTTY(), env={"CI": "false", "TERM": "xterm"})
    assert isinstance(r, RichReporter) and r.level is Verbosity.VERBOSE


def test_quiet_is_plain_even_on_a_terminal():
    r = progress.choose(Verbosity.QUIET, stdout=FakeTTY(), stderr=FakeTTY(), env={})
    assert isinstance(r, PlainReporter) and r.level is Verbosity.QUIET


def test_outcome_counts_and_status():
    o = Outcome.from_statuses(["passed", "passed", "skipped", "error"])
    assert (o.status, o.counts) == ("error", "2 passed, 1 error, 1 skipped")
    assert Outcome().describe() == "done"


# the doit adapter -----------------------------------------------------------

def _graph(tmp_path):
    from doit.tools import config_changed

    from fixproof.doit_reporter import DoitReporter
    from fixproof.results import StageResult, failed, passed

    target = tmp_path / "stages" / "build.json"

    def build():
        Progress("build").say("go build (network off)")
        StageResult("build", (passed("go build", "ok"), failed("reproducible", "differs"))).write(target)
        return True

    def verify():
        print("fixproof: FAIL: 1 passed, 1 failed")
        return True

    def creator(d):
        return lambda: d

    return {
        "DOIT_CONFIG": {"default_tasks": ["verify"], "dep_file": str(tmp_path / ".doit.db"), "backend": "json",
                        "verbosity": 2, "reporter": DoitReporter},
        "task_build": creator({"actions": [build], "targets": [str(target)], "uptodate": [config_changed("v1")],
                               "verbosity": 2}),
        "task_verify": creator({"actions": [verify], "task_dep": ["build"], "verbosity": 2}),
    }


def _run_doit(ns):
    from doit.cmd_base import ModuleTaskLoader
    from doit.doit_cmd import DoitMain

    return DoitMain(ModuleTaskLoader(ns)).run(["verify"])


def test_doit_events_feed_the_reporter_and_doit_lines_only_with_verbose(tmp_path, capsys):
    rec = Recorder()
    with progress.use(rec):
        assert _run_doit(_graph(tmp_path)) == 0
    out = capsys.readouterr().out
    assert ".  build" not in out and "-- build" not in out
    assert "fixproof: FAIL" in out  # the summary is the verify task's own output: always there
    ev = rec.events
    assert ev[0] == ("plan", ("build",))
    assert ("started", "build") in ev
    assert ("message", "build", "go build (network off)", Verbosity.NORMAL) in ev
    assert ("finished", "build", Outcome(passed=1, failed=1)) in ev
    assert ev.index(("started", "build")) < ev.index(("close",))

    rec = Recorder(Verbosity.VERBOSE)
    with progress.use(rec):
        assert _run_doit(_graph(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "-- build" in out and ".  verify" in out  # doit's own lines with -v
    assert ("finished", "build", Outcome(passed=1, failed=1, up_to_date=True)) in rec.events
    assert ("started", "build") not in rec.events


def test_doit_action_crash_is_an_error_line(tmp_path):
    from fixproof.doit_reporter import DoitReporter

    def crash():
        raise RuntimeError("boom in a stage")

    ns = {"DOIT_CONFIG": {"dep_file": str(tmp_path / ".doit.db"), "backend": "json", "verbosity": 2,
                          "reporter": DoitReporter, "default_tasks": ["verify"]},
          "task_verify": lambda: {"actions": [], "task_dep": ["build"]},
          "task_build": lambda: {"actions": [crash], "verbosity": 2}}
    rec = Recorder()
    with progress.use(rec):
        assert _run_doit(ns) != 0
    errors = [e for e in rec.events if e[0] == "error"]
    assert errors and errors[0][1] == "build" and "boom in a stage" in errors[0][2]
    assert "Traceback" not in errors[0][2]  # the whole traceback only with -v
    assert ("finished", "build", Outcome(errors=1)) in rec.events


# the CLI --------------------------------------------------------------------

@pytest.mark.parametrize("argv,level", [
    (["verify"], 1), (["verify", "-q"], 0), (["verify", "--verbose"], 2), (["-q", "verify"], 0), (["-v", "verify"], 2),
])
def test_cli_verbosity_options(argv, level):
    from fixproof.cli import build_parser

    assert build_parser().parse_args(argv).verbosity == level


def test_cli_quiet_run_shows_errors_and_the_summary_only(tmp_path):
    cfg = write_config(tmp_path, EXAMPLE)
    p = subprocess.run([sys.executable, "-m", "fixproof.cli", "verify", "-q", "-c", str(cfg), "--only", "toolchain"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT,
                       env={**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    assert p.returncode == 3, p.stdout + p.stderr
    assert "fixproof: ERROR:" in p.stdout  # the final summary, also with -q
    stamped = [line for line in p.stderr.splitlines() if re.match(STAMP, line)]
    assert stamped and all(": error: " in line for line in stamped), p.stderr
    assert "no Docker Engine answers" in p.stderr
    assert json.loads((tmp_path / "reports" / "summary.json").read_text())["exit_code"] == 3
