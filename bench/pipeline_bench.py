"""Benchmark: the example pipeline (fixproof.toml), serial (-n 1) vs side by side (the default, -n 2).

    flock /tmp/fixproof-docker.lock .venv/bin/python bench/pipeline_bench.py [--runs 3] [--no-write]

Rows (whole-process wall time of ``fixproof verify``, median of --runs, each a fresh process):

* cold: images present, a new report directory (so a new, empty module cache volume and every
  stage to run) and ``[build] cache = "fresh"`` (no Go build cache kept: the build compiles in a
  tmpfs, test and race share one volume made for the run);
* warm: ``[build] cache = "volume"`` with the cache volumes filled by an earlier run, the module
  cache kept, every stage stale (the run's doit state removed, so every stage runs again).

Each row is run serially (``-n 1``) and side by side (``-n 2``), alternating, so load from
elsewhere falls on both. Every run must pass (exit 0); the per-check verdicts of all runs must
agree. Results go to bench/RESULTS-pipeline.md. Containers are labelled fixproof: run it under
the docker lock when integration tests may run on the same host.

``--python PY --modes serial --rows cold --section "TITLE"`` measures another install of fixproof
(e.g. the code before a change, installed in its own virtualenv) and writes its rows to a section
``## TITLE`` of the results file, leaving the rest as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "RESULTS-pipeline.md"
MODES = {"serial": ["-n", "1"], "parallel": ["-n", "2"]}


def config(work: Path, cache: str) -> Path:
    """The repository's fixproof.toml with its app dir absolute, its reports in ``work`` and ``cache``."""
    text = (REPO / "fixproof.toml").read_text()
    text = re.sub(r'(?m)^dir = "[^"]*fixdemo"', f'dir = "{REPO / "examples" / "fixdemo"}"', text)
    text = re.sub(r'(?ms)^\[report\]\ndir = "[^"]*"\n', "", text)
    text = re.sub(r'(?m)^\[build\]\n', f'[build]\ncache = "{cache}"\n', text, count=1)
    assert f'cache = "{cache}"' in text, "fixproof.toml has no [build] table to set the cache in"
    text += f'\n[report]\ndir = "{work / "reports"}"\n'
    path = work / "fixproof.toml"
    path.write_text(text)
    return path


PYTHON = [sys.executable]  # the interpreter that runs fixproof (--python)


