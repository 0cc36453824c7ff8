"""Pinned images: built as local stand-ins when no registry answers (the parts without an engine:
tests/unit/engine/test_images.py)."""

import pytest

from fixproof.engine.images import ensure_image, go_arch
from fixproof.errors import ImageError
from fixproof.progress import Progress

pytestmark = pytest.mark.docker


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


