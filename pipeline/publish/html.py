"""reports/index.html: one static page a person reads to see whether the fix shipped.

The page is built from the stage results and the summary the report stage
computed; it runs no tool. It is self-contained: inline CSS, no script, no
fonts, images or links to other sites, and a Content-Security-Policy that
forbids loading anything, so it opens the same from a CI artifact, a mail
attachment or the evidence bundle.

It leads with the verdict's reason (fixproof.publish.page_model sorts the
checks, each into one place), top to bottom: the verdict and the headline
saying exactly what it covers; the failed checks; each advisory listed in
[fix] advisories with its chain of evidence across the stages; the other
findings grouped by module with the one upgrade that clears them
(collapsed); the checks by stage (collapsed); the warnings (collapsed); and
relative links to the evidence files (stage JSONs, JUnit, SARIF, OpenVEX,
gdb transcripts, trace outputs). Each finding appears once.

It reads on a phone: long identifiers wrap, tables stack into one block per
row on narrow screens, and nothing scrolls sideways. Every status is a text
label (PASS, FAIL, ERROR, SKIP, WARN) as well as a CSS class, so it reads
without colour. All text is escaped. The output is a function of its inputs
and the files present, except the timestamp.
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

from fixproof.publish import page_model as pm
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
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:72rem;padding:1rem;
color:#1b1f24;background:#fff;line-height:1.4;overflow-wrap:anywhere}
h1{font-size:1.5rem;margin:.2rem 0 .5rem}h2{font-size:1.25rem;margin:1.6rem 0 .5rem;border-bottom:1px solid #d0d7de}
h3{font-size:1.05rem;margin:1rem 0 .4rem}
table{border-collapse:collapse;width:100%;margin:.3rem 0 .8rem;font-size:.92rem}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;white-space:nowrap}
.scroll{max-width:100%;overflow-x:auto}
.status{display:inline-block;min-width:3.6em;padding:.05rem .4rem;border-radius:.25rem;font-weight:700;
font-size:.82rem;text-align:center;border:1px solid currentColor;white-space:nowrap;overflow-wrap:normal}
.status-passed{color:#116329;background:#dafbe1}.status-failed{color:#a40e26;background:#ffebe9}
.status-error{color:#7d2e00;background:#fff1e5}.status-skipped{color:#57606a;background:#f6f8fa}
.status-warning{color:#7a5a00;background:#fff8c5}
.verdict{padding:.5rem .7rem;border:2px solid currentColor;border-radius:.4rem}
.verdict .status{font-size:1.1rem}
#headline{font-size:1.05rem;margin:.5rem 0}
.counts span{display:inline-block;margin-right:.9rem;white-space:nowrap}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85rem}
pre{white-space:pre-wrap;background:#f6f8fa;padding:.5rem;margin:.3rem 0;max-height:30rem;overflow:auto}
details summary{cursor:pointer}details.group>summary,details.fold>summary{color:#0969da;font-weight:600;
margin:.4rem 0}
ul.items{padding-left:0;list-style:none}ul.items>li{border:1px solid #d0d7de;border-radius:.3rem;padding:.4rem .6rem;
margin:.4rem 0}
article.advisory{border:1px solid #d0d7de;border-radius:.4rem;padding:.2rem .8rem .6rem;margin:.6rem 0}
article.advisory.failing{border:2px solid #a40e26}
ol.chain{padding-left:1.4rem;margin:.3rem 0}ol.chain>li{margin:.3rem 0}.step{font-weight:600}
.muted{color:#57606a}ul.files{columns:2 14rem;padding-left:1.2rem}
a{color:#0969da}footer{margin-top:2rem;color:#57606a;font-size:.85rem}
@media (max-width:40rem){
body{padding:.6rem}
table.stack,table.stack tbody,table.stack tr,table.stack td{display:block;width:auto}
table.stack thead{display:none}
table.stack tr{border:1px solid #d0d7de;border-radius:.3rem;margin:.4rem 0}
table.stack td{border:0;padding:.15rem .5rem}table.stack td.num{text-align:left}
table.stack td[data-label]::before{content:attr(data-label) ": ";font-weight:600;color:#57606a}
}
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
    model = pm.build(results)
    verdict_label, verdict_text = _VERDICT_TEXT.get(str(summary.get("status")), _VERDICT_TEXT["error"])
    verdict_text = str(summary.get("headline") or verdict_text)
    css = _verdict_class(summary)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # nothing may be loaded or run: the page is all there is
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>fixproof: {_e(verdict_label)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f'<header><h1 class="verdict status-{css}" id="verdict">Verdict: '
        f'<span class="status status-{css}">{_e(verdict_label)}</span></h1>',
        f'<p id="headline">{_e(verdict_text)}</p>',
        _counts(results, summary),
        _artifact(by_stage.get("build")),
        f'<p class="muted">fixproof report, generated <time datetime="{_e(stamp_text)}">{_e(stamp_text)}</time>; '
        f'exit code {_e(summary.get("exit_code", ""))}.</p></header>',
        _apps(summary, reports_dir),
        _failed(model, reports_dir),
        _listed(model, reports_dir),
        _findings(model),
        _stages(results, model, reports_dir),
        _warnings(model),
        _files(results, summary, reports_dir),
        '<footer>Statuses: PASS passed, FAIL failed (the evidence says no), '
        "ERROR could not run (no evidence either way), SKIP not run (with the reason), WARN passed with a finding "
        "policy let through. Reachable: a vulnerable function of the advisory is in the binary's function "
        "table.</footer>",
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
    items = " ".join(f'<span><strong id="count-{_e(k)}">{v}</strong> {_e(k)}</span>' for k, v in cells)
    return f'<p class="counts">{items}</p>'


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
        rows.append(f'<tr><td data-label="Status">{_badge(status, _VERDICT_TEXT[status][0])}</td>'
                    f'<td data-label="App">{link}</td>'
                    f"<td data-label=\"Result\">exit code {_e(facts.get('exit_code', ''))}</td></tr>")
    return ('<section id="apps"><h2>Apps</h2><div class="scroll"><table class="stack"><thead><tr><th>Status</th>'
            f'<th>App (its own page)</th><th>Result</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
            "</section>")


def _failed(model: pm.PageModel, reports_dir: Path) -> str:
    """The verdict's reason: failed and errored checks, and pointers to the advisories that fail (named below)."""
    items = [_check_item(p, reports_dir) for p in model.failed]
    if model.failing_listed:
        n = model.failing_listed
        items.insert(0, f'<li>{_badge("failed", "FAIL")} <a href="#listed">{pm.plural(n, "listed advisory is", "listed advisories are")} '
                        "not proven fixed</a>: each with its chain of evidence in the next section.</li>")
    if model.failing_findings:
        groups = ", ".join(f"{g.title()} ({g.failing})" for g in model.groups if g.failing)
        items.append(f'<li>{_badge("failed", "FAIL")} <a href="#findings">'
                     f'{pm.plural(model.failing_findings, "other advisory fails", "other advisories fail")} under '
                     f"fix.fail_on</a>: {_e(groups)}; each once, with the upgrade that clears it, under Other findings."
                     "</li>")
    if not items:
        return ""
    errors = any(p.check.status is Status.ERROR for p in model.failed)
    failures = len(items) > sum(p.check.status is Status.ERROR for p in model.failed)
    title = {(True, False): "Failed checks", (False, True): "Checks that could not run",
             (True, True): "Failed checks and checks that could not run"}[(failures, errors)]
    return f'<section id="failed"><h2>{title}</h2><ul class="items">{"".join(items)}</ul></section>'


