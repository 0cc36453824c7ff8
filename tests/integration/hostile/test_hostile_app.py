"""A hostile app through the pipeline: its tests attack the container they run in.

The app is a copy of examples/fixdemo in a git repository next to a secret
file, plus tests/integration/hostile/hostile_test.go as internal/hostile/hostile_test.go:
it reports who it runs as, its capabilities and limits, writes into every
writable place (the Go build cache included), tries the network, reads
outside the module, fills its tmpfs and runs a fork bomb, then fails on
purpose with its findings. While the pipeline runs, every container it
creates is inspected through the Docker API. Afterwards another app is built
and its verified build must never have seen what the hostile tests planted.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from conftest import EXAMPLE, ROOT, assert_no_traceback, check, stage, write_config

pytestmark = pytest.mark.docker

HOSTILE_GO = Path(__file__).with_name("hostile_test.go")
PIDS, MEMORY, TMPFS = 256, 1 << 30, 96 << 20
SECRET = "the repository around the module: no test may read this\n"
GO_IMAGE = "golang:1.22.5-bookworm"


@dataclass
class Watched:
    """What the Docker API showed while one fixproof process ran."""

    containers: dict[str, dict] = field(default_factory=dict)  # id -> inspect_container output
    volume_mounts: list[dict] = field(default_factory=list)  # Actor of volume "mount" events


@dataclass
class Run:
    cfg: Path
    proc: subprocess.CompletedProcess
    containers: list[dict]  # this run's, as inspected when created
    volume_mounts: list[dict]  # this run's containers' volume mounts

    def containers_running(self, kind: str) -> list[dict]:
        """This run's containers of one kind: "build" (go build into /out) or "test" (go test)."""
        return [c for c in self.containers if _kind(c) == kind]

    def gocache_volume_of(self, container: dict) -> str:
        vols = [m["ID"] for m in self.volume_mounts if m["Attributes"]["container"] == container["Id"]
                and m["Attributes"]["destination"].endswith("/go-build")]
        assert len(vols) == 1, (vols, container["Config"]["Cmd"])
        return vols[0]


@contextmanager
def watching(engine) -> Iterator[Watched]:
    """Inspect every fixproof container as it is created and record volume mounts, until the end."""
    from docker.errors import NotFound

    seen = Watched()
    stream = engine.client.events(decode=True, filters={"type": ["container", "volume"], "event": ["create", "mount"]})

    def pump() -> None:
        try:
            for ev in stream:
                actor = ev.get("Actor") or {}
                attrs = actor.get("Attributes") or {}
                if ev.get("Type") == "container" and attrs.get("fixproof") == "1":
                    try:
                        seen.containers[actor["ID"]] = engine.client.api.inspect_container(actor["ID"])
                    except NotFound:  # already gone (a sub-second container)
                        pass
                elif ev.get("Type") == "volume":
                    seen.volume_mounts.append(actor)
        except Exception:  # noqa: BLE001 - the stream ends by being closed under the loop
            pass

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    try:
        yield seen
    finally:
        stream.close()
        t.join(timeout=10)


def run_watched(engine, cfg: Path, *args: str) -> Run:
    with watching(engine) as seen:
        proc = subprocess.Popen([sys.executable, "-m", "fixproof.cli", "verify", "-c", str(cfg), *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        out, err = proc.communicate(timeout=600)
    pid = str(proc.pid)
    mine = [c for c in seen.containers.values() if c["Config"]["Labels"].get("fixproof.pid") == pid]
    ids = {c["Id"] for c in mine}
    mounts = [m for m in seen.volume_mounts if m["Attributes"].get("container") in ids]
    return Run(cfg, subprocess.CompletedProcess(proc.args, proc.returncode, out, err), mine, mounts)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=fixproof", "-c", "user.email=f@example.invalid",
                           *args], check=True, capture_output=True, text=True, timeout=60).stdout.strip()


