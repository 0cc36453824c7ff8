"""Stage trace on the example through the task graph, with real bpftrace in
the probe container: fixed passes, the leak and the recovered panic of the
unfixed variants fail with the numbers seen, and a container without the
capability gives a skip (or, when required, an error), never a pass. The
assessment of a run's numbers alone: tests/unit/stages/test_trace_stage.py."""

from __future__ import annotations

import pytest

from conftest import EXAMPLE, TRACE_CHECKS, assert_no_traceback, check, stage, verify, write_config
from fixproof import config
from fixproof.engine.docker import Profile
from fixproof.results import Status
from fixproof.stages import trace
from fixproof.stages.common import StageContext

pytestmark = pytest.mark.docker

UNFIXED = '[build]\ntags = ["fixdemo_unfixed_leak", "fixdemo_unfixed_iface"]\n'


@pytest.fixture(scope="module")
def fixed(tmp_path_factory, golang_image):
    cfg = write_config(tmp_path_factory.mktemp("trace-fixed"), EXAMPLE, extra=TRACE_CHECKS)
    return cfg, verify(cfg, "--only", "trace")


def test_fixed_example_passes_every_probe(fixed):
    cfg, p = fixed
    assert_no_traceback(p)
    assert p.returncode == 0, p.stdout + p.stderr
    checks = stage(cfg, "trace")["checks"]
    assert len(checks) == TRACE_CHECKS.count("[[trace]]") and all(c["status"] == "passed" for c in checks), checks
    leak = check(cfg, "trace", "workers exit on cancel")["evidence"]["measured"]
    assert leak["exited"] == 100 and leak["created"] >= 100
    calls = check(cfg, "trace", "one worker loop per worker")["evidence"]["measured"]
    assert calls == {"calls of example.com/fixdemo/internal/worker.(*Pool).loop": 100}
    syscalls = check(cfg, "trace", "a bounded read opens no socket")["evidence"]["measured"]["syscalls"]
    assert "write" in syscalls and "socket" not in syscalls


def test_raw_probe_output_is_kept(fixed):
    cfg, _ = fixed
    ev = check(cfg, "trace", "workers exit on cancel")["evidence"]
    raw = (cfg.parent / "reports" / "trace" / "workers-exit-on-cancel.json")
    assert ev["raw"] == str(raw) and '"@created"' in raw.read_text()


def test_unfixed_leak_and_panic_fail_with_the_numbers(tmp_path, golang_image):
    cfg = write_config(tmp_path, EXAMPLE, extra=UNFIXED + TRACE_CHECKS)
    p = verify(cfg, "--only", "trace")
    assert_no_traceback(p)
    assert p.returncode == 1, p.stdout + p.stderr
    leak = check(cfg, "trace", "workers exit on cancel")
    assert leak["status"] == "failed"
    assert " goroutines created, 0 exited: leaked goroutines " in leak["message"]
    panics = check(cfg, "trace", "no panic while describing shapes (bpftrace)")
    assert panics["status"] == "failed" and panics["message"].startswith("panics 1 (max 0)")


def _stage_without_sys_admin(cfg_path, monkeypatch) -> list:
    monkeypatch.setattr(trace, "_profile", lambda ctx: Profile())  # no capability at all
    return list(trace.run(StageContext(config.load(cfg_path), "trace")).checks)


def test_denied_bpf_is_skipped_with_the_reason(fixed, monkeypatch):
    cfg, _ = fixed  # its build stage result and binary are reused
    checks = _stage_without_sys_admin(cfg, monkeypatch)
    assert [c.status for c in checks] == [Status.SKIPPED] * TRACE_CHECKS.count("[[trace]]")
    assert all(c.message.startswith("the kernel or policy refused BPF: ") for c in checks)
    assert "Operation not permitted" in checks[0].message


def test_denied_bpf_is_an_error_when_required(fixed, monkeypatch, tmp_path):
    cfg, _ = fixed
    text = cfg.read_text().replace('max_leaked = 10', 'max_leaked = 10\nrequired = true', 1)
    cfg.write_text(text)
    try:
        checks = _stage_without_sys_admin(cfg, monkeypatch)
    finally:
        cfg.write_text(text.replace('max_leaked = 10\nrequired = true', 'max_leaked = 10', 1))
    assert checks[0].status is Status.ERROR and "(this check is required)" in checks[0].message
    assert checks[1].status is Status.SKIPPED


def test_unknown_function_names_close_ones(tmp_path, golang_image):
    cfg = write_config(tmp_path, EXAMPLE, extra='[[trace]]\nname = "typo"\nprobe = "calls"\nrun = ["-workers", "3"]\n'
                       'functions = ["example.com/fixdemo/internal/worker.(*Pool).lop"]\nmin_hits = 1\n')
    p = verify(cfg, "--only", "trace")
    assert_no_traceback(p)
    assert p.returncode == 2, p.stdout + p.stderr
    c = check(cfg, "trace", "typo")
    assert c["status"] == "error" and "(*Pool).loop" in c["message"]


