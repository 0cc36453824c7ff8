"""fixproof.publish.merge on synthetic shard directories (synthetic_shards): what OUT holds, what is refused."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import pytest

from fixproof.publish.evidence_check import check_bundle
from fixproof.publish.evidence_index import INDEX, check_index, is_index
from fixproof.publish.merge import MergeError, merge
from fixproof.publish.openvex import CONTEXT

from .synthetic_shards import fleet_config, write_shards

VERDICTS = {"edge": "passed", "legacy": "failed", "api": "passed", "batch": "passed", "cron": "passed"}
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.fixture
def shards(tmp_path) -> list[Path]:
    return write_shards(tmp_path, VERDICTS, 2)


def _summary(d: Path) -> dict:
    return json.loads((d / "summary.json").read_text())


def _refused(tmp_path: Path, dirs, *needles: str) -> str:
    out = tmp_path / "out"
    with pytest.raises(MergeError) as e:
        merge(out, dirs)
    assert e.value.exit_code == 2
    for n in needles:
        assert n in str(e.value), str(e.value)
    assert not out.exists()  # nothing written
    return str(e.value)


def test_merge_gives_the_fleet_report(tmp_path, shards):
    assert all(_summary(d)["shard"]["apps"] for d in shards)  # both shards hold apps
    m = merge(tmp_path / "out", shards, now=NOW)
    out = tmp_path / "out"
    assert (m.exit_code, m.status, m.apps) == (1, "failed", 5)  # the worst app: legacy failed
    s = _summary(out)
    assert list(s["apps"]) == list(VERDICTS)  # the fleet config's order, not the shards'
    assert {a: v["status"] for a, v in s["apps"].items()} == VERDICTS
    assert s["merge"]["count"] == 2 and [x["index"] for x in s["merge"]["shards"]] == [1, 2]
    assert all(Path(v["dir"]).parent == out / "apps" for v in s["apps"].values())  # final paths, not staging
    assert (out / "apps" / "edge" / "stages" / "build.json").is_file()
    assert not (out / "apps" / "edge" / "evidence").exists()  # the bundles live in OUT/evidence
    assert 'href="apps/legacy/index.html"' in (out / "index.html").read_text()


def test_merged_junit_groups_suites_by_app_with_correct_counts(tmp_path, shards):
    merge(tmp_path / "out", shards, now=NOW)
    root = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    suites = [s.get("name") for s in root.iter("testsuite")]
    assert suites == [f"fixproof.{a}.{st}" for a in VERDICTS for st in ("toolchain", "build", "vulns")]
    cases = list(root.iter("testcase"))
    assert len(cases) == 5 * 4
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("20", "1", "0")
    assert _summary(tmp_path / "out")["counts"] == {"tests": 20, "failures": 1, "errors": 0, "skipped": 0}


def test_merged_sarif_has_one_run_per_app_kept_apart(tmp_path, shards):
    merge(tmp_path / "out", shards, now=NOW)
    doc = json.loads((tmp_path / "out" / "fixproof.sarif").read_text())
    assert doc["version"] == "2.1.0"
    assert [r["automationDetails"]["id"] for r in doc["runs"]] == [f"fixproof/{a}/" for a in VERDICTS]


def test_merged_openvex_is_one_valid_document_with_every_statement(tmp_path, shards):
    merge(tmp_path / "out", shards, now=NOW)
    doc = json.loads((tmp_path / "out" / "fixproof.openvex.json").read_text())
    assert doc["@context"] == CONTEXT and doc["version"] == 1 and doc["author"] == "fixproof"
    assert doc["@id"].startswith("urn:fixproof:vex:") and doc["timestamp"] == "2026-01-02T03:04:05Z"
    assert len(doc["statements"]) == 5
    products = {s["products"][0]["@id"].split("?")[0] for s in doc["statements"]}
    assert products == {f"pkg:generic/{a}" for a in VERDICTS}
    assert {s["status"] for s in doc["statements"]} == {"fixed", "affected"}


def test_evidence_index_lists_each_bundle_with_its_digest_and_checks(tmp_path, shards):
    merge(tmp_path / "out", shards, now=NOW)
    ev = tmp_path / "out" / "evidence"
    assert is_index(ev)
    index = json.loads((ev / INDEX).read_text())
    for d in shards:
        for app in _summary(d)["shard"]["apps"]:
            digest = check_bundle(d / "apps" / app / "evidence").evidence_digest
            assert index["apps"][app]["evidence_digest"] == digest
            assert _summary(tmp_path / "out")["apps"][app]["evidence_digest"] == digest
    result = check_index(ev)
    assert result.problems == () and len(result.bundles) == 5


@pytest.mark.parametrize("tamper, needle", [
    (lambda ev: (ev / "edge" / "reports" / "summary.json").write_text("{}"), "edge/reports/summary.json"),
    (lambda ev: (ev / "extra.txt").write_text("x"), "extra.txt: not in MANIFEST.sha256"),
    (lambda ev: (ev / INDEX).write_text((ev / INDEX).read_text().replace('"shard": 1', '"shard": 2', 1)),
     "index.json: sha256 mismatch"),
    (lambda ev: shutil.rmtree(ev / "api"), "api/: missing"),
    (lambda ev: shutil.copytree(ev / "api", ev / "zzz"), "zzz/: not listed"),
])
def test_evidence_index_check_finds_tampering(tmp_path, shards, tamper, needle):
    merge(tmp_path / "out", shards, now=NOW)
    ev = tmp_path / "out" / "evidence"
    tamper(ev)
    problems = check_index(ev).problems
    assert any(needle in p for p in problems), problems


def test_fleet_verdict_is_the_worst_app_verdict(tmp_path):
    dirs = write_shards(tmp_path, {"a": "passed", "b": "error", "c": "failed"}, 3)
    m = merge(tmp_path / "out", dirs)
    assert (m.exit_code, m.status) == (3, "error")
    dirs = write_shards(tmp_path / "ok", {"a": "passed", "b": "passed"}, 2)
    assert merge(tmp_path / "ok-out", dirs).exit_code == 0


def test_an_empty_shard_is_accepted(tmp_path):
    dirs = write_shards(tmp_path, {"a": "passed", "b": "passed"}, 5)
    assert any(not _summary(d)["shard"]["apps"] for d in dirs)
    assert merge(tmp_path / "out", dirs).apps == 2


def test_rerun_replaces_an_earlier_merge_but_not_other_files(tmp_path, shards):
    merge(tmp_path / "out", shards)
    merge(tmp_path / "out", shards)
    assert check_index(tmp_path / "out" / "evidence").problems == ()
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(MergeError, match="not an earlier merge"):
        merge(other, shards)
    assert (other / "notes.txt").read_text() == "mine"


def test_refuses_missing_apps_naming_them(tmp_path, shards):
    missing = ", ".join(_summary(shards[1])["shard"]["apps"])
    _refused(tmp_path, shards[:1], f"missing apps: {missing}", "shards not given: 2/2")


def test_refuses_a_shard_given_twice(tmp_path, shards):
    _refused(tmp_path, [shards[0], shards[0], shards[1]], "shard 1/2 is given twice")


def test_refuses_shards_of_another_fleet_config(tmp_path, shards):
    other = tmp_path / "other"
    other.mkdir()
    cfg = fleet_config(other, list(VERDICTS), text='[fix]\nadvisories = ["GO-2024-0001"]\n')
    foreign = write_shards(other, VERDICTS, 2, cfg=cfg)
    _refused(tmp_path, [shards[0], foreign[1]], "is a shard of another fleet config")


def test_refuses_different_shard_counts(tmp_path, shards):
    three = write_shards(tmp_path / "three", VERDICTS, 3, cfg=tmp_path / "fleet.toml")
    _refused(tmp_path, [shards[0], *three[1:]], "must split the fleet into the same N parts")


def test_refuses_an_app_in_two_shards(tmp_path, shards):
    s = _summary(shards[1])
    app = _summary(shards[0])["shard"]["apps"][0]
    s["shard"]["apps"].append(app)
    (shards[1] / "summary.json").write_text(json.dumps(s))
    _refused(tmp_path, shards, f"app {app!r} is in two shards")


def test_refuses_a_directory_that_is_not_a_shard_report(tmp_path, shards):
    plain = tmp_path / "plain"
    plain.mkdir()
    _refused(tmp_path, [shards[0], plain], f"{plain}: no summary.json, so not a shard report")
    (plain / "summary.json").write_text(json.dumps({"exit_code": 0, "apps": {}}))
    _refused(tmp_path, [shards[0], plain], "no readable shard section")
    _refused(tmp_path, [shards[0], tmp_path / "nope"], "not a directory")


def test_refuses_a_bundle_that_does_not_verify(tmp_path, shards):
    app = _summary(shards[0])["shard"]["apps"][0]
    (shards[0] / "apps" / app / "evidence" / "reports" / "stages" / "build.json").write_text("{}")
    _refused(tmp_path, shards, f"app {app!r}: its evidence bundle", "sha256 mismatch")


def test_refuses_results_that_disagree_with_the_recorded_verdict(tmp_path, shards):
    d = next(d for d in shards if "legacy" in _summary(d)["shard"]["apps"])
    stage = d / "apps" / "legacy" / "stages" / "vulns.json"
    stage.write_text(stage.read_text().replace('"failed"', '"passed"'))
    _refused(tmp_path, shards, "app 'legacy': its stage results give exit code 0, its summary says 1")


def test_refuses_a_shard_that_broke_down(tmp_path, shards):
    s = _summary(shards[0])
    s.update(status="error", exit_code=3, run_error="the run broke down")
    (shards[0] / "summary.json").write_text(json.dumps(s))
    _refused(tmp_path, shards, "broke down before its verdict", "rerun that shard")


def test_finds_bundles_written_with_evidence_inside_the_report_dir(tmp_path, shards):
    """--evidence reports/evidence puts a fleet's bundles at <reports>/evidence/<app>."""
    for d in shards:
        for app in _summary(d)["shard"]["apps"]:
            (d / "evidence").mkdir(exist_ok=True)
            (d / "apps" / app / "evidence").rename(d / "evidence" / app)
    assert merge(tmp_path / "out", shards).apps == 5
    assert check_index(tmp_path / "out" / "evidence").problems == ()
