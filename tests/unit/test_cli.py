"""The CLI contract: exit codes and one-line errors, never a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLE, ROOT, write_config

FIXPROOF = [sys.executable, "-m", "fixproof.cli"]


def run(*args, env=None, cwd=None):
    e = {**os.environ, **(env or {})}
    return subprocess.run([*FIXPROOF, *args], capture_output=True, text=True, env=e, cwd=cwd or ROOT, timeout=120)


def assert_clean_error(p, code):
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout
    assert p.stderr.strip(), "an error must say what to do"


def test_missing_config_is_exit_2(tmp_path):
    p = run("verify", "-c", str(tmp_path / "nope.toml"))
    assert_clean_error(p, 2)
    assert "not found" in p.stderr


def test_no_config_in_cwd_is_exit_2(tmp_path):
    p = run("verify", cwd=tmp_path)
    assert_clean_error(p, 2)
    assert "pass -c FILE" in p.stderr


def test_unknown_key_is_exit_2(tmp_path):
    cfg = write_config(tmp_path, EXAMPLE, extra="[build]\nbogus = 1\n")
    p = run("verify", "-c", str(cfg))
    assert_clean_error(p, 2)
    assert "unknown key build.bogus" in p.stderr


def test_app_dir_missing_is_exit_2(tmp_path):
    cfg = write_config(tmp_path, tmp_path / "nowhere")
    assert_clean_error(run("verify", "-c", str(cfg)), 2)


def test_unknown_stage_is_exit_2(tmp_path):
    cfg = write_config(tmp_path, EXAMPLE)
    p = run("verify", "-c", str(cfg), "--only", "linking")
    assert_clean_error(p, 2)
    assert "unknown stage" in p.stderr


def test_bad_arguments_are_exit_2():
    assert_clean_error(run("frobnicate"), 2)
    assert_clean_error(run("inspect"), 2)


def test_no_docker_engine_is_exit_3(tmp_path):
    cfg = write_config(tmp_path, EXAMPLE)
    p = run("verify", "-c", str(cfg), "--only", "toolchain", env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    assert p.returncode == 3, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr + p.stdout
    assert "no Docker Engine answers" in p.stdout + p.stderr
    junit = (tmp_path / "reports" / "junit.xml").read_text()
    assert "<error" in junit  # infrastructure problems are errors, not failures


def test_doit_list_shows_stages_with_docstrings():
    p = subprocess.run([str(Path(sys.executable).parent / "doit"), "list"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    for stage in ("toolchain", "modules", "build", "test", "binary", "vulns", "gdb", "trace", "race", "report", "verify"):
        assert stage in p.stdout
    assert "go version inside equals the pin" in p.stdout


def test_version():
    p = run("--version")
    assert p.returncode == 0 and "fixproof" in p.stdout


def test_verify_takes_db_over_the_environment(tmp_path, monkeypatch):
    """#15.5: error messages said "pass --db", which verify rejected; only FIXPROOF_VULNDB worked."""
    from fixproof import cli, tasks

    seen = []

    def capture(cfgs, **kw):
        seen.extend(c.vulndb_url for c in cfgs)
        raise SystemExit(0)

    monkeypatch.setattr(tasks, "fleet_namespace", capture)
    monkeypatch.setenv("FIXPROOF_VULNDB", "file:///from/env")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "db").mkdir()
    cfg = write_config(tmp_path, EXAMPLE)
    with pytest.raises(SystemExit):
        cli.main(["verify", "-c", str(cfg), "--db", "db"])
    assert seen == [(tmp_path / "db").resolve().as_uri()]
    seen.clear()
    with pytest.raises(SystemExit):
        cli.main(["verify", "-c", str(cfg)])
    assert seen == ["file:///from/env"]
    assert cli.main(["verify", "-c", str(cfg), "--db", "ftp://x"]) == 2


@pytest.mark.parametrize("argv", [
    ["vulns", "a", "b", "--db", "file:///x", "--json"],
    ["-q", "inspect", "--json", "--symbols", "d"],
    ["verify", "-c", "f.toml", "--only", "build", "test", "-n", "2", "--no-wait", "-v"],
    ["-v", "evidence", "verify", "bundle", "--public-key", "k.pem"],
    ["merge", "out", "shard1", "shard2"],
    ["verify", "--shard", "2/4", "--timings", "s.json", "--db", "file:///x"],
])
def test_parser_for_one_command_parses_like_the_whole_one(argv: list[str]) -> None:
    """main() builds only the named command's options (start-up time); the result is the same."""
    from fixproof.cli import _command_of, build_parser

    assert _command_of(argv) == next(a for a in argv if not a.startswith("-"))
    assert build_parser(_command_of(argv)).parse_args(argv) == build_parser().parse_args(argv)


def test_an_inherited_ignored_sigint_still_interrupts(monkeypatch):
    """A background job of a shell script inherits SIGINT as ignored: Ctrl-C or kill -INT then did not stop
    the run (it went on to its verdict). main() takes SIGINT back, so every interrupt removes the run's
    containers and exits 3."""
    import signal

    from fixproof import cli

    seen = []
    monkeypatch.setattr(cli, "_dispatch", lambda args: seen.append(signal.getsignal(signal.SIGINT)) or 0)
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert cli.main(["inspect", "x"]) == 0
    finally:
        signal.signal(signal.SIGINT, old)
    assert seen == [signal.default_int_handler]
