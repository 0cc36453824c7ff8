"""reports/index.html leads with the verdict's reason (issue 13, item 7), built from the stage results of two
real runs of the bundled example (tests/data/runs): fixdemo-pass.json (the default config: PASS, 57 other
advisories let through by fix.fail_on = "listed") and fixdemo-unfixed-xtext.json
(examples/configs/unfixed-xtext.toml: FAIL, GO-2022-1059 affects the binary). The same pages in a real
browser at phone and desktop widths: tests/integration/test_html_layout.py."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import DATA
from fixproof.publish import page_model
from fixproof.publish.html import render
from fixproof.publish.report import exit_code, headline
from fixproof.results import StageResult, Status

NOW = datetime(2026, 12, 2, 12, 0, 0, tzinfo=timezone.utc)
RUNS = DATA / "runs"


def load_run(name: str) -> list[StageResult]:
    return [StageResult.from_json(d) for d in json.loads((RUNS / f"{name}.json").read_text())]


def summary_of(results: list[StageResult], fail_on: str = "listed") -> dict:
    code = exit_code(results)
    return {"exit_code": code, "status": {0: "passed", 1: "failed"}.get(code, "error"),
            "headline": headline(results, code, fail_on)}


def under_symbol_policy(results: list[StageResult]) -> list[StageResult]:
    """The same run judged with fix.fail_on = "symbol": every symbol-level finding fails."""
    out = []
    for r in results:
        if r.stage == "vulns":
            r = StageResult(r.stage, tuple(
                replace(c, status=Status.FAILED, warning=False, message="the binary is affected: (fix.fail_on = 'symbol')")
                if c.warning and c.evidence.get("level") == "symbol" else c for c in r.checks), r.facts)
        out.append(r)
    return out


class Dom(HTMLParser):
    """The page as a tree: enough to ask which sections come in which order and where each text sits."""

    VOID = {"meta", "br", "hr", "img", "input", "link"}

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root: dict = {"tag": "#root", "attrs": {}, "children": [], "text": []}
        self.stack = [self.root]
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        node = {"tag": tag, "attrs": {k: v or "" for k, v in attrs}, "children": [], "text": []}
        self.stack[-1]["children"].append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        if self.stack[-1]["tag"] not in ("style", "title"):
            self.stack[-1]["children"].append(data)

    def all(self, node=None):
        node = node or self.root
        for c in node["children"]:
            if isinstance(c, dict):
                yield c
                yield from self.all(c)

    def find(self, pred):
        return [n for n in self.all() if pred(n)]

    @staticmethod
    def text(node) -> str:
        def walk(n):
            for c in n["children"]:
                yield c if isinstance(c, str) else " ".join(walk(c))
        return " ".join(" ".join(walk(node)).split())

    def body(self):
        return next(n for n in self.all() if n["tag"] == "body")


def page(results, summary, tmp_path: Path) -> Dom:
    return Dom(render(results, summary, reports_dir=tmp_path, now=NOW))


def sections(dom: Dom) -> list[str]:
    return [c["attrs"].get("id", "") for c in dom.body()["children"] if isinstance(c, dict) and c["tag"] == "section"]


@pytest.mark.parametrize("run,verdict,order", [
    ("fixdemo-unfixed-xtext", "FAIL", ["failed", "listed", "findings", "stages", "warnings"]),
    ("fixdemo-pass", "PASS", ["listed", "findings", "stages", "warnings"]),
])
def test_the_verdict_and_its_reason_lead(tmp_path, run, verdict, order):
    results = load_run(run)
    dom = page(results, summary_of(results), tmp_path)
    body = [c for c in dom.body()["children"] if isinstance(c, dict)]
    header = body[0]
    assert header["tag"] == "header"
    h1 = [n for n in dom.all() if n["tag"] == "h1"]
    assert len(h1) == 1 and Dom.text(h1[0]) == f"Verdict: {verdict}"
    assert dom.find(lambda n: n["tag"] in ("h1", "h2", "h3"))[0] is h1[0]  # the first heading is the verdict
    first = [c for c in header["children"] if isinstance(c, dict)]
    assert first[0] is h1[0] and first[1]["attrs"].get("id") == "headline"  # the headline right under it
    assert sections(dom) == order  # failed checks, listed advisories, other findings, stages, warnings last


def test_each_finding_appears_once(tmp_path):
    for results in (load_run("fixdemo-pass"), load_run("fixdemo-unfixed-xtext"),
                    under_symbol_policy(load_run("fixdemo-pass"))):
        vulns = next(r for r in results if r.stage == "vulns")
        ids = {f["id"] for f in vulns.facts["findings"]} | set(vulns.facts["listed"])
        dom = page(results, summary_of(results), tmp_path)
        whole = Dom.text(dom.body())
        for aid in ids:
            holders = dom.find(lambda n, aid=aid: n["attrs"].get("data-advisory") == aid)
            assert len(holders) == 1, aid
            # every mention of the id is inside its one element: no second list repeats it
            assert whole.count(aid) == Dom.text(holders[0]).count(aid), aid
            assert whole.count(aid) >= 1


def test_listed_advisory_chain_across_the_stages(tmp_path):
    results = load_run("fixdemo-unfixed-xtext")
    dom = page(results, summary_of(results), tmp_path)
    card = dom.find(lambda n: n["attrs"].get("data-advisory") == "GO-2022-1059")[0]
    assert "failing" in card["attrs"]["class"].split()
    steps = [Dom.text(li) for li in dom.all() if li["tag"] == "li" and li in _descendants(card)]
    assert steps[0].startswith("Build list (modules): FAIL build list vs GO-2022-1059")
    assert steps[1] == "Module in the binary : The binary's build info records golang.org/x/text v0.3.7."
    assert steps[2].startswith("Binary functions (vulns): FAIL advisory GO-2022-1059")
    assert "golang.org/x/text/language.ParseAcceptLanguage" in steps[2]
    assert steps[3].startswith("Test (test): FAIL TestRegressionGO20221059")  # the app's regression test names it
    assert Dom.text(card).startswith("AFFECTED GO-2022-1059 (CVE-2022-32149, GHSA-69ch-w2m2-3vjp)")
    failed = Dom.text(dom.find(lambda n: n["attrs"].get("id") == "failed")[0])
    assert "1 listed advisory is not proven fixed" in failed

    results = load_run("fixdemo-pass")
    dom = page(results, summary_of(results), tmp_path)
    card = dom.find(lambda n: n["attrs"].get("data-advisory") == "GO-2024-2963")[0]
    text = Dom.text(card)
    assert text.startswith("FIXED GO-2024-2963 (CVE-2024-24791)")
    assert "Pinned Go (toolchain): PASS pinned Go vs GO-2024-2963" in text
    assert "The binary's build info records the standard library of go1.22.5." in text


def test_other_findings_grouped_by_module_with_the_upgrade_that_clears_them(tmp_path):
    results = load_run("fixdemo-pass")
    dom = page(results, summary_of(results), tmp_path)
    section = dom.find(lambda n: n["attrs"].get("id") == "findings")[0]
    assert Dom.text(section).startswith("Other findings: 57 advisories in 2 modules, 30 reachable")
    groups = [n for n in _descendants(section) if n["tag"] == "details"]
    summaries = [Dom.text(next(c for c in g["children"] if isinstance(c, dict) and c["tag"] == "summary"))
                 for g in groups]
    assert summaries == ["Go 1.22.5 -> 1.25.13 clears 56 advisories, 30 reachable",
                         "golang.org/x/text v0.3.8 -> v0.39.0 clears 1 advisory, 0 reachable"]
    assert not any("open" in g["attrs"] for g in groups)  # collapsed: none of them fails the run


def test_findings_that_fail_under_the_policy_are_pointed_to_first_and_open(tmp_path):
    results = under_symbol_policy(load_run("fixdemo-pass"))
    dom = page(results, summary_of(results, "symbol"), tmp_path)
    failed = Dom.text(dom.find(lambda n: n["attrs"].get("id") == "failed")[0])
    assert "30 other advisories fail under fix.fail_on : Go 1.22.5 (30)" in failed
    go = dom.find(lambda n: n["attrs"].get("id") == "module-stdlib")[0]
    assert "open" in go["attrs"]
    assert Dom.text(go).startswith("Go 1.22.5 -> 1.25.13 clears 56 advisories, 30 reachable (30 failing)")


def test_warnings_last_and_collapsed(tmp_path):
    results = load_run("fixdemo-pass")
    dom = page(results, summary_of(results), tmp_path)
    warnings = dom.find(lambda n: n["attrs"].get("id") == "warnings")[0]
    assert Dom.text(warnings).startswith("Warnings (1)")  # the go command's advisories; the 57 findings are above
    fold = [n for n in _descendants(warnings) if n["tag"] == "details"]
    assert fold and "open" not in fold[0]["attrs"]
    stages = dom.find(lambda n: n["tag"] == "details" and "stage" in n["attrs"].get("class", "").split())
    assert stages and not any("open" in s["attrs"] for s in stages)


def test_reads_on_a_phone_without_sideways_scroll(tmp_path):
    """What keeps the page inside a 375 px screen (the browser measures it: tests/integration)."""
    results = load_run("fixdemo-unfixed-xtext")
    out = render(results, summary_of(results), reports_dir=tmp_path, now=NOW)
    dom = Dom(out)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in out
    assert "overflow-wrap:anywhere" in out  # module paths, symbols, digests wrap
    assert "@media (max-width:40rem)" in out and "table.stack thead{display:none}" in out
    tables = dom.find(lambda n: n["tag"] == "table")
    assert tables
    for t in tables:
        assert "stack" in t["attrs"].get("class", "").split()  # rows stack into blocks on narrow screens
    for wrap in dom.find(lambda n: n["tag"] == "div" and n["attrs"].get("class") == "scroll"):
        assert [c["tag"] for c in wrap["children"] if isinstance(c, dict)] == ["table"]
    assert len(dom.find(lambda n: n["tag"] == "div" and n["attrs"].get("class") == "scroll")) == len(tables)
    for td in dom.find(lambda n: n["tag"] == "td"):
        assert td["attrs"].get("data-label") or td["attrs"].get("colspan"), td  # labelled when stacked
    assert not dom.find(lambda n: n["tag"] in ("script", "link", "img", "iframe"))


def test_every_check_is_placed_once():
    for results in (load_run("fixdemo-pass"), load_run("fixdemo-unfixed-xtext")):
        m = page_model.build(results)
        placed = [*(p.check for p in m.failed), *(p.check for p in m.warnings), *(p.check for p in m.rest),
                  *(x.check for a in m.listed for x in a.links if x.check is not None),
                  *(c for g in m.groups for r in g.rows for c in (r.built, r.shipped) if c is not None)]
        every = [c for r in results for c in r.checks]
        assert sorted(map(id, placed)) == sorted(map(id, every))


def _descendants(node):
    for c in node["children"]:
        if isinstance(c, dict):
            yield c
            yield from _descendants(c)


@pytest.mark.parametrize("statuses,title", [
    (("failed",), "Failed checks"), (("error",), "Checks that could not run"),
    (("failed", "error"), "Failed checks and checks that could not run")])
def test_the_first_section_names_what_went_wrong(tmp_path, statuses, title):
    from fixproof.results import error, failed, passed

    make = {"failed": failed, "error": error}
    results = [StageResult("build", (passed("go build", "ok"), *(make[s](f"c{s}", "bad") for s in statuses)))]
    dom = page(results, summary_of(results), tmp_path)
    assert sections(dom)[0] == "failed"
    assert Dom.text(dom.find(lambda n: n["attrs"].get("id") == "failed")[0]).startswith(title + " ")
