"""The bundled example, end to end, on every Go release fixproof supports as a
build pin: the fixed app passes every stage, and each unfixed variant fails at
exactly the stages the README documents, with everything else passing.

The configs are the repository's own (fixproof.toml, examples/configs/*.toml)
with only the app directory, the report directory and the toolchain pin
rewritten, so what is proven here is what a user runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import EXAMPLE, ROOT, assert_no_traceback, verify

pytestmark = pytest.mark.docker

# The example's own pin and the newest release. A new Go release is added here first.
PINS = {"go1.22.5": ("1.22.5", "golang:1.22.5-bookworm"), "go1.27.4": ("1.27.4", "golang:1.27.4-bookworm")}

# config -> the stages that must fail (README, "Try it"); every other stage must pass.
VARIANTS = {
    "fixed": ("fixproof.toml", set()),
    "unfixed-runtime": ("examples/configs/unfixed-runtime.toml", {"test", "gdb", "trace", "race"}),
    "unfixed-xtext": ("examples/configs/unfixed-xtext.toml", {"modules", "test", "vulns"}),
}


def pinned_config(tmp: Path, source: str, go: str, image: str) -> Path:
    """The repository's config with its app dir, report dir and toolchain pin replaced."""
    text = (ROOT / source).read_text()
    text = re.sub(r'(?m)^dir = "[^"]*fixdemo"', f'dir = "{EXAMPLE}"', text)
    text = re.sub(r'(?ms)^\[report\]\ndir = "[^"]*"\n', "", text)
    text = re.sub(r'(?m)^go = "[^"]*"', f'go = "{go}"', text)
    text = re.sub(r'(?m)^image = "[^"]*"', f'image = "{image}"', text)
    text += f'\n[report]\ndir = "{tmp / "reports"}"\n'
    cfg = tmp / "fixproof.toml"
    cfg.write_text(text)
    return cfg


def stage_statuses(cfg: Path) -> dict[str, set[str]]:
    out = {}
    for f in (cfg.parent / "reports" / "stages").glob("*.json"):
        out[f.stem] = {c["status"] for c in json.loads(f.read_text())["checks"]}
    return out


@pytest.fixture(scope="module", params=list(PINS))
def pin(request, engine):
    from fixproof.engine.images import ensure_image
    from fixproof.progress import Progress

    go, image = PINS[request.param]
    ensure_image(engine, image, timeout=1800, progress=Progress("test-setup"))
    return go, image


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_example_verdict_on_each_pin(variant, pin, tmp_path):
    go, image = pin
    source, failing = VARIANTS[variant]
    cfg = pinned_config(tmp_path, source, go, image)
    p = verify(cfg, timeout=1200)
    out = p.stdout + p.stderr
    assert_no_traceback(p)
    statuses = stage_statuses(cfg)
    every = {"toolchain", "modules", "build", "test", "binary", "vulns", "gdb", "trace", "race"}
    assert every <= set(statuses), (sorted(statuses), out)
    failed = {s for s, st in statuses.items() if "failed" in st}
    errors = {s: st for s, st in statuses.items() if "error" in st}
    assert not errors, out
    if failing:
        assert p.returncode == 1, out
        # a stage downstream of a failed one may be skipped; none may pass without running
        assert failing <= failed, (failed, out)
        assert failed <= failing, (failed, out)
    else:
        assert p.returncode == 0, out
        assert not failed, out
        # every stage ran and passed something (skips: an unset digest, packages without tests)
        assert all("passed" in statuses[s] for s in every), (statuses, out)


def test_old_image_fails_at_toolchain_on_each_pin(pin, tmp_path):
    """The CI image still on an older golang tag than the pin: a toolchain failure, nothing built."""
    go, _ = pin
    cfg = pinned_config(tmp_path, "examples/configs/unfixed-image.toml", go,
                        "golang:1.22.4-bookworm" if go == "1.22.5" else "golang:1.22.5-bookworm")
    p = verify(cfg, "--only", "toolchain", "modules", "build")
    assert_no_traceback(p)
    assert p.returncode == 1, p.stdout + p.stderr
    statuses = stage_statuses(cfg)
    assert "failed" in statuses["toolchain"]
    assert statuses["build"] == {"skipped"}
