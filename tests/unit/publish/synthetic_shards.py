"""Shard report directories as `fixproof verify --shard K/N` lays them out, from made-up app results.

Used by tests/unit/publish/test_merge.py, tests/unit/test_merge_cmd.py and bench/merge_bench.py
(which puts tests/ on sys.path). The layout mirrors a real shard run of examples/configs/fleet.toml:
run dir summary.json with a "shard" section, junit.xml, index.html; per app apps/<name>/{summary.json,
stages/*.json, fixproof.sarif, fixproof.openvex.json, index.html, evidence/} (a real evidence bundle).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Mapping, Sequence

from fixproof.publish.evidence_writer import write_bundle
from fixproof.publish.junit import write_junit
from fixproof.publish.openvex import document as openvex_document
from fixproof.publish.report import exit_code
from fixproof.results import CheckResult, StageResult, Status
from fixproof.shard import assign
from fixproof.vex import Verdict

STAGES = ("toolchain", "build", "vulns")
CONFIG_TEXT = '[fix]\nadvisories = ["GO-2022-1059"]\n[report]\ndir = "reports"\n'


def fleet_config(root: Path, apps: Sequence[str], text: str = CONFIG_TEXT) -> Path:
    cfg = root / "fleet.toml"
    cfg.write_text(text + "".join(f'\n[[app]]\nname = "{a}"\ndir = "../{a}"\n' for a in apps))
    return cfg


def app_results(name: str, verdict: str) -> list[StageResult]:
    """``verdict``: passed, failed (the listed advisory still affects it) or error (the build could not run)."""
    status = {"passed": Status.PASSED, "failed": Status.FAILED, "error": Status.ERROR}[verdict]
    sha = hashlib.sha256(name.encode()).hexdigest()
    return [
        StageResult("toolchain", (CheckResult("go version", Status.PASSED, "go1.22.5", duration_s=0.5),)),
        StageResult("build", (CheckResult("go build", status if verdict == "error" else Status.PASSED,
                                          f"built {name}", evidence={"sha256": sha}, duration_s=2.0),),
                    facts={"sha256": sha}),
        StageResult("vulns", (CheckResult("advisory GO-2022-1059", status if verdict != "error" else Status.SKIPPED,
                                          "x/text", evidence={"module": "golang.org/x/text"}, duration_s=0.25),
                              CheckResult("advisory GO-2099-0001", Status.PASSED, "tolerated", warning=True))),
    ]


def write_app(run_dir: Path, name: str, verdict: str, cfg: Path) -> dict:
    """apps/<name>/ of a shard, with its evidence bundle; the run summary's entry for it."""
    d = run_dir / "apps" / name
    (d / "stages").mkdir(parents=True)
    results = app_results(name, verdict)
    for r in results:
        r.write(d / "stages" / f"{r.stage}.json")
    code = exit_code(results)
    status = {0: "passed", 1: "failed"}.get(code, "error")
    summary = {"exit_code": code, "status": status, "headline": "", "junit": str(d / "junit.xml"),
               "stages": {r.stage: [c.to_json() for c in r.checks if c.status is not Status.PASSED or c.warning]
                          for r in results}}
    write_junit(results, d / "junit.xml")
    (d / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    sarif = {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
             "runs": [{"tool": {"driver": {"name": "fixproof", "rules": []}},
                       "automationDetails": {"id": f"fixproof/{name}/"}, "results": []}]}
    (d / "fixproof.sarif").write_text(json.dumps(sarif, indent=2) + "\n")
    vex_status = {"passed": "fixed", "failed": "affected"}.get(verdict)
    if vex_status:
        vex = openvex_document([Verdict("GO-2022-1059", ("CVE-2022-32149",), vex_status, detail="x")],
                               binary_name=name, sha256=hashlib.sha256(name.encode()).hexdigest())
        (d / "fixproof.openvex.json").write_text(json.dumps(vex, indent=2) + "\n")
    (d / "index.html").write_text(f"<!DOCTYPE html><title>{name}</title>\n")
    reports = [d / "stages" / f"{s}.json" for s in STAGES] + [d / "junit.xml", d / "summary.json",
                                                              d / "fixproof.sarif", d / "index.html"]
    write_bundle(d / "evidence", inputs={f"config/{cfg.name}": cfg}, reports=reports,
                 tools={"fixproof": "test"}, images={}, reports_root=d, roots={"$REPORTS": d})
    return {"exit_code": code, "status": status, "dir": str(d), "summary": str(d / "summary.json"),
            "seconds": round(sum(c.duration_s for r in results for c in r.checks), 3)}


def write_shards(root: Path, verdicts: Mapping[str, str], count: int, *, cfg: Path | None = None) -> list[Path]:
    """``count`` shard report directories root/shard-K of the fleet ``verdicts`` (app -> verdict)."""
    names = list(verdicts)
    root.mkdir(parents=True, exist_ok=True)
    cfg = cfg or fleet_config(root, names)
    part = assign(names, count)
    dirs = []
    for k in range(1, count + 1):
        run_dir = root / f"shard-{k}"
        run_dir.mkdir(parents=True)
        mine = [n for n in names if part[n] == k]
        apps = {n: write_app(run_dir, n, verdicts[n], cfg) for n in mine}
        codes = [a["exit_code"] for a in apps.values()]
        code = max(codes, key=lambda c: {0: 0, 1: 1}.get(c, 2 + c)) if codes else 0
        info = {"index": k, "count": count, "apps": mine, "fleet_apps": names, "balanced_by_timings": False,
                "config": str(cfg), "config_sha256": hashlib.sha256(cfg.read_bytes()).hexdigest()}
        summary = {"exit_code": code, "status": {0: "passed", 1: "failed"}.get(code, "error"), "apps": apps,
                   "shard": info}
        if not mine:
            summary.update(status="empty", exit_code=0)
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        (run_dir / "index.html").write_text("<!DOCTYPE html><title>shard</title>\n")
        dirs.append(run_dir)
    return dirs
