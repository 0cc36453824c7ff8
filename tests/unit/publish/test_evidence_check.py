"""Checking an evidence bundle (fixproof.publish.evidence_check, and `fixproof evidence verify`): every
changed, missing or added file, an edited manifest, another format, and the signature."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from fixproof.publish.evidence_check import check_bundle, verify_bundle
from fixproof.publish.evidence_layout import MANIFEST, MANIFEST_JSON, SIGNATURE
from fixproof.signing import load_private_key, load_public_key
from unit.publish.evidence_fixtures import (
    CONTENT, example_bundle, flip_one_byte, make_key, sha256sum_check,
)


@pytest.mark.parametrize("rel", CONTENT)
def test_one_byte_changed_in_any_file_is_caught(tmp_path: Path, sources: dict[str, Path], rel: str) -> None:
    bundle = example_bundle(tmp_path / "evidence", sources).path
    flip_one_byte(bundle / rel)
    problems = verify_bundle(bundle)
    assert len(problems) == 1 and problems[0].startswith(f"{rel}: sha256 mismatch"), problems
    if rel != MANIFEST:
        proc = sha256sum_check(bundle)
        assert proc.returncode != 0 and f"{rel}: FAILED" in proc.stdout


@pytest.mark.parametrize("where", ["a file's hash", "the digest", "a description", "whitespace"])
def test_edited_manifest_json_is_caught(tmp_path: Path, sources: dict[str, Path], where: str) -> None:
    bundle = example_bundle(tmp_path / "evidence", sources).path
    path = bundle / MANIFEST_JSON
    doc = json.loads(path.read_text())
    if where == "a file's hash":
        doc["files"]["inputs/go.sum"]["sha256"] = "0" * 64
    elif where == "the digest":
        doc["evidence_digest"]["sha256"] = "0" * 64
    elif where == "a description":
        doc["evidence_digest"]["covers"] = "nothing"
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    path.write_text(text if where != "whitespace" else text.replace("\n", "\r\n", 1))
    problems = verify_bundle(bundle)
    if where == "a file's hash":
        assert problems == [f"inputs/go.sum: sha256 mismatch (manifest {'0' * 64}, "
                            f"file {hashlib.sha256(sources['app/go.sum'].read_bytes()).hexdigest()})"]
    elif where == "the digest":
        assert len(problems) == 1 and "evidence digest" in problems[0]
    elif where == "a description":
        assert problems == []  # wording nothing checks: only a signature covers every byte (see below)
    else:
        assert len(problems) == 1 and "not byte for byte" in problems[0]


def test_missing_added_and_broken_manifest(tmp_path: Path, sources: dict[str, Path]) -> None:
    bundle = example_bundle(tmp_path / "evidence", sources).path
    (bundle / "reports/junit.xml").unlink()
    (bundle / "inputs/bin/fixdemo").unlink()
    (bundle / "smuggled.txt").write_text("not listed")
    (bundle / "logs" / "trace" / "extra.json").write_text("{}")
    problems = verify_bundle(bundle)
    assert sorted(problems) == sorted([
        "inputs/bin/fixdemo: missing",
        "reports/junit.xml: missing",
        f"smuggled.txt: not in {MANIFEST} or {MANIFEST_JSON} (added after the bundle was written)",
        f"logs/trace/extra.json: not in {MANIFEST} or {MANIFEST_JSON} (added after the bundle was written)",
    ])
    proc = sha256sum_check(bundle)
    assert proc.returncode != 0

    doc = json.loads((bundle / MANIFEST_JSON).read_text())
    doc["files"]["../outside"] = {"sha256": "0" * 64, "size": 1}
    doc["files"]["reports/bogus"] = {"sha256": "not hex"}
    (bundle / MANIFEST_JSON).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    problems = verify_bundle(bundle)
    assert "../outside: path escapes the bundle" in problems
    assert f"{MANIFEST_JSON}: entry 'reports/bogus' has no sha256" in problems

    (bundle / MANIFEST_JSON).write_text("{not json")
    assert len(verify_bundle(bundle)) == 1 and "not valid JSON" in verify_bundle(bundle)[0]
    (bundle / MANIFEST_JSON).unlink()
    assert verify_bundle(bundle) == [f"{MANIFEST_JSON}: missing"]


def test_a_bundle_of_another_format_is_named_as_such(tmp_path: Path, sources: dict[str, Path]) -> None:
    bundle = example_bundle(tmp_path / "evidence", sources).path
    doc = json.loads((bundle / MANIFEST_JSON).read_text())
    doc["format"] = "fixproof-evidence/2"
    (bundle / MANIFEST_JSON).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    [problem] = verify_bundle(bundle)
    assert "format fixproof-evidence/2" in problem and "another fixproof version" in problem


def test_an_added_fifo_or_empty_directory_is_caught(tmp_path: Path, sources: dict[str, Path]) -> None:
    import os

    bundle = example_bundle(tmp_path / "evidence", sources).path
    assert verify_bundle(bundle) == []
    os.mkfifo(bundle / "reports" / "pipe")
    (bundle / "inputs" / "empty").mkdir()
    problems = verify_bundle(bundle)
    assert any(p.startswith("reports/pipe: not a regular file") for p in problems), problems
    assert any(p.startswith("inputs/empty/: an empty directory") for p in problems), problems


@pytest.mark.parametrize("rel", [*CONTENT, MANIFEST_JSON, SIGNATURE])
def test_one_byte_changed_in_a_signed_bundle_is_caught(tmp_path: Path, sources: dict[str, Path], rel: str) -> None:
    _, priv, pub = make_key(tmp_path)
    bundle = example_bundle(tmp_path / "evidence", sources, key=load_private_key(priv)).path
    flip_one_byte(bundle / rel)
    for public_key in (load_public_key(pub), None):
        result = check_bundle(bundle, public_key)
        assert result.problems, (rel, public_key)
    if rel in (MANIFEST_JSON, SIGNATURE):
        assert any(p.startswith(f"{SIGNATURE}:") for p in verify_bundle(bundle, load_public_key(pub)))


def test_wrong_key_and_missing_signature_fail(tmp_path: Path, sources: dict[str, Path]) -> None:
    _, priv, pub = make_key(tmp_path, "signer")
    _, _, other_pub = make_key(tmp_path, "other")
    bundle = example_bundle(tmp_path / "evidence", sources, key=load_private_key(priv)).path
    wrong = check_bundle(bundle, load_public_key(other_pub))
    assert wrong.signature == "bad" and len(wrong.problems) == 1
    assert "does not verify with the given public key" in wrong.problems[0]

    (bundle / SIGNATURE).unlink()
    for public_key in (load_public_key(pub), None):
        assert verify_bundle(bundle, public_key) == [f"{SIGNATURE}: missing ({MANIFEST_JSON} says it is signed)"]

    unsigned = example_bundle(tmp_path / "unsigned", sources).path
    assert verify_bundle(unsigned) == []
    assert verify_bundle(unsigned, load_public_key(pub)) == [f"{SIGNATURE}: missing (the bundle is not signed)"]


def test_a_re_signed_bundle_passes_only_without_public_key(tmp_path: Path, sources: dict[str, Path]) -> None:
    """Someone who rewrites a bundle can sign it with their own key: only --public-key tells."""
    _, priv, pub = make_key(tmp_path, "signer")
    _, forger, _ = make_key(tmp_path, "forger")
    real = example_bundle(tmp_path / "real", sources, key=load_private_key(priv)).path
    sources["app/go.sum"].write_bytes(b"golang.org/x/text v0.3.7 h1:forged=\n")
    forged = example_bundle(tmp_path / "forged", sources, key=load_private_key(forger)).path
    assert check_bundle(forged).signature == "embedded" and check_bundle(forged).problems == ()
    assert check_bundle(forged, load_public_key(pub)).signature == "bad"
    assert check_bundle(real, load_public_key(pub)).problems == ()


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fixproof.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**os.environ, **(env or {})})


def test_cli_evidence_verify(tmp_path: Path, sources: dict[str, Path]) -> None:
    _, priv, pub = make_key(tmp_path, "signer")
    _, _, other = make_key(tmp_path, "other")
    plain = example_bundle(tmp_path / "plain", sources).path
    signed = example_bundle(tmp_path / "signed", sources, key=load_private_key(priv))

    ok = _cli("evidence", "verify", str(plain))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"{plain}: intact ({len(CONTENT)} files match {MANIFEST_JSON})" in ok.stdout and "not signed" in ok.stdout
    assert "evidence digest sha256:" in ok.stdout

    good = _cli("evidence", "verify", str(signed.path), "--public-key", str(pub))
    assert good.returncode == 0 and f"signature valid, signed by {signed.signer}" in good.stdout, good.stdout
    unchecked = _cli("evidence", "verify", str(signed.path))
    assert unchecked.returncode == 0 and "the signer was not checked" in unchecked.stdout
    wrong = _cli("evidence", "verify", str(signed.path), "--public-key", str(other))
    assert wrong.returncode == 1 and f"{signed.path}/{SIGNATURE}: the signature does not verify" in wrong.stdout
    assert "1 problem(s)" in wrong.stderr
    missing_sig = _cli("evidence", "verify", str(plain), "--public-key", str(pub))
    assert missing_sig.returncode == 1 and f"{SIGNATURE}: missing" in missing_sig.stdout

    flip_one_byte(plain / "inputs/bin/fixdemo")
    (plain / "reports/junit.xml").unlink()
    (plain / "reports/extra.txt").write_text("added later\n")
    bad = _cli("evidence", "verify", str(plain))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"{plain}/inputs/bin/fixdemo: sha256 mismatch" in bad.stdout
    assert f"{plain}/reports/junit.xml: missing" in bad.stdout
    assert f"{plain}/reports/extra.txt: not in {MANIFEST}" in bad.stdout
    assert "3 problem(s)" in bad.stderr

    for args, words in ((["--public-key", str(priv)], "is a private key"),
                        (["--public-key", str(tmp_path / "nope.pem")], "cannot read the public key"),
                        ([], "is not a directory")):
        p = _cli("evidence", "verify", str(tmp_path / "nope") if not args else str(signed.path), *args)
        assert p.returncode == 2 and words in p.stderr, p.stderr
        assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
