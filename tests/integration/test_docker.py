"""The engine driver against the real Docker Engine (the profiles and volume names it is given, without
an engine: tests/unit/engine/test_docker.py)."""

import pytest

from fixproof.engine.docker import LABEL, RUN_LABEL, Mount
from fixproof.errors import ContainerTimeout, EngineError

pytestmark = pytest.mark.docker

IMAGE = "debian:bookworm-slim"


@pytest.fixture(scope="module")
def base(engine):
    from fixproof.engine.images import ensure_image
    from fixproof.progress import Progress

    return ensure_image(engine, IMAGE, timeout=900, progress=Progress("test"))


def test_run_captures_output_and_exit_code(engine, base):
    r = engine.run(IMAGE, ["sh", "-c", "echo out; echo err >&2; exit 7"], timeout=60)
    assert (r.exit_code, r.stdout, r.stderr) == (7, "out\n", "err\n")
    assert r.image_id == base.id


def test_network_is_off_by_default(engine, base):
    r = engine.run(IMAGE, ["sh", "-c", "cat /sys/class/net/*/operstate | wc -l; ls /sys/class/net"], timeout=60)
    assert r.stdout.split()[1:] == ["lo"]


def test_timeout_kills_and_removes(engine, base):
    def mine() -> set[str]:  # this engine's containers only: other fixproof runs on the host may come and go
        return {c.id for c in engine.client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={engine.run_id}"})}

    before = mine()
    with pytest.raises(ContainerTimeout, match="ran past its 2 s timeout"):
        engine.run(IMAGE, ["sleep", "60"], timeout=2)
    assert mine() == before


def test_containers_are_labelled_while_running(engine, base):
    with engine.container(IMAGE, ["sleep", "30"]) as c:
        c.start()
        c.reload()
        assert c.labels[LABEL] == "1"
        assert c.id in engine.leftover_containers()
    assert c.id not in engine.leftover_containers()


def test_removed_even_when_the_body_raises(engine, base):
    with pytest.raises(KeyboardInterrupt):
        with engine.container(IMAGE, ["sleep", "30"]) as c:
            c.start()
            raise KeyboardInterrupt
    assert c.id not in engine.leftover_containers()


def test_read_only_mount_and_volumes(engine, base, tmp_path):
    (tmp_path / "f").write_text("hello")
    vol = "fixproof-test-volume"
    engine.fresh_volume(vol)
    try:
        r = engine.run(IMAGE, ["sh", "-c", "cat /in/f; echo; touch /in/g 2>/dev/null || echo ro; echo x > /v/y; cat /v/y"],
                       mounts=[Mount(str(tmp_path), "/in", read_only=True), Mount(vol, "/v", volume=True)], timeout=60)
        assert r.stdout.split() == ["hello", "ro", "x"]
        engine.fresh_volume(vol)  # emptied
        r = engine.run(IMAGE, ["ls", "/v"], mounts=[Mount(vol, "/v", volume=True)], timeout=60)
        assert r.stdout == ""
    finally:
        engine.client.volumes.get(vol).remove(force=True)


def test_volumes_of_vanished_report_dirs_are_reaped(engine, tmp_path):
    gone, kept = tmp_path / "gone", tmp_path / "kept"
    gone.mkdir()
    kept.mkdir()
    names = {"fixproof-test-gone": gone, "fixproof-test-kept": kept}
    for name, owner in names.items():
        engine.fresh_volume(name, owner=str(owner))
    try:
        gone.rmdir()
        engine.reap_volumes()
        assert not engine.volume_exists("fixproof-test-gone")
        assert engine.volume_exists("fixproof-test-kept")
    finally:
        for name in names:
            if engine.volume_exists(name):
                engine.client.volumes.get(name).remove(force=True)


def test_missing_image_is_an_engine_error(engine):
    with pytest.raises(EngineError, match="is not in the Docker Engine"):
        engine.run("fixproof-no-such-image:1", ["true"], timeout=30)


def test_interrupt_removes_the_containers_of_every_thread(engine, base):
    """What the CLI does on Ctrl-C or SIGTERM: worker threads' containers go too, and no new one starts."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    script = """
import os, sys, threading
from fixproof.engine.docker import Engine, remove_live_containers
from fixproof.errors import EngineError
ready = threading.Barrier(3)
def worker():
    eng = Engine.connect()
    with eng.container("debian:bookworm-slim", ["sleep", "60"]) as c:
        c.start()
        ready.wait()
        try:
            c.wait(timeout=90)
        except Exception:
            pass  # removed under it
threads = [threading.Thread(target=worker, daemon=True) for _ in range(2)]
for t in threads:
    t.start()
ready.wait()
print(os.getpid(), remove_live_containers(), flush=True)
try:
    with Engine.connect().container("debian:bookworm-slim", ["true"]):
        print("created after the interrupt")
except EngineError as e:
    print("refused:", e)
"""
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 0, p.stdout + p.stderr
    first, second = p.stdout.splitlines()
    pid, removed = first.split()
    assert removed == "2"
    assert second.startswith("refused: the run was interrupted")
    left = engine.client.containers.list(all=True, filters={"label": f"fixproof.pid={pid}"})
    assert left == []


def test_containers_of_a_killed_run_are_reaped(engine, base):
    """A run killed with SIGKILL removes nothing; the next run's reap_orphans does, and spares live runs'."""
    import os
    import signal
    import subprocess
    import sys

    from conftest import ROOT

    script = """
import sys, time
from fixproof.engine.docker import Engine
with Engine.connect().container("debian:bookworm-slim", ["sleep", "120"]) as c:
    c.start()
    print(c.id, flush=True)
    time.sleep(120)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        orphan = proc.stdout.readline().strip()
        assert orphan, "the child started no container"
        with engine.container(IMAGE, ["sleep", "30"]) as ours:  # this process lives: its container stays
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            assert orphan in engine.leftover_containers()
            assert engine.reap_orphans() >= 1
            left = engine.leftover_containers()
            assert orphan not in left and ours.id in left
    finally:
        proc.kill()
        proc.wait(timeout=30)


# -- least privilege (README "Security") ---------------------------------------------------------


def test_every_container_drops_all_capabilities_and_has_limits(engine, base):
    """The default profile, as the Docker API reports it and as the container sees itself."""
    from fixproof.engine.docker import DEFAULT_MEMORY, DEFAULT_PIDS_LIMIT

    with engine.container(IMAGE, ["sh", "-c", "grep -E 'CapEff|NoNewPrivs' /proc/self/status"]) as c:
        hc = c.attrs["HostConfig"]
        assert hc["CapDrop"] == ["ALL"] and not hc["CapAdd"] and not hc["Privileged"]
        assert hc["SecurityOpt"] == ["no-new-privileges"]
        assert hc["ReadonlyRootfs"] and hc["PidsLimit"] == DEFAULT_PIDS_LIMIT
        assert hc["Memory"] == hc["MemorySwap"] == DEFAULT_MEMORY
        assert "exec" in hc["Tmpfs"]["/tmp"].split(",")
        engine.wait_for_exit(c, timeout=60, label="caps", on_timeout=lambda: AssertionError("timeout"))
        assert c.logs().decode().split() == ["CapEff:", "0000000000000000", "NoNewPrivs:", "1"]
    r = engine.run(IMAGE, ["sh", "-c", "touch /x 2>/dev/null || echo ro; touch /tmp/x && echo tmp"], timeout=60)
    assert r.stdout.split() == ["ro", "tmp"]


def test_probe_profiles_add_back_only_what_the_probes_need(engine, base):
    from fixproof.engine.docker import GDB_PROFILE, NONROOT, TRACE_PROFILE

    with engine.container(IMAGE, ["true"], profile=GDB_PROFILE) as c:
        hc = c.attrs["HostConfig"]
        assert hc["CapDrop"] == ["ALL"] and hc["CapAdd"] == ["SYS_PTRACE"]
        assert c.attrs["Config"]["User"] == f"{NONROOT[0]}:{NONROOT[1]}"  # gdb traces its own child only
    with engine.container(IMAGE, ["true"], profile=TRACE_PROFILE) as c:
        hc = c.attrs["HostConfig"]
        assert hc["CapDrop"] == ["ALL"] and sorted(hc["CapAdd"]) == ["SETGID", "SETUID", "SYS_ADMIN"]
        assert hc["SecurityOpt"] == ["no-new-privileges"]  # Docker's default seccomp profile, not unconfined
        assert {m["Target"]: m["ReadOnly"] for m in hc["Mounts"]} == {
            "/sys/kernel/debug": True, "/sys/kernel/tracing": True}


def test_the_pids_limit_stops_a_fork_bomb(engine, base):
    import dataclasses

    from fixproof.engine.docker import DEFAULT_PROFILE

    bomb = "sh -c 'n=0; while [ $n -lt 1000 ]; do sleep 2 & n=$((n+1)); echo $n > /tmp/n; done' 2>/dev/null; cat /tmp/n"
    r = engine.run(IMAGE, ["sh", "-c", bomb], profile=dataclasses.replace(DEFAULT_PROFILE, pids_limit=64), timeout=60)
    assert 0 < int(r.stdout) < 64


def test_the_memory_limit_and_the_tmpfs_size_hold(engine, base):
    import dataclasses

    from fixproof.engine.docker import DEFAULT_PROFILE, Tmpfs

    small = dataclasses.replace(DEFAULT_PROFILE, memory=64 << 20, tmpfs=(Tmpfs("/tmp", size=8 << 20),))
    r = engine.run(IMAGE, ["sh", "-c", "head -c 20m /dev/zero > /tmp/f; echo $?; ls -l /tmp/f | awk '{print $5}'"],
                   profile=small, timeout=60)
    assert r.stdout.split() == ["1", str(8 << 20)] and "No space left" in r.stderr
    r = engine.run(IMAGE, ["sh", "-c", "head -c 200m /dev/zero | tail > /dev/null"], profile=small, timeout=60)
    assert r.exit_code == 137  # killed by the memory cgroup


def test_a_new_volume_is_handed_to_the_unprivileged_user(engine, base):
    from fixproof.engine.docker import NONROOT, UID_LABEL, VolumeOwner

    vol = f"fixproof-test-owned-{engine.run_id}"
    try:
        assert engine.ensure_volume(vol, chown=VolumeOwner(*NONROOT, IMAGE))
        assert not engine.ensure_volume(vol, chown=VolumeOwner(*NONROOT, IMAGE))  # exists: handed over again
        assert engine.client.volumes.get(vol).attrs["Labels"][UID_LABEL] == f"{NONROOT[0]}:{NONROOT[1]}"
        r = engine.run(IMAGE, ["sh", "-c", "id -u; echo x > /v/f && echo written"], user=f"{NONROOT[0]}:{NONROOT[1]}",
                       mounts=[Mount(vol, "/v", volume=True)], timeout=60)
        assert r.stdout.split() == [str(NONROOT[0]), "written"], r
    finally:
        if engine.volume_exists(vol):
            engine.client.volumes.get(vol).remove(force=True)


