"""Benchmark: every row of issue #14's table, fixproof and its peer side by side, in one run.

    .venv/bin/python bench/run.py [--runs N] [--copies N] [--callgrind] [--pipeline] [--no-write]

Rows (always):
  vulns-1     `fixproof vulns --json BIN` vs `govulncheck -mode=binary -format json BIN`
              (a net/http client built with go1.22.4), the same file:// database
  vulns-20    `fixproof vulns --json` over 20 binaries in one call vs govulncheck once per binary
  inspect     `fixproof inspect --json FLEET` vs `go version -m FLEET` (bench_inspect.py's fleet)
  start-up    `python -c pass` and `fixproof --version`: the floor under every fixproof row
Peak memory (max RSS, from GNU time's %M) of vulns-20 and inspect, both tools.

--baseline REF: also time fixproof as of git REF (e.g. main) on the vulns rows, in the same loop (its
package from `git archive`, run by the same interpreter): the speed-up of a change, from one run.

--callgrind: also instruction counts (valgrind) of fixproof vulns-1, `fixproof --version` and `python -c
pass`: a measure that the load of other jobs does not move (govulncheck does not run under valgrind).

--pipeline (minutes; needs Docker and the example's images; run it alone on the machine):
  cold        `fixproof verify` of the example with `[build] cache = "fresh"`, stages stale
  warm        the same with the default build cache volume, warm, stages stale
  noop        `fixproof verify` again with nothing changed
  floor       what the Go compiler alone needs for the same work, in the same image, with an
              empty build cache: `go build`, `go test`, `go build -race` (modules already downloaded)

Every command is a fresh process; the tools alternate inside one loop, so a change of machine load
hits both; the table gives medians of --runs runs and the ratio fixproof / peer. The machine and its
load average (before and after) are written with the results: timings from a loaded machine are only
comparable as ratios. fixproof runs from a regular install of this checkout (`pip install .` into
bench/out/venv, as a user has it; `--editable` uses .venv instead). govulncheck is built from the Go
module proxy (`go install golang.org/x/vuln/cmd/govulncheck@VERSION`) into .fixproof-cache/bench-bin.
hyperfine is not needed. Results go to the "## Side by side (bench/run.py)" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import importlib.util
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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Callable, Sequence

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "RESULTS.md"
SECTION = "## Side by side (bench/run.py)"
GOVULNCHECK_VERSION = "v1.9.0"
BENCH_BIN = REPO / ".fixproof-cache" / "bench-bin"
DB = (REPO.parent / "shared" / "vulndb").resolve()
ONE_BINARY = "xtext-0.3.7-go1.22.4"  # a net/http client, go1.22.4

sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))


# --- running and measuring -----------------------------------------------------------------


def peak_rss_kb(cmd: Sequence[str], env: dict[str, str] | None = None, ok: Sequence[int] = (0,)) -> int:
    """Max RSS of one run, measured by /usr/bin/time (%M). Not from this process's wait4: subprocess
    starts children with vfork, and Linux carries the parent's high-water mark across exec."""
    with tempfile.NamedTemporaryFile("r") as out:
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, *cmd], env=env, timeout=1800,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if p.returncode not in ok:
            raise SystemExit(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stderr.decode(errors='replace')[-2000:]}")
        return int(out.read().split()[-1])


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds
    maxrss_kb: int