@pytest.fixture(scope="module")
def mark() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, engine, golang_image, mark) -> Run:
    """The hostile app (in a git repository, beside a secret) through build and test."""
    tmp = tmp_path_factory.mktemp("hostile")
    repo = tmp / "repo"
    app = repo / "app"
    shutil.copytree(EXAMPLE, app)
    (app / "internal" / "hostile").mkdir()
    shutil.copy(HOSTILE_GO, app / "internal" / "hostile" / "hostile_test.go")
    (repo / "secret.txt").write_text(SECRET)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "hostile app")
    cfg = write_config(tmp, app, extra=f"""
        [test]
        packages = ["./internal/hostile/"]
        [build]
        env = {{ HOSTILE_MARK = "{mark}", HOSTILE_BOMB_MAX = "{4 * PIDS}" }}
        [docker]
        pids_limit = {PIDS}
        memory = "{MEMORY >> 20}m"
        tmpfs_size = "{TMPFS >> 20}m"
        """)
    return run_watched(engine, cfg, "--only", "build", "test")


@pytest.fixture(scope="module")
def findings(hostile) -> dict:
    c = check(hostile.cfg, "test", "TestHostile")
    m = re.search(r"HOSTILE-FINDINGS (\{.*\})", c["details"])
    assert m, c
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def other(tmp_path_factory, engine, hostile) -> Run:
    """Another app, built after the hostile tests ran."""
    tmp = tmp_path_factory.mktemp("other")
    app = tmp / "fixdemo"
    shutil.copytree(EXAMPLE, app)
    return run_watched(engine, write_config(tmp, app), "--only", "build")


def test_a_failing_hostile_test_is_never_a_pass(hostile):
    p = hostile.proc
    assert_no_traceback(p)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "fixproof: PASS" not in p.stdout and "fixproof: FAIL" in p.stdout
    assert check(hostile.cfg, "test", "TestHostile")["status"] == "failed"
    assert check(hostile.cfg, "build", "go build")["status"] == "passed"


def test_tests_run_unprivileged_and_bounded(findings):
    assert findings["uid"] != 0 and findings["gid"] != 0
    assert findings["CapEff"] == findings["CapPrm"] == "0000000000000000"
    assert findings["NoNewPrivs"] == "1"
    assert findings["Seccomp"] == "2"  # Docker's default profile: never unconfined here
    assert findings["pids_max"] == str(PIDS)
    assert findings["memory_max"] == str(MEMORY)
    assert findings["root_write"] == "EROFS"


def test_the_limits_hold(findings):
    bomb = findings["forkbomb"]
    assert bomb["shell_failed"], bomb  # fork failed: the pids limit stopped the bomb
    assert 0 < int(bomb["started"]) < PIDS, bomb
    assert int(bomb["pids_events"].split()[-1]) >= 1, bomb  # the cgroup counted the refusals
    fill = findings["fill_tmp"]
    assert fill["err"] == "ENOSPC" and 0 < fill["bytes"] <= TMPFS, fill


def test_the_network_is_off(findings):
    assert findings["interfaces"] == ["lo"]
    assert findings["dial_tcp"] != "connected" and findings["dns"] != "resolved", findings


def test_only_scratch_and_the_apps_own_cache_are_writable(findings, hostile, mark):
    rw = {m for m in findings["rw_mounts"] if not m.startswith(("/proc", "/sys", "/dev"))}
    assert rw == {"/tmp", "/cache/go-build"}, findings["rw_mounts"]
    written = {d for d, r in findings["writes"].items() if r == "written"}
    # the tests run in a throwaway copy of the sources under /tmp (scratch): writable, discarded
    assert all(d == "/cache/go-build" or d == "/tmp" or d.startswith("/tmp/") for d in written), findings["writes"]
    assert findings["writes"]["/src/app"] == "EROFS"  # the verified sources themselves: read-only
    assert findings["module"] == "/tmp/src/app" and findings["cwd"].startswith("/tmp/src/app/"), findings["cwd"]
    assert findings["writes"]["/src"] == "EROFS"
    assert findings["gocache_plants"] == {"top": "written", "entry": "written"}  # its own cache: allowed
    tmp = hostile.cfg.parent
    planted = [p for p in tmp.rglob(f"*{mark}*")]
    assert planted == [], planted  # nothing reached the host: not the repository, not the reports


def test_nothing_outside_the_module_is_visible(findings):
    assert findings["src_listing"] == ["app"], findings["src_listing"]
    assert "/src/secret.txt" in findings["reads"] and "/src/.git/config" in findings["reads"]
    assert all(r == "ENOENT" for p, r in findings["reads"].items() if p != "/etc/shadow"), findings["reads"]
    assert findings["reads"]["/etc/shadow"] != "read"


def _user(c: dict) -> str:
    return c["Config"]["User"] or "root"


