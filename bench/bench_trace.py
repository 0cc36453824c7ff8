"""Benchmark: the example's exercises with and without the trace stage's probes.

Runs the example binary the build stage made (reports/build/fixdemo; run
`make verify` first) in the probe container, plain and under each standard
bpftrace probe, and prints medians. Both sides include starting a container;
the probed side also includes bpftrace compiling and attaching its probes,
which is what a user pays per [[trace]] check.

    .venv/bin/python bench/bench_trace.py [--reps 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fixproof.engine import bpftrace as bt  # noqa: E402
from fixproof.engine.allocprobe import alloc_entry_points  # noqa: E402
from fixproof.engine.docker import TRACE_PROFILE, Engine, Mount  # noqa: E402
from fixproof.engine.images import PROBE_REF, ensure_image  # noqa: E402
from fixproof.progress import Progress  # noqa: E402

CASES = (
    ("-workers 1000", ["-workers", "1000"], ("goroutines", "calls", "gc", "alloc", "syscalls")),
    ("-cache 20000", ["-cache", "20000"], ("goroutines", "gc", "alloc", "syscalls")),
)
CALLS = ("example.com/fixdemo/internal/worker.(*Pool).loop",)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    binary = REPO / "reports" / "build" / "fixdemo"
    if not binary.is_file():
        raise SystemExit(f"{binary} is missing: run `make verify` first")
    engine = Engine.connect()
    ensure_image(engine, PROBE_REF, timeout=1800, progress=Progress("bench"))
    target = bt.container_path(str(binary))
    print(f"binary: {binary} ({binary.stat().st_size} bytes); image {PROBE_REF}; reps {args.reps}, medians")
    print("| exercise | plain run | probe | probed run | overhead |")
    print("|---|---:|---|---:|---:|")
    for label, argv, probes in CASES:
        plain = []
        for _ in range(args.reps):
            t = time.monotonic()
            res = engine.run(PROBE_REF, [target, *argv], timeout=120, mounts=[Mount(str(binary), target, read_only=True)],
                             profile=TRACE_PROFILE)
            plain.append(time.monotonic() - t)
            assert res.exit_code == 0, res.stderr
        p = statistics.median(plain)
        for probe in probes:
            alloc = alloc_entry_points(str(binary)) if probe == "alloc" else None
            text = bt.render_probe(probe, binary=target, functions=CALLS if probe == "calls" else (), alloc=alloc)
            runs = []
            for _ in range(args.reps):
                t = time.monotonic()
                tr = bt.run_probe(engine, PROBE_REF, str(binary), text, argv, timeout=120)
                runs.append(time.monotonic() - t)
                assert tr.exit_code == 0, tr.bpftrace_stderr
            m = statistics.median(runs)
            print(f"| `fixdemo {label}` | {p:.2f} s | {probe} | {m:.2f} s | +{m - p:.2f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
