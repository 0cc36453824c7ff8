"""The doit task graph: one task per stage, each writing reports/stages/<stage>.json.

A stage reruns only when its inputs change: its files (``file_dep``), its
config section (``config_changed``), the image or cache volume it verified
(checked without starting a container), or when its last result was an
infrastructure error. The report task only reads stage results.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from doit.tools import config_changed

from fixproof.config import Config
from fixproof.doit_reporter import DoitReporter
from fixproof.errors import EXIT_INFRA, EngineError, FixproofError
from fixproof.results import StageResult, error
from fixproof.stages import report
from fixproof.stages.common import StageContext, app_files


def _lazy(module: str) -> Callable[[StageContext], StageResult]:
    """The stage's run function, imported when the stage actually runs."""
    def run(ctx: StageContext) -> StageResult:
        import importlib

        return importlib.import_module(f"fixproof.stages.{module}").run(ctx)
    return run


# stage name -> (run function, upstream stages, help text)
STAGES: dict[str, tuple[Callable[[StageContext], StageResult], tuple[str, ...], str]] = {
    "toolchain": (_lazy("toolchain"), (), "Pinned image present or built; go version inside equals the pin; go.mod go/toolchain lines agree."),
    "modules": (_lazy("modules"), ("toolchain",), "Empty module cache, clean verified download, go.sum line by line, go mod verify."),
    "build": (_lazy("build"), ("toolchain", "modules"), "go build in the pinned image: network off, GOPROXY=off, verified cache read-only."),
    "test": (_lazy("gotest"), ("toolchain", "modules"), "The app's own Go tests (go test -json), each one a JUnit testcase."),
    "binary": (_lazy("binary"), ("build", "modules"), "Read the built binary: embedded Go version, modules and sums vs the clean build list (and vs --artifact)."),
    "vulns": (_lazy("vulns"), ("build",), "The built binary against the Go vulnerability database, to the function; policy and waivers."),
    "gdb": (_lazy("gdb"), ("build",), "The built binary under real gdb in a probe container: fixed paths hit, no panics, bounded growth, interface contracts."),
    "trace": (_lazy("trace"), ("build",), "The built binary under bpftrace probes in a probe container: goroutines, GC, panics, calls, allocations, syscalls."),
    "race": (_lazy("race"), ("toolchain", "modules"), "A -race build exercised in the pinned image, and go test -race: every data race report fails."),
}


DOCS: dict[str, str] = {
    **{name: spec[2] for name, spec in STAGES.items()},
    "report": "JUnit XML and summary from the stage results (runs no tool).",
    "verify": "Run every stage and report; fails when a check failed or could not run.",
}


def closure(selected: Iterable[str]) -> list[str]:
    """The selected stages plus everything they need, in pipeline order."""
    need: set[str] = set()

    def add(s: str) -> None:
        if s not in need:
            need.add(s)
            for up in STAGES[s][1]:
                add(up)

    for s in selected:
        add(s)
    return [s for s in STAGES if s in need]


def run_stage(name: str, cfg: Config) -> bool:
    """doit action: run one stage, always leave a result file; infrastructure errors become error checks."""
    import requests
    from docker.errors import DockerException

    ctx = StageContext(cfg, name)
    try:
        try:
            if name == "toolchain":  # the first stage of a run: clear what killed runs left behind
                ctx.engine.reap_orphans()
                ctx.engine.reap_volumes()
            result = STAGES[name][0](ctx)
        except (DockerException, requests.RequestException) as e:
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


def _image_unchanged(cfg: Config, path: Path) -> Callable[[], bool]:
    """Up to date only while the engine still has the very image the stage verified."""
    def check() -> bool:
        try:
            recorded = StageResult.read(path).facts.get("image", {}).get("id")
            from fixproof.engine.docker import Engine

            attrs = Engine.connect().image_attrs(cfg.toolchain.image)
        except (OSError, ValueError, KeyError, FixproofError):
            return False
        return bool(attrs) and attrs["Id"] == recorded
    return check


def _vcs_head(cfg: Config) -> str:
    """The source revision the build will stamp, "" outside a git work tree."""
    from fixproof.engine.proc import call
    from fixproof.errors import ToolError

    try:
        res = call(["git", "-C", str(cfg.app_dir), "rev-parse", "HEAD"], timeout=30, check=False)
    except ToolError:
        return ""
    return res.stdout.strip() if res.returncode == 0 else ""


def _binary_unchanged(cfg: Config) -> Callable[[], bool]:
    """Up to date only while the built binary is still the one the build stage hashed."""
    def check() -> bool:
        from fixproof.stages.common import sha256_file

        try:
            facts = StageResult.read(cfg.stages_dir / "build.json").facts
        except (OSError, ValueError, KeyError):
            return False
        if not facts.get("binary"):
            return True  # the build produced nothing; its own result says why
        try:
            return sha256_file(Path(facts["binary"])) == facts.get("sha256")
        except OSError:
            return False
    return check


def _volume_present(cfg: Config) -> Callable[[], bool]:
    def check() -> bool:
        try:
            ctx = StageContext(cfg, "modules")
            return ctx.engine.volume_exists(ctx.modcache_volume)
        except FixproofError:
            return False
    return check


