"""Real gdb in a probe container on a real Go binary (fixproof.engine.gdb).

The Go program is built here with the host's go in three variants:
``opt`` (default build: optimised, DWARF location lists), ``noopt``
(-gcflags=all=-N -l: arguments spilled to the stack) and ``nodwarf``
(-ldflags=-w: ELF symbols but no DWARF, so gdb sees no arguments at all and
only the Go register ABI gives their values), plus ``trim`` (-trimpath).
The pure helpers: tests/unit/engine/test_gdb_engine.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from fixproof.engine.gdb import (
    ArgValue,
    GdbError,
    GdbTimeout,
    MiError,
    UnknownFunction,
    box_session,
    probe_container,
    probe_session,
)

from conftest import IN_CI  # noqa: E402

pytestmark = pytest.mark.docker

LOOPS = 10
PKG_INC = "example.com/fixproof/gdbdemo/pkg.(*Counter).Inc"

MAIN_GO = """\
package main

import (
	"fmt"
	"os"
	"time"

	"example.com/fixproof/gdbdemo/pkg"
)

type T struct{ total int }

//go:noinline
func work(n int) int { return n*n + 1 }

//go:noinline
func (t *T) Add(n int) { t.total += n }

//go:noinline
func neverCalled(x int) int { return x + 42 }

//go:noinline
func unusedArg(secret int, k int) int { return k * 2 }

//go:noinline
func mayPanic(n int) (r int) {
	defer func() {
		if e := recover(); e != nil {
			r = -1
		}
	}()
	if n == 3 {
		panic("three")
	}
	return n
}

func main() {
	mode := "loop"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "sleep":
		for {
			time.Sleep(time.Hour)
		}
	case "exit3":
		os.Exit(3)
	case "never":
		fmt.Println(neverCalled(len(os.Args)))
	}
	t := &T{}
	c := &pkg.Counter{}
	sum := 0
	for i := 0; i < %d; i++ {
		sum += work(i)
		t.Add(i)
		c.Inc(i)
		sum += mayPanic(i)
		sum += unusedArg(1000+i, i)
	}
	fmt.Println(sum, t.total, c.N, os.Args[1:])
}
""" % LOOPS

PKG_GO = """\
package pkg

type Counter struct{ N int }

