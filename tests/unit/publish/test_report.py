"""The verdict: exit codes from stage results, fail closed."""

from fixproof.results import CheckResult, StageResult, Status, error, failed, passed, skipped
from fixproof.publish.report import exit_code
from fixproof.tasks import closure


def sr(*checks):
    return StageResult("s", tuple(checks))


def test_exit_codes():
    assert exit_code([sr(passed("a", "ok"))]) == 0
    assert exit_code([sr(passed("a", "ok"), failed("b", "no"))]) == 1
    assert exit_code([sr(failed("b", "no"), error("c", "engine down"))]) == 3
    assert exit_code([sr(error("c", "bad go.mod", evidence={"exit_code": 2}))]) == 2


def test_nothing_passed_is_not_a_pass():
    assert exit_code([sr(skipped("a", "not run"))]) == 1
    assert exit_code([sr()]) == 1


def test_policy_failures_do_not_block_downstream():
    policy = CheckResult("build list vs GO-1", Status.FAILED, "affected", blocks=False)
    assert sr(passed("a", "ok"), policy).usable_downstream
    assert not sr(passed("a", "ok"), failed("go.sum lines", "tampered")).usable_downstream
    assert not sr(skipped("a", "not run")).usable_downstream


def test_stage_closure():
    assert closure(["build"]) == ["toolchain", "modules", "build"]
    assert closure(["vulns"]) == ["toolchain", "modules", "build", "vulns"]
    assert closure(["toolchain"]) == ["toolchain"]


def _fleet(tmp_path):
    from conftest import write_fleet_config
    from fixproof.config import load_all

    return load_all(write_fleet_config(tmp_path, reports="out"))


def test_fleet_report_groups_suites_by_app(tmp_path):
    import json
    import xml.etree.ElementTree as ET

    from fixproof.stages.common import StageContext
    from fixproof.publish.report import run_fleet

    edge, legacy = _fleet(tmp_path)
    StageResult("build", (passed("go build", "built"),)).write(edge.stages_dir / "build.json")
    StageResult("build", (failed("go build", "compile error"),)).write(legacy.stages_dir / "build.json")
    summary = run_fleet([StageContext(edge, "report"), StageContext(legacy, "report")], ["build"],
                        edge.run_junit_path)
    assert summary["exit_code"] == 1
    assert summary["apps"]["edge"]["status"] == "passed" and summary["apps"]["legacy"]["status"] == "failed"
    root = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"fixproof.edge.build", "fixproof.legacy.build"}
    assert suites["fixproof.legacy.build"].get("failures") == "1"
    on_disk = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert on_disk["apps"] == summary["apps"] and "legacy.build" in on_disk["stages"]
    # each app's SARIF is its own code scanning category, so one upload does not replace the other's alerts
    from fixproof.publish.report import run
    for cfg in (edge, legacy):
        run(StageContext(cfg, "report"), ["build"], cfg.junit_path)
    ids = {app: json.loads((tmp_path / "out" / "apps" / app / "fixproof.sarif").read_text())
           ["runs"][0]["automationDetails"]["id"] for app in ("edge", "legacy")}
    assert ids == {"edge": "fixproof/edge/", "legacy": "fixproof/legacy/"}


def test_fleet_missing_result_of_one_app_is_an_error_for_that_app(tmp_path):
    from fixproof.stages.common import StageContext
    from fixproof.publish.report import run_fleet

    edge, legacy = _fleet(tmp_path)
    StageResult("build", (passed("go build", "built"),)).write(edge.stages_dir / "build.json")
    summary = run_fleet([StageContext(edge, "report"), StageContext(legacy, "report")], ["build"],
                        edge.run_junit_path)
    assert summary["apps"]["legacy"]["status"] == "error" and summary["exit_code"] == 3


def test_fleet_tasks_are_subtasks_per_app(tmp_path, capsys):
    from doit.cmd_base import ModuleTaskLoader
    from doit.doit_cmd import DoitMain

    from fixproof.tasks import fleet_namespace

    ns = fleet_namespace(_fleet(tmp_path), only=["build"])
    assert DoitMain(ModuleTaskLoader(ns)).run(["list", "--all", "--quiet"]) == 0
    listed = set(capsys.readouterr().out.split())
    assert {"toolchain:edge", "modules:legacy", "build:edge", "build:legacy", "report:edge", "verify"} <= listed
    assert not any(name.startswith(("test", "gdb")) for name in listed)  # --only build and what it needs