def verify(cfg: Path, mode: str) -> tuple[float, dict]:
    """One whole-process run; its wall time and per-check verdicts."""
    t = time.monotonic()
    p = subprocess.run([*PYTHON, "-m", "fixproof.cli", "verify", "-c", str(cfg), *MODES[mode]],
                       capture_output=True, text=True, timeout=1800, cwd=cfg.parent)
    wall = time.monotonic() - t
    if p.returncode != 0:
        raise SystemExit(f"fixproof verify {mode} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    verdicts = {}
    for f in sorted((cfg.parent / "reports" / "stages").glob("*.json")):
        for c in json.loads(f.read_text())["checks"]:
            verdicts[f"{f.stem}/{c['name']}"] = c["status"]
    return wall, verdicts


def remove_volumes(owner: Path) -> None:
    """The volumes fixproof made for report directories under ``owner`` (the module caches, the app caches)."""
    from fixproof.engine.docker import OWNER_LABEL, connect

    client = connect(timeout=60)
    for v in client.volumes.list(filters={"label": OWNER_LABEL}):
        if (v.attrs.get("Labels") or {}).get(OWNER_LABEL, "").startswith(str(owner)):
            v.remove(force=True)


def cold(root: Path, mode: str, i: int) -> tuple[float, dict]:
    work = root / f"cold-{mode}-{i}"
    work.mkdir()
    return verify(config(work, "fresh"), mode)


def warm(work: Path, cfg: Path, mode: str) -> tuple[float, dict]:
    state = work / "reports" / ".doit.db"  # every stage stale; the cache volumes stay
    if state.exists():
        state.unlink()
    return verify(cfg, mode)


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def other_containers() -> int:
    """Containers running on the host that are not this benchmark's (other jobs sharing the machine)."""
    p = subprocess.run(["docker", "ps", "-q"], capture_output=True, text=True, timeout=60)
    return len(p.stdout.split())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--python", default=sys.executable, help="the interpreter that runs fixproof")
    ap.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    ap.add_argument("--rows", nargs="+", choices=("cold", "warm"), default=["cold", "warm"])
    ap.add_argument("--section", default=None, help="write the rows to this section of the results file")
    args = ap.parse_args()
    PYTHON[:] = [args.python]
    os.environ.setdefault("FIXPROOF_VULNDB", "file:///work/shared/vulndb")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    before, busy = load(), other_containers()
    root = Path(tempfile.mkdtemp(prefix="fixproof-pipeline-bench-"))
    times: dict[str, list[float]] = {f"{row} {mode}": [] for row in args.rows for mode in args.modes}
    verdicts: list[dict] = []
    try:
        for i in range(args.runs if "cold" in args.rows else 0):
            for mode in args.modes:
                wall, v = cold(root, mode, i)
                times[f"cold {mode}"].append(wall)
                verdicts.append(v)
                print(f"cold {mode} #{i + 1}: {wall:.1f} s", flush=True)
        work = root / "warm"
        work.mkdir()
        cfg = config(work, "volume")
        if "warm" in args.rows:
            verify(cfg, args.modes[-1])  # fills the build cache volumes and the module cache
        for i in range(args.runs if "warm" in args.rows else 0):
            for mode in args.modes:
                wall, v = warm(work, cfg, mode)
                times[f"warm {mode}"].append(wall)
                verdicts.append(v)
                print(f"warm {mode} #{i + 1}: {wall:.1f} s", flush=True)
    finally:
        remove_volumes(root)
        shutil.rmtree(root, ignore_errors=True)
    after = load()
    if any(v != verdicts[0] for v in verdicts):
        raise SystemExit("the runs disagree on a check's verdict: " + json.dumps(verdicts, indent=1))
    med = {k: statistics.median(v) for k, v in times.items()}
    if args.section:
        return write_section(args, started, before, after, busy, times, med, len(verdicts[0]))
    lines = [
        "# Pipeline benchmark (bench/pipeline_bench.py)",
        "",
        f"`bench/pipeline_bench.py --runs {args.runs}`, {started}; {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; the example "
        f"(fixproof.toml, {len(verdicts[0])} checks, every run PASS with the same verdict of every check).",
        "",
        f"**Load average (1/5/15 min) before: {before}, after: {after}; {busy} other containers running at the "
        "start.** The machine (2 cores) was shared with other helpers' builds and tests while this ran: the "
        "times are inflated and noisy, and a side-by-side run gains less on a busy machine than on a quiet one. "
        "The numbers are indicative; judge the goals on a quiet machine.",
        "",
        "| run | serial (-n 1) | side by side (-n 2, default) | side by side / serial |",
        "|---|---:|---:|---:|",
    ]
    for row, what in (("cold", "cold: images present, empty module cache, `[build] cache = \"fresh\"`"),
                      ("warm", "warm: build cache volumes filled, every stage stale")):
        s, p = med[f"{row} serial"], med[f"{row} parallel"]
        lines.append(f"| {what} | {s:.1f} s | {p:.1f} s | **{p / s:.2f}** |")
    lines += ["", f"Medians of {args.runs} whole-process runs each (`fixproof verify`, a fresh process, serial and "
              "side-by-side runs alternating). All runs: "
              + "; ".join(f"{k}: " + ", ".join(f"{x:.1f}" for x in v) + " s" for k, v in times.items()) + ".", ""]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
    return 0


def write_section(args, started: str, before: str, after: str, busy: int, times: dict, med: dict, checks: int) -> int:
    """The rows of another install (--python) as a section of the results file."""
    import subprocess as sp

    version = sp.run([args.python, "-m", "fixproof.cli", "--version"], capture_output=True, text=True,
                     timeout=60).stdout.strip()
    body = [f"## {args.section}", "",
            f"`bench/pipeline_bench.py --runs {args.runs} --python {args.python} --modes {' '.join(args.modes)} "
            f"--rows {' '.join(args.rows)}`, {started}, {version or 'fixproof'}; {checks} checks, every run PASS. "
            f"Load average before: {before}, after: {after}; {busy} other containers at the start (the machine "
            "shared with other helpers, as above).", "",
            "| run | median | runs |", "|---|---:|---|"]
    body += [f"| {k} | {med[k]:.1f} s | " + ", ".join(f"{x:.1f}" for x in v) + " s |" for k, v in times.items()]
    text = "\n".join(body) + "\n"
    print(text)
    if args.no_write:
        return 0
    old = RESULTS.read_text() if RESULTS.exists() else ""
    head = f"## {args.section}\n"
    if head in old:  # replace that section, up to the next one
        start = old.index(head)
        nxt = old.find("\n## ", start + len(head))
        old = old[:start] + (old[nxt + 1:] if nxt >= 0 else "")
    RESULTS.write_text(old.rstrip("\n") + "\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