def _listed(model: pm.PageModel, reports_dir: Path) -> str:
    if not model.listed:
        return ""
    cards = []
    for a in model.listed:
        vex = (f'{_badge(_VEX_CLASSES.get(a.vex_status, "error"), _VEX_LABELS.get(a.vex_status, a.vex_status.upper()))}'
               if a.vex_status else _badge("skipped", "NO VEX"))
        aliases = f' <span class="muted">({_e(", ".join(a.aliases))})</span>' if a.aliases else ""
        why = f'<p>{_e(a.justification + ": " if a.justification else "")}{_e(_one_line(a.detail))}</p>' if a.detail else ""
        steps = "".join(_link(x, reports_dir) for x in a.links)
        cards.append(f'<article class="advisory{" failing" if a.failing else ""}" id="advisory-{_e(_anchor(a.id))}" '
                     f'data-advisory="{_e(a.id)}"><h3>{vex} <code>{_e(a.id)}</code>{aliases}</h3>{why}'
                     f'<ol class="chain">{steps}</ol></article>')
    return (f'<section id="listed"><h2>Listed advisories ({len(model.listed)})</h2>'
            '<p class="muted">Each advisory in [fix] advisories, with its evidence stage by stage; the verdict is '
            f'OpenVEX\'s, for the built binary.</p>{"".join(cards)}</section>')


