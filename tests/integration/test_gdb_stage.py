"""Stage gdb on the example, fixed and unfixed, through the real task graph:
real gdb in a real probe container on the binary the build stage made."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import EXAMPLE, GDB_CHECKS, assert_no_traceback, check, stage, verify, write_config

pytestmark = pytest.mark.docker

UNFIXED_TAGS = '[build]\ntags = ["fixdemo_unfixed_cache", "fixdemo_unfixed_chunk", "fixdemo_unfixed_iface"]\n'
NAMES = ("bounded read takes the fixed path", "cache stays bounded", "no panic while describing shapes",
         "Square is a Shape by value", "no failed type assertion")


@pytest.fixture(scope="module")
def fixed(tmp_path_factory, golang_image):
    cfg = write_config(tmp_path_factory.mktemp("gdb-fixed"), EXAMPLE, extra=GDB_CHECKS)
    return cfg, verify(cfg, "--only", "gdb", "--evidence", str(cfg.parent / "evidence"))


@pytest.fixture(scope="module")
def unfixed(tmp_path_factory, golang_image):
    cfg = write_config(tmp_path_factory.mktemp("gdb-unfixed"), EXAMPLE, extra=UNFIXED_TAGS + GDB_CHECKS)
    return cfg, verify(cfg, "--only", "gdb")


def test_every_kind_passes_on_the_fixed_example(fixed):
    cfg, p = fixed
    assert_no_traceback(p)
    assert p.returncode == 0, p.stdout + p.stderr
    checks = stage(cfg, "gdb")["checks"]
    assert [c["name"] for c in checks] == list(NAMES)
    assert {c["evidence"]["kind"] for c in checks} == {"path", "memory", "panic", "interface"}
    assert all(c["status"] == "passed" for c in checks), checks


def test_fixed_path_evidence(fixed):
    cfg, _ = fixed
    c = check(cfg, "gdb", "bounded read takes the fixed path")
    ev = c["evidence"]
    assert ev["hits"] == 1 and ev["exit_code"] == 0
    assert {"name": "n", "value": "10000", "source": "dwarf"} in ev["first_stop"]["args"]
    assert ev["first_stop"]["backtrace"][0]["func"] == "example.com/fixdemo/internal/chunk.limit"
    assert "read 4096 bytes" in c["details"]  # the program's own output
    log = Path(ev["transcript"])
    assert log.is_file() and "-break-insert" in log.read_text()


def test_memory_values(fixed):
    cfg, _ = fixed
    ev = check(cfg, "gdb", "cache stays bounded")["evidence"]
    assert (ev["first"], ev["second"], ev["growth"]) == (64, 64, 0)


def test_transcripts_and_probe_image_are_in_the_evidence_bundle(fixed):
    cfg, _ = fixed
    bundle = cfg.parent / "evidence"
    names = {p.relative_to(bundle / "reports").as_posix() for p in (bundle / "reports").rglob("*") if p.is_file()}
    # laid out as in the reports directory, so index.html's links work inside the bundle
    assert {"stages/gdb.json", "gdb/bounded-read-takes-the-fixed-path.mi.log", "index.html"} <= names
    assert "fixproof-probe:bookworm" in (bundle / "versions.json").read_text()


def test_every_check_fails_on_the_unfixed_example_saying_what_was_seen(unfixed):
    cfg, p = unfixed
    assert_no_traceback(p)
    assert p.returncode == 1, p.stdout + p.stderr
    msgs = {c["name"]: (c["status"], c["message"]) for c in stage(cfg, "gdb")["checks"]}
    assert all(status == "failed" for status, _ in msgs.values()), msgs
    assert "was hit 0 time(s)" in msgs["bounded read takes the fixed path"][1]
    assert "from 99 " in msgs["cache stays bounded"][1] and "to 1000 " in msgs["cache stays bounded"][1]
    assert "growth 901" in msgs["cache stays bounded"][1]
    assert msgs["no panic while describing shapes"][1].startswith(
        "runtime.gopanic was called from example.com/fixdemo/internal/shapes.Describe")
    assert "no itab for example.com/fixdemo/internal/shapes.Square" in msgs["Square is a Shape by value"][1]
    assert "forbidden itab *example.com" in msgs["Square is a Shape by value"][1]
    assert msgs["no failed type assertion"][1].startswith("runtime.panicdottypeE was called from")
    backtrace = check(cfg, "gdb", "no panic while describing shapes")["evidence"]["backtrace"]
    assert any(f["func"] == "example.com/fixdemo/internal/shapes.Describe" for f in backtrace)


def _one(tmp_path: Path, entry: str, extra: str = "") -> tuple[Path, dict]:
    cfg = write_config(tmp_path, EXAMPLE, extra=extra + "[[gdb]]\n" + entry)
    p = verify(cfg, "--only", "gdb")
    assert_no_traceback(p)
    return cfg, {"rc": p.returncode, **stage(cfg, "gdb")["checks"][0]}


def test_unknown_function_is_a_config_error_with_close_names(tmp_path, golang_image):
    _, c = _one(tmp_path, 'name = "typo"\nbreakpoint = "example.com/fixdemo/internal/chunk.limmit"\n'
                          'run = ["-read", "10"]\n')
    assert c["rc"] == 2 and c["status"] == "error"
    assert "no function example.com/fixdemo/internal/chunk.limmit" in c["message"]
    assert "close names: example.com/fixdemo/internal/chunk.limit" in c["message"]


def test_a_program_that_never_gets_there_fails_at_its_timeout(tmp_path, golang_image, engine):
    # A conditional breakpoint that never holds traps on every call: 10^8 puts
    # cannot finish in 8 s, so the check fails at its deadline, not hangs.
    _, c = _one(tmp_path, 'name = "slow"\nbreakpoint = "example.com/fixdemo/internal/cache.(*Cache).Put"\n'
                          'condition = "c.size < 0"\nrun = ["-cache", "100000000"]\ntimeout = 8\n')
    assert c["rc"] == 1 and c["status"] == "failed", c
    assert "(timeout)" in c["message"] and c["duration_s"] < 60
    assert engine.leftover_containers() == []


def test_stripped_binary_says_what_is_not_possible(tmp_path, golang_image):
    cfg = write_config(tmp_path, EXAMPLE, extra='[build]\nldflags = "-s -w"\n' + GDB_CHECKS)
    p = verify(cfg, "--only", "gdb")
    assert_no_traceback(p)
    assert p.returncode == 2, p.stdout + p.stderr  # a configuration to fix: build without -s
    res = {c["name"]: c for c in stage(cfg, "gdb")["checks"]}
    path = res["bounded read takes the fixed path"]
    assert path["status"] == "error" and "has no symbol table" in path["message"]
    assert res["Square is a Shape by value"]["status"] == "error"
    assert "no symbol table" in res["Square is a Shape by value"]["message"]
    # Without symbols gdb cannot break on runtime.gopanic either: an error, never a pass.
    assert res["no panic while describing shapes"]["status"] == "error"


def test_no_checks_configured_is_skipped(tmp_path, golang_image):
    cfg = write_config(tmp_path, EXAMPLE)
    p = verify(cfg, "--only", "gdb")
    assert p.returncode == 0, p.stdout + p.stderr
    [c] = stage(cfg, "gdb")["checks"]
    assert c["status"] == "skipped" and "no [[gdb]] checks" in c["message"]
