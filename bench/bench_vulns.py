"""Benchmark: ``fixproof vulns`` vs ``govulncheck -mode=binary`` on the test corpus.

    .venv/bin/python bench/bench_vulns.py [--runs N] [--db URL] [--no-write]

Both tools run as fresh processes on the same binaries against the same
file:// database, once per binary and once on the whole corpus; the median
wall time of N runs is reported. Agreement: per binary, the set of advisory
ids at symbol level must be equal. The corpus and govulncheck come from
tests/integration/test_vulns_cmd.py (built and cached under
.fixproof-cache). Results go to the "## vulns" section of bench/RESULTS.md;
other sections are left as they are.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Sequence

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "RESULTS.md"
SECTION = "## vulns"

def _load_corpus_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("test_vulns_cmd", REPO / "tests" / "integration" / "test_vulns_cmd.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(REPO))
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _time(cmd: Sequence[str], runs: int) -> tuple[float, subprocess.CompletedProcess[str]]:
    times = []
    last: subprocess.CompletedProcess[str] | None = None
    for _ in range(runs):
        t0 = time.perf_counter()
        last = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
        times.append(time.perf_counter() - t0)
    assert last is not None
    return statistics.median(times), last


def _phases(corpus_mod: ModuleType, binary: Path, db_url: str) -> dict[str, float]:
    """Median time of each step of one run, measured in this process."""
    from fixproof.vulndb import VulnDB
    from fixproof.vulnmatch import match, module_paths

    bare, _ = _time([sys.executable, "-c", "pass"], 5)
    imp, _ = _time([sys.executable, "-c", "import fixproof.cli, fixproof.vulns_cmd, fixproof.vulndb, "
                    "fixproof.vulnmatch, fixproof.goinfo.buildinfo, fixproof.goinfo.pclntab"], 5)
    rb, rf = corpus_mod.readers()
    samples: dict[str, list[float]] = {"build info": [], "function names": [], "database": [], "matching": []}
    for _ in range(5):
        t = [time.perf_counter()]
        info = rb(str(binary))
        t.append(time.perf_counter())
        names = rf(str(binary))
        t.append(time.perf_counter())
        with VulnDB(db_url) as db:
            entries = db.entries_for_modules(module_paths(info))
        t.append(time.perf_counter())
        match(info, names, entries)
        t.append(time.perf_counter())
        for k, a, b in zip(samples, t, t[1:]):
            samples[k].append(b - a)
    return {"interpreter start-up": bare, "imports": imp - bare,
            **{k: statistics.median(v) for k, v in samples.items()}}


def _replace_section(text: str, body: str) -> str:
    block = f"{SECTION}\n\n{body.rstrip()}\n"
    pat = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pat.search(text):
        return pat.sub(lambda _m: block + "\n", text).rstrip() + "\n"
    if not text.strip():
        text = "# Benchmark results\n"
    return text.rstrip() + "\n\n" + block


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--db", default="file:///work/shared/vulndb")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)

    corpus_mod = _load_corpus_module()
    binaries = {name: corpus_mod.build(r) for name, r in corpus_mod.recipes().items()
                if name in ("xtext-0.3.7-go1.22.4", "xtext-0.3.7-go1.22.4-stripped",
                            "xtext-0.3.8-go1.22.5", "yaml-2.2.2-local")}
    gv = corpus_mod.ensure_govulncheck()
    gv_version = subprocess.run([str(gv), "-version"], capture_output=True, text=True).stdout
    gv_version = next((ln.split(":", 1)[1].strip() for ln in gv_version.splitlines() if ln.startswith("Scanner")), "?")
    fixproof_cmd = [sys.executable, "-m", "fixproof.cli", "vulns", "--db", args.db, "--json"]

    rows: list[tuple[str, float, float, str]] = []
    for name, path in binaries.items():
        t_fp, r_fp = _time(fixproof_cmd + [str(path)], args.runs)
        t_gv, r_gv = _time([str(gv), "-mode=binary", "-db", args.db, "-format", "json", str(path)], args.runs)
        ours = {f["id"] for f in json.loads(r_fp.stdout) if f["level"] == "symbol"}
        theirs_levels: dict[str, str] = {}
        rank = {"module": 0, "package": 1, "symbol": 2}
        for msg in corpus_mod.parse_json_stream(r_gv.stdout):
            if "finding" in msg:
                top = msg["finding"]["trace"][0]
                lvl = "symbol" if top.get("function") else "package" if top.get("package") else "module"
                prev = theirs_levels.get(msg["finding"]["osv"], "module")
                theirs_levels[msg["finding"]["osv"]] = max(lvl, prev, key=rank.__getitem__)
        theirs = {i for i, lvl in theirs_levels.items() if lvl == "symbol"}
        if ours == theirs:
            verdict = f"equal ({len(ours)})"
        elif "stripped" in name and ours < theirs:
            verdict = (f"fixproof {len(ours)} ⊂ govulncheck {len(theirs)} (govulncheck has no symbol "
                       f"table on -s -w and assumes every vulnerable symbol)")
        else:
            verdict = f"DIFFER: only fixproof {sorted(ours - theirs)}, only govulncheck {sorted(theirs - ours)}"
        rows.append((name, t_fp, t_gv, verdict))
        print(f"{name:34} fixproof {t_fp:6.3f}s  govulncheck {t_gv:6.3f}s  symbol ids: {verdict}")

    all_paths = [str(p) for p in binaries.values()]
    t_fp_all, _ = _time(fixproof_cmd + all_paths, args.runs)
    t_gv_all = 0.0
    for p in all_paths:  # govulncheck takes one binary per run
        t, _ = _time([str(gv), "-mode=binary", "-db", args.db, "-format", "json", p], args.runs)
        t_gv_all += t
    print(f"{'whole corpus (' + str(len(all_paths)) + ' binaries)':34} fixproof {t_fp_all:6.3f}s  "
          f"govulncheck {t_gv_all:6.3f}s (sum of runs)")

    body = [
        f"`bench/bench_vulns.py`, {time.strftime('%Y-%m-%d')}, median of {args.runs} runs, wall clock of a fresh "
        f"process each; database {args.db}; govulncheck {gv_version}; Python {platform.python_version()}; "
        "fixproof readers: fixproof.goinfo.",
        "",
        "| binary | fixproof vulns --json | govulncheck -mode=binary -format json | symbol-level ids |",
        "|---|---:|---:|---|",
    ]
    body += [f"| {n} | {a:.3f} s | {b:.3f} s | {v} |" for n, a, b, v in rows]
    body.append(f"| all {len(all_paths)} in one fixproof run / sum of govulncheck runs | {t_fp_all:.3f} s | "
                f"{t_gv_all:.3f} s | |")
    phases = _phases(corpus_mod, next(iter(binaries.values())), args.db)
    body += ["", "Where one fixproof run goes (in-process, first binary, median of 5): "
             + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in phases.items()) + "."]
    text = "\n".join(body) + "\n"
    if not args.no_write:
        old = RESULTS.read_text() if RESULTS.exists() else ""
        RESULTS.write_text(_replace_section(old, text))
        print(f"wrote the {SECTION!r} section of {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
