"""Evidence bundle: manifests, tamper detection, the evidence digest's normaliser, signatures.

No Docker here; tests/integration/test_verify_cmd.py runs the real pipeline twice for reproducibility.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from conftest import EXAMPLE, ROOT, write_config
from fixproof.errors import EvidenceError, EvidenceKeyError
from fixproof.publish.evidence import (
    MANIFEST, MANIFEST_JSON, SIGNATURE, VERSIONS, check_bundle, normalise, source_tree, verify_bundle, write_bundle,
)
from fixproof.signing import load_private_key, load_public_key

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites errors="0" failures="0" tests="2" time="{t}">
  <testsuite name="fixproof.build" tests="2" time="{t}" timestamp="{stamp}" hostname="{host}">
    <properties><property name="fixproof.config" value="{root}/fixproof.toml"/></properties>
    <testcase name="go build" classname="build" time="{t}"><system-out>built in {root}/reports/build</system-out></testcase>
    <testcase name="TestFix" classname="example.com/fixdemo" time="{t}"><system-out>--- PASS: TestFix ({t}s)
ok  	example.com/fixdemo	{t}s</system-out></testcase>
  </testsuite>
  <testsuite name="fixproof.gdb" tests="1" time="{t}" timestamp="{stamp}" hostname="{host}">
    <testcase name="bounded read" classname="fixproof.gdb" time="{t}">{verdict}<system-out>hits: {hits}
transcript: {root}/reports/gdb/bounded-read.mi.log</system-out></testcase>
  </testsuite>
</testsuites>
"""


def _volume(root: Path) -> str:
    """The run's module cache volume: named after its report directory, so it differs between runs."""
    return "fixproof-modcache-" + hashlib.sha256(str(root).encode()).hexdigest()[:16]


def _stage(root: Path, duration: float, status: str = "passed", message: str = "built fixdemo") -> bytes:
    doc = {"stage": "build", "facts": {"binary": f"{root}/reports/build/fixdemo", "sha256": "ab" * 32,
                                       "module_cache": f"{_volume(root)} (read-only)"},
           "checks": [{"name": "go build", "status": status, "message": message, "duration_s": duration,
                       "evidence": {"binary": f"{root}/reports/build/fixdemo", "timestamp": f"2024-01-0{int(duration)}",
                                    "nested": [{"hostname": f"host-{duration}", "kept": 1}]},
                       "details": f"--- PASS: TestFix ({duration}s)"}]}
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def _junit(root: Path, duration: float = 1.5, stamp: str = "2024-05-01T10:00:00", host: str = "ci-1",
           hits: int = 3, verdict: str = "") -> bytes:
    return JUNIT.format(t=duration, stamp=stamp, host=host, root=root, hits=hits, verdict=verdict).encode()


def _gdb_stage(root: Path, hits: int, *, status: str = "passed", name: str = "bounded read",
               expect: str = ">=1", version: str = "GNU gdb (Debian 13.1-3) 13.1") -> bytes:
    """A runtime stage result: the check's message, details and some evidence are measurements."""
    doc = {"stage": "gdb", "facts": {"binary": f"{root}/reports/build/fixdemo", "gdb_version": version},
           "checks": [{"name": name, "status": status, "classname": "", "warning": False, "blocks": True,
                       "message": f"main.readChunk was hit {hits} time(s) (expected {expect})",
                       "duration_s": hits / 10, "details": f"program stdout:\nread {hits} chunks as pid {1000 + hits}",
                       "evidence": {"breakpoint": "main.readChunk", "expect_hits": expect, "kind": "path",
                                    "run": ["fixdemo", "-read", "10000"], "exit_code": 0, "hits": hits,
                                    "first_stop": {"args": [{"name": "n", "value": str(4096 + hits)}],
                                                   "backtrace": [{"addr": hex(0x4d4f60 + hits)}]},
                                    "transcript": f"{root}/reports/gdb/bounded-read.mi.log"}}]}
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def _summary(root: Path, hits: int, *, skipped_status: str = "skipped") -> bytes:
    doc = {"exit_code": 0, "status": "passed", "junit": f"{root}/reports/junit.xml",
           "counts": {"tests": 3, "failures": 0, "errors": 0, "skipped": 1},
           "stages": {"build": [], "gdb": [{"name": "cache stays bounded", "status": skipped_status,
                                            "message": f"skipped after {hits} tries", "duration_s": 0.1,
                                            "classname": "", "details": "", "warning": False, "blocks": True,
                                            "evidence": {"kind": "memory", "first": hits}}]}}
    return (json.dumps(doc, indent=2) + "\n").encode()


