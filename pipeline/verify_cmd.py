"""`fixproof verify`: run the doit task graph in-process and map the outcome to an exit code."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Sequence

from pipeline import progress
from pipeline.config import load_all
from pipeline.errors import EXIT_INFRA, UsageError
from pipeline.progress import Reporter, Verbosity


def run(config: str | None, artifact: str | None, junit: str | None, evidence: str | None,
        only: Sequence[str] | None, jobs: int = 1, *, verbosity: int = Verbosity.NORMAL,
        reporter: Reporter | None = None) -> int:
    """The run, its progress shown by ``reporter`` (default: chosen for this terminal and ``verbosity``)."""
    with progress.use(reporter or progress.choose(Verbosity(verbosity))):
        return _run(config, artifact, junit, evidence, only, jobs)


def _run(config: str | None, artifact: str | None, junit: str | None, evidence: str | None,
         only: Sequence[str] | None, jobs: int = 1) -> int:
    """Run the task graph for every app of the config; ``jobs`` > 1 runs independent tasks side by side."""
    from doit.cmd_base import ModuleTaskLoader
    from doit.doit_cmd import DoitMain

    from pipeline import tasks

    cfgs = load_all(config)
    if only:
        unknown = [s for s in only if s not in tasks.STAGES]
        if unknown:
            raise UsageError(f"unknown stage {unknown[0]!r}; stages are: {', '.join(tasks.STAGES)}.")
    if jobs < 1:
        raise UsageError(f"--jobs {jobs}: give a number of parallel tasks of 1 or more.")
    if artifact is not None:
        if len(cfgs) > 1:
            raise UsageError(f"--artifact compares one shipped binary with one app, but {cfgs[0].path} lists "
                             f"{len(cfgs)} apps; verify that app with a config of its own.")
        art = Path(artifact).resolve()
        if not art.is_file():
            raise UsageError(f"--artifact {artifact}: no such file; pass the shipped binary to compare.")
        cfgs = (dataclasses.replace(cfgs[0], artifact=art),)
    junit_path = Path(junit).resolve() if junit else None
    for cfg in cfgs:
        cfg.reports_dir.mkdir(parents=True, exist_ok=True)
    summary_path = cfgs[0].run_reports_dir / "summary.json"
    # the verify task leaves the run's evidence: --evidence DIR, else <reports>/evidence
    ns = tasks.fleet_namespace(cfgs, only=only, junit=junit_path, evidence=Path(evidence).resolve() if evidence else None)
    # threads, not processes: doit's process pool would have to pickle the task closures
    parallel = ["-n", str(jobs), "-P", "thread"] if jobs > 1 else []
    doit_code = DoitMain(ModuleTaskLoader(ns)).run([*parallel, "verify"])
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError):
        sys.stderr.write(f"fixproof: the run ended (doit exit code {doit_code}) without a summary at {summary_path}.\n")
        return EXIT_INFRA
    return int(summary["exit_code"])