def run_once(cmd: Sequence[str], env: dict[str, str] | None = None, ok: Sequence[int] = (0,),
             cwd: Path | None = None, timeout: float = 1800) -> Sample:
    """One fresh process: wall time (and wait4's max RSS, which includes this process's own: see peak_rss_kb)."""
    import threading

    with tempfile.TemporaryFile() as errf:
        t0 = time.perf_counter()
        p = subprocess.Popen(list(cmd), stdout=subprocess.DEVNULL, stderr=errf, env=env, cwd=cwd)
        killer = threading.Timer(timeout, p.kill)
        killer.start()
        try:
            _pid, status, ru = os.wait4(p.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode not in ok:
            errf.seek(0)
            raise SystemExit(f"{' '.join(cmd)} exited {p.returncode}:\n{errf.read().decode(errors='replace')[-2000:]}")
    return Sample(wall, ru.ru_maxrss)


@dataclass
class Row:
    name: str
    ours_label: str
    peer_label: str
    ours: list[Sample] = field(default_factory=list)
    peer: list[Sample] = field(default_factory=list)
    goal: str = ""

    @staticmethod
    def med(xs: list[Sample]) -> float:
        return statistics.median(s.wall for s in xs) if xs else float("nan")

    @property
    def ratio(self) -> float:
        return self.med(self.ours) / self.med(self.peer) if self.peer else float("nan")


def interleave(rows: list[tuple[Row, Callable[[], Sample], Callable[[], Sample] | None]], runs: int) -> None:
    """Run every row's commands once per round, alternating the tools, `runs` rounds."""
    for _ in range(runs):
        for row, ours, peer in rows:
            row.ours.append(ours())
            if peer is not None:
                row.peer.append(peer())


def callgrind_instructions(cmd: Sequence[str], env: dict[str, str]) -> int | None:
    if shutil.which("valgrind") is None:
        return None
    p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd],
                       env=env, capture_output=True, text=True, timeout=600)
    m = re.search(r"Collected : (\d+)", p.stderr)
    return int(m.group(1)) if m else None


# --- what is measured --------------------------------------------------------------------------


def _vulns_corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("test_vulns_cmd", REPO / "tests" / "integration" / "test_vulns_cmd.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def ensure_govulncheck() -> Path:
    exe = BENCH_BIN / "govulncheck"
    stamp = BENCH_BIN / "govulncheck.version"
    if exe.is_file() and stamp.is_file() and stamp.read_text().strip() == GOVULNCHECK_VERSION:
        return exe
    BENCH_BIN.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GOTOOLCHAIN="local", GOBIN=str(BENCH_BIN), GOFLAGS="")
    subprocess.run(["go", "install", f"golang.org/x/vuln/cmd/govulncheck@{GOVULNCHECK_VERSION}"], env=env,
                   check=True, timeout=900)
    stamp.write_text(GOVULNCHECK_VERSION + "\n")
    return exe


def twenty_binaries(vc: ModuleType, accepts: Callable[[Path], bool]) -> tuple[Path, list[Path]]:
    """The go1.22.4 net/http client, and 20 binaries: the vulns corpus, then the goinfo corpus's
    linux ones, in a fixed order, those that govulncheck reads (Go 1.18+)."""
    import goinfo_corpus as gc

    vulns = {name: vc.build(r) for name, r in vc.recipes().items()}
    built = gc.build_all()
    others = [b.path for name, b in sorted(built.items()) if "-linux-" in name]
    fleet = [p for p in list(vulns.values()) + others if accepts(p)]
    return vulns[ONE_BINARY], fleet[:20]


def fixproof_exe(editable: bool) -> Path:
    if editable:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "pipeline")], check=True,
                       stdout=subprocess.DEVNULL)  # this machine sets PYTHONDONTWRITEBYTECODE; a real install has .pyc
        return REPO / ".venv" / "bin" / "fixproof"
    import bench_inspect

    return bench_inspect.installed_fixproof()


