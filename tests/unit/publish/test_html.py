"""reports/index.html: rendered from constructed stage results (the same page in a real headless browser:
tests/integration/test_html.py)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import write_config
from fixproof.publish.html import evidence_files, render, write_html
from fixproof.results import CheckResult, StageResult, Status, error, failed, passed, skipped

NOW = datetime(2024, 7, 1, 12, 0, 0, tzinfo=timezone.utc)
EVIL = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


class Page(HTMLParser):
    """What the DOM holds: text, elements with classes, and every src/href."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.chunks: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data):
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.chunks).split())

    def urls(self) -> list[str]:
        return [a[k] for _, a in self.tags for k in ("src", "href") if k in a]

    def by_id(self, id_: str) -> dict[str, str]:
        return next(a for _, a in self.tags if a.get("id") == id_)


def stages(reports: Path | None = None) -> list[StageResult]:
    """One of everything: passed, failed, error, skipped, warning, listed advisories and an unlisted finding."""
    log = reports / "gdb" / "bounded-read.mi.log" if reports else Path("/nonexistent/bounded-read.mi.log")
    return [
        StageResult("toolchain", (passed("go version", "go1.22.5 in golang:1.22.5-bookworm", duration_s=1.25),)),
        StageResult("build", (passed("go build", "built fixdemo"),),
                    facts={"binary": "/tmp/out/fixdemo", "sha256": "ab" * 32}),
        StageResult("test", (
            failed("TestReadChunk", "chunk of 8192 bytes read past the bound " + EVIL,
                   classname="example.com/fixdemo/internal/chunk", details="--- FAIL: TestReadChunk\n" + EVIL,
                   duration_s=0.5),
            passed("TestOther", "ok"),
        )),
        StageResult("vulns", (
            passed("advisory GO-2024-2963", "GO-2024-2963 does not affect fixdemo"),
            failed("advisory GO-2024-2887", "the binary is affected: net/netip (listed in [fix] advisories)"),
            passed("advisory GO-2023-1234", "affected but not failing under fix.fail_on = 'listed'", warning=True),
        ), facts={
            "vex": [
                {"id": "GO-2024-2963", "aliases": ["CVE-2024-24791"], "status": "not_affected",
                 "justification": "vulnerable_code_not_present", "detail": "stdlib@go1.22.5 not in range"},
                {"id": "GO-2024-2887", "aliases": ["CVE-2024-24790"], "status": "affected", "justification": "",
                 "detail": "Upgrade stdlib to go1.22.4 and rebuild"},
            ],
            "findings": [
                {"id": "GO-2024-2887", "aliases": ["CVE-2024-24790"], "module": "stdlib", "version": "go1.22.3",
                 "fixed": "go1.22.4", "symbols": ["netip.Addr.IsLoopback"], "level": "symbol"},
                {"id": "GO-2023-1234", "aliases": [], "module": "golang.org/x/text", "version": "v0.3.0",
                 "fixed": "v0.3.8", "symbols": [], "level": "module"},
            ]}),
        StageResult("gdb", (error("bounded read", "gdb could not start: engine down", evidence={
            "exit_code": 3, "transcript": str(log)}),)),
        StageResult("trace", (skipped("trace checks", "no [[trace]] checks in the config"),)),
        StageResult("race", ()),
    ]


def summary(status: str = "failed", **extra) -> dict:
    return {"exit_code": {"passed": 0, "failed": 1}.get(status, 3), "status": status, "junit": "/nonexistent/junit.xml",
            "counts": {"tests": 10, "failures": 2, "errors": 2, "skipped": 1}, "stages": {}, **extra}