def _link(x: pm.Link, reports_dir: Path) -> str:
    step = f'<span class="step">{_e(x.step)}</span>'
    if x.check is None:
        return f"<li>{step}: {_e(x.text)}</li>"
    c = x.check
    return (f"<li>{step} ({_e(x.stage)}): {_check_badge(c)} <span class=\"check-name\">{_e(_one_line(c.name))}</span>: "
            f"{_e(_message(c))}{_details(c)}{_evidence_links(c, reports_dir)}</li>")


def _findings(model: pm.PageModel) -> str:
    if not model.groups:
        return ""
    n = sum(len(g.rows) for g in model.groups)
    reachable = sum(g.reachable for g in model.groups)
    out = [f'<section id="findings"><h2>Other findings: {pm.plural(n, "advisory", "advisories")} in '
           f'{pm.plural(len(model.groups), "module", "modules")}, {reachable} reachable</h2>'
           '<p class="muted">Advisories not listed in [fix] advisories that affect the binary. Whether they fail '
           "the run is fix.fail_on's choice; each group names the one upgrade that clears it (the newest of its "
           "fixed versions).</p>"]
    for g in model.groups:
        rows = []
        for r in g.rows:
            status = " ".join(_check_badge(c) + (" shipped" if c is r.shipped else "")
                              for c in (r.built, r.shipped) if c is not None)
            reason = r.built.message if r.built is not None and r.built.status is Status.SKIPPED else ""
            rows.append(
                f'<tr data-advisory="{_e(r.id)}"><td data-label="Status">{status}</td>'
                f'<td data-label="Advisory" class="advisory-id"><code>{_e(r.id)}</code></td>'
                f'<td data-label="Aliases">{_e(", ".join(r.aliases))}</td>'
                f'<td data-label="Level">{_e(r.level)}{" (reachable)" if r.reachable else ""}</td>'
                f'<td data-label="Fixed in">{_e(pm.show_version(r.module, r.fixed) if r.fixed else "no fix yet")}</td>'
                f'<td data-label="Functions">{_e(", ".join(r.symbols))}{_e(" " + _one_line(reason) if reason else "")}</td>'
                "</tr>")
        open_ = " open" if g.failing else ""
        fails = f" ({g.failing} failing)" if g.failing else ""
        out.append(f'<details class="group"{open_} id="module-{_e(_anchor(g.module))}"><summary>{_e(g.upgrade())}{fails}'
                   f'</summary><div class="scroll"><table class="stack"><thead><tr><th>Status</th><th>Advisory</th>'
                   "<th>Aliases</th><th>Level</th><th>Fixed in</th><th>Functions in the binary</th></tr></thead>"
                   f'<tbody>{"".join(rows)}</tbody></table></div></details>')
    out.append("</section>")
    return "".join(out)


