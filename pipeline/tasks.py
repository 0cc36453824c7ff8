"""The doit task graph: one task per stage, each writing reports/stages/<stage>.json.

Every stage task is built from the stage's spec (fixproof.registry): a stage
reruns only when its inputs change: the results of the stages it needs, its
files (``file_dep``), its config sections and other values
(``config_changed``), what its ``uptodate`` callables watch (the image, the
cache volume, the built binary: checked without starting a container), or
when its last result was an infrastructure error. The report task only reads
stage results.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from doit.tools import config_changed

from fixproof import registry
from fixproof.config import Config
from fixproof.doit_reporter import DoitReporter
from fixproof.engine.docker import Engine
from fixproof.errors import EXIT_INFRA, EngineError, FixproofError
from fixproof.results import StageResult, error
from fixproof.publish import report
from fixproof.stages.common import StageContext

# Tasks run side by side by default (`-n 1` for one at a time): stages that need only the module cache
# (build, test, race) or only the build (binary, vulns, gdb, trace, sbom) run together, two at a time
# on a 2-core CI runner. Threads, not processes: doit's process pool would have to pickle the task closures.
DEFAULT_JOBS = 2

# doit's settings, shared with dodo.py; a run's dep_file is in its report directory (doit_config)
DOIT_CONFIG: dict[str, Any] = {
    "num_process": DEFAULT_JOBS,  # `doit verify` runs stages side by side too (`doit verify -n 1`: one at a time)
    "par_type": "thread",
    "default_tasks": ["verify"],
    "dep_file": "reports/.doit.db",
    "backend": "json",
    "verbosity": 2,
    "reporter": DoitReporter,  # doit's task events -> the run's progress display
}

# What every stage depends on, besides its own config sections.
COMMON_SECTIONS = ("app", "timeouts", "docker", "fix")

# The tasks after the stages.
REPORT_DOC = "JUnit XML and summary from the stage results (runs no tool)."
VERIFY_DOC = "Run every stage and report; fails when a check failed or could not run."


def docs() -> dict[str, str]:
    """Task name -> its help line, every stage in pipeline order, then report and verify."""
    return {**{s.name: s.doc for s in registry.specs()}, "report": REPORT_DOC, "verify": VERIFY_DOC}


def closure(selected: Iterable[str]) -> list[str]:
    """The selected stages plus everything they need, in pipeline order."""
    return registry.closure(selected)


def __getattr__(name: str) -> Any:
    """``STAGES``: the stage names in pipeline order (from the registry, read when asked)."""
    if name == "STAGES":
        return registry.names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _sdk_failures() -> tuple[type[BaseException], ...]:
    """The Docker SDK's and requests' own exceptions, which can escape the engine: engine failures too.
    (Only those that can be imported: what cannot be imported raised nothing.)"""
    out: list[type[BaseException]] = []
    try:
        from docker.errors import DockerException

        out.append(DockerException)
    except ImportError:
        pass
    try:
        import requests

        out.append(requests.RequestException)
    except ImportError:
        pass
    return tuple(out)


def run_stage(name: str, cfg: Config, engine_factory: Callable[[], Engine] = Engine.connect) -> bool:
    """doit action: run one stage, always leave a result file; infrastructure errors become error checks.
    ``engine_factory``: how the stage gets its engine (a fake one in stage unit tests)."""
    ctx = StageContext(cfg, name, engine_factory=engine_factory)
    try:
        try:
            result = registry.spec(name).run(ctx)
        except _sdk_failures() as e:
            raise EngineError(f"the Docker Engine failed during the {name} stage: {e}") from e
    except FixproofError as e:
        ctx.progress.error(str(e))
        what = "configuration" if e.exit_code == 2 else "infrastructure"
        result = StageResult(name, (error(f"{name}: {what}", str(e), evidence={"exit_code": e.exit_code}),))
    except Exception as e:  # noqa: BLE001 - a bug or an unforeseen input must be an error of this stage, never lost
        import traceback

        msg = f"the {name} stage stopped on an unexpected {type(e).__name__}: {e}; the traceback is in the report"
        ctx.progress.error(msg)
        result = StageResult(name, (error(f"{name}: internal error", msg, evidence={"exit_code": EXIT_INFRA},
                                          details=traceback.format_exc()),))
    result.write(ctx.result_path())
    return True


def _result_ok(path: Path) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return not StageResult.read(path).has_error
        except (OSError, ValueError, KeyError):
            return False
    return check


def stage_task(cfg: Config, name: str) -> dict[str, Any]:
    """The doit task of one stage, from its spec."""
    spec = registry.spec(name)
    sd = cfg.stages_dir
    inputs = spec.inputs(cfg)
    values = {**{s: cfg.section(s) for s in COMMON_SECTIONS}, "vulndb": cfg.vulndb_url,
              **{s: cfg.section(s) for s in spec.config}, **inputs.config}
    return {
        "doc": spec.doc,
        "actions": [(run_stage, [name, cfg])],
        "file_dep": [*inputs.file_dep, *(str(sd / f"{up}.json") for up in spec.needs)],
        "targets": [str(sd / f"{name}.json")],
        "uptodate": [config_changed(values), *inputs.uptodate, _result_ok(sd / f"{name}.json")],
        "verbosity": 2,
    }


def task_dicts(cfg: Config, stages: Sequence[str], junit_path: Path,
               evidence: Path | None = None) -> dict[str, dict[str, Any]]:
    sd = cfg.stages_dir
    tasks: dict[str, dict[str, Any]] = {s: stage_task(cfg, s) for s in stages}
    tasks["report"] = {
        "doc": REPORT_DOC,
        "actions": [(_report, [cfg, list(stages), junit_path])],
        "file_dep": [str(sd / f"{s}.json") for s in stages],
        "targets": [str(junit_path), str(cfg.reports_dir / "summary.json"), str(cfg.reports_dir / "fixproof.sarif"),
                    str(cfg.reports_dir / "index.html")],
        "uptodate": [config_changed({"stages": list(stages), "junit": str(junit_path),
                                     "sarif_category": cfg.sarif_category})],
        "verbosity": 2,
    }
    tasks["verify"] = {
        "doc": VERIFY_DOC,
        "actions": [(_verdict, [cfg, evidence])],
        "task_dep": ["report"],
        "verbosity": 2,
    }
    return tasks


def _report(cfg: Config, stages: list[str], junit_path: Path) -> bool:
    report.run(StageContext(cfg, "report"), stages, junit_path)
    return True


def _verdict(cfg: Config, evidence: Path | None = None) -> Any:
    import json

    from doit.exceptions import TaskError

    path = cfg.reports_dir / "summary.json"
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
        return TaskError(f"no readable summary at {path}")
    return _verdict_of(summary, _leave_evidence([(cfg, summary)], evidence, summary, path))


def _fleet_verdict(cfgs: Sequence[Config], stages: list[str], junit_path: Path, evidence: Path | None = None) -> Any:
    """The fleet's verdict: every app's results merged into one JUnit file and summary."""
    import json

    summary = report.run_fleet([StageContext(c, "report") for c in cfgs], stages, junit_path)
    per_app = [(c, json.loads((c.reports_dir / "summary.json").read_text())) for c in cfgs]
    return _verdict_of(summary, _leave_evidence(per_app, evidence, summary, cfgs[0].run_reports_dir / "summary.json"))


def _leave_evidence(apps: Sequence[tuple[Config, dict]], evidence: Path | None, run_summary: dict,
                    run_summary_path: Path) -> str:
    """Each app's evidence bundle; "" or why one could not be written (then the run's summary, in
    ``run_summary`` and on disk, says error, exit 3)."""
    import json

    from fixproof.publish import bundle

    try:
        for cfg, summary in apps:
            bundle.write(cfg, bundle.bundle_dir(cfg, evidence, len(apps)), summary)
    except Exception as e:  # noqa: BLE001 - FixproofError or not, no bundle means no verdict
        from fixproof.progress import Progress

        problem = f"the evidence bundle could not be written: {e}"
        if not isinstance(e, FixproofError):
            import traceback

            problem = f"the evidence bundle could not be written: unexpected {type(e).__name__}: {e}"
            run_summary["evidence_traceback"] = traceback.format_exc()
        Progress("evidence").error(problem)
        run_summary.update(exit_code=EXIT_INFRA, status="error", evidence_error=problem)
        run_summary_path.write_text(json.dumps(run_summary, indent=2) + "\n")
        return problem
    return ""


def _verdict_of(summary: dict, evidence_problem: str = "") -> Any:
    from doit.exceptions import TaskError, TaskFailed

    report.print_summary(summary)
    if evidence_problem:
        return TaskError(f"fixproof: {evidence_problem}")
    code = summary["exit_code"]
    if code == 0:
        return True
    if code == 1:
        return TaskFailed("fixproof: at least one check failed (see above and the JUnit report)")
    return TaskError("fixproof: at least one check could not run (infrastructure or configuration error)")


def doit_config(cfg: Config) -> dict[str, Any]:
    """:data:`DOIT_CONFIG` with doit's state in the run's report directory."""
    return {**DOIT_CONFIG, "dep_file": str(cfg.run_reports_dir / ".doit.db")}


def namespace(cfg: Config, only: Sequence[str] | None = None, junit: Path | None = None,
              evidence: Path | None = None) -> dict[str, Any]:
    """Task creators for doit's ModuleTaskLoader (also what dodo.py exposes)."""
    stages = closure(only) if only else list(registry.names())
    dicts = task_dicts(cfg, stages, junit or cfg.junit_path, evidence)
    ns: dict[str, Any] = {"DOIT_CONFIG": doit_config(cfg)}
    for name, d in dicts.items():
        ns[f"task_{name}"] = _creator(name, d)
    return ns


