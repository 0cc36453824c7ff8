"""The whole task graph against the real Docker Engine, on the bundled example."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xmlschema

from conftest import (DATA, EXAMPLE, GDB_CHECKS, RACE_CHECKS, ROOT, TRACE_CHECKS, assert_no_traceback, check, stage,
                      verify, write_config, write_fleet_config)

pytestmark = pytest.mark.docker
XSD = DATA / "junit.xsd"


@pytest.fixture(scope="module")
def happy(tmp_path_factory, golang_image):
    """One full run of the default example, shared by the tests that read its outputs."""
    tmp = tmp_path_factory.mktemp("happy")
    cfg = write_config(tmp, EXAMPLE, extra='[fix]\nadvisories = ["GO-2024-2963", "GO-2022-1059"]\n'
                       + RACE_CHECKS + TRACE_CHECKS + GDB_CHECKS)
    p = verify(cfg, "--evidence", str(tmp / "evidence"))
    return cfg, p


def test_happy_path_passes_with_one_testcase_per_check(happy):
    cfg, p = happy
    assert_no_traceback(p)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "fixproof: PASS" in p.stdout
    junit = cfg.parent / "reports" / "junit.xml"
    xmlschema.XMLSchema(str(XSD)).validate(str(junit))
    text = junit.read_text()
    stages = {"toolchain", "modules", "build", "test", "binary", "vulns", "gdb", "trace", "race", "sbom"}
    for s in stages:
        assert f'name="fixproof.{s}"' in text
        result = stage(cfg, s)
        assert result["checks"], s
        assert all(c["status"] in ("passed", "skipped") for c in result["checks"]), result
    n_checks = sum(len(stage(cfg, s)["checks"]) for s in stages)
    assert text.count("<testcase") == n_checks > 20


def test_go_tests_become_testcases_including_regression_tests(happy):
    cfg, _ = happy
    cases = {(c["classname"], c["name"]): c["status"] for c in stage(cfg, "test")["checks"]}
    assert cases[("example.com/fixdemo/internal/fetch", "TestRegressionGO20242963")] == "passed"
    assert cases[("example.com/fixdemo/internal/negotiate", "TestRegressionGO20221059")] == "passed"
    assert any(name.startswith("TestPick/") for _, name in cases)  # subtests


def test_binary_stage_evidence(happy):
    cfg, _ = happy
    assert check(cfg, "binary", "embedded Go version")["evidence"]["go_version"] == "go1.22.5"
    deps = check(cfg, "binary", "dependencies match the clean build list")
    assert deps["status"] == "passed" and "golang.org/x/text@v0.3.8" in deps["message"]
    build = stage(cfg, "build")["facts"]
    assert len(build["sha256"]) == 64 and Path(build["binary"]).is_file()
    tc = stage(cfg, "toolchain")["facts"]["image"]
    assert tc["id"].startswith("sha256:") and tc["ref"] == "golang:1.22.5-bookworm"


def test_evidence_bundle_checks_out(happy):
    cfg, _ = happy
    bundle = cfg.parent / "evidence"
    r = subprocess.run(["sha256sum", "-c", "--quiet", "MANIFEST.sha256"], cwd=bundle, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (bundle / "inputs" / "bin" / "fixdemo").is_file()


def test_the_bundled_page_links_what_the_bundle_holds(happy):
    """index.html inside the bundle links its stage results and gdb transcripts by relative paths that open there."""
    import re

    cfg, _ = happy
    reports = cfg.parent / "evidence" / "reports"
    hrefs = set(re.findall(r'href="([^"#]+)"', (reports / "index.html").read_text()))
    # bundled elsewhere: raw bpftrace output under logs/trace/, the binary as inputs/bin/<name>
    local = {h for h in hrefs if not h.startswith(("trace/", "build/"))}
    assert {"stages/gdb.json", "stages/build.json", "junit.xml"} <= local
    assert any(h.startswith("gdb/") and h.endswith(".mi.log") for h in local)
    missing = sorted(h for h in local if not (reports / h).is_file())
    assert not missing, missing


def test_evidence_verify_catches_tampering(happy, tmp_path):
    import shutil

    cfg, _ = happy
    fixproof = [sys.executable, "-m", "fixproof.cli", "evidence", "verify"]
    ok = subprocess.run([*fixproof, str(cfg.parent / "evidence")], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert ok.returncode == 0 and "intact" in ok.stdout, ok.stdout + ok.stderr
    copy = tmp_path / "bundle"
    shutil.copytree(cfg.parent / "evidence", copy)
    binary = copy / "inputs" / "bin" / "fixdemo"
    data = bytearray(binary.read_bytes())
    data[len(data) // 2] ^= 1  # one bit of the shipped binary
    binary.write_bytes(bytes(data))
    (copy / "reports" / "junit.xml").unlink()
    (copy / "reports" / "extra.txt").write_text("added later\n")
    bad = subprocess.run([*fixproof, str(copy)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"{copy}/inputs/bin/fixdemo: sha256 mismatch" in bad.stdout
    assert f"{copy}/reports/junit.xml: missing" in bad.stdout
    assert f"{copy}/reports/extra.txt: not in MANIFEST.sha256" in bad.stdout
    assert "3 problem(s)" in bad.stderr
    missing = subprocess.run([*fixproof, str(tmp_path / "nope")], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_openvex_says_fixed_for_the_listed_advisories(happy):
    cfg, _ = happy
    vex = json.loads((cfg.parent / "reports" / "fixproof.openvex.json").read_text())
    sha = stage(cfg, "build")["facts"]["sha256"]
    assert {s["vulnerability"]["name"]: s["status"] for s in vex["statements"]} == {
        "GO-2024-2963": "fixed", "GO-2022-1059": "fixed"}
    assert all(s["products"][0]["hashes"]["sha-256"] == sha for s in vex["statements"])
    assert "fixproof.openvex.json" in {p.name for p in (cfg.parent / "evidence" / "reports").iterdir()}


def test_sarif_of_the_run_validates_against_the_schema(happy, sarif_validator):
    cfg, _ = happy
    doc = json.loads((cfg.parent / "reports" / "fixproof.sarif").read_text())
    errors = [f"{list(e.path)}: {e.message}" for e in sarif_validator.iter_errors(doc)]
    assert not errors, errors
    assert doc["runs"][0]["tool"]["driver"]["name"] == "fixproof"


def test_noop_rerun_starts_no_container(happy, container_events):
    cfg, _ = happy
    time.sleep(1.1 - time.time() % 1)  # events are counted per whole second: start in a fresh one
    t0 = time.time()
    p = verify(cfg)
    t1 = time.time()
    assert p.returncode == 0, p.stdout + p.stderr
    for s in ("toolchain", "modules", "build", "test", "binary", "vulns", "gdb", "trace", "race"):
        assert f"fixproof: {s}: up to date, not rerun" in p.stderr
    time.sleep(1)
    assert container_events(t0, t1) == 0
    assert t1 - t0 < 10


def test_editing_go_source_reruns_build_and_test_not_modules(tmp_path, golang_image, app_copy):
    cfg = write_config(tmp_path, app_copy)
    assert verify(cfg).returncode == 0
    f = app_copy / "internal" / "fetch" / "fetch.go"
    f.write_text(f.read_text() + "\n// a harmless edit\n")
    p = verify(cfg)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "fixproof: toolchain: up to date" in p.stderr and "fixproof: modules: up to date" in p.stderr
    assert all(f"fixproof: {s}: started" in p.stderr for s in ("build", "test", "binary")), p.stderr


def test_old_image_fails_at_toolchain(tmp_path):
    cfg = write_config(tmp_path, EXAMPLE, image="golang:1.22.4-bookworm")
    p = verify(cfg, "--only", "toolchain")
    assert_no_traceback(p)
    assert p.returncode == 1, p.stdout + p.stderr
    c = check(cfg, "toolchain", "go version in image")
    assert c["status"] == "failed"
    assert "go1.22.4" in c["message"] and "go1.22.5" in c["message"]
    assert "<failure" in (cfg.parent / "reports" / "junit.xml").read_text()


def test_old_image_variant_config_from_the_repository():
    cfg = ROOT / "examples" / "configs" / "unfixed-image.toml"
    p = verify(cfg, "--only", "modules")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "runs go1.22.4 but the pin is go1.22.5" in p.stdout
    assert "SKIPPED modules: prerequisites" in p.stdout


def test_gomod_needing_newer_go_fails_naming_both(tmp_path, golang_image, app_copy):
    gomod = app_copy / "go.mod"
    gomod.write_text(gomod.read_text().replace("go 1.22\n", "go 1.23\n").replace("toolchain go1.22.5\n", ""))
    cfg = write_config(tmp_path, app_copy)
    p = verify(cfg, "--only", "toolchain")
    assert p.returncode == 1, p.stdout + p.stderr
    c = check(cfg, "toolchain", "go.mod go line")
    assert c["status"] == "failed" and "1.23" in c["message"] and "go1.22.5" in c["message"]


def test_tampered_gosum_fails_naming_the_module(tmp_path, golang_image, app_copy):
    gosum = app_copy / "go.sum"
    gosum.write_text(gosum.read_text().replace("h1:nAL+RVCQ9uMn3vJZbV+MRnydTJFPf8qqY42YiA6MrqY=",
                                               "h1:AAAARVCQ9uMn3vJZbV+MRnydTJFPf8qqY42YiA6MrqY="))
    cfg = write_config(tmp_path, app_copy)
    p = verify(cfg)
    assert_no_traceback(p)
    assert p.returncode == 1, p.stdout + p.stderr
    c = check(cfg, "modules", "go.sum lines")
    assert c["status"] == "failed" and "golang.org/x/text v0.3.8" in c["message"]
    # go mod verify compares the cache with the hashes recorded at download time, not with
    # go.sum, so it passes here: the line-by-line comparison is what catches the tampering.
    assert check(cfg, "modules", "go mod verify")["status"] == "passed"
    assert stage(cfg, "build")["checks"][0]["status"] == "skipped"


def test_extra_gosum_line_fails(tmp_path, golang_image, app_copy):
    gosum = app_copy / "go.sum"
    gosum.write_text(gosum.read_text() + "example.com/injected v1.0.0 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
    cfg = write_config(tmp_path, app_copy)
    p = verify(cfg, "--only", "modules")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "example.com/injected" in check(cfg, "modules", "go.sum lines")["message"]


def test_insecure_sumdb_fails_unless_allowed(tmp_path, golang_image):
    cfg = write_config(tmp_path, EXAMPLE, extra='[modules]\ngosumdb = "off"\n')
    p = verify(cfg, "--only", "modules")
    assert p.returncode == 1
    assert "GOSUMDB=off" in check(cfg, "modules", "module fetch settings")["message"]


def test_compile_error_fails_with_compiler_output(tmp_path, golang_image, app_copy):
    main = app_copy / "cmd" / "fixdemo" / "main.go"
    main.write_text(main.read_text().replace("flag.Parse()", "flag.Parse(); undefinedThing()"))
    cfg = write_config(tmp_path, app_copy)
    p = verify(cfg, "--only", "build")
    assert_no_traceback(p)
    assert p.returncode == 1, p.stdout + p.stderr
    c = check(cfg, "build", "go build")
    assert c["status"] == "failed" and "undefinedThing" in c["details"]
    assert "undefinedThing" in (cfg.parent / "reports" / "junit.xml").read_text()


def test_unfixed_module_tree_fails_its_regression_test(tmp_path, golang_image):
    cfg = write_config(tmp_path, EXAMPLE, extra="")
    text = cfg.read_text().replace('packages = ["./cmd/fixdemo"]', 'packages = ["./cmd/fixdemo"]\nmodfile = "go.xtext037.mod"')
    cfg.write_text(text)
    p = verify(cfg, "--only", "test")
    assert p.returncode == 1, p.stdout + p.stderr
    cases = {c["name"]: c for c in stage(cfg, "test")["checks"]}
    assert cases["TestRegressionGO20221059"]["status"] == "failed"
    assert "older than v0.3.8" in cases["TestRegressionGO20221059"]["details"]


def test_container_timeout_is_exit_3_and_leaves_nothing(tmp_path, golang_image, engine):
    cfg = write_config(tmp_path, EXAMPLE, extra='[build]\ncache = "fresh"\n[timeouts]\nbuild = 1\n')
    p = verify(cfg, "--only", "build")
    assert_no_traceback(p)
    assert p.returncode == 3, p.stdout + p.stderr
    assert "timeout" in p.stdout + p.stderr
    assert engine.leftover_containers() == []


def test_sigint_removes_containers(tmp_path, golang_image, engine):
    cfg = write_config(tmp_path, EXAMPLE, extra="[build]\ncache = \"fresh\"\n")
    # Ctrl-C's default action, even when this test runs where SIGINT is ignored (a background job of a
    # non-interactive shell): an ignored SIGINT is inherited, and the run would rightly go on to its verdict
    proc = subprocess.Popen([sys.executable, "-m", "fixproof.cli", "verify", "-c", str(cfg)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    def mine() -> list:  # this run's containers only (another run's must not trigger the interrupt early)
        return engine.client.api.containers(all=True, filters={"label": f"fixproof.pid={proc.pid}"})

    deadline = time.time() + 120
    while time.time() < deadline and not mine():
        time.sleep(0.2)
    assert mine(), "no container started"
    proc.send_signal(2)
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in out + err
    assert proc.returncode != 0, (out, err)
    assert engine.leftover_containers() == []


def test_sigterm_in_a_parallel_fleet_run_removes_every_container(tmp_path, golang_image, engine):
    """-n 2 runs stages in worker threads; a cancelled CI job (SIGTERM) must not leave their containers behind."""
    cfg = write_fleet_config(tmp_path, extra='[build]\ncache = "fresh"\n')
    proc = subprocess.Popen([sys.executable, "-m", "fixproof.cli", "verify", "-c", str(cfg), "-n", "2"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    def mine() -> list:  # low-level listing: no inspect of containers removed meanwhile
        return engine.client.api.containers(all=True, filters={"label": f"fixproof.pid={proc.pid}"})

    deadline = time.time() + 120
    while time.time() < deadline and not mine():
        time.sleep(0.2)
    assert mine(), "no container started"
    proc.send_signal(15)
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in out + err
    assert proc.returncode == 3, out + err
    assert mine() == [], out + err


def test_run_cache_volume_of_an_interrupted_run_is_removed(tmp_path, golang_image, engine):
    """#14: with cache = "fresh" test and race share a Go build cache volume made for the run; a run
    cancelled while they use it (SIGTERM) removes it, as a finished run does."""
    cfg = write_config(tmp_path, EXAMPLE, extra='[build]\ncache = "fresh"\n')
    proc = subprocess.Popen([sys.executable, "-m", "fixproof.cli", "verify", "-c", str(cfg)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def volumes() -> list:
        return [v.name for v in engine.client.volumes.list(filters={"label": f"fixproof.pid={proc.pid}"})]

    try:
        deadline = time.time() + 300
        while time.time() < deadline and not volumes() and proc.poll() is None:
            time.sleep(0.2)
        made = volumes()
        assert made and all(v.startswith("fixproof-run-") for v in made), made
        time.sleep(2)  # test and race have containers on it now
        proc.send_signal(15)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in out + err
    assert proc.returncode == 3, out + err
    assert volumes() == [], out + err


def test_listed_advisories_pass_on_the_fixed_build(happy):
    cfg, _ = happy
    assert check(cfg, "toolchain", "pinned Go vs GO-2024-2963")["status"] == "passed"
    assert check(cfg, "modules", "build list vs GO-2022-1059")["status"] == "passed"
    for aid in ("GO-2024-2963", "GO-2022-1059"):
        assert check(cfg, "vulns", f"advisory {aid}")["status"] == "passed"
    # Go 1.22.5 has later stdlib advisories: reported as warnings under fail_on = "listed", never dropped
    warned = [c for c in stage(cfg, "vulns")["checks"] if c["warning"] and c["name"].startswith("advisory GO-")]
    assert warned


def test_unfixed_module_tree_fails_at_modules_and_vulns_at_symbol_level(tmp_path, golang_image):
    cfg = write_config(tmp_path, EXAMPLE, extra='[fix]\nadvisories = ["GO-2022-1059"]\n')
    cfg.write_text(cfg.read_text().replace('packages = ["./cmd/fixdemo"]',
                                           'packages = ["./cmd/fixdemo"]\nmodfile = "go.xtext037.mod"'))
    p = verify(cfg)
    assert p.returncode == 1, p.stdout + p.stderr
    assert check(cfg, "modules", "build list vs GO-2022-1059")["status"] == "failed"
    v = check(cfg, "vulns", "advisory GO-2022-1059")
    assert v["status"] == "failed" and v["evidence"]["level"] == "symbol"
    assert any("ParseAcceptLanguage" in sym for sym in v["evidence"]["symbols"])
    vex = json.loads((cfg.parent / "reports" / "fixproof.openvex.json").read_text())
    [st] = vex["statements"]
    assert (st["vulnerability"]["name"], st["status"]) == ("GO-2022-1059", "affected")
    assert "Require golang.org/x/text v0.3.8 or later" in st["action_statement"]
    sarif = json.loads((cfg.parent / "reports" / "fixproof.sarif").read_text())
    res = next(r for r in sarif["runs"][0]["results"] if r["ruleId"] == "GO-2022-1059")
    assert res["level"] == "error" and "golang.org/x/text@v0.3.7" in res["message"]["text"]
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "examples/fixdemo/go.xtext037.mod"


def test_waiver_turns_a_listed_finding_into_skipped(tmp_path, golang_image):
    waivers = tmp_path / "waivers.toml"
    waivers.write_text('[[waiver]]\nid = "CVE-2022-32149"\nreason = "input is size-limited upstream"\n'
                       'expires = 2999-01-01\napproved_by = "sec@example.com"\n')
    cfg = write_config(tmp_path, EXAMPLE, extra=f'[fix]\nadvisories = ["GO-2022-1059"]\nwaivers = "{waivers}"\n')
    cfg.write_text(cfg.read_text().replace('packages = ["./cmd/fixdemo"]',
                                           'packages = ["./cmd/fixdemo"]\nmodfile = "go.xtext037.mod"'))
    verify(cfg, "--only", "vulns")
    v = check(cfg, "vulns", "advisory GO-2022-1059")
    assert v["status"] == "skipped" and "input is size-limited upstream" in v["message"]
    sarif = json.loads((cfg.parent / "reports" / "fixproof.sarif").read_text())
    res = next(r for r in sarif["runs"][0]["results"] if r["ruleId"] == "GO-2022-1059")
    assert res["suppressions"][0]["kind"] == "external"
    assert "input is size-limited upstream" in res["suppressions"][0]["justification"]


@pytest.fixture(scope="module")
def old_go_artifact(tmp_path_factory):
    """The example built outside fixproof with go1.22.4: a shipped binary that missed the fix."""
    tmp = tmp_path_factory.mktemp("shipped")
    out = tmp / "fixdemo"
    env = {**os.environ, "GOTOOLCHAIN": "go1.22.4", "GOFLAGS": "-mod=readonly -buildvcs=false", "CGO_ENABLED": "0"}
    subprocess.run(["go", "build", "-trimpath", "-o", str(out), "./cmd/fixdemo"], cwd=EXAMPLE, env=env,
                   check=True, capture_output=True, timeout=600)
    return out


def test_artifact_equal_to_the_clean_build_passes(happy, tmp_path):
    cfg, _ = happy
    shipped = tmp_path / "fixdemo"
    shipped.write_bytes(Path(stage(cfg, "build")["facts"]["binary"]).read_bytes())
    p = verify(cfg, "--artifact", str(shipped))
    assert p.returncode == 0, p.stdout + p.stderr
    assert check(cfg, "binary", "shipped artifact: sha256")["status"] == "passed"
    assert not check(cfg, "binary", "shipped artifact: sha256")["warning"]


def test_artifact_built_with_old_go_fails_naming_both(happy, old_go_artifact):
    cfg, _ = happy
    p = verify(cfg, "--artifact", str(old_go_artifact))
    assert p.returncode == 1, p.stdout + p.stderr
    c = check(cfg, "binary", "shipped artifact: Go version")
    assert c["status"] == "failed"
    assert c["message"] == "shipped binary built with go1.22.4, clean build go1.22.5"
    assert "fixproof: build: up to date" in p.stderr and "fixproof: binary: started" in p.stderr  # only the comparison reran
    # what production runs is judged against the database too: go1.22.4 still has GO-2024-2963
    shipped = check(cfg, "vulns", "shipped artifact: advisory GO-2024-2963")
    assert shipped["status"] == "failed" and "shipped" in shipped["message"], shipped
    assert check(cfg, "vulns", "advisory GO-2024-2963")["status"] == "passed"  # the clean rebuild is fixed


def test_artifact_missing_is_usage_error(happy, tmp_path):
    cfg, _ = happy
    p = verify(cfg, "--artifact", str(tmp_path / "nope"))
    assert p.returncode == 2 and "no such file" in p.stderr


def test_image_impossible_to_build_is_exit_3(tmp_path, engine):
    cfg = write_config(tmp_path, EXAMPLE, image="registry.invalid/nothing:1")
    p = verify(cfg, "--only", "toolchain")
    assert_no_traceback(p)
    assert p.returncode == 3, p.stdout + p.stderr
    assert "could not be pulled" in p.stdout + p.stderr


def test_nonexistent_go_release_is_a_config_error(tmp_path, engine):
    cfg = write_config(tmp_path, EXAMPLE, image="golang:1.99.0-bookworm", go="1.99.0")
    p = verify(cfg, "--only", "toolchain")
    assert p.returncode == 2, p.stdout + p.stderr
    assert "1.99.0" in p.stdout + p.stderr


def test_fleet_runs_apps_side_by_side_and_groups_the_report(tmp_path, golang_image):
    """Two apps of one config with -n 2: one JUnit file grouped by app; the vulnerable one fails alone."""
    cfg = write_fleet_config(tmp_path, extra='[fix]\nadvisories = ["GO-2022-1059"]\n')
    p = verify(cfg, "--only", "binary", "-n", "2")
    assert_no_traceback(p)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "app edge: PASSED" in p.stdout and "app legacy: FAILED" in p.stdout
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    assert {a: s["status"] for a, s in summary["apps"].items()} == {"edge": "passed", "legacy": "failed"}
    junit = tmp_path / "reports" / "junit.xml"
    xmlschema.XMLSchema(str(XSD)).validate(str(junit))
    text = junit.read_text()
    for app in ("edge", "legacy"):
        for s in ("toolchain", "modules", "build", "binary"):
            assert f'name="fixproof.{app}.{s}"' in text
    legacy = json.loads((tmp_path / "reports" / "apps" / "legacy" / "stages" / "modules.json").read_text())
    assert any(c["status"] == "failed" and "GO-2022-1059" in c["message"] for c in legacy["checks"]), legacy
    edge = json.loads((tmp_path / "reports" / "apps" / "edge" / "stages" / "binary.json").read_text())
    assert all(c["status"] == "passed" for c in edge["checks"]), edge


def test_evidence_that_cannot_be_written_is_exit_3(tmp_path, golang_image):
    cfg = write_config(tmp_path, EXAMPLE)
    not_a_bundle = tmp_path / "precious"
    not_a_bundle.mkdir()
    (not_a_bundle / "notes.txt").write_text("keep me\n")
    p = verify(cfg, "--only", "toolchain", "--evidence", str(not_a_bundle))
    assert_no_traceback(p)
    assert p.returncode == 3, p.stdout + p.stderr
    assert "evidence bundle could not be written" in p.stderr and "not an evidence bundle" in p.stderr
    assert "fixproof: ERROR" in p.stdout and "fixproof: PASS" not in p.stdout, p.stdout  # the verdict says so too
    assert (not_a_bundle / "notes.txt").read_text() == "keep me\n"  # refused, never deleted
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    assert summary["exit_code"] == 3 and "evidence_error" in summary
