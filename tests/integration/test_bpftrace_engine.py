"""Real bpftrace in a probe container on a real Go binary (fixproof.engine.bpftrace).

The Go program is built twice: with the host's go, and with go1.22.5 inside
the pinned golang:1.22.5-bookworm image (network off), so every probe point
is proven on both runtimes. Its modes: goroutines that exit or leak, calls
to //go:noinline functions, one large allocation, recovered and unrecovered
panics, a refused TCP dial (socket/connect) and forced GCs.

The alloc probe is proven on a second program (ALLOC_GO) that makes a known
number of allocations of known sizes, built on the host with go1.22.5,
go1.26.8 and go1.27.4 (size-specialised malloc on by default): the probe's
count and byte sum between a run with N and a run with 0 must match them
on every release. The entry-point discovery behind it
(fixproof.engine.allocprobe) is checked on those binaries and on variants
(Go 1.26 with GOEXPERIMENT=sizespecializedmalloc, Go 1.27 without it or
with -tags valgrind, stripped, a symbol renamed) without Docker. What needs
neither Docker nor a Go binary (rendering, output parsing, the entry-point
plan) is in tests/unit/engine/test_bpftrace_engine.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from fixproof.engine.allocprobe import AllocCoverageError, AllocEntryPoints, alloc_entry_points
from fixproof.engine.bpftrace import (
    ALLOC_PLACEHOLDERS,
    TraceDenied,
    TraceError,
    TraceTimeout,
    UnknownFunction,
    container_path,
    probe_placeholders,
    render_probe,
    run_probe,
    syscall_names,
    uprobe_functions,
)

from conftest import IN_CI  # noqa: E402

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
    from fixproof.engine.docker import Mount

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
    from fixproof.engine.images import PROBE_REF, ensure_image
    from fixproof.progress import Progress

    ensure_image(engine, PROBE_REF, timeout=900, progress=Progress("test-setup"))
    return PROBE_REF


ALLOC_GO = """\
// allocdemo: n heap allocations of each of five kinds, kept alive to the end.
package main

import (
	"os"
	"runtime"
	"strconv"
	"unsafe"
)

// Sizes that are not size classes, so a size class read instead of the
// requested size would show in the byte sum.
type scan56 struct { // 56 bytes with pointers (class 64)
	next *scan56
	pad  [6]uintptr
}
type noscan20 [20]byte   // class 24
type noscan200 [200]byte // class 208
type tiny4 uint32        // the tiny allocator

var (
	keep     []unsafe.Pointer
	out      [64]byte // the report is written from here, so printing it allocates nothing
	sliceLen = 40     // not a constant: make([]byte, sliceLen) enters runtime.mallocgc (class 48)
)