def test_page_shows_verdict_counts_stages_checks_and_advisories(tmp_path):
    page = Page(render(stages(), summary(), reports_dir=tmp_path, now=NOW))
    text = page.text
    assert "Verdict: FAIL" in text
    assert page.by_id("verdict")["class"] == "verdict status-failed"
    assert page.by_id("count-passed") is not None
    assert "10 checks 5 passed 2 failed 2 errors 1 skipped 1 warnings" in text
    for name in ("toolchain", "build", "test", "vulns", "gdb", "trace", "race"):
        assert page.by_id(f"stage-{name}")
    # every status has a text label, not only a colour
    for label in ("PASS", "FAIL", "ERROR", "SKIP", "WARN"):
        assert re.search(rf"\b{label}\b", text), label
    assert "chunk of 8192 bytes read past the bound" in text
    assert "gdb could not start: engine down" in text
    assert "1.25 s" in text
    assert "This stage produced no checks" in text  # race: no checks is an error, said in words
    # advisories: listed ones with their VEX verdicts and chains, the unlisted finding grouped by module
    for aid in ("GO-2024-2963", "GO-2024-2887", "GO-2023-1234", "CVE-2024-24791"):
        assert aid in text
    assert re.search(r"NOT AFFECTED GO-2024-2963 \(CVE-2024-24791\) vulnerable_code_not_present", text)
    assert re.search(r"\bAFFECTED GO-2024-2887 \(CVE-2024-24790\)", text)
    assert "golang.org/x/text v0.3.0 -> v0.3.8 clears 1 advisory, 0 reachable" in text
    assert 'id="warnings"' not in render(stages(), summary(), reports_dir=tmp_path, now=NOW)  # its one warning
    # is the finding GO-2023-1234, shown once, with its module
    assert "fixdemo" in text and "ab" * 32 in text
    assert "2024-07-01T12:00:00Z" in text


@pytest.mark.parametrize("status,label", [("passed", "PASS"), ("failed", "FAIL"), ("error", "ERROR")])
def test_verdict_label_and_class(tmp_path, status, label):
    page = Page(render([StageResult("toolchain", (passed("go version", "ok"),))], summary(status),
                       reports_dir=tmp_path, now=NOW))
    assert f"Verdict: {label}" in page.text
    assert page.by_id("verdict")["class"] == f"verdict status-{status}"
    assert f"<title>fixproof: {label}</title>" in render([], summary(status), reports_dir=tmp_path, now=NOW)


def test_text_is_escaped_never_markup(tmp_path):
    checks = (failed(EVIL, EVIL, details=EVIL, evidence={"x": EVIL}),
              passed("w", EVIL, warning=True))
    out = render([StageResult(EVIL, checks, facts={"vex": [{"id": EVIL, "aliases": [EVIL], "status": EVIL,
                                                             "detail": EVIL}]})],
                 summary(), reports_dir=tmp_path, now=NOW)
    assert "<script" not in out.lower()
    assert "<img" not in out.lower()
    page = Page(out)
    assert not any(t in ("script", "img") for t, _ in page.tags)
    assert '<script>alert("x")</script>' in page.text  # shown as text, exactly as written
    assert not [k for _, a in page.tags for k in a if k.startswith("on")]  # no event handler attributes


def test_one_line_messages_and_control_characters(tmp_path):
    c = failed("multi", "first line\n  second\x1b[31m red\x1b[0m\x00")
    page = Page(render([StageResult("s", (c,))], summary(), reports_dir=tmp_path, now=NOW))
    assert "first line second red" in page.text
    assert "\x1b" not in page.text and "\x00" not in page.text


def test_deterministic_apart_from_the_timestamp(tmp_path):
    a = render(stages(tmp_path), summary(), reports_dir=tmp_path, now=NOW)
    b = render(stages(tmp_path), summary(), reports_dir=tmp_path, now=NOW)
    c = render(stages(tmp_path), summary(), reports_dir=tmp_path, now=datetime(2025, 1, 2, tzinfo=timezone.utc))
    assert a == b
    assert a.replace("2024-07-01T12:00:00Z", "T") == c.replace("2025-01-02T00:00:00Z", "T")


def test_no_external_resources(tmp_path):
    out = render(stages(), summary(), reports_dir=tmp_path, now=NOW)
    page = Page(out)
    assert all(not u.startswith(("http:", "https:", "//")) for u in page.urls()), page.urls()
    assert not any(t in ("script", "link", "img", "iframe") for t, _ in page.tags)
    assert "@import" not in out and "url(" not in out


