"""Real bpftrace in a probe container on a real Go binary (pipeline.engine.bpftrace).

The Go program is built twice: with the host's go, and with go1.22.5 inside
the pinned golang:1.22.5-bookworm image (network off), so every probe point
is proven on both runtimes. Its modes: goroutines that exit or leak, calls
to //go:noinline functions, one large allocation, recovered and unrecovered
panics, a refused TCP dial (socket/connect) and forced GCs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.engine.bpftrace import (
    ProbeError,
    TraceDenied,
    TraceError,
    TraceTimeout,
    UnknownFunction,
    container_path,
    parse_output,
    probes_dir,
    render_probe,
    run_probe,
    syscall_names,
    uprobe_functions,
)

from conftest import IN_CI, ROOT  # noqa: E402

pytestmark = pytest.mark.docker

N = 50
K = 3 << 20
METHOD = "example.com/fixproof/tracedemo/pkg.(*T).M"
TOOLCHAINS = ("host", "go1.22.5")

MAIN_GO = """\
package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"example.com/fixproof/tracedemo/pkg"
)

var sink []byte

//go:noinline
func work(n int) int { return n*n + 1 }

// Inlined everywhere: no symbol of its own, only entries in the inline tree.
func tiny(n int) int {
	if n%3 == 1 {
		return n * 5
	}
	return n + 1
}

//go:noinline
func mayPanic(n int) (r int) {
	for i := 0; i < 1; i++ { // a defer in a loop is registered through runtime.deferproc
		defer func() {
			if e := recover(); e != nil {
				r = -1
			}
		}()
	}
	panic("boom " + strconv.Itoa(n))
}

func main() {
	mode, n := os.Args[1], 0
	if len(os.Args) > 2 {
		n, _ = strconv.Atoi(os.Args[2])
	}
	switch mode {
	case "spawn":
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); work(i) }()
		}
		wg.Wait()
	case "leak":
		block := make(chan struct{})
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() { wg.Done(); <-block }()
		}
		wg.Wait()
	case "calls":
		s, t := 0, &pkg.T{}
		for i := 0; i < n; i++ {
			s += tiny(work(i))
			t.M(i)
		}
		fmt.Println(s, t.N, os.Getenv("DEMO_ENV"))
	case "alloc":
		sink = make([]byte, n)
	case "panic":
		for i := 0; i < n; i++ {
			mayPanic(i)
		}
	case "crash":
		panic("unrecovered")
	case "dial":
		_, err := net.DialTimeout("tcp", "127.0.0.1:1", time.Second)
		fmt.Println("dial failed:", err != nil)
	case "gc":
		for i := 0; i < n; i++ {
			runtime.GC()
		}
	case "sleep":
		time.Sleep(time.Hour)
	}
	fmt.Printf("done %q\\n", os.Args[1:])
}
"""

PKG_GO = """\
package pkg

type T struct{ N int }

//go:noinline
func (t *T) M(by int) { t.N += by }
"""


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("tracedemo")
    (src / "pkg").mkdir()
    (src / "go.mod").write_text("module example.com/fixproof/tracedemo\n\ngo 1.21\n")
    (src / "main.go").write_text(MAIN_GO)
    (src / "pkg" / "pkg.go").write_text(PKG_GO)
    return src


@pytest.fixture(scope="module")
def demo(request, engine, source) -> dict[str, Path]:
    """The demo binary per toolchain: the host's go, and go1.22.5 in the pinned golang image."""
    from pipeline.engine.docker import Mount

    go = shutil.which("go")
    if go is None:
        if IN_CI:
            pytest.fail("CI needs a Go toolchain on PATH to build the bpftrace test program")
        pytest.skip("no go on PATH")
    out = {}
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "0"}
    out["host"] = source / "bin" / "host" / "demo"
    subprocess.run([go, "build", "-o", str(out["host"]), "."], cwd=source, env=env, check=True,
                   capture_output=True, timeout=300)
    image = request.getfixturevalue("golang_image").ref  # built locally when no registry answers
    res = engine.run(image, ["go", "build", "-o", "/src/bin/go1.22.5/demo", "."], timeout=300,
                     mounts=[Mount(str(source), "/src")], workdir="/src", network=False,
                     env={"GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "0",
                          "GOCACHE": "/tmp/gocache"})
    assert res.exit_code == 0, res.stderr
    out["go1.22.5"] = source / "bin" / "go1.22.5" / "demo"
    version = subprocess.run([go, "version", str(out["go1.22.5"])], capture_output=True, text=True, check=True)
    assert version.stdout.strip().endswith("go1.22.5"), version.stdout
    return out


@pytest.fixture(scope="module")
def probe(engine) -> str:
    from pipeline.engine.images import PROBE_REF, ensure_image
    from pipeline.progress import Progress

    ensure_image(engine, PROBE_REF, timeout=900, progress=Progress("test-setup"))
    return PROBE_REF


