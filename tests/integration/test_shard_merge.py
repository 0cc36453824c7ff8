"""examples/configs/fleet.toml verified as 2 shards in 2 processes at once, then `fixproof merge`d.

Each shard runs from its own copy of the config (the same bytes, so the same config digest, with a
relative report directory), the way two CI jobs each have their own checkout. `--timings` balances the
two apps onto the two shards. The merge must give the shards' verdicts, JUnit counts and per-app
evidence digests, and its evidence index must verify and stop verifying once a file is changed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import EXAMPLE, ROOT, assert_no_traceback

pytestmark = pytest.mark.docker
FLEET = ROOT / "examples" / "configs" / "fleet.toml"
DIGEST_RE = re.compile(r"evidence digest sha256:([0-9a-f]{64})")


def _cli(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fixproof.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def shards(tmp_path_factory, golang_image, vulndb_snapshot):
    tmp = tmp_path_factory.mktemp("shards")
    text = FLEET.read_text().replace('dir = "../../reports/fleet"', 'dir = "reports"')
    text = text.replace('dir = "../fixdemo"', f'dir = "{EXAMPLE}"')
    assert 'dir = "reports"' in text and str(EXAMPLE) in text
    timings = tmp / "timings.json"  # one app per shard: equal durations, longest-first by name
    timings.write_text(json.dumps({"apps": {"edge": {"seconds": 60}, "legacy": {"seconds": 60}}}))
    procs, dirs = [], []
    for k in (1, 2):
        job = tmp / f"job{k}"
        job.mkdir()
        (job / "fleet.toml").write_text(text)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "fixproof.cli", "verify", "-c", str(job / "fleet.toml"), "--shard", f"{k}/2",
             "--timings", str(timings)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT))
        dirs.append(job / "reports")
    results = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=1800)
            results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=60)
    return tmp, dirs, results


def _summary(d: Path) -> dict:
    return json.loads((d / "summary.json").read_text())


def _junit_counts(path: Path) -> dict[str, int]:
    root = ET.parse(path).getroot()
    cases = list(root.iter("testcase"))
    return {"tests": len(cases), "failures": sum(1 for c in cases if c.find("failure") is not None),
            "errors": sum(1 for c in cases if c.find("error") is not None),
            "skipped": sum(1 for c in cases if c.find("skipped") is not None)}


def test_two_shards_merge_into_the_fleet_report(shards):
    tmp, dirs, results = shards
    for r in results:
        assert_no_traceback(r)
    assert [r.returncode for r in results] == [0, 1], [r.stderr[-2000:] for r in results]  # legacy fails
    infos = [_summary(d)["shard"] for d in dirs]
    assert [i["apps"] for i in infos] == [["edge"], ["legacy"]]
    assert infos[0]["config_sha256"] == infos[1]["config_sha256"]

    out = tmp / "merged"
    p = _cli("merge", str(out), *map(str, dirs))
    assert_no_traceback(p)
    assert p.returncode == 1, p.stdout + p.stderr  # the worst app: legacy failed
    merged = _summary(out)
    assert {a: v["status"] for a, v in merged["apps"].items()} == {"edge": "passed", "legacy": "failed"}
    for d in dirs:
        for app, facts in _summary(d)["apps"].items():
            assert merged["apps"][app]["exit_code"] == facts["exit_code"]

    counts = [_junit_counts(d / "junit.xml") for d in dirs]
    total = {k: sum(c[k] for c in counts) for k in counts[0]}
    assert _junit_counts(out / "junit.xml") == total == merged["counts"]
    suites = [s.get("name") for s in ET.parse(out / "junit.xml").getroot().iter("testsuite")]
    assert suites[0].startswith("fixproof.edge.") and suites[-1].startswith("fixproof.legacy.")

    sarif = json.loads((out / "fixproof.sarif").read_text())
    assert [r["automationDetails"]["id"] for r in sarif["runs"]] == ["fixproof/edge/", "fixproof/legacy/"]
    vex = json.loads((out / "fixproof.openvex.json").read_text())
    assert vex["version"] == 1 and {s["status"] for s in vex["statements"]} == {"fixed", "affected"}

    ev = out / "evidence"
    index = json.loads((ev / "index.json").read_text())["apps"]
    for d, app in zip(dirs, ("edge", "legacy")):
        shard_check = _cli("evidence", "verify", str(d / "apps" / app / "evidence"))
        assert shard_check.returncode == 0, shard_check.stdout
        digest = DIGEST_RE.search(shard_check.stdout).group(1)
        assert index[app]["evidence_digest"] == digest == merged["apps"][app]["evidence_digest"]

    check = _cli("evidence", "verify", str(ev))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "intact (2 bundles" in check.stdout
    stage = ev / "legacy" / "reports" / "stages" / "vulns.json"
    stage.write_text(stage.read_text() + " ")
    check = _cli("evidence", "verify", str(ev))
    assert check.returncode == 1
    assert f"{ev}/legacy/reports/stages/vulns.json: sha256 mismatch" in check.stdout
