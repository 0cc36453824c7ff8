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


# -- the whole stage on a fake engine (tests/unit/stages/fakeengine.py): its decisions, no Docker -----------

import dataclasses  # noqa: E402
import json  # noqa: E402

import pytest  # noqa: E402

from fixproof import tasks  # noqa: E402
from fixproof.errors import ContainerTimeout, EngineError  # noqa: E402
from fixproof.results import StageResult  # noqa: E402
from fixproof.stages import toolchain  # noqa: E402
from fixproof.stages.toolchain import ToolchainFacts  # noqa: E402

from unit.stages.fakeengine import DEFAULT_IMAGE_ID, Reply, fake_engine  # noqa: E402,F401 - a fixture

REF = "golang:1.22.5-bookworm"
GO_VERSION = "go version && go env -json GOVERSION GOTOOLCHAIN GOROOT GOOS GOARCH"


def go_says(version: str = "go1.22.5", *, gotoolchain: str = "local") -> Reply:
    """What `go version && go env -json ...` prints in an image with that Go."""
    env = {"GOARCH": "amd64", "GOOS": "linux", "GOROOT": "/usr/local/go", "GOTOOLCHAIN": gotoolchain,
           "GOVERSION": version}
    return Reply(stdout=f"go version {version} linux/amd64\n" + json.dumps(env, indent="\t") + "\n")


def stage_cfg(tmp_path, app_copy, extra=""):
    return config.load(write_config(tmp_path, app_copy, extra=extra))


def run_stage(cfg, fake) -> StageResult:
    return toolchain.run(StageContext(cfg, "toolchain", engine_factory=lambda: fake))


def by_name(result: StageResult) -> dict:
    return {c.name: c for c in result.checks}


@pytest.mark.usefixtures("vulndb_snapshot")
def test_the_pinned_go_in_the_image_passes_and_its_facts_keep_their_json(tmp_path, app_copy, fake_engine):
    fake_engine.with_image(REF).on("go version", go_says())
    cfg = stage_cfg(tmp_path, app_copy)
    result = run_stage(cfg, fake_engine)
    checks = by_name(result)
    assert checks["pinned image available"].status is Status.PASSED
    assert checks["image digest"].status is Status.SKIPPED  # no toolchain.digest: the id is the evidence
    assert checks["go version in image"].status is Status.PASSED
    assert checks["no toolchain switching"].status is Status.PASSED
    assert result.ok
    # what the stage asked of the engine: leftovers reaped first, go run offline with switching off
    assert [c[0] for c in fake_engine.calls[:2]] == ["reap_orphans", "reap_volumes"]
    run = fake_engine.ran("go version")
    assert run.command == ("sh", "-c", GO_VERSION) and run.image == REF and not run.network
    assert run.env["GOTOOLCHAIN"] == "local" and run.env["GOPROXY"] == "off" and run.env["GOFLAGS"] == ""
    assert run.profile.user != "0:0" and all(m.read_only for m in run.mounts)
    # the facts: typed, and the JSON the stage always wrote
    facts = ToolchainFacts.of(result)
    assert facts.image_id == DEFAULT_IMAGE_ID and facts.go.version == "go1.22.5"
    assert result.facts == {
        "image": {"ref": REF, "id": DEFAULT_IMAGE_ID, "repo_digests": [], "obtained": "present", "labels": {}},
        "pin": "go1.22.5", "go_version": "go1.22.5", "goos": "linux", "goarch": "amd64",
        "go_command_advisories": checks["go command advisories"].evidence["advisories"]}
    StageResult.write(result, cfg.stages_dir / "toolchain.json")
    assert StageContext(cfg, "build").verified_image_id() == DEFAULT_IMAGE_ID


@pytest.mark.usefixtures("vulndb_snapshot")
@pytest.mark.parametrize("image_go,hint", [("go1.22.4", "older than the fix needs"),
                                           ("go1.23.0", "pin the image that provides go1.22.5")])
