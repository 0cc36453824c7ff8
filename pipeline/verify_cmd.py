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
    ns = tasks.fleet_namespace(cfgs, only=only, junit=junit_path)
    # threads, not processes: doit's process pool would have to pickle the task closures
    parallel = ["-n", str(jobs), "-P", "thread"] if jobs > 1 else []
    doit_code = DoitMain(ModuleTaskLoader(ns)).run([*parallel, "verify"])
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError):
        sys.stderr.write(f"fixproof: the run ended (doit exit code {doit_code}) without a summary at {summary_path}.\n")
        return EXIT_INFRA
    if evidence:
        for cfg in cfgs:
            app_summary = summary if len(cfgs) == 1 else json.loads((cfg.reports_dir / "summary.json").read_text())
            _bundle(cfg, Path(evidence) if len(cfgs) == 1 else Path(evidence) / cfg.app_name, app_summary)
    return int(summary["exit_code"])


def _bundle(cfg, dest: Path, summary: dict) -> None:
    import platform

    from pipeline import __version__
    from pipeline.report.evidence import write_bundle
    from pipeline.results import StageResult

    inputs = {"config/" + cfg.path.name: cfg.path, "app/" + cfg.gomod_path.name: cfg.gomod_path}
    if cfg.gosum_path.exists():
        inputs["app/" + cfg.gosum_path.name] = cfg.gosum_path
    reports = sorted(cfg.stages_dir.glob("*.json")) + [Path(summary["junit"]), cfg.reports_dir / "summary.json"]
    reports += sorted((cfg.reports_dir / "gdb").glob("*.mi.log"))  # gdb MI transcripts, one per check
    reports += [cfg.reports_dir / "fixproof.openvex.json", cfg.reports_dir / "fixproof.sarif"]
    reports += [cfg.reports_dir / "index.html"]
    images: dict = {}
    tc = cfg.stages_dir / "toolchain.json"
    if tc.exists():
        image = StageResult.read(tc).facts.get("image")
        if image:
            images[image["ref"]] = {"id": image["id"], "source": image["source"],
                                    "repo_digests": ",".join(image["repo_digests"]),
                                    **{k: str(v) for k, v in image.get("labels", {}).items()}}
    gdb = cfg.stages_dir / "gdb.json"
    if gdb.exists():
        probe = StageResult.read(gdb).facts.get("probe_image")
        if probe:
            images[probe["ref"]] = {"id": probe["id"], "source": probe["source"],
                                    **{k: str(v) for k, v in probe.get("labels", {}).items()}}
    build = cfg.stages_dir / "build.json"
    if build.exists():
        binpath = StageResult.read(build).facts.get("binary")
        if binpath and Path(binpath).exists():
            inputs["bin/" + Path(binpath).name] = Path(binpath)
    tools = {"fixproof": __version__, "python": platform.python_version()}
    for mod in ("doit", "docker", "pyelftools", "junit_xml", "requests"):
        tools[mod] = _dist_version(mod)
    write_bundle(dest, inputs=inputs, reports=[r for r in reports if r.exists()], tools=tools, images=images)
    sys.stderr.write(f"fixproof: evidence bundle written to {dest} (check it with `sha256sum -c MANIFEST.sha256`).\n")


def _dist_version(name: str) -> str:
    from importlib import metadata

    dist = {"junit_xml": "junit-xml", "pyelftools": "pyelftools"}.get(name, name)
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"
