"""The stage registry: a stage is one module declaring SPEC, and everything else takes it from there.

The sbom stage was added by its module alone (pipeline/stages/sbom.py): these tests check that the task
graph, doit's task list, --only, the progress order and the evidence rules know it, and that the nine
stages before it kept their order, inputs and digest rules.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

import pytest

from conftest import EXAMPLE, ROOT, write_config
from fixproof import registry, tasks
from fixproof.config import load
from fixproof.errors import UsageError
from fixproof.stages.build import BuildFacts
from fixproof.stages.spec import Inputs, StageSpec

OLD_STAGES = ("toolchain", "modules", "build", "test", "binary", "vulns", "gdb", "trace", "race")
# fixproof.publish.evidence (now evidence_digest) before the registry: what the evidence digest keeps of runtime checks
OLD_RUNTIME_STAGES = ("gdb", "race", "trace")
OLD_RUNTIME_EVIDENCE_KEYS = (
    "GORACE", "breakpoint", "build", "command", "condition", "expect_hits", "expression", "first_moment",
    "forbid_itab", "kind", "max_growth", "network", "probe", "require_itab", "run", "second_moment",
    "alloc_entry_points", "attached_probes", "found", "go_support", "image_id", "itabs_in_binary", "missing", "watched",
    "exit_code", "raw", "transcript",
)
# tasks.py before the registry: upstream stages, and the config values each stage's config_changed saw
OLD_NEEDS = {"toolchain": (), "modules": ("toolchain",), "build": ("toolchain", "modules"),
             "test": ("toolchain", "modules"), "binary": ("build", "modules"), "vulns": ("build",),
             "gdb": ("build",), "trace": ("build",), "race": ("toolchain", "modules")}
BASE = {"app", "timeouts", "docker", "fix", "vulndb"}
OLD_CONFIG_KEYS = {"toolchain": BASE | {"toolchain"}, "modules": BASE | {"modules"},
                   "build": BASE | {"build", "vcs_head"}, "test": BASE | {"build", "test"},
                   "binary": BASE | {"toolchain", "artifact"}, "vulns": BASE | {"day", "artifact"},
                   "race": BASE | {"build", "race"}, "trace": BASE | {"trace"}, "gdb": BASE | {"gdb"}}


@pytest.fixture
def cfg(tmp_path):
    return load(write_config(tmp_path, EXAMPLE))


def test_the_registry_finds_every_stage_module_in_pipeline_order():
    names = registry.names()
    assert names[:len(OLD_STAGES)] == OLD_STAGES  # reports, JUnit suites and summaries keep their order
    assert names == (*OLD_STAGES, "sbom")
    assert all(isinstance(s, StageSpec) for s in registry.specs())
    for s in registry.specs():
        assert s.run.__module__.startswith("fixproof.stages.")  # declared by the stage's own module
        assert all(registry.names().index(up) < names.index(s.name) for up in s.needs)
    assert {s.name: s.needs for s in registry.specs() if s.name in OLD_NEEDS} == OLD_NEEDS
    assert registry.spec("sbom").needs == ("build",)


def test_closure_brings_what_a_stage_needs():
    assert registry.closure(["sbom"]) == ["toolchain", "modules", "build", "sbom"]
    assert tasks.closure(["vulns", "sbom"]) == ["toolchain", "modules", "build", "vulns", "sbom"]
    assert tasks.STAGES == registry.names()


def test_evidence_runtime_rules_are_the_old_ones():
    from fixproof.publish import evidence_digest as evidence

    assert evidence.runtime_stages() == OLD_RUNTIME_STAGES
    assert set(evidence.runtime_evidence_keys()) == set(OLD_RUNTIME_EVIDENCE_KEYS)
    assert len(evidence.runtime_evidence_keys()) == len(OLD_RUNTIME_EVIDENCE_KEYS)
    assert not registry.spec("sbom").runtime  # a document of the binary: deterministic, judged whole


def test_every_stage_task_comes_from_its_spec(cfg):
    dicts = tasks.task_dicts(cfg, list(registry.names()), cfg.junit_path)
    sd = cfg.stages_dir
    for s in registry.specs():
        t = dicts[s.name]
        assert t["doc"] == s.doc and t["targets"] == [str(sd / f"{s.name}.json")]
        assert {str(sd / f"{up}.json") for up in s.needs} <= set(t["file_dep"])
        assert t["actions"][0][1][0] == s.name
        assert all(callable(u) or hasattr(u, "configure_task") for u in t["uptodate"])
    sbom = dicts["sbom"]
    assert sbom["file_dep"] == [str(sd / "build.json")]
    assert str(sd / "sbom.json") in dicts["report"]["file_dep"]
    # the old stages' config_changed saw the same values, so doit's saved state still holds
    for name, keys in OLD_CONFIG_KEYS.items():
        changed = next(u for u in dicts[name]["uptodate"] if hasattr(u, "configure_task"))
        assert set(changed.config) == keys, name
    gomod = str(cfg.gomod_path)
    assert dicts["toolchain"]["file_dep"] == [gomod]
    assert set(dicts["modules"]["file_dep"]) == {gomod, str(cfg.gosum_path), str(sd / "toolchain.json")}
    assert set(dicts["vulns"]["file_dep"]) == {str(sd / "build.json")}
    assert str(cfg.app_dir / "main.go") not in dicts["build"]["file_dep"]  # (the example's main is in cmd/)
    assert any(f.endswith("cmd/fixdemo/main.go") for f in dicts["build"]["file_dep"])


def test_doit_list_shows_the_new_stage_with_its_doc(cfg, capsys):
    from doit.cmd_base import ModuleTaskLoader
    from doit.doit_cmd import DoitMain

    assert DoitMain(ModuleTaskLoader(tasks.namespace(cfg))).run(["list"]) == 0
    out = capsys.readouterr().out
    listed = {line.split(None, 1)[0]: line.split(None, 1)[1].strip() for line in out.splitlines() if line.strip()}
    assert listed == tasks.docs()
    assert listed["sbom"] == registry.spec("sbom").doc


def test_only_sbom_is_a_known_stage_and_brings_its_upstream(cfg):
    from fixproof.verify_cmd import check_only

    check_only(["sbom"])
    with pytest.raises(UsageError, match="unknown stage 'nope'.*sbom"):
        check_only(["nope"])
    ns = tasks.fleet_namespace((cfg,), only=["sbom"])
    assert {k for k in ns if k.startswith("task_")} == {
        "task_toolchain", "task_modules", "task_build", "task_sbom", "task_report", "task_verify"}


def test_cli_refuses_an_unknown_only_stage_before_anything_runs(tmp_path):
    cfg = write_config(tmp_path, EXAMPLE)
    p = subprocess.run([sys.executable, "-m", "fixproof.cli", "verify", "-c", str(cfg), "--only", "nope"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert p.returncode == 2 and "sbom" in p.stderr and "Traceback" not in p.stderr


def test_progress_orders_tasks_by_the_registry():
    from fixproof.doit_reporter import _pipeline_order

    order = sorted(["report", "sbom", "gdb:edge", "build", "toolchain"], key=_pipeline_order)
    assert order == ["toolchain", "build", "gdb:edge", "sbom", "report"]


def test_dodo_and_tasks_share_one_doit_config(cfg):
    import runpy

    dodo = runpy.run_path(str(ROOT / "dodo.py"))
    assert dodo["DOIT_CONFIG"] is tasks.DOIT_CONFIG
    assert {k for k in dodo if k.startswith("task_")} == {f"task_{n}" for n in tasks.docs()}
    assert dodo["task_sbom"].__doc__ == registry.spec("sbom").doc
    run = tasks.doit_config(cfg)
    assert run == {**tasks.DOIT_CONFIG, "dep_file": str(cfg.run_reports_dir / ".doit.db")}


def _fresh_modules(code: str) -> set[str]:
    p = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
                       capture_output=True, text=True, timeout=60, check=True)
    return set(p.stdout.split())


def test_no_import_cycle_and_no_cli_module_under_a_stage():
    assert "fixproof.tasks" not in _fresh_modules("import fixproof.doit_reporter")
    assert "fixproof.vulns_cmd" not in _fresh_modules("import fixproof.stages.vulns")
    loaded = _fresh_modules("import fixproof.registry")  # no stage module until a spec is asked for
    assert not any(m.startswith("fixproof.stages.") and m != "fixproof.stages.spec" for m in loaded)


# (config.py names config sections, some of which share a stage's name; its STAGES tuple is gone)
STAGE_NAMES_SOURCES = ("pipeline/tasks.py", "pipeline/doit_reporter.py", "pipeline/verify_cmd.py",
                       "pipeline/registry.py", "dodo.py")


@pytest.mark.parametrize("source", STAGE_NAMES_SOURCES)
def test_no_per_stage_list_is_left_outside_the_stage_modules(source):
    """No string literal in these modules names a stage: they read the registry."""
    tree = ast.parse((ROOT / source).read_text())
    named = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    stages = set(registry.names()) - {"test"}  # "test" is also a config section name and an English word
    assert not named & stages, sorted(named & stages)


def test_config_lists_no_stages():
    from fixproof import config

    assert not hasattr(config, "STAGES")


def test_build_facts_are_read_through_one_accessor_and_keep_their_json(tmp_path):
    from fixproof.results import StageResult, passed

    facts = BuildFacts(tmp_path / "app", "ab" * 32, "go build -o /out/app .", "sha256:" + "1" * 64)
    assert facts.to_json() == {"binary": str(tmp_path / "app"), "sha256": "ab" * 32,
                               "command": "go build -o /out/app .", "image_id": "sha256:" + "1" * 64}
    result = StageResult("build", (passed("go build", "built"),), facts.to_json())
    assert BuildFacts.of(StageResult.from_json(result.to_json())) == facts
    assert BuildFacts.of(None) is None
    assert BuildFacts.of(StageResult("build", (), {"command": "go build"})) is None  # a failed build made nothing
    assert registry.spec("build").facts is BuildFacts
    # no reader of the build's facts by key is left in the package
    for path in (ROOT / "pipeline").rglob("*.py"):
        text = path.read_text()
        assert 'build.facts["binary"]' not in text and "build.facts.get(" not in text, path


def test_a_new_stage_module_is_all_the_registry_needs(tmp_path, monkeypatch):
    """A package with one more module: the registry finds it, orders it and checks its needs."""
    pkg = tmp_path / "extra_stages"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helper.py").write_text("X = 1\n")  # no SPEC: not a stage
    spec = textwrap.dedent("""\
        from fixproof.stages.spec import StageSpec

        def run(ctx):
            raise AssertionError("not run here")

        SPEC = StageSpec(name={name!r}, order={order}, run=run, needs={needs!r}, doc="{name} stage.")
        """)
    (pkg / "first.py").write_text(spec.format(name="first", order=10, needs=()))
    (pkg / "second.py").write_text(spec.format(name="second", order=20, needs=("first",)))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert [s.name for s in registry.load("extra_stages")] == ["first", "second"]
    (pkg / "third.py").write_text(spec.format(name="third", order=5, needs=("second",)))
    with pytest.raises(registry.RegistryError, match="third needs 'second'"):
        registry.load("extra_stages")


def test_spec_checks_itself():
    def run(ctx):
        raise AssertionError

    with pytest.raises(ValueError, match="one line"):
        StageSpec(name="x", order=1, run=run, doc="two\nlines")
    with pytest.raises(ValueError, match="runtime"):
        StageSpec(name="x", order=1, run=run, doc="x.", stable_evidence_keys=("a",))
    with pytest.raises(ValueError, match="report or verify"):
        StageSpec(name="report", order=1, run=run, doc="x.")
    assert Inputs() == Inputs(file_dep=(), config={}, uptodate=())


def test_verify_runs_independent_stages_side_by_side_by_default(tmp_path, monkeypatch):
    """#14: stages ran one at a time; now `fixproof verify` (and `doit verify`) run two tasks at once in
    threads by default, and `-n 1` keeps a serial run."""
    from doit import doit_cmd

    from conftest import EXAMPLE, write_config
    from fixproof import cli, tasks, verify_cmd

    assert (tasks.DOIT_CONFIG["num_process"], tasks.DOIT_CONFIG["par_type"]) == (2, "thread")
    seen = []
    monkeypatch.setattr(doit_cmd.DoitMain, "run", lambda self, argv: seen.append(argv) or 3)
    cfg = write_config(tmp_path, EXAMPLE)
    verify_cmd.run(str(cfg), None, None, None, None)
    verify_cmd.run(str(cfg), None, None, None, None, jobs=1)
    assert seen == [["-n", "2", "-P", "thread", "verify"], ["-n", "0", "-P", "thread", "verify"]]  # doit's serial runner
    assert cli.build_parser().parse_args(["verify"]).jobs is None  # verify_cmd's default stands
