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