def _sarif(hits: int, *, rule: str = "fixproof/gdb/bounded-read", build_message: str = "go build failed") -> bytes:
    results = [{"ruleId": rule, "level": "error", "message": {"text": f"bounded read: hit {hits} times"},
                "partialFingerprints": {"fixproof/v1": hashlib.sha256(str(hits).encode()).hexdigest()[:32]}},
               {"ruleId": "fixproof/build/go-build", "level": "error", "message": {"text": build_message},
                "partialFingerprints": {"fixproof/v1": "0" * 32}}]
    return json.dumps({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "fixproof"}},
                                                     "results": results}]}, indent=2).encode()


def _make_sources(root: Path, *, duration: float = 1.5, host: str = "ci-1", stamp: str = "2024-05-01T10:00:00",
                  hits: int = 3, mutate: dict[str, bytes] | None = None) -> dict[str, Path]:
    """The files of one run rooted at ``root``; only times, durations, host names, ``root`` and what the
    runtime stages measured (``hits``) vary."""
    (root / "reports" / "stages").mkdir(parents=True)
    (root / "app").mkdir()
    files = {
        "fixproof.toml": f'[app]\ndir = "{root}/app"\n[report]\ndir = "{root}/reports"\n'.encode(),
        "app/go.mod": b"module example.com/fixdemo\n\ngo 1.22.5\n",
        "app/go.sum": b"golang.org/x/text v0.3.8 h1:abc=\n",
        "app/main.go": b"package main\nfunc main() {}\n",
        "fixdemo": bytes(range(256)) * 64,  # stands in for the built binary
        "reports/stages/build.json": _stage(root, duration),
        "reports/stages/gotest.json": b'{"stage": "gotest", "checks": []}\n',
        "reports/stages/gdb.json": _gdb_stage(root, hits),
        "reports/junit.xml": _junit(root, duration, stamp, host, hits),
        "reports/summary.json": _summary(root, hits),
        "reports/fixproof.sarif": _sarif(hits),
        "reports/index.html": f"<html>took {duration} s on {host}</html>\n".encode(),
        "reports/gdb/bounded-read.mi.log": f"=thread-group-started,id=\"i1\",pid=\"{1000 + hits}\"\n".encode(),
        "reports/trace/goroutines.json": f'{{"maps": {{"created": {10 + hits}, "exited": 10}}}}\n'.encode(),
    }
    files.update(mutate or {})
    out = {}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        out[rel] = root / rel
    (root / "fixdemo").chmod(0o755)
    return out


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    return _make_sources(tmp_path / "src")


def _bundle(dest: Path, s: dict[str, Path], key=None, root: Path | None = None):
    root = root or s["fixproof.toml"].parent
    return write_bundle(
        dest,
        inputs={"fixproof.toml": s["fixproof.toml"], "go.mod": s["app/go.mod"], "go.sum": s["app/go.sum"],
                "bin/fixdemo": s["fixdemo"]},
        reports=[s["reports/stages/build.json"], s["reports/stages/gotest.json"], s["reports/stages/gdb.json"],
                 s["reports/junit.xml"], s["reports/summary.json"], s["reports/fixproof.sarif"],
                 s["reports/index.html"], s["reports/gdb/bounded-read.mi.log"]],
        logs={"trace/goroutines.json": s["reports/trace/goroutines.json"]},
        documents={"source.json": {"tree_sha256": source_tree(root / "app", sorted((root / "app").iterdir()))[0]}},
        tools={"go": "go1.22.5", "fixproof": "0.1.0"},
        images={"golang:1.22.5-bookworm": {"id": "sha256:" + "1" * 64, "source": "local stand-in"}},
        environment={"docker_engine": {"Version": "27.0.0"}},
        roots={"$REPORTS": root / "reports", "$APP": root / "app", "$CONFIG_DIR": root,
               "$MODCACHE_VOLUME": _volume(root)},
        signing_key=key,
    )