def machine() -> dict[str, str]:
    cpu = ""
    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), "")
    except OSError:
        pass
    go = subprocess.run(["go", "version"], capture_output=True, text=True, env=dict(os.environ, GOTOOLCHAIN="local"))
    return {"cpu": cpu or platform.processor(), "cpus": str(os.cpu_count()), "kernel": platform.release(),
            "python": platform.python_version(), "go": go.stdout.strip(), "node": platform.node()}


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def baseline_cmd(ref: str, python: Path) -> list[str]:
    """A command that runs fixproof as of git ``ref`` (its package unpacked under bench/out/)."""
    out = REPO / "bench" / "out" / f"baseline-{re.sub(r'[^A-Za-z0-9._-]', '_', ref)}"
    rev = subprocess.run(["git", "rev-parse", ref], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    stamp = out / ".rev"
    if not stamp.is_file() or stamp.read_text().strip() != rev:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", rev, "pipeline"], cwd=REPO, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
        (out / "pipeline").rename(out / "fixproof")
        subprocess.run([str(python), "-m", "compileall", "-q", str(out)], check=True, stdout=subprocess.DEVNULL)
        stamp.write_text(rev + "\n")
    return [str(python), "-c", f"import sys; sys.path.insert(0, {str(out)!r}); from fixproof.cli import main; "
            "sys.exit(main())"]


# --- the pipeline rows -------------------------------------------------------------------------


def _fresh_config(out: Path) -> Path:
    """fixproof.toml with `[build] cache = "fresh"` (the checkout's config otherwise). Written beside
    fixproof.toml: relative paths in a config are resolved against its directory."""
    text = (REPO / "fixproof.toml").read_text()
    if re.search(r"(?m)^cache\s*=", text):
        text = re.sub(r'(?m)^cache\s*=.*$', 'cache = "fresh"', text)
    else:
        text = re.sub(r"(?m)^\[build\]\s*$", '[build]\ncache = "fresh"', text, count=1)
    out.write_text(text)
    return out


def _clean_stages() -> None:
    for p in ("reports/stages", "reports/build"):
        shutil.rmtree(REPO / p, ignore_errors=True)


def pipeline_rows(fx: Path, runs: int) -> tuple[list[Row], list[str]]:
    """cold / warm / no-op example runs, and the Go compiler floor for the cold one."""
    import tomllib

    notes = []
    env = dict(os.environ)
    cfg = tomllib.loads((REPO / "fixproof.toml").read_text())
    image = cfg["toolchain"]["image"]
    app = REPO / cfg["app"]["dir"]
    fresh = _fresh_config(REPO / ".bench-fresh.fixproof.toml")
    verify = [str(fx), "-q", "verify"]

    cold = Row("cold", "fixproof verify, build cache fresh, stages stale", "Go alone (floor)", goal="<= 60 s")
    warm = Row("warm", "fixproof verify, build cache volume warm, stages stale", "", goal="<= 15 s")
    noop = Row("noop", "fixproof verify again, nothing changed", "", goal="<= 0.5 s")
    run_once(verify, env, ok=(0, 1), cwd=REPO)  # images, module cache, warm build cache volume
    floor_cmd = ["docker", "run", "--rm", "--network=none", "-v", f"{app}:/src:ro", "-w", "/src",
                 "-e", "GOFLAGS=-mod=mod", "-e", "GOCACHE=/tmp/gocache", "-e", "GOTOOLCHAIN=local",
                 "--tmpfs", "/tmp:exec,size=2g", "-v", "fixproof-bench-gomod:/go/pkg/mod", image, "sh", "-c",
                 "go build -trimpath -o /tmp/app ./cmd/fixdemo && go test -count=1 ./... >/dev/null "
                 "&& go build -race -trimpath -o /tmp/app-race ./cmd/fixdemo"]
    # the module cache for the floor, downloaded once (network on); not timed
    subprocess.run(["docker", "run", "--rm", "-v", f"{app}:/src:ro", "-w", "/src", "-v",
                    "fixproof-bench-gomod:/go/pkg/mod", "-e", "GOFLAGS=-mod=mod", image, "go", "mod", "download"],
                   check=True, timeout=900, stdout=subprocess.DEVNULL)
    try:
        for _ in range(runs):
            _clean_stages()
            cold.ours.append(run_once([*verify, "-c", str(fresh)], env, ok=(0, 1), cwd=REPO))
            cold.peer.append(run_once(floor_cmd, env, cwd=REPO))
            _clean_stages()
            warm.ours.append(run_once(verify, env, ok=(0, 1), cwd=REPO))
            noop.ours.append(run_once(verify, env, ok=(0, 1), cwd=REPO))
    finally:
        fresh.unlink(missing_ok=True)
    notes.append(f"floor: `{' '.join(floor_cmd[-1:])}` in {image}, empty GOCACHE on a tmpfs, modules pre-downloaded")
    return [cold, warm, noop], notes


# --- report ----------------------------------------------------------------------------------


def fmt_s(x: float) -> str:
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def _replace_section(text: str, body: str) -> str:
    block = f"{SECTION}\n\n{body.rstrip()}\n"
    pat = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pat.search(text):
        return pat.sub(lambda _m: block + "\n", text).rstrip() + "\n"
    head, _, rest = text.partition("\n\n")
    if not head.startswith("# "):
        return f"# Benchmark results\n\n{block}\n{text}"
    return f"{head}\n\n{block}\n{rest}".rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--copies", type=int, default=20, help="fleet copies for the inspect row (bench_inspect.py)")
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("--pipeline", action="store_true", help="also the example pipeline rows (minutes; Docker)")
    ap.add_argument("--pipeline-runs", type=int, default=3)
    ap.add_argument("--baseline", default=None, metavar="REF", help="also time fixproof as of this git ref (vulns rows)")
    ap.add_argument("--editable", action="store_true", help="time the checkout's .venv instead of a regular install")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    if not (DB / "index" / "db.json").is_file():
        raise SystemExit(f"the vulnerability database snapshot {DB} is missing")
    db_url = DB.as_uri()
    started = datetime.now(timezone.utc)
    load_before = load()

    vc = _vulns_corpus()
    gv = ensure_govulncheck()

    def gv_reads(p: Path) -> bool:
        r = subprocess.run([str(gv), "-mode=binary", "-db", db_url, "-format", "json", str(p)],
                           capture_output=True, timeout=300)
        return r.returncode in (0, 3)

    one, twenty = twenty_binaries(vc, gv_reads)
    fx = fixproof_exe(args.editable)
    import bench_inspect
    import goinfo_corpus as gc

    fleet, _src = bench_inspect.make_fleet(args.copies)
    nfiles = sum(1 for p in fleet.rglob("*") if p.is_file() and p.name != ".complete")

    cache = Path(tempfile.mkdtemp(prefix="fixproof-bench-cache-"))
    env = dict(os.environ, FIXPROOF_CACHE_DIR=str(cache), FIXPROOF_VULNDB=db_url)
    go_env = gc.host_go_env()
    fx_vulns = [str(fx), "vulns", "--json", "--db", db_url]
    gv_cmd = [str(gv), "-mode=binary", "-db", db_url, "-format", "json"]
    # warm-ups: the compact index of the database is derived once, page cache hot
    run_once(fx_vulns + [str(one)], env, ok=(0, 1))
    run_once(gv_cmd + [str(one)], env, ok=(0, 3))
    run_once([str(fx), "inspect", "--json", str(fleet)], env)
    run_once(["go", "version", "-m", str(fleet)], go_env)

    def gv_all() -> Sample:
        ss = [run_once(gv_cmd + [str(b)], env, ok=(0, 3)) for b in twenty]
        return Sample(sum(s.wall for s in ss), max(s.maxrss_kb for s in ss))

    v1 = Row("vulns-1", "fixproof vulns --json (1 binary)", "govulncheck -mode=binary", goal="<= 0.5")
    v20 = Row("vulns-20", f"fixproof vulns --json ({len(twenty)} binaries, one call)",
              "govulncheck once per binary (sum)", goal="<= 0.5")
    ins = Row("inspect", f"fixproof inspect --json ({nfiles} files)", "go version -m", goal="<= 0.4")
    bare = Row("python", "python -c pass", "")
    start = Row("start-up", "fixproof --version", "")
    interleave([
        (v1, lambda: run_once(fx_vulns + [str(one)], env, ok=(0, 1)), lambda: run_once(gv_cmd + [str(one)], env, ok=(0, 3))),
        (v20, lambda: run_once(fx_vulns + [str(b) for b in twenty], env, ok=(0, 1)), gv_all),
        (ins, lambda: run_once([str(fx), "inspect", "--json", str(fleet)], env),
         lambda: run_once(["go", "version", "-m", str(fleet)], go_env)),
        (bare, lambda: run_once([str(fx.parent / "python"), "-c", "pass"], env), None),
        (start, lambda: run_once([str(fx), "--version"], env), None),
    ], args.runs)
    rows = [v1, v20, ins]
    base_rows: list[Row] = []
    if args.baseline:
        base = baseline_cmd(args.baseline, fx.parent / "python")
        b1 = Row("base-1", f"fixproof as of {args.baseline}, 1 binary", "now")
        b20 = Row("base-20", f"fixproof as of {args.baseline}, {len(twenty)} binaries", "now")
        run_once(base + ["vulns", "--json", "--db", db_url, str(one)], env, ok=(0, 1))
        interleave([
            (b1, lambda: run_once(base + ["vulns", "--json", "--db", db_url, str(one)], env, ok=(0, 1)),
             lambda: run_once(fx_vulns + [str(one)], env, ok=(0, 1))),
            (b20, lambda: run_once(base + ["vulns", "--json", "--db", db_url] + [str(b) for b in twenty], env, ok=(0, 1)),
             lambda: run_once(fx_vulns + [str(b) for b in twenty], env, ok=(0, 1))),
        ], args.runs)
        base_rows = [b1, b20]
    memory: list[tuple[str, int, int]] = []
    if Path("/usr/bin/time").exists():
        for label, ours_cmd, peer_cmds, peer_env in (
                (v20.ours_label, fx_vulns + [str(b) for b in twenty], [gv_cmd + [str(b)] for b in twenty], env),
                (ins.ours_label, [str(fx), "inspect", "--json", str(fleet)], [["go", "version", "-m", str(fleet)]], go_env)):
            ours_kb = max(peak_rss_kb(ours_cmd, env, ok=(0, 1)) for _ in range(3))
            peer_kb = max(peak_rss_kb(c, peer_env, ok=(0, 3)) for c in peer_cmds for _ in range(1))
            memory.append((label, ours_kb, peer_kb))

    instr: dict[str, int | None] = {}
    if args.callgrind:
        instr["fixproof vulns --json (1 binary)"] = callgrind_instructions(fx_vulns + [str(one)], env)
        if args.baseline:
            instr[f"the same, fixproof as of {args.baseline}"] = callgrind_instructions(
                baseline_cmd(args.baseline, fx.parent / "python") + ["vulns", "--json", "--db", db_url, str(one)], env)
        instr["fixproof --version"] = callgrind_instructions([str(fx), "--version"], env)
        instr["python -c pass"] = callgrind_instructions([str(fx.parent / "python"), "-c", "pass"], env)

    pipe_notes: list[str] = []
    pipe: list[Row] = []
    if args.pipeline:
        pipe, pipe_notes = pipeline_rows(fx, args.pipeline_runs)
    shutil.rmtree(cache, ignore_errors=True)
    load_after = load()
    m = machine()

    lines = [
        f"`bench/run.py --runs {args.runs}{' --callgrind' if args.callgrind else ''}"
        f"{' --baseline ' + args.baseline if args.baseline else ''}"
        f"{' --pipeline' if args.pipeline else ''}`, {started:%Y-%m-%d %H:%M} UTC; {m['cpus']} CPUs ({m['cpu']}), "
        f"Linux {m['kernel']}, Python {m['python']}, {m['go']}; govulncheck {GOVULNCHECK_VERSION}; database "
        f"{db_url} (file://); fixproof from {'the checkout (.venv, editable)' if args.editable else 'a regular install (bench/out/venv)'}.",
        "",
        f"**Load average (1/5/15 min) before: {load_before}, after: {load_after}.** "
        + ("The machine was shared with other jobs: absolute times are inflated and noisy; "
           "the ratios (both tools in the same loop) are what compares, and even they are only indicative "
           "(a loaded machine hurts the command that uses both cores, such as inspect's two workers, "
           "more); judge the goals on a quiet machine."
           if max(float(load_before.split('/')[0]), float(load_after.split('/')[0])) > 1.0 else
           "The machine was quiet."),
        "",
        "| work | fixproof | peer | ratio | goal |",
        "|---|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r.ours_label} vs {r.peer_label} | {fmt_s(r.med(r.ours))} | {fmt_s(r.med(r.peer))} | "
                     f"**{r.ratio:.2f}** | {r.goal}: {'met' if r.ratio <= float(r.goal.split()[-1]) else 'missed'} |")
    for r in pipe:
        peer = fmt_s(r.med(r.peer)) if r.peer else "-"
        extra = f"overhead over the floor {(r.ratio - 1) * 100:.0f}%" if r.peer else ""
        lines.append(f"| {r.ours_label} | {fmt_s(r.med(r.ours))} | {peer} | {r.ratio:.2f} | {r.goal} {extra} |"
                     if r.peer else f"| {r.ours_label} | {fmt_s(r.med(r.ours))} | - | - | {r.goal} |")
    if base_rows:
        lines += ["", f"This checkout against fixproof as of `{args.baseline}` ({subprocess.run(['git', 'rev-parse', '--short', args.baseline], cwd=REPO, capture_output=True, text=True).stdout.strip()}), same loop:", "",
                  "| work | before | now | now / before |", "|---|---:|---:|---:|"]
        for r in base_rows:
            lines.append(f"| {r.ours_label.split(', ', 1)[1]} | {fmt_s(r.med(r.ours))} | {fmt_s(r.med(r.peer))} | "
                         f"**{r.med(r.peer) / r.med(r.ours):.2f}** |")
    lines += [
        "",
        f"Medians of {args.runs} runs, each command a fresh process. Fixed cost under every fixproof row: "
        f"`python -c pass` {fmt_s(Row.med(bare.ours))}, `fixproof --version` {fmt_s(Row.med(start.ours))} "
        f"(vulns-1 is {Row.med(v1.ours) / Row.med(start.ours):.1f}x `--version`). The start-up alone is "
        f"{Row.med(bare.ours) / Row.med(v1.peer):.2f} (interpreter) and {Row.med(start.ours) / Row.med(v1.peer):.2f} "
        f"(`--version`) of govulncheck's whole run on one binary.",
        "",
        "Peak memory (max RSS by /usr/bin/time: the largest process of the run, forked workers included; "
        "fixproof: largest of 3 runs; govulncheck: largest of its 20 runs):",
        "",
        "| work | fixproof | peer |",
        "|---|---:|---:|",
    ]
    for label, ours_kb, peer_kb in memory:
        lines.append(f"| {label} | {ours_kb / 1024:.0f} MiB | {peer_kb / 1024:.0f} MiB |")
    if not memory:
        lines.append("| (not measured: /usr/bin/time is missing; `apt-get install time`) | | |")
    if instr:
        lines += ["", "Instructions (valgrind --tool=callgrind; not moved by the machine's load):", ""]
        lines += [f"- {k}: {v / 1e6:.0f} M" if v else f"- {k}: not measured" for k, v in instr.items()]
    if pipe_notes:
        lines += [""] + [f"- {n}" for n in pipe_notes]
    body = "\n".join(lines) + "\n"
    print(body)
    if not args.no_write:
        old = RESULTS.read_text() if RESULTS.exists() else ""
        RESULTS.write_text(_replace_section(old, body))
        print(f"wrote the {SECTION!r} section of {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