def fleet_namespace(cfgs: Sequence[Config], only: Sequence[str] | None = None,
                    junit: Path | None = None, evidence: Path | None = None) -> dict[str, Any]:
    """Task creators for a config's apps. One app: :func:`namespace`. Several: each
    stage (and report) is a task group with one subtask per app (``build:svc-a``),
    so ``doit -n N`` runs independent apps side by side, and ``verify`` merges
    every app's results into the run's JUnit file and summary, grouped by app."""
    if len(cfgs) == 1 and not cfgs[0].grouped:  # (a shard of a fleet may hold one app: still a fleet run)
        return namespace(cfgs[0], only=only, junit=junit, evidence=evidence)
    stages = closure(only) if only else list(registry.names())
    per_app = {c.app_name: task_dicts(c, stages, c.junit_path) for c in cfgs}
    ns: dict[str, Any] = {"DOIT_CONFIG": doit_config(cfgs[0])}
    for name in [*stages, "report"]:
        ns[f"task_{name}"] = _group_creator(name, {app: d[name] for app, d in per_app.items()})
    verify = {
        "doc": VERIFY_DOC,
        "actions": [(_fleet_verdict, [tuple(cfgs), list(stages), junit or cfgs[0].run_junit_path, evidence])],
        "task_dep": ["report"],
        "verbosity": 2,
    }
    ns["task_verify"] = _creator("verify", verify)
    return ns


def _group_creator(name: str, by_app: dict[str, dict[str, Any]]) -> Callable[[], Iterable[dict[str, Any]]]:
    def create() -> Iterable[dict[str, Any]]:
        for app, d in by_app.items():
            yield {**d, "name": app, "doc": f"{app}: {d['doc']}"}
    create.__name__ = f"task_{name}"
    create.__doc__ = docs()[name]
    return create


def _creator(name: str, d: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    def create() -> dict[str, Any]:
        return d
    create.__name__ = f"task_{name}"
    create.__doc__ = d["doc"]
    return create


def config_path_from_env() -> str | None:
    return os.environ.get("FIXPROOF_CONFIG") or None
