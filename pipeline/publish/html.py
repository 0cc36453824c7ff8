"""reports/index.html: one static page a person reads to see whether the fix shipped.

The page is built from the stage results and the summary the report stage
computed; it runs no tool. It is self-contained: inline CSS, no script, no
fonts, images or links to other sites, and a Content-Security-Policy that
forbids loading anything, so it opens the same from a CI artifact, a mail
attachment or the evidence bundle.

What it shows, top to bottom: the verdict and the counts; the built binary;
a table of stages; every warning (a passed check that carries a finding);
the listed advisories with their OpenVEX verdicts and any other findings of
the vulns stage; each stage with each check (status, name, one-line message,
duration, links to its evidence files, and for checks that did not pass
their output in a collapsed block); and relative links to the evidence
files (stage JSONs, JUnit, SARIF, OpenVEX, gdb transcripts, trace outputs).

Every status is a text label (PASS, FAIL, ERROR, SKIP, WARN) as well as a
CSS class, so it reads without colour. All text is escaped. The output is a
function of its inputs and the files present, except the timestamp.
"""

from __future__ import annotations

import html
import math
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import quote

from fixproof.publish.junit import clean_text, clip_middle, write_atomic
from fixproof.results import CheckResult, StageResult, Status

INDEX_NAME = "index.html"

_MESSAGE_MAX = 1000
_DETAILS_MAX = 20_000
_VERDICT_TEXT = {
    "passed": ("PASS", "Every check passed: the evidence says the artifact contains the fix."),
    "failed": ("FAIL", "At least one check failed: the evidence says the fix is not proven in the artifact."),
    "error": ("ERROR", "At least one check could not run: the evidence is incomplete, so nothing is proven."),
}
_LABELS = {Status.PASSED: "PASS", Status.FAILED: "FAIL", Status.ERROR: "ERROR", Status.SKIPPED: "SKIP"}
_VEX_LABELS = {"not_affected": "NOT AFFECTED", "affected": "AFFECTED", "fixed": "FIXED",
               "under_investigation": "UNDER INVESTIGATION"}