def _kind(c: dict) -> str:
    cmd = c["Config"]["Cmd"] or []
    if cmd[:1] == ["chown"]:
        return "chown"
    if "build" in cmd and any(a.startswith("/out/") for a in cmd):
        return "build"
    if any(cmd[i:i + 2] == ["go", "test"] for i in range(len(cmd))):  # go test, or sh -c '...' sh go test ...
        return "test"
    return "other"


def test_every_container_is_confined(hostile):
    """Each container of the run, as the Docker API showed it when it was created."""
    app = hostile.cfg.parent / "repo" / "app"
    reports = hostile.cfg.parent / "reports"
    assert hostile.containers, "no container of the run was seen"
    kinds = {"chown": 0, "build": 0, "test": 0, "other": 0}
    for c in hostile.containers:
        hc, cmd, kind = c["HostConfig"], " ".join(c["Config"]["Cmd"]), _kind(c)
        kinds[kind] += 1
        assert hc["CapDrop"] == ["ALL"], cmd
        assert "no-new-privileges" in hc["SecurityOpt"], cmd
        assert hc["ReadonlyRootfs"] and not hc["Privileged"], cmd
        assert not any("unconfined" in o for o in hc["SecurityOpt"]), cmd
        if kind == "chown":  # hands a new volume to the unprivileged user, runs nothing else
            assert hc["CapAdd"] == ["CHOWN"] and _user(c) == "0:0" and hc["NetworkMode"] == "none", cmd
            assert [m["Target"] for m in hc["Mounts"]] == ["/fixproof-volume"]
            continue
        assert not hc["CapAdd"], cmd
        assert _user(c) not in ("root", "0") and not _user(c).startswith("0:"), cmd
        assert hc["PidsLimit"] == PIDS and hc["Memory"] == MEMORY, cmd
        assert hc["NetworkMode"] == ("bridge" if "go mod download" in cmd else "none"), cmd
        for m in hc["Mounts"]:
            if m["Type"] != "bind":
                continue
            src = Path(m["Source"])
            if m["Target"] == "/out":  # the only writable host directory: the build's output
                assert kind == "build" and src == reports / "build", cmd
                continue
            assert m.get("ReadOnly"), (cmd, m)
            assert src != app.parent and src.name != "secret.txt", (cmd, m)
            if src.name in (".gitignore", ".gitattributes") or ".git" in src.parts or "fixproof-vcs-" in str(src):
                assert kind == "build", (cmd, m)  # git metadata: the build container alone
            else:
                assert src == app or src.name == "ca-certificates.crt", (cmd, m)
    assert kinds["build"] == 1 and kinds["test"] == 1 and kinds["other"] >= 2, kinds


def test_vcs_stamping_still_works(hostile):
    from fixproof.goinfo.buildinfo import read_buildinfo

    info = read_buildinfo(stage(hostile.cfg, "build")["facts"]["binary"])
    head = git(hostile.cfg.parent / "repo", "rev-parse", "HEAD")
    assert info.setting("vcs.revision") == head
    assert info.setting("vcs.modified") == "false"


def test_a_planted_cache_entry_never_reaches_a_verified_build(hostile, other, engine, findings, mark):
    from fixproof.engine.docker import Mount

    assert findings["gocache_plants"]["top"] == "written"  # the plant happened, in the tests' cache
    (test_container,) = hostile.containers_running("test")
    (build_container,) = other.containers_running("build")
    planted_in = hostile.gocache_volume_of(test_container)
    verified_from = other.gocache_volume_of(build_container)
    assert planted_in != verified_from
    assert check(other.cfg, "build", "go build")["status"] == "passed", other.proc.stdout + other.proc.stderr
    find = ["find", "/v", "-name", f"*{mark}*"]
    res = engine.run(GO_IMAGE, find, mounts=[Mount(verified_from, "/v", read_only=True, volume=True)], timeout=60)
    assert res.exit_code == 0 and res.stdout == "", res
    res = engine.run(GO_IMAGE, find, mounts=[Mount(planted_in, "/v", read_only=True, volume=True)], timeout=60)
    assert res.stdout.count(mark) == 2, res  # the control: the plants are there, in the tests' own cache
    # and the hostile app's own verified build did not use its tests' cache either
    (own_build,) = hostile.containers_running("build")
    assert hostile.gocache_volume_of(own_build) == verified_from
