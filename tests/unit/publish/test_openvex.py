"""OpenVEX verdicts from evidence, and the document against the v0.2.0 rules
(required fields, the four statuses, justification for not_affected, action
statement for affected, absolute IRIs, a product named by its sha256)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from fixproof.publish.openvex import CONTEXT, document
from fixproof.vex import JUSTIFICATIONS, STATUSES, Verdict, verdict

SHA = "ab" * 32


def finding(level: str, symbols=()):
    return {"module": "golang.org/x/text", "version": "v0.3.7", "fixed": "v0.3.8", "level": level,
            "symbols": list(symbols)}


@pytest.mark.parametrize("f, functions_read, linked, want", [
    (finding("symbol", ["language.ParseAcceptLanguage"]), True, ["golang.org/x/text"], ("affected", "")),
    (finding("package"), True, ["golang.org/x/text"], ("not_affected", "vulnerable_code_not_present")),
    (finding("module"), True, ["golang.org/x/text"], ("not_affected", "vulnerable_code_not_present")),
    (finding("module"), False, ["golang.org/x/text"], ("under_investigation", "")),
    (None, True, ["golang.org/x/text"], ("fixed", "")),
    (None, True, ["example.com/other"], ("not_affected", "component_not_present")),
])
def test_verdicts(f, functions_read, linked, want):
    v = verdict("GO-2022-1059", ["CVE-2022-32149"], ["golang.org/x/text"], linked, f, functions_read)
    assert (v.status, v.justification) == want
    assert v.detail


def test_stdlib_advisories_are_judged_against_the_binary_go():
    v = verdict("GO-2024-2963", [], ["stdlib"], [], None, True)
    assert v.status == "fixed" and "stdlib" in v.detail


def test_document_follows_openvex_rules():
    vs = [verdict("GO-2022-1059", ["CVE-2022-32149"], ["golang.org/x/text"], ["golang.org/x/text"],
                  finding("symbol", ["language.ParseAcceptLanguage"]), True),
          verdict("GO-2021-0001", [], ["example.com/gone"], ["golang.org/x/text"], None, True),
          verdict("GO-2024-2963", [], ["stdlib"], [], None, True)]
    doc = document(vs, binary_name="fixdemo", sha256=SHA, now=datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc))
    assert set(doc) == {"@context", "@id", "author", "timestamp", "version", "tooling", "statements"}
    assert doc["@context"] == CONTEXT and doc["timestamp"] == "2026-11-25T12:00:00Z" and doc["version"] == 1
    assert ":" in doc["@id"] and doc["statements"]
    for s in doc["statements"]:
        assert s["status"] in STATUSES and s["vulnerability"]["name"].startswith("GO-")
        assert s["vulnerability"]["@id"].startswith("https://")
        assert s["products"] == [{"@id": f"pkg:generic/fixdemo?checksum=sha256:{SHA}", "hashes": {"sha-256": SHA}}]
        if s["status"] == "not_affected":
            assert s["justification"] in JUSTIFICATIONS and s["impact_statement"]
        if s["status"] == "affected":
            assert s["action_statement"].startswith("Require golang.org/x/text v0.3.8 or later and rebuild")
    assert [s["vulnerability"]["name"] for s in doc["statements"]] == sorted(v.id for v in vs)


def test_same_evidence_same_id_and_round_trip():
    v = verdict("GO-2024-2963", [], ["stdlib"], [], None, True)
    a = document([v], binary_name="b", sha256=SHA)
    b = document([Verdict.from_json(v.to_json())], binary_name="b", sha256=SHA)
    assert a["@id"] == b["@id"] and a["statements"] == b["statements"]
    assert document([v], binary_name="b", sha256="cd" * 32)["@id"] != a["@id"]


def test_action_says_what_a_user_does():
    """"Upgrade stdlib to v1.25.7" once stood where a user needs "build with Go 1.25.7"."""
    from fixproof.vex import fix_action

    assert fix_action({"module": "stdlib", "fixed": "v1.25.7"}) == "Build with Go 1.25.7 or later"
    assert fix_action({"module": "golang.org/x/net", "fixed": "v0.33.0"}) == \
        "Require golang.org/x/net v0.33.0 or later and rebuild"
    assert "No Go release" in fix_action({"module": "stdlib", "fixed": ""})
