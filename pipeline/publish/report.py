"""The report task: JUnit XML, summary, SARIF, OpenVEX and the page, from the stage results only (it runs no tool)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Sequence, TextIO

from fixproof.errors import EXIT_FAILED, EXIT_INFRA, EXIT_OK
from fixproof.publish.junit import write_junit
from fixproof.results import CheckResult, StageResult, Status, error
from fixproof.stages.build import BuildFacts
from fixproof.stages.gotest_policy import ALLOWED_FAILURE, FLAKY, SKIPPED_BY_CONFIG, TESTS_DISABLED
from fixproof.stages.common import StageContext
from fixproof.stages.vulns import VulnsFacts

STAGE = "report"


def collect(ctx: StageContext, stages: Sequence[str]) -> list[StageResult]:
    results = []
    for s in stages:
        r = ctx.upstream(s)
        if r is None:
            r = StageResult(s, (error(f"{s}: result", f"the {s} stage left no readable result at {ctx.result_path(s)}"),))
        results.append(r)
    return results


def exit_code(results: Sequence[StageResult]) -> int:
    checks = [c for r in results for c in r.checks]
    errors = [c for c in checks if c.status is Status.ERROR]
    if errors:
        return max(int(c.evidence.get("exit_code", EXIT_INFRA)) for c in errors)
    if any(c.status is Status.FAILED for c in checks):
        return EXIT_FAILED
    if not any(c.status is Status.PASSED for c in checks):
        return EXIT_FAILED  # nothing passed: no positive evidence
    return EXIT_OK


def run(ctx: StageContext, stages: Sequence[str], junit_path: Path) -> dict:
    results = collect(ctx, stages)
    summary = _summary(results, junit_path, ctx.cfg)
    vex = _write_openvex(ctx, results)
    if vex is not None:
        summary["openvex"] = str(vex)
    summary["sarif"] = str(_write_sarif(ctx, results))
    return _publish(results, summary, ctx.cfg.reports_dir)


def run_fleet(ctxs: Sequence[StageContext], stages: Sequence[str], junit_path: Path) -> dict:
    """Several apps' results as one run: one JUnit file whose suites are named
    ``fixproof.<app>.<stage>`` (Jenkins shows the app as the package), one
    summary and page in the run's report directory; each app keeps its own
    reports (SARIF, OpenVEX, page) in its directory."""
    labelled: list[StageResult] = []
    apps: dict[str, dict] = {}
    for ctx in ctxs:
        results = collect(ctx, stages)
        name = ctx.cfg.app_name
        code = exit_code(results)
        apps[name] = {"exit_code": code, "status": _status(code), "dir": str(ctx.cfg.reports_dir),
                      "summary": str(ctx.cfg.reports_dir / "summary.json"),
                      # what the app's checks took (verify --timings balances shards with it)
                      "seconds": round(sum(c.duration_s for r in results for c in r.checks), 3)}
        labelled += [StageResult(f"{name}.{r.stage}", r.checks, r.facts) for r in results]
    cfg = ctxs[0].cfg
    summary = _summary(labelled, junit_path, cfg)
    summary["apps"] = apps
    return _publish(labelled, summary, cfg.run_reports_dir)


def _publish(results: Sequence[StageResult], summary: dict, out: Path) -> dict:
    """summary.json, then the page (which links it), in ``out``."""
    html_path = out / HTML_NAME
    summary["html"] = str(html_path)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _write_html(results, summary, html_path)
    return summary


def _status(code: int) -> str:
    return {0: "passed", 1: "failed"}.get(code, "error")


def _summary(results: Sequence[StageResult], junit_path: Path, cfg) -> dict:
    """The JUnit file and what summary.json says of it: verdict, counts, every check not plainly passed."""
    junit = write_junit(results, junit_path, properties={"fixproof.config": str(cfg.path)})
    code = exit_code(results)
    return {
        "exit_code": code,
        "status": _status(code),
        "headline": headline(results, code, cfg.fix.fail_on),
        "junit": str(junit_path),
        "counts": {"tests": junit.tests, "failures": junit.failures, "errors": junit.errors, "skipped": junit.skipped},
        "stages": {r.stage: [c.to_json() for c in r.checks if c.status is not Status.PASSED or c.warning] for r in results},
        "other_findings": other_findings(results),
    }


def other_findings(results: Sequence[StageResult]) -> list[dict]:
    """The vulns stage's findings not listed in [fix] advisories, one entry per module with the one upgrade
    that clears them (the page's grouping, fixproof.publish.page_model), for the CLI summary."""
    from fixproof.publish.page_model import build

    return [{"module": g.module, "version": g.version, "upgrade": g.upgrade(), "advisories": [r.id for r in g.rows],
             "reachable": g.reachable, "failing": g.failing} for g in build(results).groups]


def headline(results: Sequence[StageResult], code: int, fail_on: str) -> str:
    """One sentence saying exactly what the verdict covers: how many listed advisories are proven fixed (in
    the built artifact, and the shipped one when given), how many other known advisories affect it and how
    many of those are reachable yet do not fail under the policy, and how many checks did not run. No
    advisory id: the page and the CLI name each finding once, below the headline."""
    if code == 1:
        return "At least one check failed: the evidence says the fix is not proven in the artifact."
    if code != 0:
        return "At least one check could not run: the evidence is incomplete, so nothing is proven."
    vulns = [r for r in results if r.stage.rsplit(".", 1)[-1] == "vulns"]
    from fixproof.stages.vulns import VulnsFacts

    facts = {id(r): VulnsFacts.of(r) for r in vulns}
    listed = {i for r in vulns if (f := facts[id(r)]) for i in f.listed} | {  # results without the fact
        c.name.removeprefix("advisory ") for r in vulns if not (facts[id(r)] and facts[id(r)].listed)
        for c in r.checks if c.name.startswith("advisory GO-") and not c.warning}
    vex = [v.status for r in vulns if (f := facts[id(r)]) for v in f.vex]
    shipped = any(c.name.startswith("shipped artifact: ") for r in vulns for c in r.checks)
    tolerated: dict[str, bool] = {}  # id -> reachable (a vulnerable function is in the binary)
    for r in vulns:
        for c in r.checks:
            aid = c.name.removeprefix("shipped artifact: ").removeprefix("advisory ")
            if c.warning and c.status is Status.PASSED and c.name.endswith(f"advisory {aid}") and aid not in listed:
                tolerated[aid] = tolerated.get(aid, False) or c.evidence.get("level") == "symbol"
    runtime = sum(1 for r in results if r.stage.rsplit(".", 1)[-1] in ("gdb", "trace", "race")
                  for c in r.checks if c.status is Status.PASSED)
    skipped = sum(1 for r in results for c in r.checks if c.status is Status.SKIPPED)
    where = "the built artifact and the shipped one" if shipped else "the built artifact"
    if not vulns:
        text = "Every check passed (the vulns stage did not run, so no advisory was judged)"
    elif not listed:
        text = "Every check passed, but [fix] advisories lists no advisory, so no fix is proven"
    elif vex and all(v == "fixed" for v in vex):
        text = f"Every check passed: the {_n(len(listed), 'listed advisory is', 'listed advisories are')} fixed in {where}"
    else:
        text = (f"Every check passed: the {_n(len(listed), 'listed advisory does', 'listed advisories do')} not "
                f"affect {where}")
    if runtime:
        text += f", and its {_n(runtime, 'runtime check', 'runtime checks')} held"
    tests = [c for r in results if r.stage.rsplit(".", 1)[-1] == "test" for c in r.checks]
    not_run = _tests_not_run(tests)
    if any(c.evidence.get(TESTS_DISABLED) for c in tests):
        not_run = ["the app's Go tests did not run (test.enabled = false)"]
    if not_run:  # lead with what the PASS does not cover
        text = "Not every Go test ran and passed: " + "; ".join(not_run) + ". " + text.replace(
            "Every check passed", "Every other check passed", 1)
    if tolerated:
        reachable = sum(tolerated.values())
        text += (f"; {_n(len(tolerated), 'other known advisory affects', 'other known advisories affect')} it "
                 f"({reachable} reachable: a vulnerable function is in the binary) and "
                 f"{'does' if len(tolerated) == 1 else 'do'} not fail under fix.fail_on = {fail_on!r}")
    if skipped:
        text += f"; {_n(skipped, 'check', 'checks')} did not run (skipped, each with its reason)"
    return text + "."


def _n(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _tests_not_run(tests: Sequence[CheckResult]) -> list[str]:
    """The Go tests a PASS does not cover: skipped by config, failed but allowed, passed only on a retry
    (a subtest is not named again when its parent is)."""
    def names(key: str) -> list[str]:
        hit = [c for c in tests if c.evidence.get(key)]
        tops = {(c.classname, c.name) for c in hit}
        return [f"{c.name} ({c.evidence[key]})" if isinstance(c.evidence[key], str) else c.name for c in hit
                if not any((c.classname, c.name[:i]) in tops for i in range(len(c.name)) if c.name[i] == "/")]

    def clause(what: str, items: list[str]) -> list[str]:
        if not items:
            return []
        shown = ", ".join(items[:3]) + (f" and {len(items) - 3} more" if len(items) > 3 else "")
        return [f"{len(items)} {what}: {shown}"]

    return (clause("skipped by config (test.skip)", names(SKIPPED_BY_CONFIG))
            + clause("failed and allowed to (test.allow_fail)", names(ALLOWED_FAILURE))
            + clause("flaky, passed only on a retry (test.retries)", names(FLAKY)))


OPENVEX_NAME = "fixproof.openvex.json"
SARIF_NAME = "fixproof.sarif"
HTML_NAME = "index.html"


def _write_html(results: Sequence[StageResult], summary: dict, path: Path) -> Path:
    """reports/index.html: the page a person reads (fixproof.publish.html)."""
    from fixproof.publish.html import write_html

    return write_html(results, summary, path)


def _write_sarif(ctx: StageContext, results: Sequence[StageResult]) -> Path:
    """reports/fixproof.sarif: findings and failed checks for code scanning."""
    from fixproof import __version__
    from fixproof.publish.sarif import document

    cfg = ctx.cfg
    try:
        uri = cfg.gomod_path.relative_to(ctx.vcs_root).as_posix()
    except ValueError:
        uri = cfg.gomod_path.name
    build = BuildFacts.of(next((r for r in results if r.stage == "build"), None))
    name = build.binary.name if build else cfg.binary_name
    vulns = VulnsFacts.of(next((r for r in results if r.stage == "vulns"), None))
    listed = (vulns.listed if vulns else None) or cfg.fix.advisories  # GO ids, aliases resolved
    doc = document(results, gomod_uri=uri, listed=listed, version=__version__, binary_name=name,
                   fail_on=cfg.fix.fail_on, category=cfg.sarif_category, app=cfg.app_name if cfg.grouped else "")
    path = cfg.reports_dir / SARIF_NAME
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def _write_openvex(ctx: StageContext, results: Sequence[StageResult]) -> Path | None:
    """reports/fixproof.openvex.json when the vulns stage judged listed advisories on a built binary."""
    from fixproof.publish.openvex import document

    by_stage = {r.stage: r for r in results}
    vulns, build = VulnsFacts.of(by_stage.get("vulns")), BuildFacts.of(by_stage.get("build"))
    path = ctx.cfg.reports_dir / OPENVEX_NAME
    verdicts = list(vulns.vex) if vulns else []
    if not verdicts or build is None or not build.sha256:
        path.unlink(missing_ok=True)  # never leave a statement about another build
        return None
    doc = document(verdicts, binary_name=build.binary.name, sha256=build.sha256)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


MAX_WARNINGS_SHOWN = 10


def print_summary(summary: dict, out: TextIO | None = None) -> None:
    """Failures, errors and skips in full; warnings up to MAX_WARNINGS_SHOWN (all are in the JUnit), except
    the advisories let through by fix.fail_on: one line per module with the upgrade that clears them. Then
    the headline (what the verdict covers) and the verdict, last, where a terminal shows them."""
    out = out or sys.stdout
    c = summary["counts"]
    passed = c["tests"] - c["failures"] - c["errors"] - c["skipped"]
    groups = summary.get("other_findings") or []
    grouped = {a for g in groups for a in g["advisories"]}
    warnings = 0
    for stage, checks in summary["stages"].items():
        for chk in checks:
            if chk["status"] == "passed":
                if stage == "vulns" and _advisory_of(chk["name"]) in grouped:
                    continue  # in its module's line below
                warnings += 1
                if warnings > MAX_WARNINGS_SHOWN:
                    continue
            tag = "WARN" if chk["status"] == "passed" else chk["status"].upper()
            out.write(f"  {tag:7} {stage}: {chk['name']}: {chk['message']}\n")
    if warnings > MAX_WARNINGS_SHOWN:
        out.write(f"  ... and {warnings - MAX_WARNINGS_SHOWN} more warnings in {summary['junit']}\n")
    for g in groups:
        tolerated = len(g["advisories"]) - g["failing"]
        if tolerated:
            out.write(f"  {'WARN':7} vulns: {g['upgrade']} ({tolerated} not failing under fix.fail_on; each in "
                      f"{summary.get('html') or summary['junit']})\n")
    for app, facts in (summary.get("apps") or {}).items():
        out.write(f"  app {app}: {facts['status'].upper()} (reports in {facts['dir']})\n")
    if summary.get("headline") and summary["status"] == "passed":
        out.write(f"  {summary['headline']}\n")  # what the PASS covers, and what it does not
    verdict = {"passed": "PASS", "failed": "FAIL", "error": "ERROR"}[summary["status"]]
    out.write(f"fixproof: {verdict}: {passed} passed, {c['failures']} failed, {c['errors']} errors, "
              f"{c['skipped']} skipped; JUnit at {summary['junit']}\n")


def _advisory_of(name: str) -> str:
    return name.removeprefix("shipped artifact: ").removeprefix("advisory ")