def _ours(engine) -> list[str]:
    from pipeline.engine.docker import RUN_LABEL

    return [c.id for c in engine.client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={engine.run_id}"})]


def trace(engine, probe, binary: Path, name: str, *args: str, functions=(), timeout: float = 60, **kw):
    text = render_probe(name, binary=container_path(str(binary)), functions=functions)
    run = run_probe(engine, probe, str(binary), text, args, timeout=timeout, **kw)
    assert run.exit_code == 0 or args == ("crash",), run.program_output
    return run


# -- pure helpers ---------------------------------------------------------------------------------------


def test_probes_are_packaged_linked_and_documented():
    link = ROOT / "probes"
    assert link.is_symlink() and link.resolve() == probes_dir().resolve()
    names = {"goroutines", "gc", "panics", "calls", "alloc", "syscalls"}
    for n in names:
        for ext in (".bt", ".d"):
            text = (probes_dir() / (n + ext)).read_text()
            assert "fixproof probe" in text and "Placeholders" in text, n + ext
            assert "uretprobe" not in text and ":return" not in text  # entry probes only
    assert "@created" in (probes_dir() / "goroutines.d").read_text()


def test_render_substitutes_binary_functions_and_registers():
    text = render_probe("probes/calls.bt", binary="/probe/demo", functions=["main.work", METHOD])
    body = [ln for ln in text.splitlines() if ln.startswith("uprobe:")]
    assert body == [
        "uprobe:/probe/demo:runtime.rt0_go* /@_tgid == 0/ { @_tgid = pid; }",
        'uprobe:/probe/demo:"main.work" /pid == @_tgid/ { @calls[probe] = count(); }',
        f'uprobe:/probe/demo:"{METHOD}" /pid == @_tgid/ {{ @calls[probe] = count(); }}',
    ]
    assert "{{function}}" in text  # comments are left alone
    assert uprobe_functions(text, "/probe/demo") == ("main.work", METHOD)  # wildcards are not checked
    assert 'sum(reg("ax"))' in render_probe("alloc", binary="/probe/x")
    assert 'sum(reg("r0"))' in render_probe("alloc.bt", binary="/probe/x", goarch="arm64")
    assert "uregs[R_RAX]" in render_probe("alloc.d", binary="/probe/x")
    assert "pid$target::main.work:entry" in render_probe("calls.d", binary="/x", functions=["main.work"])


@pytest.mark.parametrize("call, match", [
    (dict(name_or_path="calls"), "give at least one"),
    (dict(name_or_path="gc", functions=["main.work"]), "no {{function}} line"),
    (dict(name_or_path="calls", functions=['main."x"']), "cannot be put in a probe"),
    (dict(name_or_path="alloc", goarch="riscv64"), "amd64 and arm64"),
    (dict(name_or_path="nosuch"), "shipped probes are alloc.bt"),
])
def test_render_errors_are_usage_errors(call, match):
    with pytest.raises(ProbeError, match=match) as ei:
        render_probe(binary="/probe/demo", **call)
    assert ei.value.exit_code == 2


def test_render_rejects_unknown_placeholders(tmp_path):
    p = tmp_path / "x.bt"
    p.write_text("// {{whatever}} in a comment is fine\nBEGIN { printf(\"{{oops}}\"); }\n")
    with pytest.raises(ProbeError, match=r"x.bt:2: unknown placeholder \{\{oops\}\}"):
        render_probe(str(p), binary="/probe/demo")


def test_parse_output_reads_maps_printf_and_probe_keys():
    raw = "\n".join([
        '{"type": "attached_probes", "data": {"probes": 3}}',
        '{"type": "printf", "data": "a=1\\nb="}',
        '{"type": "printf", "data": "2\\n"}',
        "", "",
        '{"type": "map", "data": {"@_tgid": 1234}}',
        '{"type": "map", "data": {"@calls": {"uprobe:/probe/demo:main.work": 7}}}',
        '{"type": "stats", "data": {"@gc_interval_ns": {"count": 2, "average": 5, "total": 10}}}',
        '{"type": "hist", "data": {"@h": [{"min": 1, "max": 1, "count": 3}]}}',
    ])
    maps, printed, attached = parse_output(raw, "/probe/demo")
    assert maps == {"@calls": {"main.work": 7}, "@gc_interval_ns": {"count": 2, "average": 5, "total": 10},
                    "@h": [{"min": 1, "max": 1, "count": 3}]}
    assert printed == ("a=1", "b=2") and attached == 3
    with pytest.raises(TraceError, match="not JSON"):
        parse_output('{"type": ')


def test_syscall_names():
    assert syscall_names({"41": 1, "42": 2, "99999": 1}) == {"socket": 1, "connect": 2, "99999": 1}
    assert syscall_names({"198": 1, "203": 1}, "arm64") == {"socket": 1, "connect": 1}


# -- real bpftrace ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("tc", TOOLCHAINS)
def test_goroutines_created_vs_exited(engine, probe, demo, tc):
    base = trace(engine, probe, demo[tc], "goroutines", "spawn", "0")
    done = trace(engine, probe, demo[tc], "goroutines", "spawn", str(N))
    leak = trace(engine, probe, demo[tc], "goroutines", "leak", str(N))
    runtime_own = base.count("@created")  # main and the runtime's own goroutines
    assert 1 <= runtime_own <= 10 and base.count("@exited") == 0
    assert (done.count("@created"), done.count("@exited")) == (runtime_own + N, N)
    assert (leak.count("@created"), leak.count("@exited")) == (runtime_own + N, 0)
    assert leak.program_output == 'done ["leak" "50"]\n' and leak.bpftrace_stderr == ""
    assert leak.attached_probes == 3 and leak.duration_s < 20 and leak.image_id.startswith("sha256:")


@pytest.mark.parametrize("tc", TOOLCHAINS)
def test_call_counts_are_exact_and_args_reach_the_program(engine, probe, demo, tc):
    run = trace(engine, probe, demo[tc], "calls", "calls", "7", "two words", functions=["main.work", METHOD],
                env={"DEMO_ENV": "it's set"})
    assert run.keyed("@calls") == {"main.work": 7, METHOD: 7}
    total = sum(w * 5 if w % 3 == 1 else w + 1 for w in (i * i + 1 for i in range(7)))
    assert run.program_output == f'{total} 21 it\'s set\ndone ["calls" "7" "two words"]\n'


@pytest.mark.parametrize("tc", TOOLCHAINS)
def test_allocation_size_from_the_register_abi(engine, probe, demo, tc):
    run = trace(engine, probe, demo[tc], "alloc", "alloc", str(K))
    assert run.count("@alloc_max") >= K and run.count("@alloc_bytes") >= K and run.count("@allocs") >= 1


@pytest.mark.parametrize("tc", TOOLCHAINS)
def test_panics_recovered_and_fatal(engine, probe, demo, tc):
    run = trace(engine, probe, demo[tc], "panics", "panic", "5")
    assert (run.count("@panics"), run.count("@fatal")) == (5, 0) and run.count("@defers") >= 5
    crash = trace(engine, probe, demo[tc], "panics", "crash")
    assert (crash.count("@panics"), crash.count("@fatal"), crash.exit_code) == (1, 1, 2)
    assert "panic: unrecovered" in crash.program_output


@pytest.mark.parametrize("tc", TOOLCHAINS)
def test_syscalls_of_a_dial_and_not_without(engine, probe, demo, tc):
    dial = syscall_names(trace(engine, probe, demo[tc], "syscalls", "dial").keyed("@syscalls"))
    quiet = syscall_names(trace(engine, probe, demo[tc], "syscalls", "spawn", "1").keyed("@syscalls"))
    assert dial.get("socket", 0) >= 1 and dial.get("connect", 0) >= 1
    assert "socket" not in quiet and "connect" not in quiet
    assert quiet.get("exit_group") == 1 and quiet.get("write", 0) >= 1  # the whole process, start to end


@pytest.mark.parametrize("tc", TOOLCHAINS)
def test_gc_cycles_and_interval(engine, probe, demo, tc):
    run = trace(engine, probe, demo[tc], "gc", "gc", "10")
    assert run.count("@gc") >= 10
    stats = run.maps["@gc_interval_ns"]
    assert stats["count"] == run.count("@gc") - 1 and stats["average"] > 0
    assert 0 < run.count("@gc_interval_min_ns") <= stats["average"] <= run.count("@gc_interval_max_ns")


# -- failures ------------------------------------------------------------------------------------------------


def test_no_sys_admin_is_denied_with_bpftraces_reason(engine, probe, demo):
    from pipeline.engine.docker import Profile

    text = render_probe("goroutines", binary=container_path(str(demo["host"])))
    with pytest.raises(TraceDenied) as ei:
        run_probe(engine, probe, str(demo["host"]), text, ["spawn", "1"], timeout=60, profile=Profile())
    reason = ei.value.reason
    assert "\n" not in reason and "Operation not permitted" in reason and "RLIMIT_MEMLOCK" not in reason
    assert reason in str(ei.value) and ei.value.exit_code == 3
    assert _ours(engine) == []


def test_unknown_and_inlined_functions_fail_before_any_container(engine, probe, demo):
    text = render_probe("calls", binary=container_path(str(demo["host"])),
                        functions=["main.wrok", "main.tiny", "main.work"])
    start = time.monotonic()
    with pytest.raises(UnknownFunction) as ei:
        run_probe(engine, probe, str(demo["host"]), text, ["calls", "1"], timeout=60)
    assert time.monotonic() - start < 5
    assert ei.value.names == ("main.wrok", "main.tiny") and ei.value.inlined == ("main.tiny",)
    assert "main.work" in ei.value.close["main.wrok"] and "//go:noinline" in str(ei.value)


def test_bpftrace_error_is_not_a_denial(engine, probe, demo):
    with pytest.raises(TraceError, match="syntax error") as ei:
        run_probe(engine, probe, str(demo["host"]), "BEGIN { @x = ; }\n", ["spawn", "1"], timeout=60)
    assert not isinstance(ei.value, TraceDenied)


def test_deadline_kills_and_removes_the_container(engine, probe, demo):
    start = time.monotonic()
    with pytest.raises(TraceTimeout, match="3 s timeout"):
        trace(engine, probe, demo["host"], "goroutines", "sleep", timeout=3)
    assert time.monotonic() - start < 10
    assert _ours(engine) == []
