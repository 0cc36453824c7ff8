"""Stage race on the example: the atomic counter passes, the racy one fails
with both accesses named. Real -race builds in the pinned image."""

from __future__ import annotations

import pytest

from conftest import EXAMPLE, RACE_CHECKS as RACE, assert_no_traceback, stage, verify, write_config

pytestmark = pytest.mark.docker



def test_fixed_counter_has_no_race(tmp_path, golang_image):
    cfg = write_config(tmp_path, EXAMPLE, extra=RACE)
    p = verify(cfg, "--only", "race")
    assert_no_traceback(p)
    assert p.returncode == 0, p.stdout + p.stderr
    checks = {c["name"]: c for c in stage(cfg, "race")["checks"]}
    assert set(checks) == {"go build -race", "no data race in fixdemo-race -count 8", "go test -race"}
    assert all(c["status"] == "passed" for c in checks.values())
    assert "total: 8000" in checks["no data race in fixdemo-race -count 8"]["details"]


def test_unfixed_counter_fails_with_both_stacks(tmp_path, golang_image):
    cfg = write_config(tmp_path, EXAMPLE, extra='[build]\ntags = ["fixdemo_unfixed_race"]\n' + RACE)
    p = verify(cfg, "--only", "race")
    assert_no_traceback(p)
    assert p.returncode == 1, p.stdout + p.stderr
    failed = [c for c in stage(cfg, "race")["checks"] if c["status"] == "failed"]
    assert failed, stage(cfg, "race")
    inc = "example.com/fixdemo/internal/counter.(*Counter).Inc"
    exercise = next(c for c in failed if "fixdemo-race -count 8" in c["message"])
    assert exercise["name"] == f"data race: {inc} vs {inc}"
    assert exercise["evidence"]["current"]["stack"][0].startswith(inc)
    assert exercise["evidence"]["previous"]["stack"][0].startswith(inc)
    assert exercise["evidence"]["exit_code"] == 66
    assert "WARNING: DATA RACE" in exercise["details"]
    assert any("go test -race" in c["message"] for c in failed)  # the package's own test sees it too
