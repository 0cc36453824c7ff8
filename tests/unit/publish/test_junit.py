"""write_junit: strict junit-10 validity, counts, fail-closed behaviour."""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import xmlschema

from conftest import DATA
from fixproof.publish.junit import NO_EVIDENCE, NO_STAGES, JUnitSummary, ReportError, write_junit
from fixproof.results import CheckResult, StageResult, Status, error, failed, passed, skipped

XSD = DATA / "junit.xsd"
TIME_RE = re.compile(r"^(\d{1,3}(,\d{3})*|\d*)(\.\d*)?$")
XML_ILLEGAL_RE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(XSD))


def _write(tmp_path: Path, stages: list[StageResult], schema: xmlschema.XMLSchema,
           **kw) -> tuple[JUnitSummary, ET.Element]:
    out = tmp_path / "reports" / "junit.xml"
    summary = write_junit(stages, out, **kw)
    schema.validate(str(out))
    root = ET.parse(out).getroot()
    _check_invariants(root)
    return summary, root


def _check_invariants(root: ET.Element) -> None:
    """The section 6 checklist, checked on the written tree."""
    assert root.tag == "testsuites"
    cases_total = 0
    seen: set[tuple[str, str]] = set()
    for suite in root.iter("testsuite"):
        cases = suite.findall("testcase")
        assert cases, "a suite without testcases is dropped by Jenkins"
        cases_total += len(cases)
        counts = {k: sum(1 for c in cases if c.find(k) is not None)
                  for k in ("failure", "error", "skipped")}
        assert suite.get("name")
        assert int(suite.get("tests")) == len(cases)
        assert int(suite.get("failures")) == counts["failure"]
        assert int(suite.get("errors")) == counts["error"]
        assert int(suite.get("skipped")) == counts["skipped"]
        assert int(suite.get("tests")) >= sum(counts.values())
        assert TIME_RE.match(suite.get("time"))
        ts = datetime.fromisoformat(suite.get("timestamp"))
        assert ts.utcoffset() is not None
        for case in cases:
            assert case.get("name") and case.get("classname")
            assert "className" not in case.attrib
            assert case.get("time") is not None and TIME_RE.match(case.get("time"))
            outcomes = [c for c in case if c.tag in ("failure", "error", "skipped")]
            assert len(outcomes) <= 1
            for outcome in outcomes:
                assert outcome.get("message")
            key = (case.get("classname"), case.get("name"))
            assert key not in seen
            seen.add(key)
    assert cases_total >= 1
    assert TIME_RE.match(root.get("time"))


