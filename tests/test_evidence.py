"""Evidence bundle: sha256sum -c must agree with verify_bundle."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.report.evidence import MANIFEST, VERSIONS, EvidenceError, verify_bundle, write_bundle


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    src = tmp_path / "src"
    (src / "stages").mkdir(parents=True)
    files = {
        "fixproof.toml": b'[app]\ndir = "examples/fixdemo"\n',
        "go.mod": b"module example.com/fixdemo\n\ngo 1.22.5\n",
        "go.sum": b"golang.org/x/text v0.3.8 h1:abc=\n",
        "fixdemo": bytes(range(256)) * 64,  # stands in for the built binary
        "stages/build.json": b'{"stage": "build", "checks": []}\n',
        "stages/gotest.json": b'{"stage": "gotest", "checks": []}\n',
        "junit.xml": b'<?xml version="1.0"?><testsuites/>\n',
    }
    out = {}
    for rel, data in files.items():
        (src / rel).write_bytes(data)
        out[rel] = src / rel
    (src / "fixdemo").chmod(0o755)
    return out


def _bundle(dest: Path, s: dict[str, Path]) -> Path:
    return write_bundle(
        dest,
        inputs={"fixproof.toml": s["fixproof.toml"], "go.mod": s["go.mod"], "go.sum": s["go.sum"],
                "bin/fixdemo": s["fixdemo"]},
        reports=[s["stages/build.json"], s["stages/gotest.json"], s["junit.xml"]],
        tools={"go": "go1.22.5", "fixproof": "0.1.0"},
        images={"golang:1.22.5-bookworm": {"id": "sha256:" + "1" * 64, "source": "local stand-in"}},
    )


def _sha256sum_check(bundle: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum (coreutils) is not installed")
    return subprocess.run(["sha256sum", "-c", MANIFEST], cwd=bundle, capture_output=True,
                          text=True, timeout=60)


def test_bundle_layout_and_manifest(tmp_path: Path, sources: dict[str, Path]) -> None:
    bundle = _bundle(tmp_path / "evidence", sources)
    assert bundle == tmp_path / "evidence"
    files = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert files == sorted([
        MANIFEST, VERSIONS, "inputs/fixproof.toml", "inputs/go.mod", "inputs/go.sum",
        "inputs/bin/fixdemo", "reports/build.json", "reports/gotest.json", "reports/junit.xml",
    ])
    assert (bundle / "inputs/bin/fixdemo").read_bytes() == sources["fixdemo"].read_bytes()
    assert (bundle / "inputs/bin/fixdemo").stat().st_mode & 0o111

    lines = (bundle / MANIFEST).read_text().splitlines()
    rels = [line.split("  ", 1)[1] for line in lines]
    assert rels == sorted(rels)
    assert MANIFEST not in rels and VERSIONS in rels
    assert all(len(line.split("  ", 1)[0]) == 64 for line in lines)

    versions = json.loads((bundle / VERSIONS).read_text())
    assert versions["tools"] == {"go": "go1.22.5", "fixproof": "0.1.0"}
    assert versions["images"]["golang:1.22.5-bookworm"]["id"].startswith("sha256:")
    assert versions["sources"]["inputs/go.mod"] == str(sources["go.mod"].resolve())

    assert verify_bundle(bundle) == []
    proc = _sha256sum_check(bundle)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_tampering_is_caught_by_both(tmp_path: Path, sources: dict[str, Path]) -> None:
    bundle = _bundle(tmp_path / "evidence", sources)
    binary = bundle / "inputs/bin/fixdemo"
    binary.write_bytes(binary.read_bytes() + b"\x00")

    proc = _sha256sum_check(bundle)
    assert proc.returncode != 0
    assert "inputs/bin/fixdemo: FAILED" in proc.stdout
    problems = verify_bundle(bundle)
    assert len(problems) == 1 and problems[0].startswith("inputs/bin/fixdemo: sha256 mismatch")


def test_missing_extra_and_broken_manifest(tmp_path: Path, sources: dict[str, Path]) -> None:
    bundle = _bundle(tmp_path / "evidence", sources)
    (bundle / "reports/junit.xml").unlink()
    (bundle / "smuggled.txt").write_text("not listed")
    with (bundle / MANIFEST).open("a") as f:
        f.write("garbage line\n")
        f.write("0" * 64 + "  ../outside\n")
    problems = verify_bundle(bundle)
    assert "reports/junit.xml: missing" in problems
    assert "smuggled.txt: not in MANIFEST.sha256" in problems
    assert any(p.startswith(f"{MANIFEST}:") and "not a sha256sum line" in p for p in problems)
    assert "../outside: path escapes the bundle" in problems

    (bundle / MANIFEST).unlink()
    assert verify_bundle(bundle) == [f"{MANIFEST}: missing"]


def test_rewriting_a_bundle_replaces_it(tmp_path: Path, sources: dict[str, Path]) -> None:
    dest = tmp_path / "evidence"
    _bundle(dest, sources)
    (dest / "leftover").write_text("from an old run")
    _bundle(dest, sources)
    assert not (dest / "leftover").exists()
    assert verify_bundle(dest) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evidence", "src"]  # no staging dirs left


def test_refuses_to_replace_a_foreign_directory(tmp_path: Path, sources: dict[str, Path]) -> None:
    dest = tmp_path / "home"
    dest.mkdir()
    (dest / "precious.txt").write_text("keep me")
    with pytest.raises(EvidenceError):
        _bundle(dest, sources)
    assert (dest / "precious.txt").read_text() == "keep me"


def test_missing_input_is_an_evidence_error(tmp_path: Path, sources: dict[str, Path]) -> None:
    sources["go.sum"].unlink()
    with pytest.raises(EvidenceError, match="go.sum"):
        _bundle(tmp_path / "evidence", sources)
    assert not (tmp_path / "evidence").exists()


@pytest.mark.parametrize("key", ["../escape", "/abs", "a/../b", "", "a//b", "back\\slash"])
def test_unsafe_input_names_are_refused(tmp_path: Path, sources: dict[str, Path], key: str) -> None:
    with pytest.raises(ValueError):
        write_bundle(tmp_path / "e", inputs={key: sources["go.mod"]}, reports=[], tools={}, images={})


def test_report_names_must_be_unique(tmp_path: Path, sources: dict[str, Path]) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "junit.xml").write_text("x")
    with pytest.raises(ValueError, match="junit.xml"):
        write_bundle(tmp_path / "e", inputs={}, reports=[sources["junit.xml"], other / "junit.xml"],
                     tools={}, images={})