def test_purpose_built_failures_syscalls_and_gc_jitter(tmp_path, golang_image):
    """An upload opens a socket (loopback, refused) and a large cache run starts
    several GC cycles at uneven intervals: bounds that such runs break."""
    cfg = write_config(tmp_path, EXAMPLE, extra='''
[[trace]]
name = "no socket"
probe = "syscalls"
run = ["-upload", "http://127.0.0.1:9/"]
forbid_syscalls = ["socket", "connect"]

[[trace]]
name = "only these syscalls"
probe = "syscalls"
run = ["-read", "10"]
allow_syscalls = ["read", "write"]

[[trace]]
name = "steady GC"
probe = "gc"
run = ["-cache", "300000"]
max_gc = 1
max_gc_jitter_ms = 0
''')
    p = verify(cfg, "--only", "trace")
    assert_no_traceback(p)
    assert p.returncode == 1, p.stdout + p.stderr
    sock = check(cfg, "trace", "no socket")
    assert sock["status"] == "failed" and "forbidden syscalls made: connect x" in sock["message"]
    only = check(cfg, "trace", "only these syscalls")
    assert only["status"] == "failed" and "syscalls outside allow_syscalls: " in only["message"]
    gc = check(cfg, "trace", "steady GC")
    assert gc["status"] == "failed" and "GC cycles " in gc["message"], gc
    assert gc["evidence"]["measured"]["GC cycles"] > 1 and "GC interval jitter ms" in gc["evidence"]["measured"]


BURST_GO = """\
package main

import (
	"fmt"
	"os"
)

// burst registers n deferred calls in a loop (each goes through
// runtime.deferproc), then panics; the first defer recovers.
func burst(n int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("recovered: %v", r)
		}
	}()
	for i := 0; i < n; i++ {
		defer func(i int) { _ = i }(i)
	}
	panic("boom")
}

func main() {
	n := 0
	if len(os.Args) > 1 {
		fmt.Sscan(os.Args[1], &n)
	}
	fmt.Println(burst(n))
}
"""


def test_purpose_built_panic_after_defer_burst(tmp_path, golang_image):
    app = tmp_path / "burst"
    app.mkdir()
    (app / "go.mod").write_text("module example.com/burst\n\ngo 1.22\n")
    (app / "main.go").write_text(BURST_GO)
    checks = '''
[[trace]]
name = "no defer burst before a panic"
probe = "panics"
run = ["{n}"]
max_defers_before_panic = 10
'''
    cfg = write_config(tmp_path, app, extra=checks.format(n=200))
    cfg.write_text(cfg.read_text().replace('packages = ["./cmd/fixdemo"]', 'packages = ["."]'))
    p = verify(cfg, "--only", "trace")
    assert_no_traceback(p)
    assert p.returncode == 1, p.stdout + p.stderr
    c = check(cfg, "trace", "no defer burst before a panic")
    assert c["status"] == "failed" and "defers registered " in c["message"], c
    assert c["evidence"]["measured"]["defers registered"] >= 200 and c["evidence"]["measured"]["panics"] == 1
    # The same program with a short defer list passes: the bound, not the panic, decides.
    cfg.write_text(cfg.read_text().replace('run = ["200"]', 'run = ["3"]'))
    p = verify(cfg, "--only", "trace")
    assert p.returncode == 0, p.stdout + p.stderr


# -- alloc: every allocation entry point of the binary's Go release ------------------------------

ALLOC_CHECKS = '''
[[trace]]
name = "allocations bounded"
probe = "alloc"
run = ["2000"]
max_alloc_bytes = 100000

[[trace]]
name = "no allocation above 1000 bytes"
probe = "alloc"
run = ["2000"]
max_alloc_bytes = 1000
'''


@pytest.fixture(scope="module")
def alloc_binaries(tmp_path_factory) -> dict:
    """The alloc test program of test_bpftrace_engine, built by go1.27.4, and the same stripped."""
    from integration.test_bpftrace_engine import build_alloc_demo

    out = tmp_path_factory.mktemp("allocdemo-stage")
    return {"go1.27.4": build_alloc_demo(out, "go1.27.4", "go1.27.4"),
            "stripped": build_alloc_demo(out, "stripped", "go1.27.4", "-ldflags=-s -w")}


@pytest.fixture
def alloc_ctx(engine, tmp_path):
    cfg = config.load(write_config(tmp_path, EXAMPLE, extra=ALLOC_CHECKS))
    ctx = StageContext(cfg, "trace", engine_factory=lambda: engine)
    ctx.probe_image()
    out = tmp_path / "trace"
    out.mkdir()
    return ctx, out


def test_alloc_check_counts_the_size_specialised_entries(alloc_ctx, alloc_binaries):
    """go1.27.4: new(T) of 80 bytes or less never enters runtime.mallocgc; the check still sees it all."""
    ctx, out = alloc_ctx
    facts: dict = {}
    ok, low = (trace._run_check(ctx, c, alloc_binaries["go1.27.4"], out, facts) for c in ctx.cfg.trace)
    assert ok.status is Status.PASSED, ok.message
    entry_points = ok.evidence["alloc_entry_points"]
    assert entry_points["mallocgc_above"] == 80 and len(entry_points["functions"]) == 15
    assert entry_points["functions"][0] == "runtime.mallocgc" and "runtime.mallocgcTinySC2" in entry_points["functions"]
    assert "size-specialised malloc is on" in entry_points["reason"]
    seen = ok.evidence["measured"]
    assert seen["allocations"] >= 5 * 2000 + 1 and seen["bytes"] >= 360 * 2000, seen
    assert seen["largest allocation bytes"] == 40 * 2000 and ok.evidence["attached_probes"] == 16
    assert low.status is Status.FAILED and low.message.startswith("largest allocation bytes 80000 (max 1000)")
    assert facts["bpftrace_version"]


def test_alloc_check_on_a_stripped_binary_is_an_error_not_a_count(alloc_ctx, alloc_binaries):
    ctx, out = alloc_ctx
    c = trace._run_check(ctx, ctx.cfg.trace[0], alloc_binaries["stripped"], out, {})
    assert c.status is Status.ERROR, c.message
    assert "no ELF symbol table" in c.message and "refuses to count rather than report a low number" in c.message
    assert c.evidence["exit_code"] == 3 and "measured" not in c.evidence
    assert "attached_probes" not in c.evidence and c.duration_s < 5  # refused before bpftrace ran
