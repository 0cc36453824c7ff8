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


# -- the whole stage on a fake engine (tests/unit/stages/fakeengine.py): its decisions, no Docker -----------

import json  # noqa: E402

import pytest  # noqa: E402

from fixproof import tasks  # noqa: E402
from fixproof.errors import ContainerTimeout, EngineError  # noqa: E402
from fixproof.results import StageResult, passed  # noqa: E402
from fixproof.stages import modules  # noqa: E402
from fixproof.stages.common import MODCACHE  # noqa: E402
from fixproof.stages.modules import SPLIT, ModulesFacts  # noqa: E402

from conftest import ROOT  # noqa: E402
from unit.stages.fakeengine import Reply, fake_engine  # noqa: E402,F401 - a fixture

REF = "golang:1.22.5-bookworm"
GOSUM = (EXAMPLE / "go.sum").read_text()
XTEXT = {"Path": "golang.org/x/text", "Version": "v0.3.8", "Sum": "h1:nAL+RVCQ9uMn3vJZbV+MRnydTJFPf8qqY42YiA6MrqY=",
         "GoModSum": "h1:E6s5w1FMmriuDzIBO73fBruAKo1PCIq6d2Q6DHfQ8WQ="}
# go mod tidy's go.sum, the split marker, then go mod download -json (one object per module)
DOWNLOADED = Reply(stdout=GOSUM + SPLIT + "\n" + json.dumps(XTEXT, indent="\t") + "\n")
VERIFIED = Reply(stdout="all modules verified\n")
DEPS = Reply(stdout="\n\nexample.com/fixdemo\t\ngolang.org/x/text\tv0.3.8\n")  # stdlib packages print empty lines
CHECKSUM_MISMATCH = """go: downloading golang.org/x/text v0.3.8
verifying golang.org/x/text@v0.3.8: checksum mismatch
\tdownloaded: h1:AAAA0000AAAA0000AAAA0000AAAA0000AAAA0000AAA=
\tsum.golang.org: h1:nAL+RVCQ9uMn3vJZbV+MRnydTJFPf8qqY42YiA6MrqY=

SECURITY ERROR
This download does NOT match the one reported by the checksum server.
The bits may have been replaced on the origin server, or an attacker may
have intercepted the download attempt.

For more information, see 'go help module-auth'.
"""


def modules_ctx(tmp_path, app_dir, fake) -> StageContext:
    """The modules stage of a run whose toolchain stage passed."""
    cfg = config.load(write_config(tmp_path, app_dir))
    StageResult("toolchain", (passed("go version in image", "go1.22.5"),)).write(cfg.stages_dir / "toolchain.json")
    return StageContext(cfg, "modules", engine_factory=lambda: fake)


def by_name(result: StageResult) -> dict:
    return {c.name: c for c in result.checks}


def test_a_clean_verified_download_passes_and_its_facts_keep_their_json(tmp_path, fake_engine):
    fake_engine.with_image(REF).on("go mod download", DOWNLOADED).on("go mod verify", VERIFIED).on("go list -deps", DEPS)
    c = modules_ctx(tmp_path, EXAMPLE, fake_engine)
    result = modules.run(c)
    assert [(x.name, x.status) for x in result.checks] == [
        ("module fetch settings", Status.PASSED), ("empty module cache", Status.PASSED),
        ("clean module download", Status.PASSED), ("go.sum lines", Status.PASSED), ("go mod verify", Status.PASSED),
        ("build list", Status.PASSED)]
    # a new empty cache for this run; the download online, the rest offline on that cache read-only
    assert ("fresh_volume", (c.modcache_volume, str(c.cfg.reports_dir), c.volume_owner())) in fake_engine.calls
    download = fake_engine.ran("go mod download")
    assert download.network and download.env["GOPROXY"] == c.cfg.modules.goproxy and download.env["GOSUMDB"]
    assert "go mod tidy" in download.command[2] and "-modfile=/tmp/w/go.mod" in download.command[2]
    assert not download.mount(MODCACHE).read_only
    for what in ("go mod verify", "go list -deps"):
        run = fake_engine.ran(what)
        assert not run.network and run.mount(MODCACHE).read_only and run.env["GOPROXY"] == "off"
    ca = c.cfg.ca_bundle_path
    assert result.facts == {
        "env": {"GOPROXY": c.cfg.modules.goproxy, "GOSUMDB": c.cfg.modules.gosumdb, "GONOSUMDB": "", "GOPRIVATE": "",
                "GOFLAGS": "", "CA bundle": str(ca) if ca else "the image's own"},
        "volume": c.modcache_volume, "main_module": "example.com/fixdemo",
        "build_list": [{"path": "golang.org/x/text", "version": "v0.3.8", "sum": XTEXT["Sum"], "replace": None}],
        "downloaded": [{"path": "golang.org/x/text", "version": "v0.3.8", "sum": XTEXT["Sum"],
                        "gomod_sum": XTEXT["GoModSum"]}]}
    facts = ModulesFacts.of(result)
    assert facts.main_module == "example.com/fixdemo" and [m.path for m in facts.build_list] == ["golang.org/x/text"]


