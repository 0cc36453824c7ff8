"""The engine driver against the real Docker Engine."""

import pytest

from pipeline.engine.docker import LABEL, RUN_LABEL, Mount
from pipeline.errors import ContainerTimeout, EngineError

pytestmark = pytest.mark.docker

IMAGE = "debian:bookworm-slim"


@pytest.fixture(scope="module")
def base(engine):
    from pipeline.engine.images import ensure_image
    from pipeline.progress import Progress

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


def test_module_cache_volume_is_per_report_dir(tmp_path):
    """Two runs of one app from different report directories (two CI jobs on a host) never share a cache."""
    from conftest import EXAMPLE, write_config
    from pipeline import config
    from pipeline.stages.common import StageContext

    ctxs = []
    for job in ("a", "b"):
        (tmp_path / job).mkdir()
        ctxs.append(StageContext(config.load(write_config(tmp_path / job, EXAMPLE)), "modules"))
    a, b = ctxs
    assert a.modcache_volume != b.modcache_volume
    assert a.modcache_volume == StageContext(a.cfg, "build").modcache_volume


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
from pipeline.engine.docker import Engine, remove_live_containers
from pipeline.errors import EngineError
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
from pipeline.engine.docker import Engine
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
