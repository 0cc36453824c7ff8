"""The evidence digest (fixproof.publish.evidence_digest): equal for the same run elsewhere at another
time, changed by any input or result, runtime checks as verdicts, and each normalising rule.

No Docker here; tests/integration/test_verify_cmd.py runs the real pipeline twice for reproducibility, and
tests/integration/test_example_pipeline.py holds the example runs' digests to golden files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from fixproof.publish.evidence_check import check_bundle, verify_bundle
from fixproof.publish.evidence_digest import normalise
from fixproof.publish.evidence_layout import MANIFEST, MANIFEST_JSON, VERSIONS
from unit.publish.evidence_fixtures import (
    build_stage, example_bundle, gdb_stage, junit_xml, make_sources, sarif_json, summary_json,
)


def test_same_run_elsewhere_at_another_time_has_the_same_digest(tmp_path: Path) -> None:
    a = example_bundle(tmp_path / "ea", make_sources(tmp_path / "run-a", duration=1.5, host="ci-1",
                                               stamp="2024-05-01T10:00:00"))
    b = example_bundle(tmp_path / "eb", make_sources(tmp_path / "run-b", duration=7.25, host="laptop",
                                               stamp="2025-12-31T23:59:59"))
    ma = json.loads((a.path / MANIFEST_JSON).read_text())["files"]
    mb = json.loads((b.path / MANIFEST_JSON).read_text())["files"]
    # the raw files differ (else this test would prove nothing) ...
    for rel in ("reports/build.json", "reports/junit.xml", "inputs/fixproof.toml", VERSIONS):
        assert ma[rel]["sha256"] != mb[rel]["sha256"], rel
    # ... but not once times, durations, host names and the run's directories are taken out
    assert a.evidence_digest == b.evidence_digest
    assert {r: e.get("normalised_sha256") for r, e in ma.items()} == {r: e.get("normalised_sha256") for r, e in mb.items()}
    assert "normalised_sha256" not in ma["reports/index.html"]  # a rendering: pinned, not in the digest


MUTATIONS = {
    "a check's status": ("reports/stages/build.json", lambda root: build_stage(root, 1.5, status="failed")),
    "a check's message": ("reports/stages/build.json", lambda root: build_stage(root, 1.5, message="built fixdemo2")),
    "one byte of the binary": ("fixdemo", lambda root: b"\x01" + (bytes(range(256)) * 64)[1:]),
    "a go.sum line": ("app/go.sum", lambda root: b"golang.org/x/text v0.3.7 h1:abc=\n"),
    "a JUnit test name": ("reports/junit.xml", lambda root: junit_xml(root).replace(b'TestFix"', b'TestFixed"')),
    "a path outside the run's directories": ("reports/stages/build.json", lambda root: build_stage(root, 1.5).replace(
        f"{root}/reports/build/fixdemo".encode(), b"/elsewhere/fixdemo")),
    # runtime stages: measurements are out, verdicts and what does not depend on the run are in
    "a runtime check's status": ("reports/stages/gdb.json", lambda root: gdb_stage(root, 3, status="failed")),
    "a runtime check's name": ("reports/stages/gdb.json", lambda root: gdb_stage(root, 3, name="bounded reads")),
    "a runtime check's bound": ("reports/stages/gdb.json", lambda root: gdb_stage(root, 3, expect="==1")),
    "the gdb version": ("reports/stages/gdb.json", lambda root: gdb_stage(root, 3, version="GNU gdb 14.2")),
    "a runtime check's status in JUnit": ("reports/junit.xml", lambda root: junit_xml(
        root, verdict='<failure message="hit 0 times">no hit</failure>')),
    "a runtime check skipped in JUnit": ("reports/junit.xml", lambda root: junit_xml(
        root, verdict='<skipped message="hit 0 times"/>')),
    "a runtime check's status in the summary": ("reports/summary.json", lambda root: summary_json(
        root, 3, skipped_status="failed")),
    "a runtime SARIF result's rule": ("reports/fixproof.sarif", lambda root: sarif_json(3, rule="fixproof/gdb/other")),
    "a deterministic SARIF result's message": ("reports/fixproof.sarif", lambda root: sarif_json(
        3, build_message="go build failed: another reason")),
}


@pytest.mark.parametrize("what", list(MUTATIONS))
def test_a_changed_input_or_result_changes_the_digest(tmp_path: Path, what: str) -> None:
    base = example_bundle(tmp_path / "e0", make_sources(tmp_path / "run-0"))
    rel, data = MUTATIONS[what]
    root = tmp_path / "run-1"
    changed = example_bundle(tmp_path / "e1", make_sources(root, mutate={rel: data(root)}))
    assert changed.evidence_digest != base.evidence_digest
    assert check_bundle(changed.path).problems == ()


def test_runtime_measurements_raw_logs_and_transcripts_are_pinned_but_not_in_the_digest(tmp_path: Path) -> None:
    """Two runs of one binary under gdb and bpftrace measure different pids and counts; the verdicts agree."""
    a = example_bundle(tmp_path / "ea", make_sources(tmp_path / "run-a", hits=3))
    b = example_bundle(tmp_path / "eb", make_sources(tmp_path / "run-b", hits=4, duration=2.0))
    ma = json.loads((a.path / MANIFEST_JSON).read_text())
    mb = json.loads((b.path / MANIFEST_JSON).read_text())
    for rel in ("reports/gdb.json", "reports/junit.xml", "reports/summary.json", "reports/fixproof.sarif",
                "reports/bounded-read.mi.log", "logs/trace/goroutines.json"):
        assert ma["files"][rel]["sha256"] != mb["files"][rel]["sha256"], rel  # the runs measured differently
    assert a.evidence_digest == b.evidence_digest
    for rel in ("reports/bounded-read.mi.log", "logs/trace/goroutines.json"):
        assert "normalised_sha256" not in ma["files"][rel]
    views = {rel: e.get("normalised_as") for rel, e in ma["files"].items()}
    assert views["reports/gdb.json"] == views["reports/summary.json"] == views["reports/fixproof.sarif"] \
        == "json+runtime"
    assert views["reports/junit.xml"] == "xml+runtime"
    assert views["reports/build.json"] == "json" and views["inputs/bin/fixdemo"] == "bytes"
    assert views["inputs/go.sum"] == "text"
    # still tamper-evident: the manifest pins every byte of them
    (b.path / "logs/trace/goroutines.json").write_text('{"maps": {"created": 10, "exited": 10}}\n')
    assert [p.split(":")[0] for p in verify_bundle(b.path)] == ["logs/trace/goroutines.json"]


def test_manifest_says_what_the_digest_covers_so_it_can_be_recomputed(tmp_path: Path) -> None:
    written = example_bundle(tmp_path / "e", make_sources(tmp_path / "run"))
    manifest = json.loads((written.path / MANIFEST_JSON).read_text())
    digest = manifest["evidence_digest"]
    covers = digest["covers"]
    files = manifest["files"]
    assert covers["files"] == sorted(r for r, e in files.items() if "normalised_sha256" in e)
    assert sorted(set(files) - set(covers["files"])) == [
        MANIFEST, "logs/trace/goroutines.json", "reports/bounded-read.mi.log", "reports/index.html"]
    assert set(covers["not_covered"]) == {MANIFEST, "*.html", "logs/*", "*.mi.log"}
    assert set(covers["normalised_as"]) >= {e["normalised_as"] for e in files.values() if "normalised_as" in e}
    runtime = covers["runtime_checks"]
    assert runtime["stages"] == ["gdb", "race", "trace"]
    assert {"name", "classname", "status"} <= set(runtime["check_fields"]) and "message" not in runtime["check_fields"]
    assert {"breakpoint", "expect_hits", "watched", "exit_code"} <= set(runtime["evidence_keys"])
    assert not {"hits", "maps", "measured", "first", "second", "growth", "backtrace"} & set(runtime["evidence_keys"])
    # by hand: sha256 of "<normalised_sha256>  <path>\n" over covers.files
    lines = "".join(f"{files[r]['normalised_sha256']}  {r}\n" for r in covers["files"])
    assert hashlib.sha256(lines.encode()).hexdigest() == digest["sha256"] == written.evidence_digest
    # and the normalised bytes of a runtime stage result are what covers says
    gdb = json.loads(normalise("reports/gdb.json", (written.path / "reports/gdb.json").read_bytes(), digest["roots"]))
    [check] = gdb["checks"]
    assert sorted(check) == sorted(runtime["check_fields"])
    assert check["evidence"] == {"breakpoint": "main.readChunk", "expect_hits": ">=1", "kind": "path",
                                 "run": ["fixdemo", "-read", "10000"], "exit_code": 0,
                                 "transcript": "$REPORTS/gdb/bounded-read.mi.log"}
    assert gdb["facts"] == {"binary": "$REPORTS/build/fixdemo", "gdb_version": "GNU gdb (Debian 13.1-3) 13.1"}
    assert hashlib.sha256(json.dumps(gdb, sort_keys=True, separators=(",", ":")).encode()).hexdigest() == \
        files["reports/gdb.json"]["normalised_sha256"]


def test_a_changed_html_page_alone_does_not_change_the_digest(tmp_path: Path) -> None:
    base = example_bundle(tmp_path / "e0", make_sources(tmp_path / "run-0"))
    other = example_bundle(tmp_path / "e1", make_sources(tmp_path / "run-1", mutate={"reports/index.html": b"<html/>"}))
    assert other.evidence_digest == base.evidence_digest  # documented: *.html is pinned but not in the digest


def test_normalise_reduces_runtime_checks_everywhere_they_appear() -> None:
    def n(rel: str, data: bytes) -> bytes:
        return normalise(rel, data, {})

    def check(status: str, message: str, **evidence) -> dict:
        return {"name": "n", "classname": "", "status": status, "message": message, "details": message,
                "warning": False, "blocks": True, "evidence": {"breakpoint": "main.f", **evidence}}

    def stage(name: str, status: str, message: str, **evidence) -> bytes:
        return json.dumps({"stage": name, "checks": [check(status, message, **evidence)], "facts": {}}).encode()

    for name in ("gdb", "trace", "race"):
        measured_3, measured_4 = stage(name, "passed", "hit 3", hits=3), stage(name, "passed", "hit 4", hits=4)
        assert n("s.json", measured_3) == n("s.json", measured_4)
        assert n("s.json", stage(name, "passed", "hit 3")) != n("s.json", stage(name, "failed", "hit 3"))
        assert n("s.json", stage(name, "passed", "hit 3")) != n("s.json", stage(name, "passed", "hit 3", exit_code=2))
    for name in ("build", "test", "binary", "vulns", "toolchain", "modules"):  # deterministic: messages count
        assert n("s.json", stage(name, "passed", "hit 3")) != n("s.json", stage(name, "passed", "hit 4"))

    def summary(status: str, message: str, stage_name: str = "app.trace") -> bytes:
        return json.dumps({"exit_code": 0, "stages": {stage_name: [check(status, message)]}}).encode()

    assert n("summary.json", summary("skipped", "a")) == n("summary.json", summary("skipped", "b"))
    assert n("summary.json", summary("skipped", "a")) != n("summary.json", summary("error", "a"))
    assert n("summary.json", summary("skipped", "a", "app.build")) != \
        n("summary.json", summary("skipped", "b", "app.build"))

    def junit(suite: str, body: str) -> bytes:
        return (f'<testsuites><testsuite name="{suite}" tests="1"><testcase name="c" classname="{suite}">{body}'
                f'</testcase></testsuite></testsuites>').encode()

    out = '<system-out>maps: {{"@created": {n}}}</system-out>'
    for suite in ("fixproof.trace", "fixproof.app.gdb"):
        assert n("j.xml", junit(suite, out.format(n=1))) == n("j.xml", junit(suite, out.format(n=2)))
        assert n("j.xml", junit(suite, '<failure message="x 1">1</failure>')) == \
            n("j.xml", junit(suite, '<failure message="x 2">2</failure>'))
        verdicts = {n("j.xml", junit(suite, body)) for body in ("", "<failure/>", "<error/>", "<skipped/>")}
        assert len(verdicts) == 4
    assert n("j.xml", junit("fixproof.build", out.format(n=1))) != n("j.xml", junit("fixproof.build", out.format(n=2)))


def test_normalise_replaces_a_name_root_only_as_a_whole_name() -> None:
    roots = {"$MODCACHE_VOLUME": "fixproof-modcache-647a3683cc3cd266"}
    assert normalise("m.json", b'{"m": "volume fixproof-modcache-647a3683cc3cd266 (read-only)"}', roots) == \
        normalise("m.json", b'{"m": "volume $MODCACHE_VOLUME (read-only)"}', {})
    kept = b"xfixproof-modcache-647a3683cc3cd266 fixproof-modcache-647a3683cc3cd2667"
    assert normalise("t.txt", kept, roots) == kept


def test_normalise_json_drops_volatile_keys_at_any_depth() -> None:
    roots = {"$REPORTS": "/r/reports", "$CONFIG_DIR": "/r"}
    a = {"duration_s": 1.0, "Timestamp": "x", "checks": [{"elapsed": 3, "hostname": "h", "name": "n",
                                                          "path": "/r/reports/x", "cfg": "/r/fixproof.toml"}]}
    b = {"checks": [{"name": "n", "path": "$REPORTS/x", "cfg": "$CONFIG_DIR/fixproof.toml"}]}
    assert normalise("s.json", json.dumps(a).encode(), roots) == normalise("s.json", json.dumps(b).encode(), {})
    c = {"checks": [{"name": "m", "path": "$REPORTS/x", "cfg": "$CONFIG_DIR/fixproof.toml"}]}
    assert normalise("s.json", json.dumps(c).encode(), {}) != normalise("s.json", json.dumps(b).encode(), {})


def test_how_an_image_was_obtained_is_not_in_the_digest_but_its_id_is() -> None:
    """The first run on a fresh machine builds the image, later ones find it: the same evidence."""
    def image(obtained: str, image_id: str) -> bytes:
        return json.dumps({"facts": {"image": {"ref": "golang:1.22.5-bookworm", "id": image_id,
                                               "obtained": obtained}}}).encode()
    assert normalise("t.json", image("built", "sha256:aa"), {}) == normalise("t.json", image("present", "sha256:aa"), {})
    assert normalise("t.json", image("built", "sha256:aa"), {}) != normalise("t.json", image("built", "sha256:bb"), {})


def test_normalise_roots_match_whole_directories_only() -> None:
    roots = {"$REPORTS": "/r/reports", "$CONFIG_DIR": "/r"}
    assert normalise("x.txt", b"/r/reports/a /r/reports2/a /r/b /rx", roots) == \
        b"$REPORTS/a $CONFIG_DIR/reports2/a $CONFIG_DIR/b /rx"


def test_normalise_xml_drops_time_attributes_only() -> None:
    a = b'<testsuites time="1.0"><testsuite name="s" hostname="h" timestamp="t"><testcase name="c" time="2"/>' \
        b'</testsuite></testsuites>'
    b = b'<testsuites  time="9.9"><testsuite hostname="other" name="s"><testcase time="0" name="c"></testcase>' \
        b'</testsuite></testsuites>'
    assert normalise("junit.xml", a, {}) == normalise("junit.xml", b, {})
    assert normalise("junit.xml", a.replace(b'name="c"', b'name="d"'), {}) != normalise("junit.xml", b, {})
    failing = a.replace(b"/>", b"><failure message=\"boom\"/></testcase>", 1)
    assert normalise("junit.xml", failing, {}) != normalise("junit.xml", a, {})


def test_normalise_go_test_durations_but_not_other_numbers() -> None:
    assert normalise("t.txt", b"--- PASS: TestA (0.01s)\nok  \tpkg/a\t0.123s\n", {}) == \
        normalise("t.txt", b"--- PASS: TestA (12.50s)\nok  \tpkg/a\t9s\n", {})
    assert normalise("t.txt", b"read 4096 bytes in 2s", {}) != normalise("t.txt", b"read 4097 bytes in 2s", {})
    assert normalise("t.txt", b"--- PASS: TestA (0.01s)", {}) != normalise("t.txt", b"--- FAIL: TestA (0.01s)", {})


def test_binary_files_are_hashed_as_they_are() -> None:
    data = b"\x7fELF\x00\x01/r/reports/x duration_s"
    assert normalise("inputs/bin/app", data, {"$REPORTS": "/r/reports"}) == data


def test_how_an_image_was_obtained_is_not_in_the_junit_either() -> None:
    """JUnit renders a check's evidence as "key: value" lines: a volatile key there is dropped as in JSON,
    so the first run on a fresh machine (the image built) and a later one (present) agree."""
    def junit(obtained: str, image_id: str = "sha256:aa", extra: str = "") -> bytes:
        return (f'<testsuites><testsuite name="fixproof.toolchain"><testcase name="pinned image available">'
                f"<system-out>id: {image_id}\nobtained: {obtained}\nref: golang:1.22.5-bookworm{extra}</system-out>"
                f"</testcase></testsuite></testsuites>").encode()

    assert normalise("junit.xml", junit("built"), {}) == normalise("junit.xml", junit("present"), {})
    assert normalise("junit.xml", junit("built"), {}) == normalise("junit.xml", junit("pulled", extra="\nElapsed: 3"), {})
    assert normalise("junit.xml", junit("built"), {}) != normalise("junit.xml", junit("built", "sha256:bb"), {})
    # only whole "key: value" lines of a volatile key: the same words elsewhere stay
    kept = junit("built", extra="\nnote: obtained: built")
    assert normalise("junit.xml", kept, {}) != normalise("junit.xml", junit("built"), {})