def test_a_checksum_mismatch_fails_with_the_decisive_line_and_stops(tmp_path, fake_engine):
    """Nothing runs on a cache the download could not fill: the fake refuses go mod verify and go list."""
    fake_engine.with_image(REF).on("go mod download", Reply(exit_code=1, stderr=CHECKSUM_MISMATCH))
    c = modules_ctx(tmp_path, EXAMPLE, fake_engine)
    result = modules.run(c)
    d = by_name(result)["clean module download"]
    assert d.status is Status.FAILED
    assert d.message == "go mod download failed: verifying golang.org/x/text@v0.3.8: checksum mismatch"
    assert "SECURITY ERROR" in d.details
    assert list(by_name(result))[-1] == "clean module download" and not result.usable_downstream
    assert set(result.facts) == {"env", "volume"} and result.facts["volume"] == c.modcache_volume
    assert ModulesFacts.of(result).clean is None


def test_a_committed_gosum_that_differs_from_the_clean_download_fails_naming_the_line(tmp_path, app_copy, fake_engine):
    (app_copy / "go.sum").write_text(GOSUM.replace("h1:nAL+", "h1:AAA+"))
    fake_engine.with_image(REF).on("go mod download", DOWNLOADED).on("go mod verify", VERIFIED).on("go list -deps", DEPS)
    result = modules.run(modules_ctx(tmp_path, app_copy, fake_engine))
    g = by_name(result)["go.sum lines"]
    assert g.status is Status.FAILED and g.message.startswith("go.sum:1 records h1:AAA+")
    assert "golang.org/x/text v0.3.8" in g.message and not result.usable_downstream


def test_an_extra_gosum_line_is_asked_of_the_checksum_database(tmp_path, app_copy, fake_engine):
    line = "gopkg.in/yaml.v3 v3.0.1/go.mod h1:K4uyk7z7BCEPqu6E+C64Yfv1cQ7kz7rIZviUmN+EgEM=\n"
    (app_copy / "go.sum").write_text(GOSUM + line)
    db = {"Path": "gopkg.in/yaml.v3", "Version": "v3.0.1", "GoModSum": line.split()[-1]}
    (fake_engine.with_image(REF).on("go mod download", DOWNLOADED).on("go mod verify", VERIFIED)
     .on("go list -deps", DEPS).on("go mod download (extra go.sum lines)", Reply(stdout=json.dumps(db))))
    result = modules.run(modules_ctx(tmp_path, app_copy, fake_engine))
    g = by_name(result)["go.sum lines"]
    assert g.status is Status.PASSED and g.warning and "gopkg.in/yaml.v3 v3.0.1/go.mod" in g.message
    extra = fake_engine.ran("go mod download (extra go.sum lines)")
    assert extra.network and extra.command[-1] == "gopkg.in/yaml.v3@v3.0.1"
    assert extra.env["GOMODCACHE"] != MODCACHE  # a scratch cache, never the verified one


