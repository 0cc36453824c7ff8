"""SARIF 2.1.0 from stage results, checked against the rules code scanning
applies (version, $schema, driver, rules with descriptions, results with a
message, a location with uri and startLine, fingerprints, suppressions). Validation against the
SARIF 2.1.0 JSON schema (fetched with npm): tests/integration/test_sarif.py."""

from __future__ import annotations

from fixproof.publish.sarif import SCHEMA, document
from fixproof.results import CheckResult, StageResult, Status


FINDINGS = [
    {"id": "GO-2022-1059", "aliases": ["CVE-2022-32149"], "module": "golang.org/x/text", "version": "v0.3.7",
     "fixed": "v0.3.8", "symbols": ["language.ParseAcceptLanguage"], "level": "symbol", "file": "b"},
    {"id": "GO-2024-3105", "aliases": [], "module": "stdlib", "version": "v1.22.5", "fixed": "v1.22.7",
     "symbols": [], "level": "module", "file": "b"},
    {"id": "GO-2099-0001", "aliases": [], "module": "example.com/m", "version": "v1.0.0", "fixed": "",
     "symbols": [], "level": "package", "file": "b"},
]


def results(waive: bool = False) -> list[StageResult]:
    vulns_checks = [CheckResult("advisory GO-2022-1059", Status.FAILED, "affected")]
    if waive:
        vulns_checks = [CheckResult("advisory GO-2022-1059", Status.SKIPPED, "waived: input is size-limited")]
    return [
        StageResult("toolchain", (CheckResult("go version", Status.FAILED, "image runs go1.22.4, pin go1.22.5"),)),
        StageResult("vulns", tuple(vulns_checks), {"findings": FINDINGS}),
    ]


def test_structure_code_scanning_accepts():
    doc = document(results(), gomod_uri="examples/fixdemo/go.mod", listed=["GO-2022-1059"], version="0.1.0",
                   binary_name="fixdemo")
    assert doc["$schema"] == SCHEMA and doc["version"] == "2.1.0" and len(doc["runs"]) == 1
    run = doc["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "fixproof"
    rule_ids = [r["id"] for r in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids)) == 4
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"] and rule["help"]["text"]
        assert len(rule["shortDescription"]["text"]) <= 1024
    for res in run["results"]:
        assert res["ruleId"] in rule_ids and res["message"]["text"]
        assert res["level"] in ("none", "note", "warning", "error")
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == "examples/fixdemo/go.mod" and loc["region"]["startLine"] == 1
        assert res["partialFingerprints"]["fixproof/v1"]
        assert res["suppressions"] == []
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels == {"GO-2022-1059": "error", "GO-2024-3105": "note", "GO-2099-0001": "warning",
                      "fixproof/toolchain/go-version": "error"}
    tags = next(r for r in driver["rules"] if r["id"] == "GO-2022-1059")["properties"]["tags"]
    assert "CVE-2022-32149" in tags


def test_waived_finding_is_suppressed_with_its_reason():
    doc = document(results(waive=True), gomod_uri="go.mod", listed=["GO-2022-1059"], version="0.1.0")
    res = next(r for r in doc["runs"][0]["results"] if r["ruleId"] == "GO-2022-1059")
    assert res["suppressions"] == [{"kind": "external", "status": "accepted",
                                    "justification": "waived: input is size-limited"}]


def test_no_findings_still_has_results_array():
    doc = document([StageResult("vulns", (CheckResult("known vulnerabilities", Status.PASSED, "none"),), {})],
                   gomod_uri="go.mod", listed=[], version="0.1.0")
    assert doc["runs"][0]["results"] == [] and doc["runs"][0]["tool"]["driver"]["rules"] == []


def test_fingerprints_are_stable_and_distinct():
    a = document(results(), gomod_uri="go.mod", listed=[], version="1")["runs"][0]["results"]
    b = document(results(), gomod_uri="go.mod", listed=[], version="2")["runs"][0]["results"]
    fa = [r["partialFingerprints"]["fixproof/v1"] for r in a]
    assert fa == [r["partialFingerprints"]["fixproof/v1"] for r in b] and len(set(fa)) == len(fa)


