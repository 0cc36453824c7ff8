"""Benchmark: `fixproof merge` of 50 and of 500 synthetic app results (merge only, no Docker).

    .venv/bin/python bench/merge_bench.py [--runs N] [--shards K] [--no-write]

Each fleet is written as K shard report directories (tests/unit/publish/synthetic_shards.py: per app
three stage results, summary, SARIF, OpenVEX, page and a real evidence bundle), then merged N times
with `fixproof merge` as a fresh process (what a CI merge job pays: interpreter start, checking every
bundle, copying them, writing JUnit/SARIF/OpenVEX/page and the evidence index); the median wall time
is reported, with `fixproof evidence verify` of the merged index. The machine's load average is
recorded with the numbers. Results go to the "## merge" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
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
from typing import Sequence

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "RESULTS.md"
SECTION = "## merge"
SIZES = (50, 500)
NOTE = ("Where the time goes (cProfile of an in-process merge of 300 apps): about 40 % copying the bundles into OUT/evidence, 40 % re-checking each shard bundle (check_bundle: re-hash and the evidence digest's normalising), the rest the JUnit, page, SARIF and index; file work throughout, linear in the apps.")


def _fleet(n: int) -> dict[str, str]:
    """n apps: one in ten fails, one in fifty errors."""
    return {f"app{i:03d}": "error" if i % 50 == 49 else "failed" if i % 10 == 9 else "passed" for i in range(n)}


def _time(cmd: Sequence[str], runs: int, codes: Sequence[int]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        times.append(time.perf_counter() - start)
        if p.returncode not in codes:
            raise SystemExit(f"{' '.join(cmd[:4])}... exited {p.returncode}:\n{p.stderr[-2000:]}")
    return statistics.median(times)


def _replace_section(text: str, body: str) -> str:
    block = f"{SECTION}\n\n{body.rstrip()}\n"
    pat = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pat.search(text):
        return pat.sub(lambda _m: block + "\n", text).rstrip() + "\n"
    return text.rstrip() + "\n\n" + block


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO / "tests" / "unit" / "publish"))
    from synthetic_shards import write_shards  # noqa: E402  (a test helper, on the path just above)

    fixproof = [sys.executable, "-m", "fixproof.cli"]
    rows = []
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="fixproof-merge-bench-") as tmp:
        for n in SIZES:
            root = Path(tmp) / f"fleet{n}"
            start = time.perf_counter()
            dirs = write_shards(root, _fleet(n), args.shards)
            made = time.perf_counter() - start
            out = root / "merged"
            merge = _time([*fixproof, "merge", str(out), *map(str, dirs)], args.runs, (3,))
            check = _time([*fixproof, "evidence", "verify", str(out / "evidence")], args.runs, (0,))
            size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
            rows.append((n, args.shards, merge, check, size, made))
            print(f"{n} apps in {args.shards} shards: merge {merge:.2f} s, evidence verify {check:.2f} s "
                  f"({size / 1e6:.1f} MB merged; shards written in {made:.1f} s)")
            shutil.rmtree(root)
    body = [
        "`.venv/bin/python bench/merge_bench.py` (synthetic app results: 3 stage results, SARIF, OpenVEX, page and "
        "a real evidence bundle per app; one in ten apps failed, one in fifty errored). `fixproof merge` as a fresh "
        f"process, median of {args.runs}; then `fixproof evidence verify` of the merged index.",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Machine: {platform.machine()}, {os.cpu_count()} cores shared with other jobs, Python "
        f"{platform.python_version()}; load average at the start {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} "
        "(1/5/15 min), so the times include contention.",
        "",
        "| apps | shards | merge (s) | evidence verify (s) | merged size (MB) |",
        "|---:|---:|---:|---:|---:|",
        *(f"| {n} | {k} | {m:.2f} | {c:.2f} | {s / 1e6:.1f} |" for n, k, m, c, s, _ in rows),
        "",
        NOTE,
    ]
    if not args.no_write:
        RESULTS.write_text(_replace_section(RESULTS.read_text(), "\n".join(body)))
    print("\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