@pytest.mark.parametrize("reply,reason", [
    (Reply(stdout=GOSUM), "go mod download failed"),  # exit 0, but the download never ran: no positive evidence
    (Reply(exit_code=1, stdout=GOSUM + SPLIT + json.dumps({"Path": "golang.org/x/text", "Version": "v0.3.8",
                                                            "Error": "unrecognized import path"})),
     "golang.org/x/text@v0.3.8: unrecognized import path"),
    (Reply(stdout=GOSUM + SPLIT + "{not json"), "unreadable go mod download output"),
], ids=["no-download", "module-error", "garbage"])
def test_a_download_without_positive_evidence_fails(tmp_path, fake_engine, reply, reason):
    fake_engine.with_image(REF).on("go mod download", reply)
    d = by_name(modules.run(modules_ctx(tmp_path, EXAMPLE, fake_engine)))["clean module download"]
    assert d.status is Status.FAILED and reason in d.message


def test_go_mod_verify_must_say_all_modules_verified(tmp_path, fake_engine):
    (fake_engine.with_image(REF).on("go mod download", DOWNLOADED).on("go list -deps", DEPS)
     .on("go mod verify", Reply(stdout="")))
    result = modules.run(modules_ctx(tmp_path, EXAMPLE, fake_engine))
    assert by_name(result)["go mod verify"].status is Status.FAILED and not result.usable_downstream


def test_a_package_the_config_names_that_is_not_there_is_a_configuration_error(tmp_path, fake_engine):
    missing = Reply(exit_code=1, stderr="stat /src/cmd/fixdemo: directory not found\n")
    fake_engine.with_image(REF).on("go mod download", DOWNLOADED).on("go mod verify", VERIFIED).on("go list -deps", missing)
    b = by_name(modules.run(modules_ctx(tmp_path, EXAMPLE, fake_engine)))["build list"]
    assert b.status is Status.ERROR and b.evidence == {"exit_code": 2} and "app.packages" in b.message


def test_no_upstream_toolchain_means_no_container_at_all(tmp_path, fake_engine):
    cfg = config.load(write_config(tmp_path, EXAMPLE))
    result = modules.run(StageContext(cfg, "modules", engine_factory=lambda: fake_engine))
    assert [c.status for c in result.checks] == [Status.SKIPPED] and result.facts == {}
    assert fake_engine.calls == []


@pytest.mark.parametrize("failure", [ContainerTimeout("`go mod download` ran past its 600 s timeout"),
                                     EngineError("the Docker Engine refused to create a container")],
                         ids=["timeout", "engine"])
def test_an_engine_failure_is_an_error_of_the_stage_not_a_verdict(tmp_path, fake_engine, failure):
    fake_engine.with_image(REF).on("go mod download", Reply(raises=failure))
    c = modules_ctx(tmp_path, EXAMPLE, fake_engine)
    assert tasks.run_stage("modules", c.cfg, engine_factory=lambda: fake_engine)
    result = StageResult.read(c.cfg.stages_dir / "modules.json")
    [check] = result.checks
    assert check.status is Status.ERROR and check.name == "modules: infrastructure" and str(failure) in check.message
    assert check.evidence == {"exit_code": 3} and not result.usable_downstream and ModulesFacts.of(result) is None
def test_go_commands_without_git_metadata_do_not_stamp_vcs(tmp_path):
    """A module at its repository's root: every container but the build's sees the .git directory
    hidden under an empty one, where `go list` of a main package failed with "error obtaining VCS status"."""
    c = ctx(tmp_path)
    assert "-buildvcs=false" in c.offline_env()["GOFLAGS"].split()
    assert "-buildvcs=false" not in c.offline_env(vcs=True)["GOFLAGS"].split()  # the build, given git metadata
    old = StageContext(config.load(write_config(tmp_path, EXAMPLE, go="1.17.13", image="golang:1.17.13-bookworm",
                                                name="old.toml")), "modules")
    assert "-buildvcs" not in old.offline_env()["GOFLAGS"]  # go1.17 knows no -buildvcs
