"""`fixproof verify`: run the doit task graph in-process and map the outcome to an exit code."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Sequence

from fixproof import progress, rundir
from fixproof.config import load_all
from fixproof.errors import EXIT_INFRA, UsageError
from fixproof.progress import Reporter, Verbosity


def run(config: str | None, artifact: str | None, junit: str | None, evidence: str | None,
        only: Sequence[str] | None, jobs: int | None = None, *, verbosity: int = Verbosity.NORMAL,
        reporter: Reporter | None = None, wait: bool = True, db: str | None = None,
        shard: str | None = None, timings: str | None = None) -> int:
    """The run, its progress shown by ``reporter`` (default: chosen for this terminal and ``verbosity``).

    ``wait``: when another run holds the report directory, wait for it (else fail at once).
    ``db``: the vulnerability database (--db), over FIXPROOF_VULNDB and fix.db.
    ``shard``: "K/N", verify only the K-th of N parts of a fleet (``timings``: an earlier run's summary.json,
    to balance the parts by the apps' durations).
    """
    from fixproof.tasks import DEFAULT_JOBS

    jobs = DEFAULT_JOBS if jobs is None else jobs
    with progress.use(reporter or progress.choose(Verbosity(verbosity))):
        return _run(config, artifact, junit, evidence, only, jobs, wait, db, shard, timings)


def db_url(db: str) -> str:
    """--db as a URL: a path or a relative file:// URL is relative to the working directory."""
    if "://" not in db:
        return Path(db).resolve().as_uri()
    if db.startswith("file://") and not db.startswith("file:///"):
        return Path(db[len("file://"):]).resolve().as_uri()
    if not db.startswith(("file:///", "https://", "http://")):
        raise UsageError(f"--db {db}: give an https://, http:// or file:// URL (or a directory) of a Go vulnerability "
                         "database.")
    return db


def _run(config: str | None, artifact: str | None, junit: str | None, evidence: str | None,
         only: Sequence[str] | None, jobs: int = 2, wait: bool = True, db: str | None = None,
         shard: str | None = None, timings: str | None = None) -> int:
    """Run the task graph for every app of the config; ``jobs`` > 1 runs independent tasks side by side."""
    from doit.cmd_base import ModuleTaskLoader
    from doit.doit_cmd import DoitMain

    from fixproof import tasks
    from fixproof.engine.docker import run_scope
    from fixproof.publish import bundle

    cfgs = load_all(config)
    if only:
        check_only(only)
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
    if db:
        url = db_url(db)
        cfgs = tuple(dataclasses.replace(c, vulndb_url=url) for c in cfgs)
    run_dir = cfgs[0].run_reports_dir  # the fleet's, also for a shard that gets no app
    shard_info = None
    if shard is not None or timings is not None:
        cfgs, shard_info = _shard(cfgs, shard, timings)
    junit_path = Path(junit).resolve() if junit else None
    evidence_path = Path(evidence).resolve() if evidence else None
    summary_path = run_dir / "summary.json"
    say = progress.Progress("verify").say
    with rundir.locked(run_dir, wait=wait, say=say):
        if not cfgs:
            return _empty_shard(run_dir, shard_info, say)
        for cfg in cfgs:
            rundir.writable_dir(cfg.reports_dir)  # each app's, inside the locked run dir
        # no verdict but this run's: what an earlier run left goes before anything starts
        verdicts = ({run_dir, *(c.reports_dir for c in cfgs)},
                    {junit_path or cfgs[0].run_junit_path, *(c.junit_path for c in cfgs)},
                    {bundle.bundle_dir(c, evidence_path, len(cfgs)) for c in cfgs})
        rundir.clear_verdicts(*verdicts)
        # the verify task leaves the run's evidence: --evidence DIR, else <reports>/evidence
        ns = tasks.fleet_namespace(cfgs, only=only, junit=junit_path, evidence=evidence_path)
        # threads, not processes: doit's process pool would have to pickle the task closures;
        # the run's volumes (the Go build cache test and race share with cache = "fresh") go with it
        with run_scope():
            # (-n 1 is doit's serial runner, -n 0: the stages run in this thread, one after another)
            doit_code = DoitMain(ModuleTaskLoader(ns)).run(["-n", str(jobs if jobs > 1 else 0), "-P", "thread",
                                                            "verify"])
        code, broken = _exit_code(summary_path, doit_code)
        if broken:
            _mark_error(summary_path, verdicts, doit_code)
        if shard_info is not None:
            _name_shard(summary_path, shard_info)
        return code


def _shard(cfgs, shard: str | None, timings: str | None):
    """The apps of this shard, and what its summary says of the shard."""
    import hashlib

    from fixproof.shard import Shard, read_timings, select

    if shard is None:
        raise UsageError("--timings balances the parts of --shard K/N; give --shard too.")
    part = Shard.parse(shard)
    if not cfgs[0].grouped:
        raise UsageError(f"--shard {shard}: {cfgs[0].path} has one app; shards split a fleet config "
                         "(one [[app]] table per app).")
    names = [c.app_name for c in cfgs]
    chosen = set(select(names, part, read_timings(Path(timings)) if timings else None))
    info = {"index": part.index, "count": part.count, "apps": [n for n in names if n in chosen],
            "fleet_apps": names, "balanced_by_timings": timings is not None,
            "config": str(cfgs[0].path), "config_sha256": hashlib.sha256(cfgs[0].path.read_bytes()).hexdigest()}
    return tuple(c for c in cfgs if c.app_name in chosen), info


def _name_shard(summary_path: Path, info: dict) -> None:
    """The shard and the fleet config's digest in the run's summary, for ``fixproof merge``."""
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError):
        return  # no verdict: the error is already reported and the exit code says so
    summary["shard"] = info
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")