_VEX_CLASSES = {"not_affected": "passed", "fixed": "passed", "affected": "failed", "under_investigation": "error"}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:72rem;padding:1rem 1.5rem;
color:#1b1f24;background:#fff;line-height:1.4}
h1{font-size:1.6rem;margin:.2rem 0 .8rem}h2{font-size:1.25rem;margin:1.6rem 0 .5rem;border-bottom:1px solid #d0d7de}
h3{font-size:1.05rem;margin:1.2rem 0 .4rem}
table{border-collapse:collapse;width:100%;margin:.3rem 0 .8rem;font-size:.92rem}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;white-space:nowrap}
.status{display:inline-block;min-width:3.6em;padding:.05rem .4rem;border-radius:.25rem;font-weight:700;
font-size:.82rem;text-align:center;border:1px solid currentColor;white-space:nowrap}
.status-passed{color:#116329;background:#dafbe1}.status-failed{color:#a40e26;background:#ffebe9}
.status-error{color:#7d2e00;background:#fff1e5}.status-skipped{color:#57606a;background:#f6f8fa}
.status-warning{color:#7a5a00;background:#fff8c5}
.verdict{font-size:1.3rem;padding:.6rem .8rem;border:2px solid currentColor;border-radius:.4rem;margin:.4rem 0}
.verdict .status{font-size:1.1rem}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85rem}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;padding:.5rem;margin:.3rem 0;max-height:30rem;
overflow:auto}
details summary{cursor:pointer;color:#0969da}.muted{color:#57606a}ul.files{columns:2;padding-left:1.2rem}
a{color:#0969da}footer{margin-top:2rem;color:#57606a;font-size:.85rem}
"""


@dataclass(frozen=True)
class Link:
    """A relative link from the page to an evidence file."""

    label: str
    href: str


def write_html(results: Sequence[StageResult], summary: Mapping[str, Any], path: Path, *,
               now: datetime | None = None) -> Path:
    """Write the page to ``path`` atomically (links relative to its directory) and return ``path``."""
    path = Path(path)
    text = render(results, summary, reports_dir=path.parent, now=now)
    write_atomic(path, text.encode("utf-8"), what="HTML report")
    return path


def render(results: Sequence[StageResult], summary: Mapping[str, Any], *, reports_dir: Path,
           now: datetime | None = None) -> str:
    """The page as a string. ``reports_dir`` is where the page lives: evidence links are relative to it."""
    reports_dir = Path(reports_dir)
    stamp = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    stamp_text = stamp.isoformat().replace("+00:00", "Z")
    by_stage = {r.stage: r for r in results}
    verdict_label, verdict_text = _VERDICT_TEXT.get(str(summary.get("status")), _VERDICT_TEXT["error"])
    verdict_text = str(summary.get("headline") or verdict_text)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # nothing may be loaded or run: the page is all there is
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>fixproof: {_e(verdict_label)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<header><h1>fixproof report</h1>",
        f'<p class="verdict status-{_verdict_class(summary)}" id="verdict">Verdict: '
        f'<span class="status status-{_verdict_class(summary)}">{_e(verdict_label)}</span> {_e(verdict_text)}</p>',
        _counts(results, summary),
        _artifact(by_stage.get("build")),
        f'<p class="muted">Generated <time datetime="{_e(stamp_text)}">{_e(stamp_text)}</time>; '
        f'exit code {_e(summary.get("exit_code", ""))}.</p></header>',
        _apps(summary, reports_dir),
        _overview(results, reports_dir),
        _warnings(results),
        _advisories(by_stage.get("vulns")),
        '<section id="stages"><h2>Checks by stage</h2>',
        *(_stage(r, reports_dir) for r in results),
        "</section>",
        _files(results, summary, reports_dir),
        f'<footer>fixproof; generated {_e(stamp_text)}. Statuses: PASS passed, FAIL failed (the evidence says no), '
        "ERROR could not run (no evidence either way), SKIP not run (with the reason), WARN passed with a finding "
        "policy let through.</footer>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def evidence_files(results: Sequence[StageResult], summary: Mapping[str, Any], reports_dir: Path) -> list[Link]:
    """The evidence files that exist, in a fixed order: reports, stage JSONs, gdb transcripts, trace outputs."""
    reports_dir = Path(reports_dir)
    candidates: list[tuple[str, Path]] = []
    if summary.get("junit"):
        candidates.append(("JUnit XML", Path(summary["junit"])))
    candidates.append(("summary (JSON)", reports_dir / "summary.json"))
    for key, label in (("sarif", "SARIF"), ("openvex", "OpenVEX")):
        if summary.get(key):
            candidates.append((label, Path(summary[key])))
    candidates += [(f"stage {r.stage} (JSON)", reports_dir / "stages" / f"{r.stage}.json") for r in results]
    candidates += [(f"gdb transcript {p.name}", p) for p in sorted((reports_dir / "gdb").glob("*.mi.log"))]
    candidates += [(f"trace output {p.name}", p) for p in sorted((reports_dir / "trace").glob("*")) if p.is_file()]
    seen: set[str] = set()
    out = []
    for label, p in candidates:
        if not p.is_file():
            continue
        href = _href(p, reports_dir)
        if href not in seen:
            seen.add(href)
            out.append(Link(label, href))
    return out


# --- sections ---------------------------------------------------------------


def _counts(results: Sequence[StageResult], summary: Mapping[str, Any]) -> str:
    checks = [c for r in results for c in r.checks]
    c = summary.get("counts") or {}
    tests = int(c.get("tests", len(checks)))
    failures = int(c.get("failures", sum(x.status is Status.FAILED for x in checks)))
    errors = int(c.get("errors", sum(x.status is Status.ERROR for x in checks)))
    skips = int(c.get("skipped", sum(x.status is Status.SKIPPED for x in checks)))
    warnings = sum(1 for x in checks if _is_warning(x))
    cells = [("checks", tests), ("passed", tests - failures - errors - skips), ("failed", failures),
             ("errors", errors), ("skipped", skips), ("warnings", warnings)]
    head = "".join(f"<th>{_e(k)}</th>" for k, _ in cells)
    row = "".join(f'<td class="num" id="count-{_e(k)}">{v}</td>' for k, v in cells)
    return f'<table class="counts"><thead><tr>{head}</tr></thead><tbody><tr>{row}</tr></tbody></table>'


def _artifact(build: StageResult | None) -> str:
    from fixproof.stages.build import BuildFacts

    facts = BuildFacts.of(build)
    if facts is None:
        return ""
    name, sha = facts.binary.name, facts.sha256
    digest = f" sha256 <code>{_e(sha)}</code>" if sha else ""
    return f'<p id="artifact">Artifact: <code>{_e(name)}</code>{digest}</p>'


def _apps(summary: Mapping[str, Any], reports_dir: Path) -> str:
    """A fleet's apps, each with its verdict and a link to its own page (advisories, SARIF, evidence)."""
    apps = summary.get("apps") or {}
    if not apps:
        return ""
    rows = []
    for name, facts in apps.items():
        status = _verdict_class(facts)
        page = Path(str(facts.get("dir", ""))) / "index.html"
        link = f'<a href="{_e(_href(page, reports_dir))}">{_e(name)}</a>' if page.is_file() else _e(name)
        rows.append(f"<tr><td>{_badge(status, _VERDICT_TEXT[status][0])}</td><td>{link}</td>"
                    f"<td>exit code {_e(facts.get('exit_code', ''))}</td></tr>")
    return ('<section id="apps"><h2>Apps</h2><table><thead><tr><th>Status</th><th>App (its own page)</th>'
            f'<th>Result</th></tr></thead><tbody>{"".join(rows)}</tbody></table></section>')


def _overview(results: Sequence[StageResult], reports_dir: Path) -> str:
    rows = []
    for r in results:
        status, label = _stage_status(r)
        n = {s: sum(1 for c in r.checks if c.status is s) for s in Status}
        warn = sum(1 for c in r.checks if _is_warning(c))
        tally = ", ".join(f"{v} {k}" if v == 1 else f"{v} {ks}" for k, ks, v in (
            ("passed", "passed", n[Status.PASSED]), ("failed", "failed", n[Status.FAILED]),
            ("error", "errors", n[Status.ERROR]), ("skipped", "skipped", n[Status.SKIPPED]),
            ("warning", "warnings", warn)) if v) or "no checks"
        result = reports_dir / "stages" / f"{r.stage}.json"
        link = f'<a href="{_e(_href(result, reports_dir))}">{_e(r.stage)}.json</a>' if result.is_file() else ""
        rows.append(f'<tr><td>{_badge(status, label)}</td><td><a href="#stage-{_e(_anchor(r.stage))}">'
                    f"{_e(r.stage)}</a></td><td>{_e(tally)}</td><td>{link}</td></tr>")
    if not rows:
        rows.append('<tr><td colspan="4">No stage results: nothing was verified.</td></tr>')
    return ('<section id="overview"><h2>Stages</h2><table><thead><tr><th>Status</th><th>Stage</th>'
            f'<th>Checks</th><th>Result file</th></tr></thead><tbody>{"".join(rows)}</tbody></table></section>')


def _warnings(results: Sequence[StageResult]) -> str:
    items = [f"<li>{_badge('warning', 'WARN')} <strong>{_e(r.stage)}</strong>: {_e(_one_line(c.name))}: "
             f"{_e(_message(c))}</li>" for r in results for c in r.checks if _is_warning(c)]
    if not items:
        return ""
    return f'<section id="warnings"><h2>Warnings ({len(items)})</h2><ul>{"".join(items)}</ul></section>'


def _advisories(vulns: StageResult | None) -> str:
    if vulns is None:
        return ""
    from fixproof.stages.vulns import VulnsFacts

    checks = {c.name: c for c in vulns.checks}
    facts = VulnsFacts.of(vulns)
    verdicts = [v.to_json() for v in facts.vex] if facts else []  # the rows below show the JSON's fields
    findings = [f.to_json() for f in facts.findings] if facts else []
    listed_ids = {str(v["id"]) for v in verdicts}
    out = ['<section id="advisories"><h2>Advisories</h2>']
    if verdicts:
        rows = []
        for v in sorted(verdicts, key=lambda v: str(v["id"])):
            vid, status = str(v["id"]), str(v.get("status", ""))
            check = checks.get(f"advisory {vid}")
            rows.append(
                f'<tr><td>{_badge(_VEX_CLASSES.get(status, "error"), _VEX_LABELS.get(status, status.upper()))}</td>'
                f'<td class="advisory-id"><code>{_e(vid)}</code></td><td>{_e(_aliases(v))}</td>'
                f'<td>{_e(v.get("justification") or "")}</td><td>{_e(_one_line(str(v.get("detail") or "")))}</td>'
                f"<td>{_check_badge(check) if check else ''}</td></tr>")
        out.append("<h3>Listed in [fix] advisories (OpenVEX verdicts)</h3><table><thead><tr><th>Verdict</th>"
                   "<th>Advisory</th><th>Aliases</th><th>Justification</th><th>Why</th><th>Check</th></tr></thead>"
                   f'<tbody>{"".join(rows)}</tbody></table>')
    others = [f for f in findings if str(f["id"]) not in listed_ids]
    if others:
        rows = []
        for f in sorted(others, key=lambda f: (str(f["id"]), str(f.get("module", "")), str(f.get("version", "")))):
            check = checks.get(f"advisory {f['id']}")
            syms = ", ".join(map(str, f.get("symbols") or ()))
            rows.append(
                f"<td>{_check_badge(check) if check else ''}</td>"
                f'<td class="advisory-id"><code>{_e(f["id"])}</code></td><td>{_e(_aliases(f))}</td>'
                f'<td><code>{_e(f.get("module", ""))}@{_e(f.get("version", ""))}</code></td>'
                f'<td>{_e(f.get("fixed") or "")}</td><td>{_e(f.get("level", ""))}</td><td>{_e(syms)}</td>')
        out.append("<h3>Other findings in the binary</h3><table><thead><tr><th>Check</th><th>Advisory</th>"
                   "<th>Aliases</th><th>Module</th><th>Fixed in</th><th>Level</th><th>Symbols</th></tr></thead>"
                   f'<tbody>{"".join(f"<tr>{r}</tr>" for r in rows)}</tbody></table>')
    if not verdicts and not others:
        out.append("<p>The vulns stage recorded no advisory verdicts and no findings; see its checks below.</p>")
    out.append("</section>")
    return "".join(out)


def _stage(r: StageResult, reports_dir: Path) -> str:
    status, label = _stage_status(r)
    rows = []
    for c in r.checks:
        links = " ".join(f'<a href="{_e(link.href)}">{_e(link.label)}</a>' for link in _check_links(c, reports_dir))
        details = ""
        if c.details.strip() and (c.status is not Status.PASSED or c.warning):
            details = f"<details><summary>output</summary><pre>{_e(_clip_details(c.details))}</pre></details>"
        rows.append(f'<tr class="check status-row-{_e(_class(c))}"><td>{_check_badge(c)}</td>'
                    f'<td class="check-name">{_e(_one_line(c.name))}</td>'
                    f'<td class="message">{_e(_message(c))}{details}</td>'
                    f'<td class="num">{_duration(c.duration_s)}</td><td>{links}</td></tr>')
    if not rows:
        rows.append('<tr><td colspan="5">This stage produced no checks, so it produced no evidence.</td></tr>')
    return (f'<section class="stage" id="stage-{_e(_anchor(r.stage))}"><h3>{_badge(status, label)} '
            f'Stage <span class="stage-name">{_e(r.stage)}</span></h3><table><thead><tr><th>Status</th>'
            "<th>Check</th><th>Message</th><th>Duration</th><th>Evidence</th></tr></thead>"
            f'<tbody>{"".join(rows)}</tbody></table></section>')


def _files(results: Sequence[StageResult], summary: Mapping[str, Any], reports_dir: Path) -> str:
    links = evidence_files(results, summary, reports_dir)
    if not links:
        return ""
    items = "".join(f'<li><a href="{_e(link.href)}">{_e(link.label)}</a></li>' for link in links)
    return f'<section id="evidence"><h2>Evidence files</h2><ul class="files">{items}</ul></section>'


# --- helpers ----------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(clean_text(str(value)), quote=True)


def _is_warning(c: CheckResult) -> bool:
    return c.warning and c.status is Status.PASSED


def _class(c: CheckResult) -> str:
    return "warning" if _is_warning(c) else c.status.value


def _check_badge(c: CheckResult) -> str:
    return _badge(_class(c), "WARN" if _is_warning(c) else _LABELS[c.status])


def _badge(css: str, label: str) -> str:
    return f'<span class="status status-{_e(css)}">{_e(label)}</span>'


def _stage_status(r: StageResult) -> tuple[str, str]:
    if not r.checks or r.has_error:
        return "error", "ERROR"
    if r.has_failure:
        return "failed", "FAIL"
    if any(c.status is Status.PASSED for c in r.checks):
        return ("warning", "WARN") if any(_is_warning(c) for c in r.checks) else ("passed", "PASS")
    return "skipped", "SKIP"


def _verdict_class(summary: Mapping[str, Any]) -> str:
    status = str(summary.get("status"))
    return status if status in _VERDICT_TEXT else "error"


def _check_links(c: CheckResult, reports_dir: Path) -> list[Link]:
    """Evidence values that name a file under the reports directory (gdb transcript, trace output)."""
    out = []
    root = reports_dir.resolve()
    for key in sorted(c.evidence, key=str):
        value = c.evidence[key]
        if not isinstance(value, str) or not value.startswith("/"):
            continue
        p = Path(value)
        try:
            inside = p.resolve().is_relative_to(root) and p.is_file()
        except OSError:
            inside = False
        if inside:
            out.append(Link(str(key), _href(p, reports_dir)))
    return out


def _href(path: Path, reports_dir: Path) -> str:
    rel = os.path.relpath(Path(path).resolve(), Path(reports_dir).resolve())
    return quote(Path(rel).as_posix(), safe="/")


def _anchor(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name) or "stage"


def _aliases(entry: Mapping[str, Any]) -> str:
    return ", ".join(map(str, entry.get("aliases") or ()))


def _one_line(text: str) -> str:
    return " ".join(clean_text(text).split())


def _message(c: CheckResult) -> str:
    text = _one_line(c.message) or f"check {c.status.value}"
    return text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 1] + "…"


def _clip_details(text: str) -> str:
    return clip_middle(text, _DETAILS_MAX, "here; the full text is in the JUnit report")


def _duration(seconds: float) -> str:
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return ""
    return f"{s:.2f} s" if math.isfinite(s) and s >= 0 else ""