def _sha256sum_check(bundle: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum (coreutils) is not installed")
    return subprocess.run(["sha256sum", "-c", MANIFEST], cwd=bundle, capture_output=True,
                          text=True, timeout=60)


def _files(bundle: Path) -> list[str]:
    return sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _key(tmp_path: Path, name: str = "key") -> tuple[ed25519.Ed25519PrivateKey, Path, Path]:
    key = ed25519.Ed25519PrivateKey.generate()
    priv = tmp_path / f"{name}.pem"
    pub = tmp_path / f"{name}.pub.pem"
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return key, priv, pub


# --- layout and manifests ------------------------------------------------------------------------


def test_bundle_layout_and_manifests(tmp_path: Path, sources: dict[str, Path]) -> None:
    written = _bundle(tmp_path / "evidence", sources)
    bundle = written.path
    assert bundle == tmp_path / "evidence" and written.signer == ""
    content = sorted([
        VERSIONS, "inputs/fixproof.toml", "inputs/go.mod", "inputs/go.sum", "inputs/bin/fixdemo",
        "inputs/source.json", "reports/build.json", "reports/gotest.json", "reports/gdb.json", "reports/junit.xml",
        "reports/summary.json", "reports/fixproof.sarif", "reports/index.html", "reports/bounded-read.mi.log",
        "logs/trace/goroutines.json",
    ])
    assert _files(bundle) == sorted([*content, MANIFEST, MANIFEST_JSON])
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
    proc = _sha256sum_check(bundle)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_source_tree_digest_is_the_sha256sum_listing(tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "sub").mkdir(parents=True)
    (app / "b.go").write_text("package b\n")
    (app / "sub" / "a.go").write_text("package a\n")
    digest, listing = source_tree(app, [app / "sub" / "a.go", app / "b.go"])
    assert [line.split("  ")[1] for line in listing.splitlines()] == ["b.go", "sub/a.go"]
    assert digest == hashlib.sha256(listing.encode()).hexdigest()
    if shutil.which("sha256sum"):
        (tmp_path / "listing").write_text(listing)
        assert subprocess.run(["sha256sum", "-c", str(tmp_path / "listing")], cwd=app, capture_output=True,
                              timeout=60).returncode == 0
    (app / "sub" / "a.go").write_text("package a // changed\n")
    assert source_tree(app, [app / "sub" / "a.go", app / "b.go"])[0] != digest
    (app / "sub" / "a.go").write_text("package a\n")
    (app / "sub" / "a.go").rename(app / "sub" / "c.go")  # same content, another name
    assert source_tree(app, [app / "sub" / "c.go", app / "b.go"])[0] != digest


# --- tampering -----------------------------------------------------------------------------------


CONTENT = ["inputs/bin/fixdemo", "inputs/fixproof.toml", "inputs/go.mod", "inputs/go.sum", "inputs/source.json",
           "reports/build.json", "reports/gotest.json", "reports/gdb.json", "reports/junit.xml",
           "reports/summary.json", "reports/fixproof.sarif", "reports/index.html", "reports/bounded-read.mi.log",
           "logs/trace/goroutines.json", VERSIONS, MANIFEST]


@pytest.mark.parametrize("rel", CONTENT)
def test_one_byte_changed_in_any_file_is_caught(tmp_path: Path, sources: dict[str, Path], rel: str) -> None:
    bundle = _bundle(tmp_path / "evidence", sources).path
    _flip_one_byte(bundle / rel)
    problems = verify_bundle(bundle)
    assert len(problems) == 1 and problems[0].startswith(f"{rel}: sha256 mismatch"), problems
    if rel != MANIFEST:
        proc = _sha256sum_check(bundle)
        assert proc.returncode != 0 and f"{rel}: FAILED" in proc.stdout


@pytest.mark.parametrize("where", ["a file's hash", "the digest", "a description", "whitespace"])
def test_edited_manifest_json_is_caught(tmp_path: Path, sources: dict[str, Path], where: str) -> None:
    bundle = _bundle(tmp_path / "evidence", sources).path
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
    bundle = _bundle(tmp_path / "evidence", sources).path
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
    proc = _sha256sum_check(bundle)
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
    sources["app/go.sum"].unlink()
    with pytest.raises(EvidenceError, match="go.sum"):
        _bundle(tmp_path / "evidence", sources, root=tmp_path / "src")
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
    assert [f for f in _files(written.path) if f.startswith("reports/")] == [
        "reports/gdb/bounded-read.mi.log", "reports/index.html", "reports/junit.xml", "reports/stages/gdb.json"]
    assert check_bundle(written.path).problems == ()


# --- the evidence digest -------------------------------------------------------------------------


def test_same_run_elsewhere_at_another_time_has_the_same_digest(tmp_path: Path) -> None:
    a = _bundle(tmp_path / "ea", _make_sources(tmp_path / "run-a", duration=1.5, host="ci-1",
                                               stamp="2024-05-01T10:00:00"))
    b = _bundle(tmp_path / "eb", _make_sources(tmp_path / "run-b", duration=7.25, host="laptop",
                                               stamp="2025-12-31T23:59:59"))
    ma = json.loads((a.path / MANIFEST_JSON).read_text())["files"]
    mb = json.loads((b.path / MANIFEST_JSON).read_text())["files"]
    # the raw files differ (else this test would prove nothing) ...
    for rel in ("reports/build.json", "reports/junit.xml", "inputs/fixproof.toml", VERSIONS):
        assert ma[rel]["sha256"] != mb[rel]["sha256"], rel
    # ... but not once times, durations, host names and the run's directories are taken out
    assert a.evidence_digest == b.evidence_digest
    assert {r: e.get("normalised_sha256") for r, e in ma.items()} == {r: e.get("normalised_sha256") for r, e in mb.items()}
    assert "normalised_sha256" not in ma["reports/index.html"]  # a rendering: pinned, not in the digest


MUTATIONS = {
    "a check's status": ("reports/stages/build.json", lambda root: _stage(root, 1.5, status="failed")),
    "a check's message": ("reports/stages/build.json", lambda root: _stage(root, 1.5, message="built fixdemo2")),
    "one byte of the binary": ("fixdemo", lambda root: b"\x01" + (bytes(range(256)) * 64)[1:]),
    "a go.sum line": ("app/go.sum", lambda root: b"golang.org/x/text v0.3.7 h1:abc=\n"),
    "a JUnit test name": ("reports/junit.xml", lambda root: _junit(root).replace(b'TestFix"', b'TestFixed"')),
    "a path outside the run's directories": ("reports/stages/build.json", lambda root: _stage(root, 1.5).replace(
        f"{root}/reports/build/fixdemo".encode(), b"/elsewhere/fixdemo")),
    # runtime stages: measurements are out, verdicts and what does not depend on the run are in
    "a runtime check's status": ("reports/stages/gdb.json", lambda root: _gdb_stage(root, 3, status="failed")),
    "a runtime check's name": ("reports/stages/gdb.json", lambda root: _gdb_stage(root, 3, name="bounded reads")),
    "a runtime check's bound": ("reports/stages/gdb.json", lambda root: _gdb_stage(root, 3, expect="==1")),
    "the gdb version": ("reports/stages/gdb.json", lambda root: _gdb_stage(root, 3, version="GNU gdb 14.2")),
    "a runtime check's status in JUnit": ("reports/junit.xml", lambda root: _junit(
        root, verdict='<failure message="hit 0 times">no hit</failure>')),
    "a runtime check skipped in JUnit": ("reports/junit.xml", lambda root: _junit(
        root, verdict='<skipped message="hit 0 times"/>')),
    "a runtime check's status in the summary": ("reports/summary.json", lambda root: _summary(
        root, 3, skipped_status="failed")),
    "a runtime SARIF result's rule": ("reports/fixproof.sarif", lambda root: _sarif(3, rule="fixproof/gdb/other")),
    "a deterministic SARIF result's message": ("reports/fixproof.sarif", lambda root: _sarif(
        3, build_message="go build failed: another reason")),
}


@pytest.mark.parametrize("what", list(MUTATIONS))
def test_a_changed_input_or_result_changes_the_digest(tmp_path: Path, what: str) -> None:
    base = _bundle(tmp_path / "e0", _make_sources(tmp_path / "run-0"))
    rel, data = MUTATIONS[what]
    root = tmp_path / "run-1"
    changed = _bundle(tmp_path / "e1", _make_sources(root, mutate={rel: data(root)}))
    assert changed.evidence_digest != base.evidence_digest
    assert check_bundle(changed.path).problems == ()


def test_runtime_measurements_raw_logs_and_transcripts_are_pinned_but_not_in_the_digest(tmp_path: Path) -> None:
    """Two runs of one binary under gdb and bpftrace measure different pids and counts; the verdicts agree."""
    a = _bundle(tmp_path / "ea", _make_sources(tmp_path / "run-a", hits=3))
    b = _bundle(tmp_path / "eb", _make_sources(tmp_path / "run-b", hits=4, duration=2.0))
    ma = json.loads((a.path / MANIFEST_JSON).read_text())
    mb = json.loads((b.path / MANIFEST_JSON).read_text())
    for rel in ("reports/gdb.json", "reports/junit.xml", "reports/summary.json", "reports/fixproof.sarif",
                "reports/bounded-read.mi.log", "logs/trace/goroutines.json"):
        assert ma["files"][rel]["sha256"] != mb["files"][rel]["sha256"], rel  # the runs measured differently
    assert a.evidence_digest == b.evidence_digest
    for rel in ("reports/bounded-read.mi.log", "logs/trace/goroutines.json"):
        assert "normalised_sha256" not in ma["files"][rel]
    views = {rel: e.get("normalised_as") for rel, e in ma["files"].items()}
    assert views["reports/gdb.json"] == views["reports/summary.json"] == views["reports/fixproof.sarif"] \
        == "json+runtime"
    assert views["reports/junit.xml"] == "xml+runtime"
    assert views["reports/build.json"] == "json" and views["inputs/bin/fixdemo"] == "bytes"
    assert views["inputs/go.sum"] == "text"
    # still tamper-evident: the manifest pins every byte of them
    (b.path / "logs/trace/goroutines.json").write_text('{"maps": {"created": 10, "exited": 10}}\n')
    assert [p.split(":")[0] for p in verify_bundle(b.path)] == ["logs/trace/goroutines.json"]


def test_manifest_says_what_the_digest_covers_so_it_can_be_recomputed(tmp_path: Path) -> None:
    written = _bundle(tmp_path / "e", _make_sources(tmp_path / "run"))
    manifest = json.loads((written.path / MANIFEST_JSON).read_text())
    digest = manifest["evidence_digest"]
    covers = digest["covers"]
    files = manifest["files"]
    assert covers["files"] == sorted(r for r, e in files.items() if "normalised_sha256" in e)
    assert sorted(set(files) - set(covers["files"])) == [
        MANIFEST, "logs/trace/goroutines.json", "reports/bounded-read.mi.log", "reports/index.html"]
    assert set(covers["not_covered"]) == {MANIFEST, "*.html", "logs/*", "*.mi.log"}
    assert set(covers["normalised_as"]) >= {e["normalised_as"] for e in files.values() if "normalised_as" in e}
    runtime = covers["runtime_checks"]
    assert runtime["stages"] == ["gdb", "race", "trace"]
    assert {"name", "classname", "status"} <= set(runtime["check_fields"]) and "message" not in runtime["check_fields"]
    assert {"breakpoint", "expect_hits", "watched", "exit_code"} <= set(runtime["evidence_keys"])
    assert not {"hits", "maps", "measured", "first", "second", "growth", "backtrace"} & set(runtime["evidence_keys"])
    # by hand: sha256 of "<normalised_sha256>  <path>\n" over covers.files
    lines = "".join(f"{files[r]['normalised_sha256']}  {r}\n" for r in covers["files"])
    assert hashlib.sha256(lines.encode()).hexdigest() == digest["sha256"] == written.evidence_digest
    # and the normalised bytes of a runtime stage result are what covers says
    gdb = json.loads(normalise("reports/gdb.json", (written.path / "reports/gdb.json").read_bytes(), digest["roots"]))
    [check] = gdb["checks"]
    assert sorted(check) == sorted(runtime["check_fields"])
    assert check["evidence"] == {"breakpoint": "main.readChunk", "expect_hits": ">=1", "kind": "path",
                                 "run": ["fixdemo", "-read", "10000"], "exit_code": 0,
                                 "transcript": "$REPORTS/gdb/bounded-read.mi.log"}
    assert gdb["facts"] == {"binary": "$REPORTS/build/fixdemo", "gdb_version": "GNU gdb (Debian 13.1-3) 13.1"}
    assert hashlib.sha256(json.dumps(gdb, sort_keys=True, separators=(",", ":")).encode()).hexdigest() == \
        files["reports/gdb.json"]["normalised_sha256"]


def test_normalise_reduces_runtime_checks_everywhere_they_appear() -> None:
    def n(rel: str, data: bytes) -> bytes:
        return normalise(rel, data, {})

    def check(status: str, message: str, **evidence) -> dict:
        return {"name": "n", "classname": "", "status": status, "message": message, "details": message,
                "warning": False, "blocks": True, "evidence": {"breakpoint": "main.f", **evidence}}

    def stage(name: str, status: str, message: str, **evidence) -> bytes:
        return json.dumps({"stage": name, "checks": [check(status, message, **evidence)], "facts": {}}).encode()

    for name in ("gdb", "trace", "race"):
        measured_3, measured_4 = stage(name, "passed", "hit 3", hits=3), stage(name, "passed", "hit 4", hits=4)
        assert n("s.json", measured_3) == n("s.json", measured_4)
        assert n("s.json", stage(name, "passed", "hit 3")) != n("s.json", stage(name, "failed", "hit 3"))
        assert n("s.json", stage(name, "passed", "hit 3")) != n("s.json", stage(name, "passed", "hit 3", exit_code=2))
    for name in ("build", "test", "binary", "vulns", "toolchain", "modules"):  # deterministic: messages count
        assert n("s.json", stage(name, "passed", "hit 3")) != n("s.json", stage(name, "passed", "hit 4"))

    def summary(status: str, message: str, stage_name: str = "app.trace") -> bytes:
        return json.dumps({"exit_code": 0, "stages": {stage_name: [check(status, message)]}}).encode()

    assert n("summary.json", summary("skipped", "a")) == n("summary.json", summary("skipped", "b"))
    assert n("summary.json", summary("skipped", "a")) != n("summary.json", summary("error", "a"))
    assert n("summary.json", summary("skipped", "a", "app.build")) != \
        n("summary.json", summary("skipped", "b", "app.build"))

    def junit(suite: str, body: str) -> bytes:
        return (f'<testsuites><testsuite name="{suite}" tests="1"><testcase name="c" classname="{suite}">{body}'
                f'</testcase></testsuite></testsuites>').encode()

    out = '<system-out>maps: {{"@created": {n}}}</system-out>'
    for suite in ("fixproof.trace", "fixproof.app.gdb"):
        assert n("j.xml", junit(suite, out.format(n=1))) == n("j.xml", junit(suite, out.format(n=2)))
        assert n("j.xml", junit(suite, '<failure message="x 1">1</failure>')) == \
            n("j.xml", junit(suite, '<failure message="x 2">2</failure>'))
        verdicts = {n("j.xml", junit(suite, body)) for body in ("", "<failure/>", "<error/>", "<skipped/>")}
        assert len(verdicts) == 4
    assert n("j.xml", junit("fixproof.build", out.format(n=1))) != n("j.xml", junit("fixproof.build", out.format(n=2)))


def test_normalise_replaces_a_name_root_only_as_a_whole_name() -> None:
    roots = {"$MODCACHE_VOLUME": "fixproof-modcache-647a3683cc3cd266"}
    assert normalise("m.json", b'{"m": "volume fixproof-modcache-647a3683cc3cd266 (read-only)"}', roots) == \
        normalise("m.json", b'{"m": "volume $MODCACHE_VOLUME (read-only)"}', {})
    kept = b"xfixproof-modcache-647a3683cc3cd266 fixproof-modcache-647a3683cc3cd2667"
    assert normalise("t.txt", kept, roots) == kept


def test_a_bundle_of_another_format_is_named_as_such(tmp_path: Path, sources: dict[str, Path]) -> None:
    bundle = _bundle(tmp_path / "evidence", sources).path
    doc = json.loads((bundle / MANIFEST_JSON).read_text())
    doc["format"] = "fixproof-evidence/2"
    (bundle / MANIFEST_JSON).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    [problem] = verify_bundle(bundle)
    assert "format fixproof-evidence/2" in problem and "another fixproof version" in problem


def test_a_changed_html_page_alone_does_not_change_the_digest(tmp_path: Path) -> None:
    base = _bundle(tmp_path / "e0", _make_sources(tmp_path / "run-0"))
    other = _bundle(tmp_path / "e1", _make_sources(tmp_path / "run-1", mutate={"reports/index.html": b"<html/>"}))
    assert other.evidence_digest == base.evidence_digest  # documented: *.html is pinned but not in the digest


def test_normalise_json_drops_volatile_keys_at_any_depth() -> None:
    roots = {"$REPORTS": "/r/reports", "$CONFIG_DIR": "/r"}
    a = {"duration_s": 1.0, "Timestamp": "x", "checks": [{"elapsed": 3, "hostname": "h", "name": "n",
                                                          "path": "/r/reports/x", "cfg": "/r/fixproof.toml"}]}
    b = {"checks": [{"name": "n", "path": "$REPORTS/x", "cfg": "$CONFIG_DIR/fixproof.toml"}]}
    assert normalise("s.json", json.dumps(a).encode(), roots) == normalise("s.json", json.dumps(b).encode(), {})
    c = {"checks": [{"name": "m", "path": "$REPORTS/x", "cfg": "$CONFIG_DIR/fixproof.toml"}]}
    assert normalise("s.json", json.dumps(c).encode(), {}) != normalise("s.json", json.dumps(b).encode(), {})


def test_how_an_image_was_obtained_is_not_in_the_digest_but_its_id_is() -> None:
    """The first run on a fresh machine builds the image, later ones find it: the same evidence."""
    def image(obtained: str, image_id: str) -> bytes:
        return json.dumps({"facts": {"image": {"ref": "golang:1.22.5-bookworm", "id": image_id,
                                               "obtained": obtained}}}).encode()
    assert normalise("t.json", image("built", "sha256:aa"), {}) == normalise("t.json", image("present", "sha256:aa"), {})
    assert normalise("t.json", image("built", "sha256:aa"), {}) != normalise("t.json", image("built", "sha256:bb"), {})


def test_normalise_roots_match_whole_directories_only() -> None:
    roots = {"$REPORTS": "/r/reports", "$CONFIG_DIR": "/r"}
    assert normalise("x.txt", b"/r/reports/a /r/reports2/a /r/b /rx", roots) == \
        b"$REPORTS/a $CONFIG_DIR/reports2/a $CONFIG_DIR/b /rx"


def test_normalise_xml_drops_time_attributes_only() -> None:
    a = b'<testsuites time="1.0"><testsuite name="s" hostname="h" timestamp="t"><testcase name="c" time="2"/>' \
        b'</testsuite></testsuites>'
    b = b'<testsuites  time="9.9"><testsuite hostname="other" name="s"><testcase time="0" name="c"></testcase>' \
        b'</testsuite></testsuites>'
    assert normalise("junit.xml", a, {}) == normalise("junit.xml", b, {})
    assert normalise("junit.xml", a.replace(b'name="c"', b'name="d"'), {}) != normalise("junit.xml", b, {})
    failing = a.replace(b"/>", b"><failure message=\"boom\"/></testcase>", 1)
    assert normalise("junit.xml", failing, {}) != normalise("junit.xml", a, {})


def test_normalise_go_test_durations_but_not_other_numbers() -> None:
    assert normalise("t.txt", b"--- PASS: TestA (0.01s)\nok  \tpkg/a\t0.123s\n", {}) == \
        normalise("t.txt", b"--- PASS: TestA (12.50s)\nok  \tpkg/a\t9s\n", {})
    assert normalise("t.txt", b"read 4096 bytes in 2s", {}) != normalise("t.txt", b"read 4097 bytes in 2s", {})
    assert normalise("t.txt", b"--- PASS: TestA (0.01s)", {}) != normalise("t.txt", b"--- FAIL: TestA (0.01s)", {})


def test_binary_files_are_hashed_as_they_are() -> None:
    data = b"\x7fELF\x00\x01/r/reports/x duration_s"
    assert normalise("inputs/bin/app", data, {"$REPORTS": "/r/reports"}) == data


# --- signatures ----------------------------------------------------------------------------------


def test_signed_bundle_checks_with_and_without_the_public_key(tmp_path: Path, sources: dict[str, Path]) -> None:
    key, priv, pub = _key(tmp_path)
    written = _bundle(tmp_path / "evidence", sources, key=load_private_key(priv))
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
    assert _sha256sum_check(bundle).returncode == 0

    unsigned = _bundle(tmp_path / "unsigned", sources)
    assert unsigned.evidence_digest == written.evidence_digest  # signing does not change what was proven


@pytest.mark.parametrize("rel", [*CONTENT, MANIFEST_JSON, SIGNATURE])
def test_one_byte_changed_in_a_signed_bundle_is_caught(tmp_path: Path, sources: dict[str, Path], rel: str) -> None:
    _, priv, pub = _key(tmp_path)
    bundle = _bundle(tmp_path / "evidence", sources, key=load_private_key(priv)).path
    _flip_one_byte(bundle / rel)
    for public_key in (load_public_key(pub), None):
        result = check_bundle(bundle, public_key)
        assert result.problems, (rel, public_key)
    if rel in (MANIFEST_JSON, SIGNATURE):
        assert any(p.startswith(f"{SIGNATURE}:") for p in verify_bundle(bundle, load_public_key(pub)))


def test_wrong_key_and_missing_signature_fail(tmp_path: Path, sources: dict[str, Path]) -> None:
    _, priv, pub = _key(tmp_path, "signer")
    _, _, other_pub = _key(tmp_path, "other")
    bundle = _bundle(tmp_path / "evidence", sources, key=load_private_key(priv)).path
    wrong = check_bundle(bundle, load_public_key(other_pub))
    assert wrong.signature == "bad" and len(wrong.problems) == 1
    assert "does not verify with the given public key" in wrong.problems[0]

    (bundle / SIGNATURE).unlink()
    for public_key in (load_public_key(pub), None):
        assert verify_bundle(bundle, public_key) == [f"{SIGNATURE}: missing ({MANIFEST_JSON} says it is signed)"]

    unsigned = _bundle(tmp_path / "unsigned", sources).path
    assert verify_bundle(unsigned) == []
    assert verify_bundle(unsigned, load_public_key(pub)) == [f"{SIGNATURE}: missing (the bundle is not signed)"]


def test_a_re_signed_bundle_passes_only_without_public_key(tmp_path: Path, sources: dict[str, Path]) -> None:
    """Someone who rewrites a bundle can sign it with their own key: only --public-key tells."""
    _, priv, pub = _key(tmp_path, "signer")
    _, forger, _ = _key(tmp_path, "forger")
    real = _bundle(tmp_path / "real", sources, key=load_private_key(priv)).path
    sources["app/go.sum"].write_bytes(b"golang.org/x/text v0.3.7 h1:forged=\n")
    forged = _bundle(tmp_path / "forged", sources, key=load_private_key(forger)).path
    assert check_bundle(forged).signature == "embedded" and check_bundle(forged).problems == ()
    assert check_bundle(forged, load_public_key(pub)).signature == "bad"
    assert check_bundle(real, load_public_key(pub)).problems == ()


def test_bad_key_files_are_usage_errors(tmp_path: Path) -> None:
    _, priv, pub = _key(tmp_path)
    rsa_key = tmp_path / "rsa.pem"
    rsa_key.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello\n")
    cases = [
        (load_private_key, tmp_path / "absent.pem", "cannot read"),
        (load_private_key, garbage, "not a PEM private key"),
        (load_private_key, rsa_key, "RSA"),
        (load_private_key, pub, "not a PEM private key"),
        (load_public_key, garbage, "not a PEM public key"),
        (load_public_key, priv, "is a private key"),
        (load_public_key, tmp_path, "cannot read"),
    ]
    for loader, path, words in cases:
        with pytest.raises(EvidenceKeyError, match=words) as e:
            loader(path)
        assert e.value.exit_code == 2 and "\n" not in str(e.value), (loader, path)


def test_encrypted_signing_key_needs_the_passphrase(tmp_path: Path, monkeypatch) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / "enc.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(b"s3cret")))
    monkeypatch.delenv("FIXPROOF_SIGNING_KEY_PASSPHRASE", raising=False)
    with pytest.raises(EvidenceKeyError, match="FIXPROOF_SIGNING_KEY_PASSPHRASE"):
        load_private_key(path)
    monkeypatch.setenv("FIXPROOF_SIGNING_KEY_PASSPHRASE", "s3cret")
    assert load_private_key(path).public_key() == key.public_key()


# --- the command line ----------------------------------------------------------------------------


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fixproof.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**os.environ, **(env or {})})


