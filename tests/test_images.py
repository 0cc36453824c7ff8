"""Pinned images: built as local stand-ins when no registry answers."""

import pytest

from fixproof.engine.images import GOLANG_RE, ensure_image, go_arch
from fixproof.errors import ImageError
from fixproof.progress import Progress

pytestmark = pytest.mark.docker


def test_golang_ref_pattern_accepts_any_release():
    for v in ("1.21.12", "1.22.4", "1.22.5", "1.25.3", "1.23rc1"):
        assert GOLANG_RE.match(f"golang:{v}-bookworm").group("ver") == v
    assert not GOLANG_RE.match("golang:latest")


def test_golang_standin_records_its_origin(golang_image, engine):
    labels = golang_image.labels
    assert labels["org.fixproof.go.module"] == f"golang.org/toolchain@v0.0.1-go1.22.5.linux-{go_arch()}"
    assert labels["org.fixproof.go.module.sum"].startswith("h1:")
    assert labels["org.opencontainers.image.version"] == "1.22.5"
    r = engine.run("golang:1.22.5-bookworm", ["go", "version"], timeout=60)
    assert r.stdout.startswith("go version go1.22.5 linux/")


def test_present_image_is_not_rebuilt(golang_image, engine):
    again = ensure_image(engine, "golang:1.22.5-bookworm", timeout=60, progress=Progress("t"))
    assert again.source == "present" and again.id == golang_image.id


def test_nonexistent_go_version_is_a_config_error_naming_the_choices(engine, golang_image):
    """toolchain.go = "1.25" once passed validation and failed as an infrastructure error (exit 3)."""
    from fixproof.errors import ConfigError

    with pytest.raises(ConfigError, match="1.99.0") as e:
        ensure_image(engine, "golang:1.99.0-bookworm", timeout=300, progress=Progress("t"))
    assert e.value.exit_code == 2
    with pytest.raises(ConfigError, match=r"choose one of: .*1\.25\.0, 1\.25\.1") as e:
        ensure_image(engine, "golang:1.25-bookworm", timeout=300, progress=Progress("t"))


def test_near_releases():
    from fixproof.engine.images import near_releases

    rel = ["1.24.13", "1.25.0", "1.25.1", "1.25rc1", "1.26.0", "1.26.10"]
    assert near_releases(rel, "1.25") == ["1.25.0", "1.25.1", "1.25rc1"]
    assert near_releases(rel, "1.26.7") == ["1.26.0", "1.26.10"]
    assert near_releases(rel, "1.30.1") == []


def test_unknown_image_without_recipe(engine):
    with pytest.raises(ImageError, match="could not be pulled"):
        ensure_image(engine, "registry.invalid/nothing:1", timeout=60, progress=Progress("t"))


def test_probe_image_builds_its_base_first_without_a_registry(engine):
    """On a fresh machine the probe image's FROM must come from the local base,
    never from a pull: remove both (the base is only untagged while other
    images use it) and build the probe image alone."""
    from fixproof.engine.images import BASE_REF, PROBE_REF

    for ref in (PROBE_REF, BASE_REF):
        if engine.image_attrs(ref) is not None:
            engine.client.images.remove(ref)
    probe = ensure_image(engine, PROBE_REF, timeout=1800, progress=Progress("t"))
    base = engine.image_attrs(BASE_REF)
    assert probe.source == "built" and base is not None
    assert probe.labels["org.fixproof.base.id"] == base["Id"]
    r = engine.run(PROBE_REF, ["sh", "-c", "gdb --version && bpftrace --version"], timeout=60)
    assert r.exit_code == 0 and "GNU gdb" in r.stdout and "bpftrace" in r.stdout


def test_one_builder_per_image_the_other_waits(tmp_path, monkeypatch):
    """Apps of a parallel fleet run (threads) and concurrent runs (processes) wait for the first builder."""
    import io
    import threading

    from fixproof.engine.images import _image_lock
    from fixproof.progress import PlainReporter

    monkeypatch.setenv("FIXPROOF_CACHE_DIR", str(tmp_path))
    order: list[str] = []
    held, release = threading.Event(), threading.Event()
    out = io.StringIO()

    def first() -> None:
        with _image_lock("golang:1.22.5-bookworm", Progress("a")):
            order.append("first in")
            held.set()
            release.wait(30)
            order.append("first out")

    def second() -> None:
        with _image_lock("golang:1.22.5-bookworm", Progress("b", reporter=PlainReporter(out))):
            order.append("second in")

    t1 = threading.Thread(target=first)
    t1.start()
    assert held.wait(30)
    t2 = threading.Thread(target=second)
    t2.start()
    t2.join(0.5)
    assert t2.is_alive() and order == ["first in"]  # it waits while the first one holds the image
    release.set()
    t1.join(30)
    t2.join(30)
    assert order == ["first in", "first out", "second in"]
    assert "waiting for another fixproof run that is making image golang:1.22.5-bookworm" in out.getvalue()
    with _image_lock("debian:bookworm-slim", Progress("c")):  # another image: no waiting
        pass
