"""What the stages hand the engine driver, without an engine: volume names per report directory and app,
and the container profiles and limits from the config. The driver against the real Docker Engine:
tests/integration/test_docker.py."""

import pytest


def test_module_cache_volume_is_per_report_dir(tmp_path):
    """Two runs of one app from different report directories (two CI jobs on a host) never share a cache."""
    from conftest import EXAMPLE, write_config
    from fixproof import config
    from fixproof.stages.common import StageContext

    ctxs = []
    for job in ("a", "b"):
        (tmp_path / job).mkdir()
        ctxs.append(StageContext(config.load(write_config(tmp_path / job, EXAMPLE)), "modules"))
    a, b = ctxs
    assert a.modcache_volume != b.modcache_volume
    assert a.modcache_volume == StageContext(a.cfg, "build").modcache_volume


def test_docker_limits_come_from_the_config(tmp_path):
    from conftest import EXAMPLE, write_config
    from fixproof import config
    from fixproof.engine.docker import DEFAULT_PROFILE, GDB_PROFILE
    from fixproof.errors import ConfigError
    from fixproof.stages.common import GOCACHE, StageContext

    cfg = config.load(write_config(tmp_path, EXAMPLE, extra='[docker]\npids_limit = 512\nmemory = "2g"\n'
                                                          'tmpfs_size = "256m"\n[build]\ncache = "fresh"\n'))
    ctx = StageContext(cfg, "build")
    p = ctx.go_profile(ctx.source_mounts())
    assert (p.pids_limit, p.memory, p.user) == (512, 2 << 30, ctx.user) and not p.user.startswith("0:")
    assert {t.target: t.size for t in p.tmpfs} == {"/tmp": 256 << 20, GOCACHE: 256 << 20}  # fresh: a tmpfs cache
    g = ctx.container_profile(GDB_PROFILE, unprivileged=True)
    assert g.cap_add == ("SYS_PTRACE",) and g.pids_limit == 512 and g.user == ctx.user
    assert DEFAULT_PROFILE.user is None  # the engine's default keeps the image's user; stages never use it bare
    for bad, msg in (('pids_limit = 8', "docker.pids_limit must be a whole number >= 64"),
                     ('memory = "lots"', "docker.memory = 'lots' is not a size"),
                     ('memory = "100m"', "below 256m"),
                     ('memory = "1g"\ntmpfs_size = "2g"', "larger than docker.memory")):
        with pytest.raises(ConfigError, match=msg):
            config.load(write_config(tmp_path, EXAMPLE, extra=f"[docker]\n{bad}\n", name="bad.toml"))


def test_code_of_the_app_never_shares_the_verified_build_cache(tmp_path):
    """Test and race containers (which run the app's code) get a Go build cache per app and report
    directory; the build stage's is per image, and no app's tests ever get it."""
    from conftest import EXAMPLE, write_config
    from fixproof import config
    from fixproof.stages.common import StageContext

    ctxs = []
    for job in ("a", "b"):
        (tmp_path / job).mkdir()
        ctxs.append(StageContext(config.load(write_config(tmp_path / job, EXAMPLE)), "test"))
    a, b = ctxs
    img = "sha256:" + "1" * 64
    assert a.build_cache_volume(img) == b.build_cache_volume(img)  # shared for speed: only go build writes it
    assert a.untrusted_cache_volume(img) != b.untrusted_cache_volume(img)
    assert a.untrusted_cache_volume(img) != a.build_cache_volume(img)
    assert a.untrusted_cache_volume(img) != a.untrusted_cache_volume("sha256:" + "2" * 64)


def test_network_modes():
    import pytest

    from fixproof.engine.docker import network_mode

    assert (network_mode(False), network_mode(True), network_mode("host")) == ("none", "bridge", "host")
    assert network_mode("container:abc") == "container:abc"  # Engine.offline_netns
    with pytest.raises(ValueError):
        network_mode("wifi")