def test_levels_follow_the_policy():
    """A PASS under fail_on = "listed" once came with SARIF `error` results for unlisted symbol-level findings."""
    def levels(fail_on, listed=()):
        doc = document(results(), gomod_uri="go.mod", listed=list(listed), version="0.1.0", fail_on=fail_on)
        return {r["ruleId"]: r["level"] for r in doc["runs"][0]["results"] if r["ruleId"].startswith("GO-")}

    assert levels("listed") == {"GO-2022-1059": "warning", "GO-2024-3105": "note", "GO-2099-0001": "warning"}
    assert levels("listed", ["GO-2022-1059"])["GO-2022-1059"] == "error"
    assert levels("symbol")["GO-2022-1059"] == "error" and levels("symbol")["GO-2099-0001"] == "warning"
    assert set(levels("any").values()) == {"error"}


def test_automation_id_names_the_category_and_the_app():
    """#15.1: the id was hard-coded "fixproof/", so uploads from several jobs or apps replaced each other's alerts."""
    def run_id(**kw):
        return document(results(), gomod_uri="go.mod", listed=[], version="1", **kw)["runs"][0]["automationDetails"]["id"]

    assert run_id() == "fixproof/"
    assert run_id(category="linux-amd64") == "linux-amd64/"
    assert run_id(category="ci", app="api") == "ci/api/"
    assert run_id(app="api") != run_id(app="worker")


def test_failed_check_fingerprint_ignores_measured_values():
    """#15.2: a failed check's fingerprint held its message (hit counts, growth), so every run closed
    and reopened the same alert."""
    def fingerprints(message, app=""):
        res = [StageResult("gdb", (CheckResult("fix path taken", Status.FAILED, message),))]
        doc = document(res, gomod_uri="go.mod", listed=[], version="1", app=app)
        return [r["partialFingerprints"]["fixproof/v1"] for r in doc["runs"][0]["results"]]

    assert fingerprints("0 hits, expected >=1") == fingerprints("3 hits, expected ==1")
    assert fingerprints("0 hits", app="api") != fingerprints("0 hits", app="worker")


def test_finding_fingerprint_survives_a_version_bump():
    """An advisory still affecting the module after a bump is the same alert, not a new one."""
    def fingerprint(version):
        f = dict(FINDINGS[0], version=version)
        doc = document([StageResult("vulns", (), {"findings": [f]})], gomod_uri="go.mod", listed=[], version="1")
        return doc["runs"][0]["results"][0]["partialFingerprints"]["fixproof/v1"]

    assert fingerprint("v0.3.6") == fingerprint("v0.3.7")


def test_rules_carry_security_severity():
    """#15.3: without security-severity, code scanning shows Error/Warning/Note, not Critical..Low."""
    doc = document(results(), gomod_uri="go.mod", listed=[], version="1")
    sev = {r["id"]: r["properties"]["security-severity"] for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert float(sev["GO-2022-1059"]) >= 7.0  # a vulnerable function is in the binary: high
    assert 4.0 <= float(sev["GO-2099-0001"]) < 7.0  # package imported: medium
    assert 0.1 <= float(sev["GO-2024-3105"]) < 4.0  # only the version matches: low
    assert float(sev["fixproof/toolchain/go-version"]) >= 7.0  # the fix did not ship


def test_security_severity_from_cvss_when_the_database_has_one():
    f = dict(FINDINGS[2], severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}])
    doc = document([StageResult("vulns", (), {"findings": [f]})], gomod_uri="go.mod", listed=[], version="1")
    rule = doc["runs"][0]["tool"]["driver"]["rules"][0]
    assert rule["properties"]["security-severity"] == "9.8"
    bad = dict(FINDINGS[2], severity=[{"type": "CVSS_V3", "score": "not a vector"}])
    doc = document([StageResult("vulns", (), {"findings": [bad]})], gomod_uri="go.mod", listed=[], version="1")
    assert doc["runs"][0]["tool"]["driver"]["rules"][0]["properties"]["security-severity"] == "5.0"
