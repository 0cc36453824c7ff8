"""Writing an evidence bundle (fixproof.publish.evidence_writer): layout, manifests, replacing an old
bundle, refusing what is not one, names, signing."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from fixproof.errors import EvidenceError
from fixproof.publish.evidence_check import check_bundle, verify_bundle
from fixproof.publish.evidence_layout import MANIFEST, MANIFEST_JSON, SIGNATURE, VERSIONS
from fixproof.publish.evidence_writer import write_bundle
from fixproof.signing import load_private_key, load_public_key
from unit.publish.evidence_fixtures import (
    bundle_listing, example_bundle, make_key, sha256sum_check,
)


def test_bundle_layout_and_manifests(tmp_path: Path, sources: dict[str, Path]) -> None:
    written = example_bundle(tmp_path / "evidence", sources)
    bundle = written.path
    assert bundle == tmp_path / "evidence" and written.signer == ""
    content = sorted([
        VERSIONS, "inputs/fixproof.toml", "inputs/go.mod", "inputs/go.sum", "inputs/bin/fixdemo",
        "inputs/source.json", "reports/build.json", "reports/gotest.json", "reports/gdb.json", "reports/junit.xml",
        "reports/summary.json", "reports/fixproof.sarif", "reports/index.html", "reports/bounded-read.mi.log",
        "logs/trace/goroutines.json",
    ])
    assert bundle_listing(bundle) == sorted([*content, MANIFEST, MANIFEST_JSON])
    assert (bundle / "inputs/bin/fixdemo").read_bytes() == sources["fixdemo"].read_bytes()
    assert (bundle / "inputs/bin/fixdemo").stat().st_mode & 0o111

    lines = (bundle / MANIFEST).read_text().splitlines()
    rels = [line.split("  ", 1)[1] for line in lines]
    assert rels == content  # sorted, and neither manifest nor the signature
    manifest = json.loads((bundle / MANIFEST_JSON).read_text())
    assert sorted(manifest["files"]) == sorted([*content, MANIFEST])  # manifest.json pins MANIFEST.sha256 too
    for rel, entry in manifest["files"].items():
        data = (bundle / rel).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["size"] == len(data)
    assert manifest["evidence_digest"]["sha256"] == written.evidence_digest
    assert manifest["signature"] is None
    assert written.files == len(manifest["files"])

    versions = json.loads((bundle / VERSIONS).read_text())
    assert versions["tools"] == {"go": "go1.22.5", "fixproof": "0.1.0"}
    assert versions["docker_engine"] == {"Version": "27.0.0"}
    assert versions["images"]["golang:1.22.5-bookworm"]["id"].startswith("sha256:")
    assert versions["sources"]["inputs/go.mod"] == str(sources["app/go.mod"].resolve())

    result = check_bundle(bundle)
    assert result.problems == () and result.signature == "unsigned"
    assert result.evidence_digest == written.evidence_digest
    proc = sha256sum_check(bundle)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_rewriting_a_bundle_replaces_it(tmp_path: Path, sources: dict[str, Path]) -> None:
    dest = tmp_path / "evidence"
    example_bundle(dest, sources)
    (dest / "leftover").write_text("from an old run")
    example_bundle(dest, sources)
    assert not (dest / "leftover").exists()
    assert verify_bundle(dest) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evidence", "src"]  # no staging dirs left


def test_refuses_to_replace_a_foreign_directory(tmp_path: Path, sources: dict[str, Path]) -> None:
    dest = tmp_path / "home"
    dest.mkdir()
    (dest / "precious.txt").write_text("keep me")
    with pytest.raises(EvidenceError):
        example_bundle(dest, sources)
    assert (dest / "precious.txt").read_text() == "keep me"


def test_missing_input_is_an_evidence_error(tmp_path: Path, sources: dict[str, Path]) -> None:
    sources["app/go.sum"].unlink()
    with pytest.raises(EvidenceError, match="go.sum"):
        example_bundle(tmp_path / "evidence", sources, root=tmp_path / "src")
    assert not (tmp_path / "evidence").exists()


@pytest.mark.parametrize("key", ["../escape", "/abs", "a/../b", "", "a//b", "back\\slash"])
def test_unsafe_input_names_are_refused(tmp_path: Path, sources: dict[str, Path], key: str) -> None:
    with pytest.raises(ValueError):
        write_bundle(tmp_path / "e", inputs={key: sources["app/go.mod"]}, reports=[], tools={}, images={})
    with pytest.raises(ValueError):
        write_bundle(tmp_path / "e", inputs={}, logs={key: sources["app/go.mod"]}, reports=[], tools={}, images={})


def test_report_names_must_be_unique(tmp_path: Path, sources: dict[str, Path]) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "junit.xml").write_text("x")
    with pytest.raises(ValueError, match="junit.xml"):
        write_bundle(tmp_path / "e", inputs={}, reports=[sources["reports/junit.xml"], other / "junit.xml"],
                     tools={}, images={})


def test_reports_keep_their_place_below_the_reports_root(tmp_path: Path, sources: dict[str, Path]) -> None:
    """So the bundled page's relative links (stages/gdb.json, gdb/<check>.mi.log) open inside the bundle."""
    elsewhere = tmp_path / "ci" / "junit.xml"
    elsewhere.parent.mkdir()
    elsewhere.write_text("<testsuites/>")
    reports = [sources["reports/stages/gdb.json"], sources["reports/index.html"],
               sources["reports/gdb/bounded-read.mi.log"], elsewhere]
    written = write_bundle(tmp_path / "e", inputs={}, reports=reports, tools={}, images={},
                           reports_root=tmp_path / "src" / "reports")
    assert [f for f in bundle_listing(written.path) if f.startswith("reports/")] == [
        "reports/gdb/bounded-read.mi.log", "reports/index.html", "reports/junit.xml", "reports/stages/gdb.json"]
    assert check_bundle(written.path).problems == ()


def test_signed_bundle_checks_with_and_without_the_public_key(tmp_path: Path, sources: dict[str, Path]) -> None:
    key, priv, pub = make_key(tmp_path)
    written = example_bundle(tmp_path / "evidence", sources, key=load_private_key(priv))
    bundle = written.path
    sig = base64.b64decode((bundle / SIGNATURE).read_text().strip(), validate=True)
    key.public_key().verify(sig, (bundle / MANIFEST_JSON).read_bytes())  # a plain Ed25519 signature of the bytes
    manifest = json.loads((bundle / MANIFEST_JSON).read_text())
    assert manifest["signature"]["public_key_sha256"] == written.signer
    assert SIGNATURE not in manifest["files"]

    checked = check_bundle(bundle, load_public_key(pub))
    assert checked.problems == () and checked.signature == "checked" and checked.signer == written.signer
    unchecked = check_bundle(bundle)
    assert unchecked.problems == () and unchecked.signature == "embedded"
    assert sha256sum_check(bundle).returncode == 0

    unsigned = example_bundle(tmp_path / "unsigned", sources)
    assert unsigned.evidence_digest == written.evidence_digest  # signing does not change what was proven