//go:noinline
func (c *Counter) Inc(by int) { c.N += by }
"""

VARIANTS = {
    "opt": [],
    "noopt": ["-gcflags=all=-N -l"],
    "nodwarf": ["-ldflags=-w"],
    "trim": ["-trimpath"],
}


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> dict[str, Path]:
    go = shutil.which("go")
    if go is None:
        if IN_CI:
            pytest.fail("CI needs a Go toolchain on PATH to build the gdb test program")
        pytest.skip("no go on PATH")
    src = tmp_path_factory.mktemp("gdbdemo")
    (src / "pkg").mkdir()
    (src / "go.mod").write_text("module example.com/fixproof/gdbdemo\n\ngo 1.21\n")
    (src / "main.go").write_text(MAIN_GO)
    (src / "pkg" / "pkg.go").write_text(PKG_GO)
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "", "CGO_ENABLED": "0"}
    out = {}
    for name, flags in VARIANTS.items():
        dst = src / "bin" / name / "demo"
        subprocess.run([go, "build", *flags, "-o", str(dst), "."], cwd=src, env=env, check=True,
                       capture_output=True, timeout=300)
        out[name] = dst
    return out


@pytest.fixture(scope="module")
def probe(engine) -> str:
    from fixproof.engine.images import PROBE_REF, ensure_image
    from fixproof.progress import Progress

    ensure_image(engine, PROBE_REF, timeout=900, progress=Progress("test-setup"))
    return PROBE_REF


def _gone(engine, cid: str) -> bool:
    from docker.errors import NotFound

    try:
        engine.client.containers.get(cid)
    except NotFound:
        return True
    return False


def _ours(engine) -> list[str]:
    from fixproof.engine.docker import RUN_LABEL

    return [c.id for c in engine.client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={engine.run_id}"})]


# -- sessions ------------------------------------------------------------------------------------------


def test_sessions_share_a_container_and_start_clean(engine, probe, demo):
    """#14: the checks of a stage share one probe container; nothing of one check (a process it
    started, a file it wrote) is there for the next, and a container that cannot be reset is refused."""
    with probe_container(engine, probe, str(demo["opt"])) as box:
        with box_session(box, timeout=40) as s:
            s.console("shell touch /tmp/left-behind; (sleep 600 &)")
            s.run(["loop"])
            assert s.continue_until_stop(20, started=True).exit_code == 0
        c = box.container
        assert b"left-behind" in c.exec_run(["ls", "/tmp"]).output
        with box_session(box, timeout=40) as s:
            listing = c.exec_run(["sh", "-c", "ls -A /tmp; for p in /proc/[0-9]*; do cat $p/cmdline; echo; done"])
            assert b"left-behind" not in listing.output and b"sleep600" not in listing.output
            s.run(["loop"])
            assert s.continue_until_stop(20, started=True).exit_code == 0
        c.exec_run(["touch", "/tmp/roots"], user="root")  # the unprivileged user cannot delete it (sticky /tmp)
        with pytest.raises(GdbError, match="could not be reset"):
            with box_session(box, timeout=40):
                pass
        cid = c.id
    assert _gone(engine, cid)



def test_hit_count_over_a_whole_run(engine, probe, demo):
    with probe_session(engine, probe, str(demo["opt"]), timeout=40) as s:
        work = s.break_insert("main.work", ignore_count=10**9)  # counts without stopping
        inc = s.break_insert(PKG_INC, ignore_count=10**9)
        never = s.break_insert("main.neverCalled")
        s.run(["loop", "two words"])
        stop = s.continue_until_stop(20, started=True)
        assert (stop.reason, stop.exit_code) == ("exited-normally", 0)
        assert (s.hit_count(work), s.hit_count(inc), s.hit_count(never)) == (LOOPS, LOOPS, 0)
        out, err = s.inferior_output()
        assert out.strip().endswith("[loop two words]") and err == ""  # args reach the program intact
        cid = s.container.id
    assert s.transcript[0].startswith("## ") and any(t.startswith("-> ") for t in s.transcript)
    assert any(t.startswith("<- ") and "exited-normally" in t for t in s.transcript)
    assert _gone(engine, cid)


def test_each_hit_stops_once_and_exit_code_is_decoded(engine, probe, demo):
    # GODEBUG=asyncpreemptoff=1 (set by run()) keeps SIGURG preemption from re-hitting a breakpoint.
    with probe_session(engine, probe, str(demo["opt"]), timeout=40) as s:
        bp = s.break_insert("main.work")
        s.run(["loop"])
        seen = []
        stop = s.continue_until_stop(20, started=True)
        while stop.bkptno == bp:
            seen.append(dict(stop.args)["n"])
            stop = s.continue_until_stop(20)
        assert seen == [str(i) for i in range(LOOPS)] and stop.exit_code == 0
        assert s.hit_count(bp) == LOOPS
        s.run(["exit3"])  # a second run in the same session
        stop = s.continue_until_stop(20, started=True)
        assert (stop.reason, stop.exit_code) == ("exited", 3)


def test_condition_on_argument_of_optimised_function(engine, probe, demo):
    with probe_session(engine, probe, str(demo["opt"]), timeout=40) as s:
        bp = s.break_insert("main.work", condition="n == 7")
        meth = s.break_insert("main.(*T).Add", condition="n == 4")
        s.run(["loop"])
        stop = s.continue_until_stop(20, started=True)  # Add(4) runs before work(7)
        assert (stop.reason, stop.bkptno, stop.func, dict(stop.args)["n"]) == ("breakpoint-hit", meth, "main.(*T).Add", "4")
        stop = s.continue_until_stop(20)
        assert (stop.bkptno, stop.func) == (bp, "main.work")
        assert dict(stop.args)["n"] == "7" and s.evaluate("n") == "7"
        assert s.continue_until_stop(20).exit_code == 0
        assert (s.hit_count(bp), s.hit_count(meth)) == (1, 1)


def test_package_path_method_and_backtrace(engine, probe, demo):
    with probe_session(engine, probe, str(demo["opt"]), timeout=40) as s:
        bp = s.break_insert(PKG_INC, condition="by == 2")
        s.run(["loop"])
        stop = s.continue_until_stop(20, started=True)
        assert (stop.bkptno, stop.func) == (bp, PKG_INC)
        frames = s.backtrace(limit=5)
        assert [f.func for f in frames[:2]] == [PKG_INC, "main.main"]
        assert frames[0].level == 0 and frames[0].file.endswith("pkg/pkg.go") and frames[0].line == 6
        assert frames[1].file.endswith("main.go") and frames[1].addr > 0
        assert frames[0].to_json()["addr"].startswith("0x")
        s.kill()


def test_read_arg_dwarf_and_register_sources(engine, probe, demo):
    got = {}
    for variant in ("opt", "noopt", "nodwarf"):
        with probe_session(engine, probe, str(demo[variant]), timeout=40) as s:
            s.break_insert("main.unusedArg", condition="$rbx == 5")  # k is the second integer register
            s.run(["loop"])
            s.continue_until_stop(20, started=True)
            got[variant] = (s.read_arg(0), s.read_arg(1), s.entry_args_from_registers(2))
            if variant != "nodwarf":
                assert s.read_arg("secret") == ArgValue("1005", "dwarf")
                assert dict(s.frame_args())["k"] == "5"
            else:
                assert s.frame_args() == ()
                with pytest.raises(GdbError, match="by position"):
                    s.read_arg("secret")
            assert s.registers(["rax", "rbx"]) == {"rax": 1005, "rbx": 5}
    # Optimised and -N -l builds: DWARF (location lists / stack slots) even for an unused argument.
    assert got["opt"][:2] == got["noopt"][:2] == (ArgValue("1005", "dwarf"), ArgValue("5", "dwarf"))
    # -ldflags=-w: no DWARF; the register ABI still has them at entry.
    assert got["nodwarf"][:2] == (ArgValue("1005", "register"), ArgValue("5", "register"))
    assert {v[2] for v in got.values()} == {(1005, 5)}


def test_unknown_function_gives_close_names(engine, probe, demo):
    with probe_session(engine, probe, str(demo["opt"]), timeout=30) as s:
        with pytest.raises(UnknownFunction) as ei:
            s.break_insert("main.wrok")
        assert ei.value.name == "main.wrok" and "main.work" in ei.value.close
        with pytest.raises(UnknownFunction) as ei:
            s.break_insert("example.com/other/pkg.(*Counter).Inc")
        assert PKG_INC in ei.value.close
        # Nothing pending was created; the session is still usable.
        assert s.mi("-break-list").payload["BreakpointTable"]["nr_rows"] == "0"
        with pytest.raises(MiError, match="nosuch"):
            s.break_insert("main.work", condition="nosuch == 1")


def test_breakpoint_never_reached_times_out_and_cleans_up(engine, probe, demo):
    start = time.monotonic()
    with pytest.raises(GdbTimeout, match="did not stop"):
        with probe_session(engine, probe, str(demo["opt"]), timeout=30) as s:
            s.break_insert("main.neverCalled")
            s.run(["sleep"])
            cid = s.container.id
            s.continue_until_stop(2, started=True)
    assert time.monotonic() - start < 15
    assert _gone(engine, cid) and _ours(engine) == []
    assert s.transcript[-1].startswith(("<- ", "-> ", "## "))


def test_session_deadline_applies_to_every_command(engine, probe, demo):
    with pytest.raises(GdbTimeout, match="session deadline"):
        with probe_session(engine, probe, str(demo["opt"]), timeout=3) as s:
            s.run(["sleep"])
            s.continue_until_stop(started=True)  # no per-call timeout: the session's 3 s
    assert _ours(engine) == []


def test_keyboard_interrupt_removes_the_container(engine, probe, demo):
    with pytest.raises(KeyboardInterrupt):
        with probe_session(engine, probe, str(demo["opt"]), timeout=30) as s:
            s.run(["sleep"])
            cid = s.container.id
            raise KeyboardInterrupt
    assert _gone(engine, cid) and s._proc.poll() is not None


def test_gdb_missing_in_image(engine, demo):
    from fixproof.engine.images import BASE_REF, ensure_image
    from fixproof.progress import Progress

    ensure_image(engine, BASE_REF, timeout=900, progress=Progress("test-setup"))
    with pytest.raises(GdbError, match=r"gdb is not installed in image debian:bookworm-slim.*fixproof-probe"):
        with probe_session(engine, BASE_REF, str(demo["opt"]), timeout=30):
            pass  # pragma: no cover
    assert _ours(engine) == []


def test_snapshot_and_goroutines_scripts(engine, probe, demo):
    with probe_session(engine, probe, str(demo["opt"]), timeout=40) as s:
        s.break_insert("main.work", condition="n == 3")
        s.run(["loop"])
        s.continue_until_stop(20, started=True)
        snap = s.snapshot(["n", "n * 2", 'sizeof(int) == 8 && "x" != 0', "nosuch"])
        assert snap["n"] == "3" and snap["n * 2"] == "6"
        assert snap["nosuch"].startswith("<error: ") and "nosuch" in snap["nosuch"]
        assert len(snap) == 4
        line = [r for r in s.transcript if r.startswith('<- ~"{')][-1]
        assert json.loads(json.loads(line[3:].lstrip("~")))["n"] == {"value": "3"}  # one JSON line on the console
        gs = s.goroutines()
        assert {"goid", "status", "pc", "func"} <= set(gs[0])
        main = [g for g in gs if g["goid"] == 1]
        assert main and main[0]["status"] == "running"


def test_go_support_from_mounted_goroot_and_trimpath(engine, probe, demo):
    goroot = subprocess.run(["go", "env", "GOROOT"], capture_output=True, text=True, check=True).stdout.strip()
    with probe_session(engine, probe, str(demo["trim"]), timeout=30) as s:
        assert s.load_go_support() is False and "-trimpath" in s.go_support
    with probe_session(engine, probe, str(demo["opt"]), timeout=30) as s:
        assert s.load_go_support() is False and "No such file" in s.go_support  # no GOROOT in the probe image
    with probe_session(engine, probe, str(demo["opt"]), timeout=30, go_helper=goroot) as s:
        assert s.load_go_support() is True, s.go_support
        s.break_insert("main.work", condition="n == 2")
        s.run(["loop"])
        s.continue_until_stop(20, started=True)
        assert "runtime.gopark" in s.console("info goroutines").console()  # runtime-gdb.py's command
