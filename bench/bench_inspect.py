"""Benchmark: `fixproof inspect --json DIR` against `go version -m DIR`.

Builds (or reuses) the test corpus of real Go binaries (tests/goinfo_corpus.py:
ELF, PE, Mach-O, fat Mach-O, ELF without section headers; Go 1.17-1.27),
lays out a fleet of COPIES x that set under bench/fleet/ (hard links, so the
fleet costs no disk), then times both commands on the same directory in the
same run, alternating, and reports medians. It also measures, in process,
the fraction of each file's bytes the reader touches (BinFile.bytes_read).

    .venv/bin/python bench/bench_inspect.py [--copies 20] [--reps 9]

Both commands run with a hot page cache (a warm-up run of each comes first).
The host go runs with GOENV=off GOTOOLCHAIN=local. Also timed in the same
loop: fixproof with one process (no forked workers), and, for where the
start-up goes, a bare interpreter, `fixproof --version`, and the imports of
the inspect path measured inside a fresh process (pyelftools apart).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

import goinfo_corpus as gc  # noqa: E402

FLEET = REPO / "bench" / "fleet"
FIXPROOF = REPO / ".venv" / "bin" / "fixproof"
INSTALLED = REPO / "bench" / "out" / "venv"  # a regular (wheel) install, as users have it


def installed_fixproof() -> Path:
    """fixproof installed from this checkout the way `pip install .` does (no editable finder).

    The checkout's .venv is an editable install: its path finder runs at every
    interpreter start-up, which a user's install does not have. Reinstalled
    when the package sources changed since the last install."""
    exe = INSTALLED / "bin" / "fixproof"
    stamp = INSTALLED / ".installed"
    newest = max(p.stat().st_mtime for p in (REPO / "pipeline").rglob("*") if p.is_file())
    if not exe.exists() or not stamp.exists() or stamp.stat().st_mtime < newest:
        pip = [str(INSTALLED / "bin" / "python"), "-m", "pip", "install", "-q"]
        if not (INSTALLED / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(INSTALLED)], check=True, timeout=300)
            subprocess.run([*pip, str(REPO)], check=True, timeout=600)  # with its dependencies
        else:
            subprocess.run([*pip, "--force-reinstall", "--no-deps", str(REPO)], check=True, timeout=600)
        subprocess.run([str(INSTALLED / "bin" / "python"), "-m", "compileall", "-q",
                        str(INSTALLED / "lib")], check=True, timeout=600, stdout=subprocess.DEVNULL)
        stamp.touch()
    return exe


def unique_set(work: Path) -> list[Path]:
    """The ~60 distinct binaries of one fleet copy."""
    built = gc.build_all()
    files = [b.path for b in built.values()]
    work.mkdir(parents=True, exist_ok=True)
    fat = work / "fat-darwin"
    if not fat.exists():
        gc.make_fat_macho([built["go1.27.4-darwin-amd64"].path, built["go1.26.8-darwin-arm64"].path], fat)
        fat.chmod(0o755)
    files.append(fat)
    for name in ("go1.26.8-linux-amd64", "go1.21.13-linux-amd64-cgo", "go1.18.10-linux-386",
                 "go1.17.13-linux-amd64", "go1.27.4-linux-arm64", "go1.26.8-linux-s390x",
                 "go1.24.13-linux-amd64-stripped"):
        out = work / f"nosh-{name}"
        if not out.exists():
            gc.drop_elf_section_headers(built[name].path, out)
        files.append(out)
    return files


def make_fleet(copies: int) -> tuple[Path, list[Path]]:
    src = unique_set(FLEET / "_src")
    fleet = FLEET / f"x{copies}"
    marker = fleet / ".complete"
    if not marker.exists():
        shutil.rmtree(fleet, ignore_errors=True)
        for i in range(copies):
            d = fleet / f"copy{i:03d}"
            d.mkdir(parents=True)
            for f in src:
                os.link(f, d / f.name)
        marker.write_text(str(len(src) * copies))
    return fleet, src


def time_cmd(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.decode()[:500]}")
    return dt


# The inspect path with no forked workers: the same code as the entry point,
# with inspect_cmd.MAX_WORKERS = 1.
ONE_WORKER = ("import sys; from fixproof import inspect_cmd; inspect_cmd.MAX_WORKERS = 1; "
              "from fixproof.cli import main; sys.exit(main(['inspect', '--json', sys.argv[1]]))")

# Run in a fresh process: milliseconds spent importing the CLI, then fixproof's
# inspect modules with the ELF layout as a run gets it (read back from the
# cache directory, where the fleet runs above left it), then pyelftools'
# structs (with what they drag in: construct, pdb, inspect...), which only a
# run with no cached layout for this pyelftools version imports.
IMPORTS = """
import time
t0 = time.perf_counter()
import fixproof.cli
t1 = time.perf_counter()
import fixproof.inspect_cmd
fixproof.inspect_cmd.preload_elf()
t2 = time.perf_counter()
import elftools.elf.structs
t3 = time.perf_counter()
print((t1 - t0) * 1000, (t3 - t2) * 1000, (t2 - t1) * 1000)
"""


def import_times(reps: int) -> tuple[float, float, float]:
    runs = []
    for _ in range(reps):
        out = subprocess.run([sys.executable, "-c", IMPORTS], capture_output=True, text=True, check=True).stdout
        runs.append(tuple(float(x) for x in out.split()))
    return tuple(statistics.median(r[i] for r in runs) for i in range(3))  # type: ignore[return-value]


def bytes_read_fractions(files: list[Path]) -> list[tuple[Path, int, int]]:
    from fixproof.goinfo.binfile import BinFile
    from fixproof.goinfo.buildinfo import buildinfo_from

    out = []
    for f in files:
        with BinFile.open(f) as bf:
            buildinfo_from(bf)
            out.append((f, bf.bytes_read, bf.file_size))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=20)
    ap.add_argument("--reps", type=int, default=9)
    args = ap.parse_args()

    fleet, src = make_fleet(args.copies)
    nfiles = sum(1 for _ in fleet.rglob("*") if _.is_file() and _.name != ".complete")
    # Byte-compile once: this machine sets PYTHONDONTWRITEBYTECODE, and a real
    # install has .pyc files; compiling on every run would be measured otherwise.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "pipeline")], check=True,
                   stdout=subprocess.DEVNULL)
    go_env = gc.host_go_env()
    py_env = dict(os.environ)
    go_cmd = ["go", "version", "-m", str(fleet)]
    fx_cmd = [str(FIXPROOF), "inspect", "--json", str(fleet)]
    fxi_cmd = [str(installed_fixproof()), "inspect", "--json", str(fleet)]
    fx1_cmd = [sys.executable, "-c", ONE_WORKER, str(fleet)]
    bare_cmd = [sys.executable, "-c", "pass"]
    version_cmd = [str(FIXPROOF), "--version"]
    time_cmd(go_cmd, go_env)
    time_cmd(fx_cmd, py_env)
    time_cmd(fxi_cmd, py_env)
    go_t, fx_t, fxi_t, fx1_t, bare_t, start_t = [], [], [], [], [], []
    for _ in range(args.reps):
        go_t.append(time_cmd(go_cmd, go_env))
        fx_t.append(time_cmd(fx_cmd, py_env))
        fxi_t.append(time_cmd(fxi_cmd, py_env))
        fx1_t.append(time_cmd(fx1_cmd, py_env))
        bare_t.append(time_cmd(bare_cmd, py_env))
        start_t.append(time_cmd(version_cmd, py_env))
    go_med, fx_med, fx1_med = statistics.median(go_t), statistics.median(fx_t), statistics.median(fx1_t)
    fxi_med = statistics.median(fxi_t)
    bare, startup = statistics.median(bare_t), statistics.median(start_t)
    imp_cli, imp_elftools, imp_ours = import_times(args.reps)

    fr = bytes_read_fractions(src)
    fracs = [r / s for _, r, s in fr]
    worst = max(fr, key=lambda x: x[1] / x[2])
    total_read = sum(r for _, r, _ in fr)
    total_size = sum(s for _, _, s in fr)

    go_version = subprocess.run(["go", "version"], env=go_env, capture_output=True, text=True).stdout.strip()
    print(f"date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}")
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"python: {platform.python_version()}; {go_version}")
    print(f"fleet: {nfiles} files = {args.copies} x {len(src)} distinct binaries (hard links), {fleet}")
    print(f"command: {' '.join(fx_cmd)}  vs  {' '.join(go_cmd)}")
    print(f"reps: {args.reps}, medians; hot page cache")
    print(f"go version -m DIR:          {go_med * 1000:8.1f} ms  (min {min(go_t) * 1000:.1f})")
    print(f"fixproof inspect --json:    {fx_med * 1000:8.1f} ms  (min {min(fx_t) * 1000:.1f})")
    print(f"ratio fixproof/go:          {fx_med / go_med:8.2f}   (goal <= 0.5; the checkout's editable install)")
    print(f"installed fixproof:         {fxi_med * 1000:8.1f} ms  (min {min(fxi_t) * 1000:.1f}; pip install ., {INSTALLED})")
    print(f"ratio installed/go:         {fxi_med / go_med:8.2f}   (goal <= 0.5; what a user runs)")
    print(f"fixproof, one process:      {fx1_med * 1000:8.1f} ms  (min {min(fx1_t) * 1000:.1f}; no forked workers)")
    print(f"python -c pass:             {bare * 1000:8.1f} ms")
    print(f"fixproof --version (start): {startup * 1000:8.1f} ms")
    print(f"imports, in process:        cli {imp_cli:.1f} ms, inspect modules + cached ELF layout {imp_ours:.1f} ms; "
          f"pyelftools' structs {imp_elftools:.1f} ms (only a run without a cached layout)")
    print(f"per file, beyond start-up:  {(fx_med - startup) / nfiles * 1e6:8.1f} us  (go: {go_med / nfiles * 1e6:.1f} us all-in)")
    print(f"bytes read: median {statistics.median(fracs) * 100:.3f}%, max {max(fracs) * 100:.3f}% "
          f"({worst[0].name}: {worst[1]} of {worst[2]}), total {total_read} of {total_size} bytes "
          f"= {total_read / total_size * 100:.4f}%  (goal < 5% per file)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
