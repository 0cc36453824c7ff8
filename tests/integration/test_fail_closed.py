"""Fail closed with the engine (issue 11): an unwritable JUnit file, an interrupted rerun and two runs
on one report directory never leave a PASS that this run did not prove. What needs no engine:
tests/unit/test_fail_closed.py."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import EXAMPLE, ROOT, assert_no_traceback, write_config, verify


def _popen(cfg: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fixproof.cli", "verify", "-c", str(cfg), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.docker
def test_unwritable_junit_is_exit_3_and_no_pass(tmp_path, golang_image):
    cfg = write_config(tmp_path, EXAMPLE)
    (tmp_path / "a-file").write_text("a file, not a directory")
    p = verify(cfg, "--only", "toolchain", "--junit", str(tmp_path / "a-file" / "junit.xml"))
    assert_no_traceback(p)
    assert p.returncode == 3, p.stdout + p.stderr
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    assert summary["status"] == "error" and summary["exit_code"] == 3
    assert not (tmp_path / "reports" / "evidence" / "manifest.json").exists()


@pytest.mark.docker
def test_interrupted_rerun_leaves_no_old_pass(tmp_path, golang_image, engine):
    cfg = write_config(tmp_path, EXAMPLE, extra='[build]\ncache = "fresh"\n')
    first = verify(cfg, "--only", "toolchain")
    assert first.returncode == 0, first.stdout + first.stderr
    reports = tmp_path / "reports"
    assert json.loads((reports / "summary.json").read_text())["status"] == "passed"
    assert (reports / "evidence" / "manifest.json").is_file()
    proc = _popen(cfg, "--only", "build")
    deadline = time.time() + 180
    while time.time() < deadline and not engine.client.api.containers(filters={"label": f"fixproof.pid={proc.pid}"}):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, out + err
    assert "Traceback" not in out + err
    summary = reports / "summary.json"
    assert not summary.exists() or json.loads(summary.read_text())["status"] != "passed"
    assert not (reports / "junit.xml").exists()
    assert not (reports / "evidence" / "manifest.json").exists()
    check = subprocess.run([sys.executable, "-m", "fixproof.cli", "evidence", "verify", str(reports / "evidence")],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert check.returncode != 0


@pytest.mark.docker
def test_two_runs_on_one_report_directory_never_mix(tmp_path, golang_image, engine):
    cfg = write_config(tmp_path, EXAMPLE, extra='[build]\ncache = "fresh"\n')
    a = _popen(cfg, "--only", "build")
    deadline = time.time() + 180
    while time.time() < deadline and not engine.client.api.containers(filters={"label": f"fixproof.pid={a.pid}"}):
        time.sleep(0.2)
    b = verify(cfg, "--only", "build", "--no-wait")
    assert b.returncode == 3 and "another fixproof run" in b.stderr, b.stdout + b.stderr
    c = _popen(cfg, "--only", "toolchain")  # queues behind a
    out_a, err_a = a.communicate(timeout=600)
    out_c, err_c = c.communicate(timeout=600)
    assert a.returncode == 0, out_a + err_a
    assert c.returncode == 0, out_c + err_c
    assert "waiting for it to finish" in out_c + err_c