def task_dicts(cfg: Config, stages: Sequence[str], junit_path: Path,
               evidence: Path | None = None) -> dict[str, dict[str, Any]]:
    sd = cfg.stages_dir
    out = lambda s: str(sd / f"{s}.json")  # noqa: E731
    gomod = [str(cfg.gomod_path)] + ([str(cfg.gosum_path)] if cfg.gosum_path.exists() else [])
    sources = app_files(cfg)
    base_cfg = {"app": cfg.section("app"), "timeouts": cfg.section("timeouts"), "docker": cfg.section("docker"),
                "fix": cfg.section("fix"), "vulndb": cfg.vulndb_url}
    waivers = [str(cfg.waivers_path)] if cfg.waivers_path else []
    artifact = [str(cfg.artifact)] if cfg.artifact else []
    deps: dict[str, dict[str, Any]] = {
        "toolchain": {"file_dep": [str(cfg.gomod_path)],
                      "uptodate": [config_changed({**base_cfg, "toolchain": cfg.section("toolchain")}),
                                   _image_unchanged(cfg, sd / "toolchain.json")]},
        "modules": {"file_dep": [*gomod, out("toolchain")],
                    "uptodate": [config_changed({**base_cfg, "modules": cfg.section("modules")}), _volume_present(cfg)]},
        # the binary records the source revision (vcs.revision): a new commit is a new input
        "build": {"file_dep": [*sources, out("toolchain"), out("modules")],
                  "uptodate": [config_changed({**base_cfg, "build": cfg.section("build"), "vcs_head": _vcs_head(cfg)}),
                               _binary_unchanged(cfg)]},
        "test": {"file_dep": [*sources, out("toolchain"), out("modules")],
                 "uptodate": [config_changed({**base_cfg, "build": cfg.section("build"), "test": cfg.section("test")})]},
        "binary": {"file_dep": [out("build"), out("modules"), *artifact],
                   "uptodate": [config_changed({**base_cfg, "toolchain": cfg.section("toolchain"),
                                                "artifact": str(cfg.artifact or "")})]},
        "vulns": {"file_dep": [out("build"), *waivers, *artifact],
                  # the DB changes and waivers expire: the result holds for one day
                  "uptodate": [config_changed({**base_cfg, "day": dt.date.today().isoformat(),
                                               "artifact": str(cfg.artifact or "")})]},
        "race": {"file_dep": [*sources, out("toolchain"), out("modules")],
                 "uptodate": [config_changed({**base_cfg, "build": cfg.section("build"), "race": cfg.section("race")})]},
        "trace": {"file_dep": [out("build")],
                  "uptodate": [config_changed({**base_cfg, "trace": cfg.section("trace")})]},
        "gdb": {"file_dep": [out("build")],
                "uptodate": [config_changed({**base_cfg, "gdb": cfg.section("gdb")})]},
    }
    tasks: dict[str, dict[str, Any]] = {}
    for s in stages:
        d = deps[s]
        targets = [out(s)]
        if s in ("binary", "vulns", "gdb", "trace"):
            d["uptodate"].append(_binary_unchanged(cfg))
        tasks[s] = {
            "doc": DOCS[s],
            "actions": [(run_stage, [s, cfg])],
            "file_dep": d["file_dep"],
            "targets": targets,
            "uptodate": [*d["uptodate"], _result_ok(sd / f"{s}.json")],
            "verbosity": 2,
        }
    tasks["report"] = {
        "doc": DOCS["report"],
        "actions": [(_report, [cfg, list(stages), junit_path])],
        "file_dep": [out(s) for s in stages],
        "targets": [str(junit_path), str(cfg.reports_dir / "summary.json"), str(cfg.reports_dir / "fixproof.sarif"),
                    str(cfg.reports_dir / "index.html")],
        "uptodate": [config_changed({"stages": list(stages), "junit": str(junit_path)})],
        "verbosity": 2,
    }
    tasks["verify"] = {
        "doc": DOCS["verify"],
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

    from fixproof.stages import evidence as bundle

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
    return {
        "default_tasks": ["verify"],
        "dep_file": str(cfg.run_reports_dir / ".doit.db"),
        "backend": "json",
        "verbosity": 2,
        "reporter": DoitReporter,  # doit's task events -> the run's progress display
    }


def namespace(cfg: Config, only: Sequence[str] | None = None, junit: Path | None = None,
              evidence: Path | None = None) -> dict[str, Any]:
    """Task creators for doit's ModuleTaskLoader (also what dodo.py exposes)."""
    stages = closure(only) if only else list(STAGES)
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
    if len(cfgs) == 1:
        return namespace(cfgs[0], only=only, junit=junit, evidence=evidence)
    stages = closure(only) if only else list(STAGES)
    per_app = {c.app_name: task_dicts(c, stages, c.junit_path) for c in cfgs}
    ns: dict[str, Any] = {"DOIT_CONFIG": doit_config(cfgs[0])}
    for name in [*stages, "report"]:
        ns[f"task_{name}"] = _group_creator(name, {app: d[name] for app, d in per_app.items()})
    verify = {
        "doc": DOCS["verify"],
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
    create.__doc__ = DOCS[name]
    return create


def _creator(name: str, d: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    def create() -> dict[str, Any]:
        return d
    create.__name__ = f"task_{name}"
    create.__doc__ = d["doc"]
    return create


def config_path_from_env() -> str | None:
    return os.environ.get("FIXPROOF_CONFIG") or None
