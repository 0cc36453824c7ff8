"""modules stage logic: go.sum against a clean tidy, fetch settings (no engine)."""

from pathlib import Path

from fixproof import config
from fixproof.goinfo.gomod import parse_gosum
from fixproof.results import Status
from fixproof.stages.common import StageContext
from fixproof.stages.modules import _build_list, _env_check, _gosum_check

from conftest import EXAMPLE, write_config

CLEAN = parse_gosum((EXAMPLE / "go.sum").read_text(), Path("clean"))


def ctx(tmp_path, extra=""):
    return StageContext(config.load(write_config(tmp_path, EXAMPLE, extra=extra)), "modules")


def test_equal_gosum_passes(tmp_path):
    assert _gosum_check(ctx(tmp_path), CLEAN, CLEAN).status is Status.PASSED


def test_mismatch_missing_extra_are_named(tmp_path):
    c = ctx(tmp_path)
    tampered = parse_gosum((EXAMPLE / "go.sum").read_text().replace("h1:nAL+", "h1:AAA+"), Path("go.sum"))
    r = _gosum_check(c, tampered, CLEAN)
    assert r.status is Status.FAILED and "go.sum:1 records h1:AAA+" in r.message and "golang.org/x/text v0.3.8" in r.message
    r = _gosum_check(c, CLEAN[1:], CLEAN)
    assert r.status is Status.FAILED and r.message.startswith("go.sum lacks golang.org/x/text v0.3.8 h1:")
    extra = parse_gosum((EXAMPLE / "go.sum").read_text() + "evil.example/m v1.0.0 h1:x=\n", Path("go.sum"))
    r = _gosum_check(c, extra, CLEAN)
    assert r.status is Status.FAILED and "evil.example/m v1.0.0" in r.message


def test_insecure_settings(tmp_path):
    assert _env_check(ctx(tmp_path)).status is Status.PASSED
    (tmp_path / "a").mkdir()
    r = _env_check(ctx(tmp_path / "a", '[modules]\ngoflags = "-insecure"\n'))
    assert r.status is Status.FAILED and "GOFLAGS=-insecure" in r.message
    (tmp_path / "b").mkdir()
    r = _env_check(ctx(tmp_path / "b", '[modules]\ngosumdb = "off"\nallow_insecure_reason = "air-gapped mirror"\n'))
    assert r.status is Status.PASSED and r.warning and "air-gapped mirror" in r.message
    (tmp_path / "c").mkdir()
    r = _env_check(ctx(tmp_path / "c", '[modules]\ngonosumdb = "corp.example"\n'))
    assert r.status is Status.PASSED and r.warning


def test_build_list_from_go_list_deps():
    text = ("\n"  # stdlib packages print nothing
            "example.com/fixdemo\t(devel)\n"
            "golang.org/x/text\tv0.3.8\n"
            "example.com/lib\tv1.0.0\t../lib\t\n"
            "example.com/fork\tv1.0.0\texample.com/fork2\tv1.1.0\n")
    sums = {("golang.org/x/text", "v0.3.8"): "h1:t", ("example.com/fork2", "v1.1.0"): "h1:f"}
    bl = {d["path"]: d for d in _build_list(text, "example.com/fixdemo", sums)}
    assert set(bl) == {"golang.org/x/text", "example.com/lib", "example.com/fork"}
    assert bl["golang.org/x/text"]["sum"] == "h1:t"
    assert bl["example.com/lib"]["replace"] == {"path": "../lib", "version": "", "sum": ""}
    assert bl["example.com/fork"]["replace"]["sum"] == "h1:f"


def test_extra_line_confirmed_by_the_checksum_database_is_a_warning(tmp_path):
    """Real projects carry go.sum lines no build needs; go accepts them, so must fixproof, when the database agrees."""
    c = ctx(tmp_path)
    text = (EXAMPLE / "go.sum").read_text() + "gopkg.in/yaml.v3 v3.0.1/go.mod h1:K4uyk7z7BCEPqu6E+C64Yfv1cQ7kz7rIZviUmN+EgEM=\n"
    extra = parse_gosum(text, Path("go.sum"))
    db = {("gopkg.in/yaml.v3", "v3.0.1/go.mod"): "h1:K4uyk7z7BCEPqu6E+C64Yfv1cQ7kz7rIZviUmN+EgEM="}
    r = _gosum_check(c, extra, CLEAN, db)
    assert r.status is Status.PASSED and r.warning and "gopkg.in/yaml.v3 v3.0.1/go.mod" in r.message
    # the same line with a hash the database does not hold: only tampering makes that
    r = _gosum_check(c, extra, CLEAN, {("gopkg.in/yaml.v3", "v3.0.1/go.mod"): "h1:something-else="})
    assert r.status is Status.FAILED and "tampering" in r.message
    # unconfirmed (the database could not be asked): still a failure, never a quiet pass
    assert _gosum_check(c, extra, CLEAN, {}).status is Status.FAILED


def test_go_commands_without_git_metadata_do_not_stamp_vcs(tmp_path):
    """A module at its repository's root: every container but the build's sees the .git directory
    hidden under an empty one, where `go list` of a main package failed with "error obtaining VCS status"."""
    c = ctx(tmp_path)
    assert "-buildvcs=false" in c.offline_env()["GOFLAGS"].split()
    assert "-buildvcs=false" not in c.offline_env(vcs=True)["GOFLAGS"].split()  # the build, given git metadata
    old = StageContext(config.load(write_config(tmp_path, EXAMPLE, go="1.17.13", image="golang:1.17.13-bookworm",
                                                name="old.toml")), "modules")
    assert "-buildvcs" not in old.offline_env()["GOFLAGS"]  # go1.17 knows no -buildvcs
