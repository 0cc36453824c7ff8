"""The fake engine of stage unit tests keeps to the real engine's interface and cannot pass silently."""

from __future__ import annotations

import inspect

import pytest

from fixproof.engine.docker import Engine, Mount

from unit.stages.fakeengine import FakeEngine, Reply, UnexpectedCall

# what the fake stands in for: public methods of FakeEngine that are the Engine's
ENGINE_METHODS = ("image_attrs", "volume_exists", "fresh_volume", "ensure_volume", "reap_orphans", "reap_volumes", "run")
REF = "golang:1.22.5-bookworm"


def params(fn) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values() if p.name != "self"]


@pytest.mark.parametrize("name", ENGINE_METHODS)
def test_the_fake_has_the_engines_signatures(name):
    real = params(getattr(Engine, name))
    if name == "run":  # Engine.run passes **kwargs on to Engine.container
        real = [p for p in real if p[0] != "kwargs"] + [p for p in params(Engine.container)
                                                        if p[0] not in ("image", "command")]
        assert sorted(params(FakeEngine.run)) == sorted(real)
    else:
        assert params(getattr(FakeEngine, name)) == real


def test_an_unexpected_container_is_refused_and_remembered():
    fake = FakeEngine().with_image(REF).on("go version", Reply(stdout="go version go1.22.5 linux/amd64"))
    with pytest.raises(UnexpectedCall, match="go build"):
        fake.run(REF, ["go", "build"], timeout=1, what="go build")
    fake.run(REF, ["go", "version"], timeout=1, what="go version")
    with pytest.raises(UnexpectedCall, match="go version"):  # each expectation answers once unless told otherwise
        fake.run(REF, ["go", "version"], timeout=1, what="go version")
    # a stage that swallowed the refusal still fails the test
    with pytest.raises(AssertionError, match="refused"):
        fake.assert_done()


def test_an_expected_container_that_never_ran_fails_the_test():
    fake = FakeEngine().with_image(REF).on("go mod verify")
    with pytest.raises(AssertionError, match="go mod verify"):
        fake.assert_done()


def test_what_the_fake_does_not_stand_in_for_is_refused():
    fake = FakeEngine()
    with pytest.raises(UnexpectedCall, match="engine.client"):
        fake.client.images.pull("golang")
    with pytest.raises(UnexpectedCall, match="no such image"):
        fake.image_attrs("debian:bookworm-slim")  # a missing image would be pulled or built: not in a unit test
    assert len(fake.refused) == 2


def test_a_container_writes_files_through_its_writable_bind_mounts_only(tmp_path):
    fake = FakeEngine().with_image(REF).on("go build", Reply(files={"/out/app": b"\x7fELF"}), times=2)
    res = fake.run(REF, ["go", "build"], timeout=1, what="go build", mounts=[Mount(str(tmp_path), "/out")])
    assert res.exit_code == 0 and res.image_id == fake.images[REF]["Id"] and (tmp_path / "app").read_bytes() == b"\x7fELF"
    with pytest.raises(UnexpectedCall, match="no writable bind mount"):
        fake.run(REF, ["go", "build"], timeout=1, what="go build", mounts=[Mount(str(tmp_path), "/out", read_only=True)])


def test_volumes_are_recorded():
    fake = FakeEngine().with_volume("old")
    assert fake.volume_exists("old") and not fake.volume_exists("new")
    assert fake.ensure_volume("new") and not fake.ensure_volume("new")
    fake.fresh_volume("cache", owner="/r")
    assert fake.volume_exists("cache")
    assert [c[0] for c in fake.calls] == ["volume_exists", "volume_exists", "ensure_volume", "ensure_volume",
                                         "fresh_volume", "volume_exists"]
    fake.assert_done()