def _empty_shard(run_dir: Path, info: dict, say) -> int:
    """A shard that got no app of the fleet (more shards than apps): a summary that says so; nothing ran."""
    rundir.clear_verdicts({run_dir}, {run_dir / "junit.xml"}, set())
    say(f"shard {info['index']}/{info['count']} has none of the fleet's {len(info['fleet_apps'])} apps; "
        "nothing to verify here (fixproof merge counts the apps of every shard)")
    summary = {"exit_code": 0, "status": "empty", "apps": {}, "shard": info,
               "headline": f"Shard {info['index']}/{info['count']} holds no app of this fleet: nothing was verified here."}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0


def check_only(only: Sequence[str]) -> None:
    """UsageError when --only names a stage there is none of."""
    from fixproof import registry

    stages = registry.names()
    unknown = [s for s in only if s not in stages]
    if unknown:
        raise UsageError(f"unknown stage {unknown[0]!r}; stages are: {', '.join(stages)}.")


def _mark_error(summary_path: Path, verdicts, doit_code: int) -> None:
    """A run that broke down leaves one verdict: a summary saying error (and no JUnit, page or bundle that passes)."""
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError):
        summary = {}
    rundir.clear_verdicts(*verdicts)
    summary.update(exit_code=EXIT_INFRA, status="error",
                   run_error=f"the run broke down before its verdict (doit exit code {doit_code}); see its output")
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")


def _exit_code(summary_path: Path, doit_code: int) -> tuple[int, bool]:
    """The exit code from this run's summary alone, and only when the task graph agrees with it;
    and whether the run broke down without a trustworthy verdict."""
    try:
        summary = json.loads(summary_path.read_text())
        code = int(summary["exit_code"])
    except (OSError, ValueError, KeyError, TypeError):
        sys.stderr.write(f"fixproof: the run ended (doit exit code {doit_code}) without a verdict at {summary_path}; "
                         "see the errors above. Nothing was proven.\n")
        return EXIT_INFRA, True
    if code == 0 and doit_code != 0:
        # a task failed after the summary was written (its error is above): not a PASS
        sys.stderr.write("fixproof: ERROR: a task failed after the checks passed (see above); the run proves nothing.\n")
        return EXIT_INFRA, True
    return code, False
