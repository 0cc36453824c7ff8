"""SARIF 2.1.0 for code scanning: vulnerability findings and failed checks.

One run, tool "fixproof". A rule per advisory with a finding (tagged with its
aliases) and a rule per failed or erroring check. Results point at the app's
go.mod (line 1), the file a fix changes, with the path relative to the
repository root, so GitHub code scanning accepts them. Levels follow the
run's policy (fix.fail_on), so code scanning never shows as an error what the
verdict does not fail on: a finding that fails the run (a listed advisory;
with fail_on = "symbol" any symbol-level one; with "any" every one) is
`error`; any other symbol- or package-level finding `warning`, module level
`note`. A waived finding carries an external, accepted
suppression with the waiver's reason; every result has a `suppressions`
array (empty when not suppressed), as SARIF asks within a run.

Code scanning keys alerts on the run's automationDetails.id and each result's
partialFingerprints. The id is ``<category>/`` (``<category>/<app>/`` for an
app of a fleet), so uploads of several jobs or apps keep their own alerts.
Fingerprints hold only stable identity (the check or advisory, its module and
the app), never a measured value or a version, so an alert stays open across
runs until it is fixed. Each rule has a ``security-severity`` (what code
scanning shows as Critical/High/Medium/Low): the advisory's CVSS base score
when the database gives a vector, else by finding level: symbol 7.5, package
5.0, module 3.0; a failed or erroring fixproof check 8.0.

Only ids, aliases, modules, versions and symbols from the database are used:
no advisory text is copied.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from fixproof.vex import fix_action
from fixproof.results import StageResult, Status

if TYPE_CHECKING:
    from fixproof.vulnmatch import Finding

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = {"symbol": "warning", "package": "warning", "module": "note"}  # findings that do not fail the run
_SEVERITY = {"symbol": 7.5, "package": 5.0, "module": 3.0}  # security-severity without a CVSS score
CHECK_SEVERITY = 8.0  # a failed check: the fix did not ship as claimed


def document(results: Sequence[StageResult], *, gomod_uri: str, listed: Iterable[str], version: str,
             binary_name: str = "", fail_on: str = "listed", category: str = "fixproof",
             app: str = "", per_file: bool = False) -> dict[str, Any]:
    """``category``: the code scanning category; ``app``: the app's name when it is one of a fleet.
    ``per_file``: findings of several binaries (``fixproof vulns``): each result sits on its binary's
    path, and the binary is part of its identity."""
    listed = set(listed)
    rules: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    from fixproof.stages.vulns import VulnsFacts

    by_stage = {r.stage: r for r in results}
    vulns = by_stage.get("vulns")
    waived = _waived(vulns) if vulns else {}
    facts = VulnsFacts.of(vulns)
    for f in facts.findings if facts else ():
        fid = f.id
        where = f"{f.module}@{f.version}"
        fixed = f" (fixed in {f.fixed})" if f.fixed else ""
        severity = _finding_severity(f)
        rule = rules.setdefault(fid, {
            "id": fid,
            "name": "GoVulnerability",
            "shortDescription": {"text": f"[{fid}] known vulnerability in {f.module}"},
            "fullDescription": {"text": f"{fid} affects {f.module} versions in its ranges{fixed}."},
            "help": {"text": f"See https://pkg.go.dev/vuln/{fid}. {fix_action(f.to_json())}."},
            "helpUri": f"https://pkg.go.dev/vuln/{fid}",
            "properties": {"tags": ["security", "vulnerability", *f.aliases],
                           "security-severity": _score(severity)},
        })
        rule["properties"]["security-severity"] = _score(max(severity, float(rule["properties"]["security-severity"])))
        level_name = f.level.value
        fails = fid in listed or fail_on == "any" or (fail_on == "symbol" and level_name == "symbol")
        level = "error" if fails else _LEVELS.get(level_name, "warning")
        syms = f.symbols
        name = f.file if per_file else (binary_name or "the binary")
        text = (f"{name} links {where}, affected by {fid}{fixed}; level {level_name}"
                + (f": {', '.join(syms[:5])}" + (" ..." if len(syms) > 5 else "") if syms else ""))
        key = f"{fid}|{f.module}|{f.file}" if per_file else f"{fid}|{f.module}|{app}"
        out.append(_result(fid, level, text, f.file if per_file else gomod_uri, key, waived.get(fid)))
    for r in results:
        for c in r.checks:
            if c.status not in (Status.FAILED, Status.ERROR) or (r.stage == "vulns" and c.name.startswith("advisory ")):
                continue
            rid = f"fixproof/{r.stage}/{_rule_slug(c.name)}"
            rules.setdefault(rid, {
                "id": rid,
                "name": "FixproofCheck",
                "shortDescription": {"text": f"fixproof {r.stage} check: {c.name}"[:1024]},
                "fullDescription": {"text": f"The {r.stage} stage check \"{c.name}\" must pass."},
                "help": {"text": "See the JUnit report and reports/stages/ for the evidence."},
                "properties": {"tags": ["fixproof", r.stage], "security-severity": _score(CHECK_SEVERITY)},
            })
            out.append(_result(rid, "error", f"{c.name}: {c.message}", gomod_uri, f"{rid}|{app}", None))
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "fixproof", "semanticVersion": version,
                                "informationUri": "https://pkg.go.dev/vuln/", "rules": list(rules.values())}},
            "automationDetails": {"id": f"{category}/{app}/" if app else f"{category}/"},
            "results": out,
        }],
    }


def _result(rule: str, level: str, text: str, uri: str, key: str, waiver: str | None) -> dict[str, Any]:
    return {
        "ruleId": rule,
        "level": level,
        "message": {"text": text},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri}, "region": {"startLine": 1}}}],
        "partialFingerprints": {"fixproof/v1": hashlib.sha256(key.encode()).hexdigest()[:32]},
        "suppressions": [{"kind": "external", "status": "accepted", "justification": waiver}] if waiver else [],
    }


def _finding_severity(f: Finding) -> float:
    """The highest CVSS base score of the advisory's severity entries; by level when it has none (or none readable)."""
    scores = [s for s in (_cvss_base({"type": t, "score": v}) for t, v in f.severity) if s is not None]
    return max(scores) if scores else _SEVERITY.get(f.level.value, _SEVERITY["package"])


def _cvss_base(entry: Any) -> float | None:
    """An OSV severity entry ({type, score: vector}) -> its base score; None when it is not a readable vector."""
    from cvss import CVSS2, CVSS3, CVSS4
    from cvss.exceptions import CVSSError

    if not isinstance(entry, Mapping) or not isinstance(entry.get("score"), str):
        return None
    kind = {"CVSS_V2": CVSS2, "CVSS_V3": CVSS3, "CVSS_V4": CVSS4}.get(str(entry.get("type")))
    if kind is None:
        return None
    try:
        c = kind(entry["score"])
    except (CVSSError, ValueError, KeyError):
        return None
    return float(c.base_score)


def _score(value: float) -> str:
    return f"{value:.1f}"


def _waived(vulns: StageResult) -> Mapping[str, str]:
    """advisory id -> the waiver's reason, from the vulns stage's skipped advisory checks."""
    return {c.name.removeprefix("advisory "): c.message for c in vulns.checks
            if c.status is Status.SKIPPED and c.name.startswith("advisory ")}


def _rule_slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name).strip("-")[:80] or "check"
