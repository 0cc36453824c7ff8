"""`fixproof verify` writes a reproducible evidence bundle: two real full runs, same inputs, same digest.

The two runs of the whole default example pipeline (every stage, gdb, bpftrace and race checks included)
are the only heavy work here; every assertion reads their outputs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from conftest import EXAMPLE, GDB_CHECKS, RACE_CHECKS, ROOT, TRACE_CHECKS, assert_no_traceback, verify, write_config

pytestmark = pytest.mark.docker
DIGEST_RE = re.compile(r"evidence digest sha256:([0-9a-f]{64})")
STAGES = ["toolchain", "modules", "build", "test", "binary", "vulns", "gdb", "trace", "race", "sbom"]


def _evidence_verify(bundle: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fixproof.cli", "evidence", "verify", str(bundle), *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, golang_image):
    """The default example's full pipeline run twice from scratch: same app, other report directories,
    separate doit state, module caches and (build.cache = "fresh") no shared Go build or test cache."""
    tmp = tmp_path_factory.mktemp("reproducible")
    app = tmp / "fixdemo"
    shutil.copytree(EXAMPLE, app)
    key = ed25519.Ed25519PrivateKey.generate()
    (tmp / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (tmp / "key.pub.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    extra = (f'[build]\ncache = "fresh"\n\n[evidence]\nsigning_key = "{tmp / "key.pem"}"\n\n'
             '[fix]\nadvisories = ["GO-2024-2963", "GO-2022-1059"]\n' + RACE_CHECKS + TRACE_CHECKS + GDB_CHECKS)
    runs = []
    for name, flags in (("a", []), ("b", ["--evidence", str(tmp / "b-evidence")])):
        run_dir = tmp / name
        run_dir.mkdir()
        cfg = write_config(run_dir, app, extra=extra)  # same app, another reports directory
        p = verify(cfg, *flags)
        bundle = tmp / "b-evidence" if flags else run_dir / "reports" / "evidence"  # --evidence, else the default
        runs.append((p, bundle))
    return tmp, runs


def test_two_full_runs_have_the_same_evidence_digest_and_binary(two_runs):
    tmp, runs = two_runs
    digests = []
    for p, _ in runs:
        assert_no_traceback(p)
        assert p.returncode == 0, p.stdout + p.stderr
        m = DIGEST_RE.search(p.stderr)
        assert m, p.stderr
        digests.append(m.group(1))
    (_, a), (_, b) = runs
    manifests = [json.loads((x / "manifest.json").read_text()) for x in (a, b)]
    assert [m["evidence_digest"]["sha256"] for m in manifests] == digests
    fa, fb = manifests[0]["files"], manifests[1]["files"]
    assert sorted(fa) == sorted(fb)
    differing = sorted(r for r in fa if fa[r].get("normalised_sha256") != fb[r].get("normalised_sha256"))
    assert differing == [], f"normalised files that differ between the runs: {differing}"
    assert digests[0] == digests[1]
    # two separate builds (fresh caches, separate doit state) made the same bytes
    binary_a, binary_b = a / "inputs" / "bin" / "fixdemo", b / "inputs" / "bin" / "fixdemo"
    assert binary_a.read_bytes() == binary_b.read_bytes()
    assert binary_a.stat().st_size > 1_000_000
    # the runs really differ in time and place, so equal digests say the normaliser did its job
    for rel in ("reports/junit.xml", "reports/stages/build.json", "reports/stages/modules.json"):
        assert fa[rel]["sha256"] != fb[rel]["sha256"], rel


def test_the_digest_covers_every_stage_and_leaves_raw_logs_pinned(two_runs):
    _, runs = two_runs
    for _, bundle in runs:
        manifest = json.loads((bundle / "manifest.json").read_text())
        covers = manifest["evidence_digest"]["covers"]
        files = manifest["files"]
        reports = {f"reports/stages/{s}.json" for s in STAGES}
        assert reports | {"reports/junit.xml", "reports/summary.json", "inputs/bin/fixdemo"} <= set(covers["files"])
        logs = [r for r in files if r.startswith("logs/trace/") or r.endswith(".mi.log")]
        assert len([r for r in logs if r.endswith(".mi.log")]) >= 4 and len(logs) > 4
        assert not set(logs) & set(covers["files"])  # raw output: pinned by the manifest, out of the digest
        views = {r: files[r].get("normalised_as") for r in reports}
        assert {views[f"reports/stages/{s}.json"] for s in ("gdb", "trace", "race")} == {"json+runtime"}
        assert {views[f"reports/stages/{s}.json"] for s in ("toolchain", "modules", "build", "test")} == {"json"}
        assert manifest["evidence_digest"]["roots"]["$MODCACHE_VOLUME"].startswith("fixproof-modcache-")


def test_both_bundles_check_out_and_record_the_environment(two_runs):
    tmp, runs = two_runs
    digest = json.loads((runs[0][1] / "manifest.json").read_text())["evidence_digest"]["sha256"]
    for _, bundle in runs:
        versions = json.loads((bundle / "versions.json").read_text())
        assert sorted(versions["stages"]) == sorted(STAGES)
        assert versions["go"]["version"] == "go1.22.5"
        assert versions["docker_engine"].get("Version"), versions["docker_engine"]
        assert versions["images"]["golang:1.22.5-bookworm"]["id"].startswith("sha256:")
        assert "fixproof-probe:bookworm" in versions["images"]
        assert versions["binary"]["sha256"] == json.loads((bundle / "manifest.json").read_text())[
            "files"]["inputs/bin/fixdemo"]["sha256"]
        assert versions["probe_tools"]["gdb"].startswith("GNU gdb"), versions["probe_tools"]
        assert versions["probe_tools"]["bpftrace"].startswith("bpftrace v"), versions["probe_tools"]
        assert set(versions["tools"]) >= {"fixproof", "python", "doit", "docker", "cryptography"}
        source = json.loads((bundle / "inputs" / "source.json").read_text())
        assert "cmd/fixdemo/main.go" in source["files"] and len(source["tree_sha256"]) == 64
        assert source["git"]["head"] is None  # the copy is not a git work tree
        ok = _evidence_verify(bundle, "--public-key", str(tmp / "key.pub.pem"))
        assert ok.returncode == 0 and "signature valid" in ok.stdout, ok.stdout + ok.stderr
        assert digest in ok.stdout