def _fresh_ctx(tmp_path, stage, fake):
    from conftest import EXAMPLE, write_config
    from fixproof import config
    from fixproof.stages.common import StageContext

    cfg = config.load(write_config(tmp_path, EXAMPLE, extra='[build]\ncache = "fresh"\n'))
    return StageContext(cfg, stage, engine_factory=lambda: fake)


def test_fresh_cache_test_and_race_share_one_volume_for_the_run_and_build_keeps_its_tmpfs(tmp_path):
    """#14: with cache = "fresh" each container compiled the standard library again. Now test and race
    (the app's own code) share one Go build cache created for the run and removed at its end; the verified
    build never mounts it (a test could plant entries a verified build would link) and keeps its tmpfs."""
    from fixproof.engine.docker import run_scope
    from fixproof.stages.build import cache_mounts
    from fixproof.stages.common import GOCACHE
    from tests.unit.stages.fakeengine import FakeEngine

    fake = FakeEngine()
    img = "sha256:" + "1" * 64
    with run_scope():
        test = cache_mounts(_fresh_ctx(tmp_path, "test", fake), img, untrusted=True)
        race = cache_mounts(_fresh_ctx(tmp_path, "race", fake), img, untrusted=True)
        build = cache_mounts(_fresh_ctx(tmp_path, "build", fake), img, untrusted=False)
        vol = next(m for m in test if m.target == GOCACHE)
        assert vol.volume and not vol.read_only and vol.source.startswith("fixproof-run-")
        assert next(m for m in race if m.target == GOCACHE) == vol
        assert GOCACHE not in {m.target for m in build}  # the build's cache: a tmpfs (go_profile)
        assert fake.volumes == {vol.source}
        assert [c[0] for c in fake.calls].count("fresh_volume") == 1  # created once, empty, for the run
    assert fake.volumes == set() and ("remove_volume", (vol.source,)) in fake.calls
    with run_scope():  # the next run gets a volume of its own, empty
        again = cache_mounts(_fresh_ctx(tmp_path, "test", fake), img, untrusted=True)
        assert next(m for m in again if m.target == GOCACHE).source != vol.source


def test_run_volumes_are_removed_when_the_run_fails_or_is_interrupted(monkeypatch):
    from fixproof.engine import docker as d
    from tests.unit.stages.fakeengine import FakeEngine

    removed = []
    monkeypatch.setattr(d, "remove_live_containers", lambda: removed.append("containers") or 0)
    fake = FakeEngine()
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with d.run_scope() as vols:
                vols.ensure(fake, "k")
                raise exc
        assert fake.volumes == set()
    assert removed == ["containers"]  # on an interrupt the worker threads' containers go first


def test_stages_asking_for_one_run_volume_at_once_create_it_once():
    """doit's worker threads: the second stage waits until the first has made (and chowned) the volume."""
    import threading
    import time

    from fixproof.engine.docker import RunVolumes

    made = []

    class Slow:
        def fresh_volume(self, name, owner="", *, chown=None, pid=False):
            made.append(name)
            time.sleep(0.05)

        def remove_volume(self, name):
            return True

    vols, names = RunVolumes(), []
    vols.begin()
    threads = [threading.Thread(target=lambda: names.append(vols.ensure(Slow(), "k"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and set(names) == set(made)
    assert vols.end() == []


def test_ensure_volume_makes_a_volume_once_across_threads():
    import threading
    import time

    from fixproof.engine.docker import Engine

    created = []

    class Once(Engine):
        def volume_exists(self, name):
            return name in created

        def _create_volume(self, name, owner, chown, *, pid=False):
            time.sleep(0.05)
            created.append(name)

    eng = Once(object(), run_id="r")
    out = []
    threads = [threading.Thread(target=lambda: out.append(eng.ensure_volume("v"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert created == ["v"] and sorted(out) == [False, False, True]
