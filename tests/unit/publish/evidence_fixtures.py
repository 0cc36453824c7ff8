"""What the evidence tests share: the files of one made-up run (only times, durations, host names, its
directories and what the runtime stages measured vary), a bundle of them, keys and small tools.

Imported by the tests of fixproof.publish.evidence_* as ``from unit.publish.evidence_fixtures import ...``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from fixproof.publish.bundle import source_tree
from fixproof.publish.evidence_layout import MANIFEST, VERSIONS
from fixproof.publish.evidence_writer import write_bundle

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


def modcache_volume(root: Path) -> str:
    """The run's module cache volume: named after its report directory, so it differs between runs."""
    return "fixproof-modcache-" + hashlib.sha256(str(root).encode()).hexdigest()[:16]


def build_stage(root: Path, duration: float, status: str = "passed", message: str = "built fixdemo") -> bytes:
    doc = {"stage": "build", "facts": {"binary": f"{root}/reports/build/fixdemo", "sha256": "ab" * 32,
                                       "module_cache": f"{modcache_volume(root)} (read-only)"},
           "checks": [{"name": "go build", "status": status, "message": message, "duration_s": duration,
                       "evidence": {"binary": f"{root}/reports/build/fixdemo", "timestamp": f"2024-01-0{int(duration)}",
                                    "nested": [{"hostname": f"host-{duration}", "kept": 1}]},
                       "details": f"--- PASS: TestFix ({duration}s)"}]}
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def junit_xml(root: Path, duration: float = 1.5, stamp: str = "2024-05-01T10:00:00", host: str = "ci-1",
           hits: int = 3, verdict: str = "") -> bytes:
    return JUNIT.format(t=duration, stamp=stamp, host=host, root=root, hits=hits, verdict=verdict).encode()


def gdb_stage(root: Path, hits: int, *, status: str = "passed", name: str = "bounded read",
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


def summary_json(root: Path, hits: int, *, skipped_status: str = "skipped") -> bytes:
    doc = {"exit_code": 0, "status": "passed", "junit": f"{root}/reports/junit.xml",
           "counts": {"tests": 3, "failures": 0, "errors": 0, "skipped": 1},
           "stages": {"build": [], "gdb": [{"name": "cache stays bounded", "status": skipped_status,
                                            "message": f"skipped after {hits} tries", "duration_s": 0.1,
                                            "classname": "", "details": "", "warning": False, "blocks": True,
                                            "evidence": {"kind": "memory", "first": hits}}]}}
    return (json.dumps(doc, indent=2) + "\n").encode()


def sarif_json(hits: int, *, rule: str = "fixproof/gdb/bounded-read", build_message: str = "go build failed") -> bytes:
    results = [{"ruleId": rule, "level": "error", "message": {"text": f"bounded read: hit {hits} times"},
                "partialFingerprints": {"fixproof/v1": hashlib.sha256(str(hits).encode()).hexdigest()[:32]}},
               {"ruleId": "fixproof/build/go-build", "level": "error", "message": {"text": build_message},
                "partialFingerprints": {"fixproof/v1": "0" * 32}}]
    return json.dumps({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "fixproof"}},
                                                     "results": results}]}, indent=2).encode()


def make_sources(root: Path, *, duration: float = 1.5, host: str = "ci-1", stamp: str = "2024-05-01T10:00:00",
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
        "reports/stages/build.json": build_stage(root, duration),
        "reports/stages/gotest.json": b'{"stage": "gotest", "checks": []}\n',
        "reports/stages/gdb.json": gdb_stage(root, hits),
        "reports/junit.xml": junit_xml(root, duration, stamp, host, hits),
        "reports/summary.json": summary_json(root, hits),
        "reports/fixproof.sarif": sarif_json(hits),
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


def example_bundle(dest: Path, s: dict[str, Path], key=None, root: Path | None = None):
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
               "$MODCACHE_VOLUME": modcache_volume(root)},
        signing_key=key,
    )


def sha256sum_check(bundle: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum (coreutils) is not installed")
    return subprocess.run(["sha256sum", "-c", MANIFEST], cwd=bundle, capture_output=True,
                          text=True, timeout=60)


def bundle_listing(bundle: Path) -> list[str]:
    return sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())


def flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def make_key(tmp_path: Path, name: str = "key") -> tuple[ed25519.Ed25519PrivateKey, Path, Path]:
    key = ed25519.Ed25519PrivateKey.generate()
    priv = tmp_path / f"{name}.pem"
    pub = tmp_path / f"{name}.pub.pem"
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return key, priv, pub


# Every file a bundle of the made-up run holds (manifest.json aside).
CONTENT = ["inputs/bin/fixdemo", "inputs/fixproof.toml", "inputs/go.mod", "inputs/go.sum", "inputs/source.json",
           "reports/build.json", "reports/gotest.json", "reports/gdb.json", "reports/junit.xml",
           "reports/summary.json", "reports/fixproof.sarif", "reports/index.html", "reports/bounded-read.mi.log",
           "logs/trace/goroutines.json", VERSIONS, MANIFEST]
