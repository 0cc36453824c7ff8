"""fixproof.publish.page_model: which section each check goes to, and the one upgrade per module."""

from __future__ import annotations

from fixproof.publish.page_model import build
from fixproof.results import StageResult, failed, passed, skipped


def _finding(aid, fixed, level="module", module="stdlib", version="v1.22.5"):
    return {"id": aid, "aliases": [], "module": module, "version": version, "fixed": fixed, "symbols": [],
            "level": level}


def _vulns(findings, checks=(), listed=()):
    checks = tuple(checks) or tuple(passed(f"advisory {f['id']}", "affected but not failing", warning=True,
                                           evidence=f) for f in findings)
    return StageResult("vulns", checks, facts={"findings": findings, "listed": list(listed), "vex": []})


def test_upgrade_is_the_newest_fixed_version_compared_as_versions():
    findings = [_finding("GO-1", "v1.22.7", "symbol"), _finding("GO-2", "v1.22.11"), _finding("GO-3", "v1.9.0"),
                _finding("GO-4", "v1.22.11", "symbol")]
    (g,) = build([_vulns(findings)]).groups
    assert g.upgrade() == "Go 1.22.5 -> 1.22.11 clears 4 advisories, 2 reachable"  # 1.22.11 > 1.22.7 > 1.9.0


def test_advisories_without_a_fix_are_counted_apart():
    findings = [_finding("GO-1", "v0.3.8", module="golang.org/x/text", version="v0.3.0"),
                _finding("GO-2", "", "symbol", module="golang.org/x/text", version="v0.3.0")]
    (g,) = build([_vulns(findings)]).groups
    assert g.upgrade() == ("golang.org/x/text v0.3.0 -> v0.3.8 clears 1 advisory, 0 reachable; "
                           "1 advisory has no fixed version yet")
    (g,) = build([_vulns(findings[1:])]).groups
    assert g.upgrade() == "golang.org/x/text v0.3.0: no fixed version yet for 1 advisory"


def test_failing_groups_first_and_failing_rows_first():
    findings = [_finding("GO-1", "v1.22.7"), _finding("GO-2", "v0.3.8", module="x.org/a", version="v0.1.0"),
                _finding("GO-3", "v1.22.8", "symbol")]
    checks = [passed("advisory GO-1", "", warning=True), failed("advisory GO-2", "affected"),
              skipped("advisory GO-3", "waived until 2030-01-01: reviewed")]
    m = build([_vulns(findings, checks)])
    assert [g.module for g in m.groups] == ["x.org/a", "stdlib"]
    assert m.failing_findings == 1 and m.groups[0].failing == 1
    assert [r.id for r in m.groups[1].rows] == ["GO-3", "GO-1"]  # reachable first
    assert not m.failed and not m.warnings and not m.rest  # each check with its finding only


def test_listed_advisory_takes_its_checks_from_every_stage():
    tool = StageResult("toolchain", (passed("pinned Go vs GO-9", "go1.22.5 is not affected", evidence={"advisory": "GO-9"}),
                                     passed("go version in image", "go1.22.5")))
    test = StageResult("test", (failed("TestRegressionGO9", "accepted a bad input"), passed("TestOther", "ok")))
    gdb = StageResult("gdb", (passed("bounded read", "hit once"),))
    alias = passed("advisory CVE-2024-1", "CVE-2024-1 is GO-9 in file:///db", evidence={"alias": "CVE-2024-1", "ids": ["GO-9"]})
    vulns = StageResult("vulns", (alias, passed("advisory GO-9", "GO-9 does not affect app")),
                        facts={"listed": ["GO-9"], "findings": [], "vex": [
                            {"id": "GO-9", "aliases": ["CVE-2024-1"], "status": "fixed", "detail": "stdlib in the binary "
                             "is at a version outside the affected ranges."}]})
    binary = StageResult("binary", (passed("embedded Go version", "go1.22.5"),),
                         facts={"buildinfo": {"go_version": "go1.22.5", "deps": []}})
    m = build([tool, test, binary, vulns, gdb])
    (a,) = m.listed
    assert [(x.step, x.stage) for x in a.links] == [
        ("Listed as", "vulns"), ("Pinned Go", "toolchain"), ("Module in the binary", "binary"),
        ("Binary functions", "vulns"), ("Test", "test")]
    assert a.links[2].text == "The binary's build info records the standard library of go1.22.5."
    assert a.failing  # its regression test failed
    assert [p.check.name for p in m.rest] == ["go version in image", "TestOther", "embedded Go version", "bounded read"]


def test_no_runtime_check_named_after_the_advisory_is_said():
    vulns = StageResult("vulns", (passed("advisory GO-9", "does not affect"),), facts={"listed": ["GO-9"]})
    gdb = StageResult("gdb", (passed("a", "ok"), failed("b", "bad")))
    (a,) = build([vulns, gdb]).listed
    assert a.links[-1].step == "Runtime" and a.links[-1].check is None
    assert a.links[-1].text == ("No test, gdb, trace or race check is named after this advisory. The runtime checks "
                                "and tests cover the binary as a whole (gdb 2 run, 1 not passed).")


def test_shipped_artifact_findings_join_their_row():
    f = _finding("GO-1", "v1.22.7", "symbol")
    vulns = StageResult("vulns", (passed("advisory GO-1", "", warning=True, evidence=f),
                                  passed("shipped artifact: advisory GO-1", "", warning=True, evidence=f),
                                  passed("shipped artifact: advisory GO-2", "", warning=True,
                                         evidence=_finding("GO-2", "v1.22.8"))),
                        facts={"findings": [f], "listed": []})
    m = build([vulns])
    rows = {r.id: r for g in m.groups for r in g.rows}
    assert rows["GO-1"].built is not None and rows["GO-1"].shipped is not None
    assert rows["GO-2"].built is None and rows["GO-2"].shipped is not None  # only in what production runs
    assert not m.warnings