def evidence_tree(tmp_path: Path) -> tuple[Path, dict]:
    reports = tmp_path / "reports"
    for rel in ("stages/toolchain.json", "stages/test.json", "junit.xml", "summary.json", "fixproof.sarif",
                "fixproof.openvex.json", "gdb/bounded-read.mi.log", "gdb/no-panic.mi.log",
                "trace/no-goroutine-leak.json"):
        (reports / rel).parent.mkdir(parents=True, exist_ok=True)
        (reports / rel).write_text("{}\n")
    s = summary(junit=str(reports / "junit.xml"), sarif=str(reports / "fixproof.sarif"),
                openvex=str(reports / "fixproof.openvex.json"))
    return reports, s


def test_relative_links_to_the_evidence_files_that_exist(tmp_path):
    reports, s = evidence_tree(tmp_path)
    hrefs = [link.href for link in evidence_files(stages(reports), s, reports)]
    assert hrefs == ["junit.xml", "summary.json", "fixproof.sarif", "fixproof.openvex.json", "stages/toolchain.json",
                     "stages/test.json", "gdb/bounded-read.mi.log", "gdb/no-panic.mi.log",
                     "trace/no-goroutine-leak.json"]
    page = Page(render(stages(reports), s, reports_dir=reports, now=NOW))
    urls = page.urls()
    for h in hrefs:
        assert h in urls
    assert "stages/build.json" not in urls  # not written, so not linked
    # the gdb check's own transcript is linked from its item (a check in error: under Failed checks)
    row = render(stages(reports), s, reports_dir=reports, now=NOW).split('id="failed"')[1].split("</section>")[0]
    assert 'href="gdb/bounded-read.mi.log"' in row
    for u in urls:
        if not u.startswith("#"):
            assert (reports / u).is_file(), u


def test_junit_elsewhere_is_linked_relatively(tmp_path):
    reports, s = evidence_tree(tmp_path)
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "junit.xml").write_text("<testsuites/>")
    s["junit"] = str(tmp_path / "ci" / "junit.xml")
    assert evidence_files([], s, reports)[0].href == "../ci/junit.xml"


def test_write_html_unwritable_is_a_report_error(tmp_path):
    from fixproof.publish.junit import ReportError

    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ReportError, match="HTML report"):
        write_html([], summary(), blocker / "index.html", now=NOW)


def test_report_stage_writes_index_html_and_names_it_in_the_summary(tmp_path, app_copy):
    from fixproof.config import load
    from fixproof.stages.common import StageContext
    from fixproof.publish.report import run

    cfg = load(write_config(tmp_path, app_copy))
    for r in stages(cfg.reports_dir):
        r.write(cfg.stages_dir / f"{r.stage}.json")
    summary_ = run(StageContext(cfg, "report"), [r.stage for r in stages()], cfg.junit_path)
    index = cfg.reports_dir / "index.html"
    assert summary_["html"] == str(index)
    page = Page(index.read_text())
    assert "Verdict: ERROR" in page.text  # the gdb stage errored
    assert {"junit.xml", "summary.json", "fixproof.sarif", "stages/gdb.json"} <= set(page.urls())


def test_report_task_targets_index_html(tmp_path, app_copy):
    from fixproof.config import load
    from fixproof.tasks import task_dicts

    cfg = load(write_config(tmp_path, app_copy))
    targets = task_dicts(cfg, ["toolchain"], cfg.junit_path)["report"]["targets"]
    assert str(cfg.reports_dir / "index.html") in targets


def test_fleet_page_links_each_app_page(tmp_path):
    from fixproof.publish.html import render

    apps = {}
    for name, status in (("edge", "passed"), ("legacy", "failed")):
        d = tmp_path / "apps" / name
        d.mkdir(parents=True)
        (d / "index.html").write_text("<!DOCTYPE html>")
        apps[name] = {"status": status, "exit_code": 0 if status == "passed" else 1, "dir": str(d)}
    summary = {"status": "failed", "exit_code": 1, "apps": apps}
    results = [StageResult("edge.build", (passed("go build", "built"),)),
               StageResult("legacy.build", (failed("go build", "compile error"),))]
    page = render(results, summary, reports_dir=tmp_path)
    section = page.split('<section id="apps">', 1)[1].split("</section>", 1)[0]
    assert '<a href="apps/edge/index.html">edge</a>' in section and '<a href="apps/legacy/index.html">legacy</a>' in section
    assert "status-failed" in section and "FAIL" in section
    assert '<section id="apps">' not in render(results[:1], {"status": "passed", "exit_code": 0}, reports_dir=tmp_path)