def test_statuses_map_to_elements(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    stage = StageResult("binary", (
        passed("buildinfo", "go1.22.5 in the binary", evidence={"sha256": "ab12", "go": "go1.22.5"},
               duration_s=1.25),
        failed("fixed function present", "net/http.fix missing", details="looked in pclntab\nnot found"),
        error("engine", "Docker Engine unreachable", details="dial unix /var/run/docker.sock"),
        skipped("race", "race probe disabled in config"),
    ))
    summary, root = _write(tmp_path, [stage], schema)
    assert summary == JUnitSummary(tests=4, failures=1, errors=1, skipped=1)
    assert summary.passed == 1
    [suite] = root.findall("testsuite")
    assert suite.get("name") == "fixproof.binary"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert all(c.get("classname") == "fixproof.binary" for c in cases.values())
    ok = cases["buildinfo"]
    assert [c.tag for c in ok] == ["system-out"]
    assert ok.findtext("system-out").splitlines() == ["sha256: ab12", "go: go1.22.5"]
    assert ok.get("time") == "1.250"
    fail = cases["fixed function present"].find("failure")
    assert fail.get("message") == "net/http.fix missing"
    assert fail.text == "looked in pclntab\nnot found"
    err = cases["engine"].find("error")
    assert err.get("message") == "Docker Engine unreachable"
    assert "docker.sock" in err.text
    assert cases["race"].find("skipped").get("message") == "race probe disabled in config"
    assert cases["race"].get("time") == "0.000"


def test_counts_across_suites(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    stages = [
        StageResult("toolchain", (passed("go", "ok"), passed("image", "ok"))),
        StageResult("modules", (failed("go.sum", "hash mismatch"), skipped("x", "n/a"))),
        StageResult("vulns", (error("db", "unreachable"),)),
    ]
    summary, root = _write(tmp_path, stages, schema)
    assert summary == JUnitSummary(tests=5, failures=1, errors=1, skipped=1)
    assert [s.get("name") for s in root.findall("testsuite")] == [
        "fixproof.toolchain", "fixproof.modules", "fixproof.vulns"]
    assert root.get("tests") == "5" and root.get("failures") == "1" and root.get("errors") == "1"


def test_illegal_characters_and_ansi_are_removed(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    dirty = "a\x00b\x07c\x1b[31mred\x1b[0m\x0b\x0c\ufffe\ud800d \x1b]8;;http://x\x07link\x1b]8;;\x07"
    stage = StageResult("gotest", (
        failed(f"Test{dirty}", f"msg {dirty}", details=f"line1\n{dirty}\nline3",
               classname="example.com/m/pkg", evidence={"out": dirty}),
    ))
    _, root = _write(tmp_path, [stage], schema)
    raw = (tmp_path / "reports" / "junit.xml").read_text(encoding="utf-8")
    assert not XML_ILLEGAL_RE.search(raw)
    assert "\x1b" not in raw and "[31m" not in raw
    case = root.find("testsuite/testcase")
    assert case.get("name") == "Testabcredd link"
    assert case.find("failure").text == "line1\nabcredd link\nline3"
    assert case.get("classname") == "example.com/m/pkg"


def test_duplicate_names_get_a_suffix(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    stages = [
        StageResult("gdb", (passed("probe", "1"), passed("probe", "2"), passed("probe (2)", "3"))),
        StageResult("trace", (passed("probe", "4"),)),  # other classname: no clash
        StageResult("gdb", (passed("probe", "5"),)),  # same stage twice: same classname
    ]
    _, root = _write(tmp_path, stages, schema)
    names = [(c.get("classname"), c.get("name")) for c in root.iter("testcase")]
    assert names == [
        ("fixproof.gdb", "probe"), ("fixproof.gdb", "probe (2)"), ("fixproof.gdb", "probe (2) (2)"),
        ("fixproof.trace", "probe"), ("fixproof.gdb", "probe (3)"),
    ]


def test_empty_names_messages_and_odd_durations(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    stage = StageResult("build", (
        CheckResult("  ", Status.FAILED, "", duration_s=-3.0),
        CheckResult("tiny", Status.PASSED, "ok", duration_s=1e-7),
        CheckResult("nan", Status.ERROR, "", duration_s=float("nan")),
        CheckResult("huge", Status.PASSED, "ok", duration_s=1e17),
        CheckResult("multi\nline", Status.SKIPPED, "first\nsecond"),
    ))
    summary, root = _write(tmp_path, [stage], schema)
    assert summary == JUnitSummary(tests=5, failures=1, errors=1, skipped=1)
    cases = root.findall("testsuite/testcase")
    assert cases[0].get("name") == "(unnamed check)"
    assert cases[0].get("time") == "0.000"
    assert cases[0].find("failure").get("message")  # a message is always there
    assert cases[2].find("error").get("message")
    assert cases[4].get("name") == "multi line"
    assert cases[4].find("skipped").get("message") == "first second"


def test_warning_is_shown_on_passed_check(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    stage = StageResult("vulns", (
        passed("GO-2024-0001", "waived until 2026-12-31: not reachable", warning=True,
               evidence={"waiver": "waivers.toml:3"}),
    ))
    summary, root = _write(tmp_path, [stage], schema)
    assert summary == JUnitSummary(tests=1, failures=0, errors=0, skipped=0)
    case = root.find("testsuite/testcase")
    assert [c.tag for c in case] == ["system-out"]
    assert case.findtext("system-out").splitlines() == [
        "warning: waived until 2026-12-31: not reachable", "waiver: waivers.toml:3"]


def test_stage_with_no_checks_fails_closed(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    summary, root = _write(tmp_path, [StageResult("trace", ())], schema)
    assert summary == JUnitSummary(tests=1, failures=0, errors=1, skipped=0)
    case = root.find("testsuite/testcase")
    assert case.get("name") == NO_EVIDENCE
    assert "no evidence" in case.find("error").get("message")


def test_no_stages_at_all_fails_closed(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    summary, root = _write(tmp_path, [], schema)
    assert summary.tests == 1 and summary.errors == 1
    assert root.find("testsuite/testcase").get("name") == NO_STAGES


def test_timestamp_and_properties(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    _, root = _write(tmp_path, [StageResult("build", (passed("a", "ok"),))], schema,
                     timestamp=when, properties={"go.version": "go1.22.5", "ctl": "x\x1by"})
    suite = root.find("testsuite")
    assert suite.get("timestamp") == "2026-01-02T03:04:05+02:00"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props == {"go.version": "go1.22.5", "ctl": "xy"}
    assert suite.get("hostname") == socket.gethostname()

    _, root = _write(tmp_path, [StageResult("build", (passed("a", "ok"),))], schema,
                     timestamp=datetime(2026, 1, 2, 3, 4, 5))  # naive: local time, offset added
    assert datetime.fromisoformat(root.find("testsuite").get("timestamp")).utcoffset() is not None


def test_evidence_values_stay_one_line(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    stage = StageResult("binary", (passed("deps", "ok", evidence={
        "list": ["a", "b"], "nested": {"k": 1}, "text": "two\nlines", "n": 3}),))
    _, root = _write(tmp_path, [stage], schema)
    assert root.findtext("testsuite/testcase/system-out").splitlines() == [
        'list: ["a", "b"]', 'nested: {"k": 1}', 'text: "two\\nlines"', "n: 3"]


def test_huge_details_are_cut(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    details = "HEAD\n" + "x" * 500_000 + "\nTAIL"
    _, root = _write(tmp_path, [StageResult("gotest", (failed("T", "m", details=details),))], schema)
    body = root.find("testsuite/testcase/failure").text
    assert body.startswith("HEAD") and body.endswith("TAIL")
    assert "cut by fixproof" in body
    assert len(body) < 150_000


def test_write_is_atomic_and_replaces(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    out = tmp_path / "junit.xml"
    out.write_text("old")
    write_junit([StageResult("a", (passed("x", "ok"),))], out)
    schema.validate(str(out))
    assert [p.name for p in tmp_path.iterdir()] == ["junit.xml"]  # no temp file left behind


def test_unwritable_destination_is_a_report_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ReportError) as info:
        write_junit([StageResult("a", (passed("x", "ok"),))], blocker / "junit.xml")
    assert info.value.__cause__ is not None


def test_schema_rejects_what_it_should(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    """The XSD is only useful if it says no: negative time, testcase file attr, suite w/o errors."""
    bad = [
        '<testsuites><testsuite name="s" tests="1" failures="0" errors="0">'
        '<testcase name="t" time="-0.000000"/></testsuite></testsuites>',
        '<testsuites><testsuite name="s" tests="1" failures="0" errors="0">'
        '<testcase name="t" time="1e-05"/></testsuite></testsuites>',
        '<testsuites><testsuite name="s" tests="1" failures="0" errors="0">'
        '<testcase name="t" file="x.go"/></testsuite></testsuites>',
        '<testsuites><testsuite name="s" tests="1" failures="0">'
        '<testcase name="t"/></testsuite></testsuites>',
        '<testsuites><testsuite name="s" tests="1" failures="0" errors="0" disabled="0">'
        '<testcase name="t"/></testsuite></testsuites>',
        '<testsuites><testsuite name="s" tests="1" failures="0" errors="0"><properties>'
        '<property name="a"/></properties><testcase name="t"/></testsuite></testsuites>',
    ]
    for doc in bad:
        assert not schema.is_valid(doc), doc
    good = ('<testsuites><testsuite name="s" tests="1" failures="0" errors="0" time="1,234.5">'
            '<testcase name="t" time=""><skipped message="m"/></testcase></testsuite></testsuites>')
    assert schema.is_valid(good)


def test_hostname_is_given_or_this_host(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    _, root = _write(tmp_path, [StageResult("build", (passed("a", "ok"),))], schema, hostname="ci-runner-7")
    assert {s.get("hostname") for s in root.iter("testsuite")} == {"ci-runner-7"}


def test_independent_parser_reads_the_same_counts(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    """junitparser (not junit-xml, which wrote the file) reads back every suite and outcome."""
    import junitparser

    stages = [
        StageResult("toolchain", (passed("go version", "go1.22.5", duration_s=1.5),
                                  failed("go.mod", "go.mod needs go1.23", details="go 1.23.0"))),
        StageResult("vulns", (error("db", "unreachable"), skipped("GO-2022-1059", "waived: proxy caps headers"),
                              passed("GO-2024-2963", "not affected", warning=True))),
    ]
    summary, _ = _write(tmp_path, stages, schema)
    xml = junitparser.JUnitXml.fromfile(str(tmp_path / "reports" / "junit.xml"))
    suites = {s.name: s for s in xml}
    assert set(suites) == {"fixproof.toolchain", "fixproof.vulns"}
    outcomes: dict[str, str] = {}
    for suite in suites.values():
        for case in suite:
            kinds = [type(r).__name__ for r in case.result]
            outcomes[case.name] = kinds[0] if kinds else "passed"
            if case.name == "go version":
                assert case.time == pytest.approx(1.5)
            if case.name == "GO-2022-1059":
                assert case.result[0].message == "waived: proxy caps headers"
    assert outcomes == {"go version": "passed", "go.mod": "Failure", "db": "Error",
                        "GO-2022-1059": "Skipped", "GO-2024-2963": "passed"}
    totals = (sum(s.tests for s in suites.values()), sum(s.failures for s in suites.values()),
              sum(s.errors for s in suites.values()), sum(s.skipped for s in suites.values()))
    assert totals == (summary.tests, summary.failures, summary.errors, summary.skipped) == (5, 1, 1, 1)