func main() {
	n, err := strconv.Atoi(os.Args[1])
	if err != nil || n < 0 {
		os.Exit(2)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	keep = make([]unsafe.Pointer, 0, 5*n) // one allocation of 40*n bytes, none for n == 0
	for i := 0; i < n; i++ {
		keep = append(keep, unsafe.Pointer(new(scan56)), unsafe.Pointer(new(noscan20)),
			unsafe.Pointer(new(noscan200)), unsafe.Pointer(new(tiny4)),
			unsafe.Pointer(unsafe.SliceData(make([]byte, sliceLen))))
	}
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	os.Stdout.Write(append(strconv.AppendUint(append(out[:0], "mallocs "...), after.Mallocs-before.Mallocs, 10), '\\n'))
}
"""
ALLOC_N = 2000
ALLOC_COUNT = 5 * ALLOC_N + 1  # the holder too
ALLOC_BYTES = (56 + 20 + 200 + 4 + 40) * ALLOC_N + 40 * ALLOC_N
ALLOC_TOLERANCE = 0.05  # the runtime's own start-up allocations vary by a few between runs
ALLOC_RELEASES = ("go1.22.5", "go1.26.8", "go1.27.4")
PLAIN = AllocEntryPoints((), 0, "runtime.mallocgc only")


def build_alloc_demo(out_dir: Path, name: str, toolchain: str, *flags: str, env: dict | None = None) -> Path:
    """ALLOC_GO built on the host by `toolchain` ("local" or a release the Go module proxy serves)."""
    go = shutil.which("go")
    if go is None:
        if IN_CI:
            pytest.fail("CI needs a Go toolchain on PATH to build the alloc test program")
        pytest.skip("no go on PATH")
    src = out_dir / "src"
    if not (src / "main.go").is_file():
        src.mkdir(parents=True, exist_ok=True)
        (src / "go.mod").write_text("module example.com/fixproof/allocdemo\n\ngo 1.21\n")
        (src / "main.go").write_text(ALLOC_GO)
    exe = out_dir / name / "allocdemo"
    full_env = {**os.environ, "GOTOOLCHAIN": toolchain, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false",
                "GOWORK": "off", **(env or {})}
    p = subprocess.run([go, "build", *flags, "-o", str(exe), "."], cwd=src, env=full_env, capture_output=True,
                       text=True, timeout=600)
    if p.returncode != 0:
        msg = f"go build with GOTOOLCHAIN={toolchain} failed: {p.stderr.strip()[-600:]}"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return exe


@pytest.fixture(scope="module")
def alloc_demo(tmp_path_factory) -> dict[str, Path]:
    """ALLOC_GO per release: go1.22.5 and go1.27.4 through GOTOOLCHAIN, go1.26.8 as the host's go."""
    from concurrent.futures import ThreadPoolExecutor

    out = tmp_path_factory.mktemp("allocdemo")
    build_alloc_demo(out, "host", "local")  # writes the sources once
    want = {"go1.22.5": "go1.22.5", "go1.26.8": "local", "go1.27.4": "go1.27.4"}
    with ThreadPoolExecutor(3) as ex:
        built = dict(zip(want, ex.map(lambda kv: build_alloc_demo(out, kv[0], kv[1]), want.items())))
    version = subprocess.run(["go", "version", str(built["go1.26.8"])], capture_output=True, text=True, check=True)
    assert version.stdout.strip().endswith("go1.26.8"), version.stdout
    return built


@pytest.fixture(scope="module")
def alloc_variants(alloc_demo) -> dict[str, Path]:
    """Builds whose allocation entry points differ: other GOEXPERIMENTs and tags, and a stripped one."""
    from concurrent.futures import ThreadPoolExecutor

    out = alloc_demo["go1.26.8"].parents[1]
    recipes = {
        "go1.26.8-sizespecializedmalloc": ("local", (), {"GOEXPERIMENT": "sizespecializedmalloc"}),
        "go1.27.4-nosizespecializedmalloc": ("go1.27.4", (), {"GOEXPERIMENT": "nosizespecializedmalloc"}),
        "go1.27.4-valgrind": ("go1.27.4", ("-tags=valgrind",), {}),
        "go1.27.4-stripped": ("go1.27.4", ("-ldflags=-s -w",), {}),
    }
    with ThreadPoolExecutor(4) as ex:
        built = ex.map(lambda kv: build_alloc_demo(out, kv[0], kv[1][0], *kv[1][1], env=kv[1][2]), recipes.items())
        return dict(zip(recipes, built))


def _ours(engine) -> list[str]:
    from fixproof.engine.docker import RUN_LABEL

    return [c.id for c in engine.client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={engine.run_id}"})]


def trace(engine, probe, binary: Path, name: str, *args: str, functions=(), timeout: float = 60, **kw):
    alloc = alloc_entry_points(str(binary)) if ALLOC_PLACEHOLDERS & probe_placeholders(name) else None
    text = render_probe(name, binary=container_path(str(binary)), functions=functions, alloc=alloc)
    run = run_probe(engine, probe, str(binary), text, args, timeout=timeout, **kw)
    assert run.exit_code == 0 or args == ("crash",), run.program_output
    return run


# -- real bpftrace ----------------------------------------------------------------------------------------


@pytest.mark.docker
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


@pytest.mark.docker
@pytest.mark.parametrize("tc", TOOLCHAINS)
def test_call_counts_are_exact_and_args_reach_the_program(engine, probe, demo, tc):
    run = trace(engine, probe, demo[tc], "calls", "calls", "7", "two words", functions=["main.work", METHOD],
                env={"DEMO_ENV": "it's set"})
    assert run.keyed("@calls") == {"main.work": 7, METHOD: 7}
    total = sum(w * 5 if w % 3 == 1 else w + 1 for w in (i * i + 1 for i in range(7)))
    assert run.program_output == f'{total} 21 it\'s set\ndone ["calls" "7" "two words"]\n'


@pytest.mark.docker
@pytest.mark.parametrize("tc", TOOLCHAINS)
def test_allocation_size_from_the_register_abi(engine, probe, demo, tc):
    run = trace(engine, probe, demo[tc], "alloc", "alloc", str(K))
    assert run.count("@alloc_max") >= K and run.count("@alloc_bytes") >= K and run.count("@allocs") >= 1


@pytest.mark.docker
@pytest.mark.parametrize("release", ALLOC_RELEASES)
def test_alloc_counts_every_allocation_and_byte_on_each_release(engine, probe, alloc_demo, release):
    """N allocations of each of five kinds (56 B with pointers, 20 B, 200 B, 4 B tiny, a 40 B slice through
    runtime.mallocgc) plus their 40*N-byte holder: 5N+1 allocations of 360N bytes, which the runtime's own
    MemStats.Mallocs confirms. The probe's difference between a run with N and a run with 0 must match on
    every release; on go1.27.4 runtime.mallocgc alone sees about 2N of them."""
    binary = alloc_demo[release]
    base = trace(engine, probe, binary, "alloc", "0")
    full = trace(engine, probe, binary, "alloc", str(ALLOC_N))
    assert (base.program_output, full.program_output) == ("mallocs 0\n", f"mallocs {ALLOC_COUNT}\n")
    allocs = full.count("@allocs") - base.count("@allocs")
    nbytes = full.count("@alloc_bytes") - base.count("@alloc_bytes")
    print(f"{release}: {allocs} allocations (expected {ALLOC_COUNT}), {nbytes} bytes (expected {ALLOC_BYTES})")
    assert abs(allocs - ALLOC_COUNT) <= ALLOC_TOLERANCE * ALLOC_COUNT, (release, allocs, ALLOC_COUNT)
    assert abs(nbytes - ALLOC_BYTES) <= ALLOC_TOLERANCE * ALLOC_BYTES, (release, nbytes, ALLOC_BYTES)
    assert full.count("@alloc_max") == 40 * ALLOC_N  # the holder, the largest request of the run
    entries = alloc_entry_points(str(binary))
    assert full.attached_probes == 2 + len(entries.entries)  # runtime.rt0_go and runtime.mallocgc
    if release == "go1.27.4":
        assert entries.mallocgc_above == 80 and len(entries.entries) == 14
        old = AllocEntryPoints((), 0, "runtime.mallocgc alone, as before Go 1.27")
        text = render_probe("alloc", binary=container_path(str(binary)), alloc=old)
        runs = [run_probe(engine, probe, str(binary), text, [n], timeout=60) for n in ("0", str(ALLOC_N))]
        seen_by_mallocgc = runs[1].count("@allocs") - runs[0].count("@allocs")
        assert seen_by_mallocgc < 0.5 * ALLOC_COUNT, seen_by_mallocgc  # the undercount this probe fixes


# -- alloc: entry points found in the binary (no Docker) -----------------------------------------


def test_entry_points_per_release(alloc_demo, alloc_variants):
    sc127 = ("runtime.mallocgcSmallNoScanSC2", "runtime.mallocgcSmallNoScanSC3", "runtime.mallocgcSmallNoScanSC4",
             "runtime.mallocgcSmallNoScanSC5", "runtime.mallocgcSmallNoScanSC6", "runtime.mallocgcSmallNoScanSC7",
             "runtime.mallocgcSmallScanNoHeaderSC1", "runtime.mallocgcSmallScanNoHeaderSC2",
             "runtime.mallocgcSmallScanNoHeaderSC3", "runtime.mallocgcSmallScanNoHeaderSC4",
             "runtime.mallocgcSmallScanNoHeaderSC5", "runtime.mallocgcSmallScanNoHeaderSC6",
             "runtime.mallocgcSmallScanNoHeaderSC7", "runtime.mallocgcTinySC2")
    a = alloc_entry_points(str(alloc_demo["go1.27.4"]))
    assert (a.entries, a.mallocgc_above, a.go_version, a.goarch) == (sc127, 80, "go1.27.4", "amd64")
    assert a.functions == ("runtime.mallocgc", *sc127) and "has 81 entries" in a.reason
    assert a.to_json()["functions"][0] == "runtime.mallocgc"
    for release in ("go1.22.5", "go1.26.8"):
        a = alloc_entry_points(str(alloc_demo[release]))
        assert (a.entries, a.mallocgc_above) == ((), 0), release
    # Go 1.26's experiment: another layout (TinySize1..15, size classes up to 512 B), read from the binary.
    a = alloc_entry_points(str(alloc_variants["go1.26.8-sizespecializedmalloc"]))
    assert a.mallocgc_above == 512 and len(a.entries) == 15 + 25 + 26 and "has 513 entries" in a.reason
    # Opted out: every allocation enters mallocgc again.
    a = alloc_entry_points(str(alloc_variants["go1.27.4-nosizespecializedmalloc"]))
    assert (a.entries, a.mallocgc_above) == ((), 0) and "is off" in a.reason
    # -tags valgrind: compiled code still calls the entries it needs, but mallocgc no longer hands on.
    a = alloc_entry_points(str(alloc_variants["go1.27.4-valgrind"]))
    assert a.mallocgc_above == 0 and "runtime.mallocgcTinySC2" in a.entries and "-tags valgrind" in a.reason
    text = render_probe("alloc", binary="/probe/x", alloc=a)
    assert "reg(\"ax\") > 0/" in text and text.count('" /pid == @_tgid/ { @allocs = count();') == len(a.entries)


def test_render_emits_one_line_per_entry_and_the_threshold(alloc_demo):
    a = alloc_entry_points(str(alloc_demo["go1.27.4"]))
    text = render_probe("alloc", binary="/probe/demo", alloc=a)
    assert 'uprobe:/probe/demo:runtime.mallocgc /pid == @_tgid && reg("ax") > 80/' in text
    assert 'uprobe:/probe/demo:"runtime.mallocgcTinySC2" /pid == @_tgid/ { @allocs = count(); ' \
           '@alloc_bytes = sum(reg("ax")); @alloc_max = max(reg("ax")); }' in text
    assert uprobe_functions(text, "/probe/demo") == a.functions  # all checked against the ELF symbols
    d = render_probe("alloc.d", binary="/probe/demo", alloc=a)
    assert "/uregs[R_RAX] > 80/" in d and "pid$target::runtime.mallocgcSmallScanNoHeaderSC7:entry {" in d
    plain = render_probe("alloc", binary="/probe/demo", alloc=PLAIN)
    body = [ln for ln in plain.splitlines() if ln.startswith("uprobe:")]
    assert len(body) == 2 and body[1].endswith('runtime.mallocgc /pid == @_tgid && reg("ax") > 0/')  # no entry line


def test_stripped_binary_is_refused(alloc_variants):
    with pytest.raises(AllocCoverageError, match=r"no ELF symbol table .* runtime.mallocgc or its 14 "
                                                 r"size-specialised entries\. It refuses to count") as ei:
        alloc_entry_points(str(alloc_variants["go1.27.4-stripped"]))
    assert isinstance(ei.value, TraceError) and ei.value.exit_code == 3


def test_entry_without_a_symbol_is_refused(alloc_demo, tmp_path):
    """An entry the function table has but the ELF symbol table lacks: no uprobe can attach to it."""
    from fixproof.goinfo.binfile import BinFile

    src = alloc_demo["go1.27.4"]
    data = bytearray(src.read_bytes())
    with BinFile.open(src) as bf:
        strtab = bf.section(".strtab")
    at = data.find(b"\0runtime.mallocgcTinySC2\0", strtab.offset, strtab.offset + strtab.filesize)
    assert at > 0
    data[at + len("\0runtime.mallocgcTinySC2") - 1] = ord("X")  # runtime.mallocgcTinySCX
    out = tmp_path / "renamed"
    out.write_bytes(bytes(data))
    with pytest.raises(AllocCoverageError, match="runtime.mallocgcTinySC2 is in the function table but without an "
                                                 "ELF symbol, so no uprobe can attach there"):
        alloc_entry_points(str(out))


@pytest.mark.docker
@pytest.mark.parametrize("tc", TOOLCHAINS)
def test_panics_recovered_and_fatal(engine, probe, demo, tc):
    run = trace(engine, probe, demo[tc], "panics", "panic", "5")
    assert (run.count("@panics"), run.count("@fatal")) == (5, 0) and run.count("@defers") >= 5
    crash = trace(engine, probe, demo[tc], "panics", "crash")
    assert (crash.count("@panics"), crash.count("@fatal"), crash.exit_code) == (1, 1, 2)
    assert "panic: unrecovered" in crash.program_output


@pytest.mark.docker
@pytest.mark.parametrize("tc", TOOLCHAINS)
def test_syscalls_of_a_dial_and_not_without(engine, probe, demo, tc):
    dial = syscall_names(trace(engine, probe, demo[tc], "syscalls", "dial").keyed("@syscalls"))
    quiet = syscall_names(trace(engine, probe, demo[tc], "syscalls", "spawn", "1").keyed("@syscalls"))
    assert dial.get("socket", 0) >= 1 and dial.get("connect", 0) >= 1
    assert "socket" not in quiet and "connect" not in quiet
    assert quiet.get("exit_group") == 1 and quiet.get("write", 0) >= 1  # the whole process, start to end


@pytest.mark.docker
@pytest.mark.parametrize("tc", TOOLCHAINS)
def test_gc_cycles_and_interval(engine, probe, demo, tc):
    run = trace(engine, probe, demo[tc], "gc", "gc", "10")
    assert run.count("@gc") >= 10
    stats = run.maps["@gc_interval_ns"]
    assert stats["count"] == run.count("@gc") - 1 and stats["average"] > 0
    assert 0 < run.count("@gc_interval_min_ns") <= stats["average"] <= run.count("@gc_interval_max_ns")


# -- failures ------------------------------------------------------------------------------------------------


@pytest.mark.docker
def test_no_sys_admin_is_denied_with_bpftraces_reason(engine, probe, demo):
    from fixproof.engine.docker import Profile

    text = render_probe("goroutines", binary=container_path(str(demo["host"])))
    with pytest.raises(TraceDenied) as ei:
        run_probe(engine, probe, str(demo["host"]), text, ["spawn", "1"], timeout=60, profile=Profile())
    reason = ei.value.reason
    assert "\n" not in reason and "Operation not permitted" in reason and "RLIMIT_MEMLOCK" not in reason
    assert reason in str(ei.value) and ei.value.exit_code == 3
    assert _ours(engine) == []


@pytest.mark.docker
def test_unknown_and_inlined_functions_fail_before_any_container(engine, probe, demo):
    text = render_probe("calls", binary=container_path(str(demo["host"])),
                        functions=["main.wrok", "main.tiny", "main.work"])
    start = time.monotonic()
    with pytest.raises(UnknownFunction) as ei:
        run_probe(engine, probe, str(demo["host"]), text, ["calls", "1"], timeout=60)
    assert time.monotonic() - start < 5
    assert ei.value.names == ("main.wrok", "main.tiny") and ei.value.inlined == ("main.tiny",)
    assert "main.work" in ei.value.close["main.wrok"] and "//go:noinline" in str(ei.value)


@pytest.mark.docker
def test_bpftrace_error_is_not_a_denial(engine, probe, demo):
    with pytest.raises(TraceError, match="syntax error") as ei:
        run_probe(engine, probe, str(demo["host"]), "BEGIN { @x = ; }\n", ["spawn", "1"], timeout=60)
    assert not isinstance(ei.value, TraceDenied)


@pytest.mark.docker
def test_deadline_kills_and_removes_the_container(engine, probe, demo):
    start = time.monotonic()
    with pytest.raises(TraceTimeout, match="3 s timeout"):
        trace(engine, probe, demo["host"], "goroutines", "sleep", timeout=3)
    assert time.monotonic() - start < 10
    assert _ours(engine) == []
