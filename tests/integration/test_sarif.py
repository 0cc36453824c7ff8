"""SARIF documents against the OASIS SARIF 2.1.0 JSON schema, which npm fetches once into the test cache
(the rules code scanning applies: tests/unit/publish/test_sarif.py)."""

from __future__ import annotations

from fixproof.publish.sarif import document
from unit.publish.test_sarif import results


def test_documents_validate_against_the_sarif_schema(sarif_validator):
    for waive in (False, True):
        doc = document(results(waive=waive), gomod_uri="examples/fixdemo/go.mod", listed=["GO-2022-1059"],
                       version="0.1.0", binary_name="fixdemo")
        errors = sorted(sarif_validator.iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_schema_check_can_fail(sarif_validator):
    doc = document(results(), gomod_uri="go.mod", listed=[], version="0.1.0")
    doc["runs"][0]["results"][0]["level"] = "fatal"  # not a SARIF level
    del doc["runs"][0]["tool"]["driver"]["name"]  # required
    paths = {tuple(e.path) for e in sarif_validator.iter_errors(doc)}
    assert ("runs", 0, "results", 0, "level") in paths and ("runs", 0, "tool", "driver") in paths


def test_vulns_command_sarif_validates(sarif_validator, vulndb_snapshot, tmp_path):
    """`fixproof vulns --format sarif` (#15.4), on a real Go binary of the corpus, against the schema."""
    import io
    import json

    import goinfo_corpus as gc
    from fixproof import vulns_cmd

    binary = gc.corpus()["go1.21.13-linux-amd64"]
    out, err = io.StringIO(), io.StringIO()
    vulns_cmd.run([str(binary)], db=vulndb_snapshot.as_uri(), waivers=None, as_json=False, fmt="sarif",
                  out=out, err=err, cache_dir=str(tmp_path))
    doc = json.loads(out.getvalue())
    assert doc["runs"][0]["results"], "the corpus binary has known advisories"
    errors = sorted(sarif_validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