def _stages(results: Sequence[StageResult], model: pm.PageModel, reports_dir: Path) -> str:
    rest: dict[str, list[CheckResult]] = {}
    for p in model.rest:
        rest.setdefault(p.stage, []).append(p.check)
    shown_elsewhere = {r.stage: len(r.checks) - len(rest.get(r.stage, ())) for r in results}
    out = ['<section id="stages"><h2>Checks by stage</h2>', _overview(results, reports_dir)]
    for r in results:
        status, label = _stage_status(r)
        rows = []
        for c in rest.get(r.stage, ()):
            rows.append(f'<tr class="check status-row-{_e(_class(c))}"><td data-label="Status">{_check_badge(c)}</td>'
                        f'<td data-label="Check" class="check-name">{_e(_one_line(c.name))}</td>'
                        f'<td data-label="Message" class="message">{_e(_message(c))}{_details(c)}</td>'
                        f'<td data-label="Duration" class="num">{_duration(c.duration_s)}</td>'
                        f'<td data-label="Evidence">{_evidence_links(c, reports_dir)}</td></tr>')
        notes = []
        if not r.checks:
            notes.append("This stage produced no checks, so it produced no evidence.")
        elif shown_elsewhere[r.stage]:
            notes.append(f"{pm.plural(shown_elsewhere[r.stage], 'check', 'checks')} of this stage "
                         f"{'is' if shown_elsewhere[r.stage] == 1 else 'are'} shown above (failed checks, listed "
                         "advisories, other findings) or under Warnings.")
        table = ('<div class="scroll"><table class="stack"><thead><tr><th>Status</th><th>Check</th><th>Message</th>'
                 f'<th>Duration</th><th>Evidence</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
                 if rows else "")
        note = "".join(f'<p class="muted">{_e(n)}</p>' for n in notes)
        out.append(f'<details class="fold stage" id="stage-{_e(_anchor(r.stage))}"><summary>{_badge(status, label)} '
                   f'Stage <span class="stage-name">{_e(r.stage)}</span></summary>{note}{table}</details>')
    out.append("</section>")
    return "".join(out)


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
        rows.append(f'<tr><td data-label="Status">{_badge(status, label)}</td><td data-label="Stage">'
                    f'<a href="#stage-{_e(_anchor(r.stage))}">{_e(r.stage)}</a></td><td data-label="Checks">{_e(tally)}</td>'
                    f'<td data-label="Result file">{link}</td></tr>')
    if not rows:
        rows.append('<tr><td colspan="4">No stage results: nothing was verified.</td></tr>')
    return ('<div class="scroll"><table class="stack"><thead><tr><th>Status</th><th>Stage</th>'
            f'<th>Checks</th><th>Result file</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def _warnings(model: pm.PageModel) -> str:
    items = [f"<li>{_badge('warning', 'WARN')} <strong>{_e(p.stage)}</strong>: {_e(_one_line(p.check.name))}: "
             f"{_e(_message(p.check))}</li>" for p in model.warnings]
    if not items:
        return ""
    return (f'<section id="warnings"><h2>Warnings ({len(items)})</h2><details class="fold"><summary>Passed checks '
            f'with a finding policy let through</summary><ul class="items">{"".join(items)}</ul></details></section>')


def _check_item(p: pm.Placed, reports_dir: Path) -> str:
    c = p.check
    return (f'<li class="check status-row-{_e(_class(c))}">{_check_badge(c)} <strong>{_e(p.stage)}</strong>: '
            f'<span class="check-name">{_e(_one_line(c.name))}</span>: <span class="message">{_e(_message(c))}</span>'
            f"{_details(c)}{_evidence_links(c, reports_dir)}</li>")


def _details(c: CheckResult) -> str:
    if c.details.strip() and (c.status is not Status.PASSED or c.warning):
        return f"<details><summary>output</summary><pre>{_e(_clip_details(c.details))}</pre></details>"
    return ""


def _evidence_links(c: CheckResult, reports_dir: Path) -> str:
    links = _check_links(c, reports_dir)
    if not links:
        return ""
    return " " + " ".join(f'<a href="{_e(link.href)}">{_e(link.label)}</a>' for link in links)


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