def test_cli_evidence_verify(tmp_path: Path, sources: dict[str, Path]) -> None:
    _, priv, pub = _key(tmp_path, "signer")
    _, _, other = _key(tmp_path, "other")
    plain = _bundle(tmp_path / "plain", sources).path
    signed = _bundle(tmp_path / "signed", sources, key=load_private_key(priv))

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

    _flip_one_byte(plain / "inputs/bin/fixdemo")
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


def test_config_evidence_section(tmp_path: Path) -> None:
    from fixproof.config import ConfigError, load

    _, priv, _ = _key(tmp_path)
    cfg = load(write_config(tmp_path, EXAMPLE, extra=f'[evidence]\nsigning_key = "{priv.name}"\n'))
    assert cfg.signing_key_path == priv.resolve()
    assert load(write_config(tmp_path, EXAMPLE)).signing_key_path is None
    (tmp_path / "bad.pem").write_text("not a key\n")
    for extra, words in (('signing_key = "bad.pem"', "not a PEM private key"),
                         ('signing_key = "absent.pem"', "does not exist"),
                         ("signing_key = 1", "must be a string"),
                         ('sign = "x"', "unknown key evidence.sign")):
        with pytest.raises(ConfigError, match=words):
            load(write_config(tmp_path, EXAMPLE, extra=f"[evidence]\n{extra}\n"))
    p = _cli("verify", "-c", str(write_config(tmp_path, EXAMPLE, extra='[evidence]\nsigning_key = "bad.pem"\n')))
    assert p.returncode == 2 and "evidence.signing_key" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_an_added_fifo_or_empty_directory_is_caught(tmp_path: Path, sources: dict[str, Path]) -> None:
    import os

    bundle = _bundle(tmp_path / "evidence", sources).path
    assert verify_bundle(bundle) == []
    os.mkfifo(bundle / "reports" / "pipe")
    (bundle / "inputs" / "empty").mkdir()
    problems = verify_bundle(bundle)
    assert any(p.startswith("reports/pipe: not a regular file") for p in problems), problems
    assert any(p.startswith("inputs/empty/: an empty directory") for p in problems), problems
