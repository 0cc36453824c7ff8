"""Fail closed: no PASS without this run's evidence (issue 11, items 1-6).

Each test here failed on the code before the run-directory guard: a hostile
app or a broken environment made `fixproof verify` exit 0 without a verdict,
left an old PASS next to a new run, or let two runs mix their reports.
Here what needs no engine; the rest is in tests/integration/test_fail_closed.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from fixproof import config, rundir
from fixproof.errors import ConfigError
from fixproof.stages.build import infrastructure_failure

from conftest import EXAMPLE, ROOT, assert_no_traceback, write_config, verify


def test_symlink_out_of_the_module_is_a_config_error_not_a_pass(tmp_path, app_copy):
    (tmp_path / "secret.txt").write_text("host secret\n")
    (app_copy / "LICENSE").symlink_to("../secret.txt")
    cfg = write_config(tmp_path, app_copy)
    p = verify(cfg, "--only", "build")
    assert_no_traceback(p)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "LICENSE is a symlink" in p.stderr and "outside the module" in p.stderr
    assert not (tmp_path / "reports" / "summary.json").exists()


def test_gosum_symlinked_to_a_host_file_never_reaches_a_report(tmp_path, app_copy):
    secret = tmp_path / "host-secret"
    secret.write_text("TOP-SECRET-LINE h1:x\n")
    (app_copy / "go.sum").unlink()
    (app_copy / "go.sum").symlink_to(secret)
    cfg = write_config(tmp_path, app_copy)
    p = verify(cfg)
    assert_no_traceback(p)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "go.sum is a symlink" in p.stderr
    assert "TOP-SECRET" not in p.stdout + p.stderr
    reports = tmp_path / "reports"
    leaked = [f for f in reports.rglob("*") if f.is_file() and b"TOP-SECRET" in f.read_bytes()] if reports.exists() else []
    assert leaked == []


def test_file_name_with_a_newline_is_a_config_error(tmp_path, app_copy):
    (app_copy / "internal" / "odd\nname.txt").write_text("x")
    cfg = write_config(tmp_path, app_copy)
    p = verify(cfg, "--only", "build")
    assert_no_traceback(p)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "control character" in p.stderr


@pytest.mark.parametrize("binary", ["/tmp/victim", "../up", "a/b", ".."])
def test_binary_name_must_stay_in_the_build_directory(tmp_path, binary):
    cfg = write_config(tmp_path, EXAMPLE, extra="")
    cfg.write_text(cfg.read_text().replace('packages = ["./cmd/fixdemo"]',
                                           f'packages = ["./cmd/fixdemo"]\nbinary = "{binary}"'))
    with pytest.raises(ConfigError, match="plain file name"):
        config.load(cfg)


def test_report_dir_that_cannot_be_created_is_a_clear_infrastructure_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cfg = write_config(tmp_path, EXAMPLE)
    cfg.write_text(cfg.read_text().replace(f'dir = "{tmp_path / "reports"}"', f'dir = "{blocker / "reports"}"'))
    p = verify(cfg, "--only", "toolchain")
    assert_no_traceback(p)
    assert p.returncode == 3, p.stdout + p.stderr
    assert "report directory" in p.stderr


def test_lock_refuses_a_second_holder_without_wait(tmp_path):
    with rundir.locked(tmp_path):
        child = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; from fixproof import rundir\n"
                                f"with rundir.locked(Path({str(tmp_path)!r}), wait=False): pass"],
                               capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert child.returncode != 0 and "another fixproof run" in child.stderr
    child = subprocess.run([sys.executable, "-c", "from pathlib import Path; from fixproof import rundir\n"
                            f"with rundir.locked(Path({str(tmp_path)!r}), wait=False): print('got it')"],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert child.stdout.strip() == "got it", child.stderr


def test_clear_verdicts_unseals_only_bundles(tmp_path):
    bundle, other = tmp_path / "evidence", tmp_path / "mine"
    bundle.mkdir()
    other.mkdir()
    for f in ("manifest.json", "MANIFEST.sha256", "data.txt"):
        (bundle / f).write_text("x")
    (other / "MANIFEST.sha256").write_text("a user's file, not a bundle")
    (tmp_path / "summary.json").write_text("{}")
    (tmp_path / "junit.xml").write_text("<testsuites/>")
    rundir.clear_verdicts([tmp_path], [tmp_path / "junit.xml"], [bundle, other])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evidence", "mine"]
    assert sorted(p.name for p in bundle.iterdir()) == ["data.txt", "manifest.json.superseded"]
    assert (other / "MANIFEST.sha256").exists()


def test_full_disk_is_named_as_an_infrastructure_failure():
    out = "# example.com/x\nwrite /root/.cache/go-build/ab/x-d: no space left on device\n"
    assert "no space left on device" in infrastructure_failure(out)
    assert infrastructure_failure("./main.go:3:2: undefined: x\n") == ""