def test_another_go_inside_the_image_fails(tmp_path, app_copy, fake_engine, image_go, hint):
    fake_engine.with_image(REF).on("go version", go_says(image_go))
    result = run_stage(stage_cfg(tmp_path, app_copy), fake_engine)
    c = by_name(result)["go version in image"]
    assert c.status is Status.FAILED and f"runs {image_go} but the pin is go1.22.5" in c.message and hint in c.message
    assert not result.ok and not result.usable_downstream


@pytest.mark.usefixtures("vulndb_snapshot")
def test_a_gomod_needing_a_newer_go_fails_with_gos_line(tmp_path, app_copy, fake_engine):
    line = "go: go.mod requires go >= 1.23.0 (running go 1.22.5; GOTOOLCHAIN=local)"
    fake_engine.with_image(REF).on("go version", Reply(exit_code=1, stderr=line + "\n"))
    result = run_stage(stage_cfg(tmp_path, app_copy), fake_engine)
    c = by_name(result)["go version in image"]
    assert c.status is Status.FAILED and "needs a newer Go than golang:1.22.5-bookworm provides" in c.message
    assert line in c.message
    assert "no toolchain switching" not in by_name(result)  # nothing to judge it on
    assert ToolchainFacts.of(result).go is None and "go_version" not in result.facts


@pytest.mark.usefixtures("vulndb_snapshot")
@pytest.mark.parametrize("reply", [Reply(stdout=""), Reply(stdout="gccgo version 13\n"), Reply(exit_code=127,
                                   stderr="sh: 1: go: not found\n")], ids=["silent", "not-go", "no-go"])
def test_no_go_version_is_a_failure_never_a_pass(tmp_path, app_copy, fake_engine, reply):
    fake_engine.with_image(REF).on("go version", reply)
    c = by_name(run_stage(stage_cfg(tmp_path, app_copy), fake_engine))["go version in image"]
    assert c.status is Status.FAILED and "did not run" in c.message


@pytest.mark.usefixtures("vulndb_snapshot")
def test_toolchain_switching_inside_the_image_fails(tmp_path, app_copy, fake_engine):
    fake_engine.with_image(REF).on("go version", go_says(gotoolchain="auto"))
    result = run_stage(stage_cfg(tmp_path, app_copy), fake_engine)
    assert by_name(result)["go version in image"].status is Status.PASSED
    c = by_name(result)["no toolchain switching"]
    assert c.status is Status.FAILED and "'auto'" in c.message and not result.ok


@pytest.mark.usefixtures("vulndb_snapshot")
def test_the_pinned_digest_decides(tmp_path, app_copy, fake_engine):
    digest = "sha256:" + "d" * 64
    fake_engine.with_image(REF, repo_digests=[f"golang@{digest}"]).on("go version", go_says(), times=2)
    cfg = stage_cfg(tmp_path, app_copy)

    def pinned(d):
        return dataclasses.replace(cfg, toolchain=dataclasses.replace(cfg.toolchain, digest=d))

    ok = by_name(run_stage(pinned(digest), fake_engine))
    assert ok["image digest"].status is Status.PASSED
    moved = by_name(run_stage(pinned("sha256:" + "e" * 64), fake_engine))
    assert moved["image digest"].status is Status.FAILED and "not the pinned" in moved["image digest"].message


@pytest.mark.usefixtures("vulndb_snapshot")
@pytest.mark.parametrize("failure", [ContainerTimeout("`go version` in golang:1.22.5-bookworm ran past its 60 s timeout"),
                                     EngineError("no Docker Engine answers")], ids=["timeout", "engine"])
def test_an_engine_failure_is_an_error_of_the_stage_not_a_verdict(tmp_path, app_copy, fake_engine, failure):
    fake_engine.with_image(REF).on("go version", Reply(raises=failure))
    cfg = stage_cfg(tmp_path, app_copy)
    assert tasks.run_stage("toolchain", cfg, engine_factory=lambda: fake_engine)
    result = StageResult.read(cfg.stages_dir / "toolchain.json")
    [c] = result.checks
    assert c.status is Status.ERROR and c.name == "toolchain: infrastructure" and str(failure) in c.message
    assert c.evidence == {"exit_code": 3}
    assert not result.usable_downstream and ToolchainFacts.of(result) is None
    assert StageContext(cfg, "build").verified_image_id() == ""
