"""toolchain stage logic on go.mod lines (no engine)."""

from fixproof import config
from fixproof.results import Status
from fixproof.stages.common import StageContext
from fixproof.stages.toolchain import _gomod_checks, _switching_check

from conftest import write_config


def checks(tmp_path, app_copy, gomod_text, pin="1.22.5"):
    (app_copy / "go.mod").write_text(gomod_text)
    cfg = config.load(write_config(tmp_path, app_copy, go=pin, image=f"golang:{pin}-bookworm"))
    return {c.name: c for c in _gomod_checks(StageContext(cfg, "toolchain"), pin)}


def test_example_gomod_agrees(tmp_path, app_copy):
    r = checks(tmp_path, app_copy, "module m\ngo 1.22\ntoolchain go1.22.5\n")
    assert r["go.mod go line"].status is Status.PASSED
    assert r["go.mod toolchain line"].status is Status.PASSED and not r["go.mod toolchain line"].warning


def test_go_line_newer_than_pin(tmp_path, app_copy):
    r = checks(tmp_path, app_copy, "module m\ngo 1.22.6\n")
    c = r["go.mod go line"]
    assert c.status is Status.FAILED and "1.22.6" in c.message and "go1.22.5" in c.message


def test_toolchain_line_newer_fails_older_warns(tmp_path, app_copy):
    r = checks(tmp_path, app_copy, "module m\ngo 1.22\ntoolchain go1.23.0\n")
    assert r["go.mod toolchain line"].status is Status.FAILED
    r = checks(tmp_path, app_copy, "module m\ngo 1.22\ntoolchain go1.22.3\n")
    assert r["go.mod toolchain line"].status is Status.PASSED and r["go.mod toolchain line"].warning


def test_missing_go_line_fails(tmp_path, app_copy):
    r = checks(tmp_path, app_copy, "module m\n")
    assert r["go.mod go line"].status is Status.FAILED


def test_switching_check_needs_positive_evidence():
    assert _switching_check('{"GOTOOLCHAIN": "local", "GOVERSION": "go1.22.5"}', "go1.22.5").status is Status.PASSED
    assert _switching_check('{"GOTOOLCHAIN": "auto", "GOVERSION": "go1.22.5"}', "go1.22.5").status is Status.FAILED
    assert _switching_check('{"GOTOOLCHAIN": "local", "GOVERSION": "go1.23.0"}', "go1.22.5").status is Status.FAILED
    assert _switching_check("not json", "go1.22.5").status is Status.FAILED
