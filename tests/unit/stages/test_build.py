"""Stage build on a fake engine (tests/unit/stages/fakeengine.py): what it asks of the engine and how it
judges what comes back, no Docker."""

from __future__ import annotations

import hashlib

import pytest

from fixproof import config, tasks
from fixproof.engine.images import ImageInfo
from fixproof.results import StageResult, Status, passed
from fixproof.stages import build
from fixproof.stages.build import BuildFacts
from fixproof.stages.common import MODCACHE, OUT, StageContext
from fixproof.stages.modules import ModulesFacts
from fixproof.stages.toolchain import ToolchainFacts

from conftest import write_config
from unit.stages.fakeengine import DEFAULT_IMAGE_ID, Reply, fake_engine  # noqa: F401 - a fixture

REF = "golang:1.22.5-bookworm"
ELF = b"\x7fELF fixdemo"


def build_ctx(tmp_path, app_copy, fake, *, volume=True) -> StageContext:
    """The build stage of a run whose toolchain (image DEFAULT_IMAGE_ID) and modules stages passed."""
    cfg = config.load(write_config(tmp_path, app_copy))
    ctx = StageContext(cfg, "build", engine_factory=lambda: fake)
    image = ImageInfo(REF, DEFAULT_IMAGE_ID, (), "present")
    StageResult("toolchain", (passed("go version in image", "go1.22.5"),),
                ToolchainFacts(image, "go1.22.5").to_json()).write(cfg.stages_dir / "toolchain.json")
    StageResult("modules", (passed("go mod verify", "all modules verified"),),
                ModulesFacts({}, ctx.modcache_volume).to_json()).write(cfg.stages_dir / "modules.json")
    fake.with_image(REF)
    if volume:
        fake.with_volume(ctx.modcache_volume)
    return ctx


def test_a_build_that_writes_the_binary_passes_with_its_hash(tmp_path, app_copy, fake_engine):
    fake_engine.on("go build", Reply(files={f"{OUT}/fixdemo": ELF}))
    ctx = build_ctx(tmp_path, app_copy, fake_engine)
    result = build.run(ctx)
    [check] = result.checks
    assert check.status is Status.PASSED
    facts = BuildFacts.of(result)
    assert facts.binary == ctx.cfg.reports_dir / "build" / "fixdemo" and facts.binary.read_bytes() == ELF
    assert facts.sha256 == hashlib.sha256(ELF).hexdigest() == check.evidence["sha256"]
    assert facts.image_id == DEFAULT_IMAGE_ID
    run = fake_engine.ran("go build")
    assert not run.network and run.env["GOPROXY"] == "off" and run.mount(MODCACHE).read_only
    assert run.command[-3:] == ("-o", f"{OUT}/fixdemo", "./cmd/fixdemo")
    # the shared build cache volume of this image, handed to the unprivileged user
    assert ("ensure_volume", (ctx.build_cache_volume(DEFAULT_IMAGE_ID), "", ctx.volume_owner())) in fake_engine.calls


def test_a_build_in_another_image_than_the_verified_one_fails(tmp_path, app_copy, fake_engine):
    fake_engine.on("go build", Reply(files={f"{OUT}/fixdemo": ELF}, image_id="sha256:" + "9" * 64))
    result = build.run(build_ctx(tmp_path, app_copy, fake_engine))
    c = {c.name: c for c in result.checks}["image unchanged since toolchain check"]
    assert c.status is Status.FAILED and "the tag moved between stages" in c.message and not result.usable_downstream


@pytest.mark.parametrize("reply,status,message", [
    (Reply(exit_code=1, stderr="# example.com/fixdemo/cmd/fixdemo\ncmd/fixdemo/main.go:9:2: undefined: x\n"),
     Status.FAILED, "go build failed: cmd/fixdemo/main.go:9:2: undefined: x"),
    (Reply(exit_code=1, stderr="go: writing go.mod cache: write /cache/go-build/x: no space left on device\n"),
     Status.ERROR, "could not run to the end"),
    (Reply(), Status.ERROR, "reported success but"),  # exit 0 and no binary: never a pass
], ids=["compile-error", "disk-full", "no-binary"])
def test_a_build_without_a_binary_hands_nothing_on(tmp_path, app_copy, fake_engine, reply, status, message):
    fake_engine.on("go build", reply)
    result = build.run(build_ctx(tmp_path, app_copy, fake_engine))
    [check] = result.checks
    assert check.status is status and message in check.message
    assert BuildFacts.of(result) is None and set(result.facts) == {"command"}


def test_a_module_cache_volume_that_is_gone_is_an_error_before_any_container(tmp_path, app_copy, fake_engine):
    ctx = build_ctx(tmp_path, app_copy, fake_engine, volume=False)
    assert tasks.run_stage("build", ctx.cfg, engine_factory=lambda: fake_engine)
    [check] = StageResult.read(ctx.result_path()).checks
    assert check.status is Status.ERROR and "is gone" in check.message and check.evidence == {"exit_code": 3}
    assert fake_engine.runs == []
