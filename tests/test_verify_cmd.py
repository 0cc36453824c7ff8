"""`fixproof verify` writes a reproducible evidence bundle: two real runs, same inputs, same digest."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from conftest import ROOT, assert_no_traceback, verify, write_config

pytestmark = pytest.mark.docker
DIGEST_RE = re.compile(r"evidence digest sha256:([0-9a-f]{64})")


def _evidence_verify(bundle: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", "evidence", "verify", str(bundle), *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_two_runs_on_the_same_inputs_have_the_same_evidence_digest(tmp_path, app_copy, golang_image):
    key = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (tmp_path / "key.pub.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    extra = f'[build]\ncache = "fresh"\n\n[evidence]\nsigning_key = "{tmp_path / "key.pem"}"\n'
    bundles, digests = [], []
    for name, flags in (("a", []), ("b", ["--evidence", str(tmp_path / "b-evidence")])):
        run_dir = tmp_path / name
        run_dir.mkdir()
        cfg = write_config(run_dir, app_copy, extra=extra)  # same app, another reports directory
        p = verify(cfg, "--only", "binary", *flags)
        assert_no_traceback(p)
        assert p.returncode == 0, p.stdout + p.stderr
        m = DIGEST_RE.search(p.stderr)
        assert m, p.stderr
        digests.append(m.group(1))
        bundles.append(tmp_path / "b-evidence" if flags else run_dir / "reports" / "evidence")  # default place

    a, b = bundles
    manifests = [json.loads((x / "manifest.json").read_text()) for x in bundles]
    assert [m["evidence_digest"]["sha256"] for m in manifests] == digests
    # two separate builds (fresh cache, separate doit state) made the same bytes
    binary_a, binary_b = a / "inputs" / "bin" / "fixdemo", b / "inputs" / "bin" / "fixdemo"
    assert binary_a.read_bytes() == binary_b.read_bytes()
    assert binary_a.stat().st_size > 1_000_000
    # the runs really differ in time and place, so equal digests say the normaliser did its job
    fa, fb = manifests[0]["files"], manifests[1]["files"]
    assert fa["reports/junit.xml"]["sha256"] != fb["reports/junit.xml"]["sha256"]
    assert fa["reports/build.json"]["sha256"] != fb["reports/build.json"]["sha256"]
    differing = sorted(r for r in fa if fa[r].get("normalised_sha256") != fb.get(r, {}).get("normalised_sha256"))
    assert differing == [] and digests[0] == digests[1]

    for bundle in bundles:
        assert {"build.json", "binary.json", "toolchain.json", "modules.json", "junit.xml", "summary.json"} <= \
            {p.name for p in (bundle / "reports").iterdir()}
        versions = json.loads((bundle / "versions.json").read_text())
        assert versions["go"]["version"] == "go1.22.5"
        assert versions["docker_engine"].get("Version"), versions["docker_engine"]
        assert versions["images"]["golang:1.22.5-bookworm"]["id"].startswith("sha256:")
        assert versions["binary"]["sha256"] == fa["inputs/bin/fixdemo"]["sha256"]
        assert versions["probe_tools"]["gdb"].startswith("not recorded")
        assert set(versions["tools"]) >= {"fixproof", "python", "doit", "docker", "cryptography"}
        source = json.loads((bundle / "inputs" / "source.json").read_text())
        assert "cmd/fixdemo/main.go" in source["files"] and len(source["tree_sha256"]) == 64
        assert source["git"]["head"] is None  # the copy is not a git work tree
        ok = _evidence_verify(bundle, "--public-key", str(tmp_path / "key.pub.pem"))
        assert ok.returncode == 0 and "signature valid" in ok.stdout, ok.stdout + ok.stderr
        assert digests[0] in ok.stdout
