"""The Docker Engine, through the Docker SDK for Python.

Every container fixproof starts carries the label ``fixproof`` (and the run
id), runs with a deadline, and is removed in a ``finally`` whatever happens:
success, failure, timeout or Ctrl-C. Privileges follow the least-privilege
profiles below: every capability dropped except the few a profile adds back,
no-new-privileges, a read-only root filesystem with a tmpfs for scratch, and
bounded processes and memory; ``privileged`` is an explicit opt-in. The
README's "Security" section tables what each container gets.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Mapping, Sequence

from fixproof.errors import ContainerTimeout, EngineError

if TYPE_CHECKING:  # pragma: no cover
    import docker
    from docker.models.containers import Container

    from fixproof.progress import Progress

LABEL = "fixproof"
RUN_LABEL = "fixproof.run"
PID_LABEL = "fixproof.pid"
HOST_LABEL = "fixproof.host"
OWNER_LABEL = "fixproof.owner"  # on a volume: the report directory of the runs that use it
UID_LABEL = "fixproof.uid"  # on a volume: "uid:gid" its root was handed to
HEARTBEAT_S = 15.0
VOLUME_INIT_DIR = "/fixproof-volume"


@dataclass(frozen=True)
class Mount:
    source: str  # host path or volume name
    target: str
    read_only: bool = False
    volume: bool = False


# Defaults of [docker] pids_limit, memory and tmpfs_size (fixproof.config.DockerConfig says the same).
DEFAULT_PIDS_LIMIT = 4096
DEFAULT_MEMORY = 4 << 30
DEFAULT_TMPFS = 1 << 30
# The unprivileged user of containers when fixproof itself runs as root: no account in the
# images (none is needed), the uid distroless images call "nonroot".
NONROOT = (65532, 65532)


def unprivileged_ids() -> tuple[int, int]:
    """uid and gid the containers that run the app's code or its build use: this process's own
    (files they write are then its own), or NONROOT when it runs as root (never uid 0 in a container)."""
    uid = os.getuid()
    return (uid, os.getgid()) if uid != 0 else NONROOT


@dataclass(frozen=True)
class Tmpfs:
    """A writable tmpfs in a container whose root filesystem is read-only (nosuid, nodev)."""

    target: str
    size: int = DEFAULT_TMPFS  # bytes; its pages count against the container's memory limit
    exec: bool = False  # go test runs the test binaries it links from $TMPDIR
    owner: tuple[int, int] | None = None  # uid, gid of its root (default: root, mode 1777)
    read_only: bool = False  # an empty read-only tmpfs hides what is under it

    def options(self) -> str:
        opts = ["ro" if self.read_only else "rw", "exec" if self.exec else "noexec", "nosuid", "nodev",
                f"size={self.size}"]
        if self.owner is not None:
            opts += [f"uid={self.owner[0]}", f"gid={self.owner[1]}", "mode=0700"]
        else:
            opts.append("mode=1777")
        return ",".join(opts)


@dataclass(frozen=True)
class Profile:
    """Privileges and limits a container gets.

    Every capability is dropped and only ``cap_add`` comes back; no-new-privileges
    always holds (setuid binaries and file capabilities gain nothing); the root
    filesystem is read-only and ``tmpfs`` gives scratch space; ``pids_limit``
    bounds processes and threads, ``memory`` bounds memory (swap included).
    ``user`` None keeps the image's user (root). The default gets no capability.
    """

    cap_add: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    privileged: bool = False
    extra_mounts: tuple[Mount, ...] = ()
    user: str | None = None
    read_only: bool = True
    tmpfs: tuple[Tmpfs, ...] = (Tmpfs("/tmp", exec=True),)
    pids_limit: int = DEFAULT_PIDS_LIMIT
    memory: int = DEFAULT_MEMORY

    def create_kwargs(self) -> dict:
        """The privilege and limit arguments of ``containers.create`` (Docker SDK)."""
        return {
            "cap_drop": None if self.privileged else ["ALL"],
            "cap_add": list(self.cap_add) or None,
            "security_opt": [*self.security_opt, "no-new-privileges"],
            "privileged": self.privileged,
            "read_only": self.read_only,
            "tmpfs": {t.target: t.options() for t in self.tmpfs} or None,
            "pids_limit": self.pids_limit,
            "mem_limit": self.memory,
            "memswap_limit": self.memory,
        }


DEFAULT_PROFILE = Profile()
# gdb runs as an unprivileged user (the stage sets it) and ptraces only its own child, which
# needs no capability; SYS_PTRACE stays in the list because Docker's seccomp profile allows
# ptrace, process_vm_readv and friends by it (on kernels before 4.8 only by it).
GDB_PROFILE = Profile(cap_add=("SYS_PTRACE",), tmpfs=(Tmpfs("/tmp"),), user=f"{NONROOT[0]}:{NONROOT[1]}")
# bpftrace must run as root with SYS_ADMIN (bpf, perf_event_open, mounting tracefs): Docker's
# default seccomp profile allows those calls once SYS_ADMIN is listed, so it stays on. SETUID and
# SETGID let the run script start the traced program as an unprivileged user. debugfs and tracefs
# come from the host read-only; when the host does not mount tracefs, the container mounts its own,
# read-only (fixproof.engine.bpftrace). Measured: uprobes and tracepoints attach and detach.
TRACE_PROFILE = Profile(
    cap_add=("SYS_ADMIN", "SETUID", "SETGID"),
    tmpfs=(Tmpfs("/tmp"),),
    extra_mounts=(Mount("/sys/kernel/debug", "/sys/kernel/debug", read_only=True),
                  Mount("/sys/kernel/tracing", "/sys/kernel/tracing", read_only=True)),
)
# Holds a network namespace whose loopback it took down (Engine.offline_netns): root with NET_ADMIN
# only, running `sleep` and one perl ioctl; nothing of the app's runs in it.
_NETNS_PROFILE = Profile(cap_add=("NET_ADMIN",), user="0:0", tmpfs=(), pids_limit=16, memory=64 << 20)
# SIOCSIFADDR lo to 0.0.0.0 (removes 127.0.0.1 and its local routes, so a connect fails at once
# instead of waiting on a dead interface), SIOCSIFFLAGS lo to 0 (down; IPv6 drops ::1 with it), then
# SIOCGIFFLAGS to check that IFF_UP is clear (struct ifreq: 40 bytes)
_LO_DOWN = ('socket(my $s, 2, 2, 0) or die "socket: $!\\n"; '
            'my $a = pack("a16 s n a4 x16", "lo", 2, 0, "\\0\\0\\0\\0"); '
            'ioctl($s, 0x8916, $a) or $!{EADDRNOTAVAIL} or die "SIOCSIFADDR lo: $!\\n"; '
            'my $w = pack("a16 s x22", "lo", 0); ioctl($s, 0x8914, $w) or die "SIOCSIFFLAGS lo: $!\\n"; '
            'my $r = pack("a16 x24", "lo"); ioctl($s, 0x8913, $r) or die "SIOCGIFFLAGS lo: $!\\n"; '
            'die "lo is still up\\n" if unpack("x16 s", $r) & 1;')
# Makes a new volume's root owned by the unprivileged user; runs nothing of the app's.
_CHOWN_PROFILE = Profile(cap_add=("CHOWN",), user="0:0", tmpfs=(), pids_limit=64, memory=64 << 20)


@dataclass(frozen=True)
class VolumeOwner:
    """Who a new volume's root is handed to, and the image (with chown) that does it."""

    uid: int
    gid: int
    image: str


NETWORK_MODES = ("none", "bridge", "host")


def network_mode(network: bool | str) -> str:
    """Docker's network mode for a container's ``network`` argument."""
    if isinstance(network, bool):
        return "bridge" if network else "none"
    if network not in NETWORK_MODES and not network.startswith("container:"):
        raise ValueError(f"unknown network mode {network!r}; one of {', '.join(NETWORK_MODES)}")
    return network


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    stdout: str
    stderr: str
    duration_s: float
    image_id: str
    command: tuple[str, ...] = field(default_factory=tuple)


def _docker_host() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def connect(timeout: int = 120) -> "docker.DockerClient":
    """A client that has answered a ping; EngineError (exit 3) if none does."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except (DockerException, OSError) as e:
        raise EngineError(
            f"no Docker Engine answers at {_docker_host()} ({type(e).__name__}). "
            "Start one (e.g. `sudo dockerd &` or `sudo systemctl start docker`, or `make setup`) and retry."
        ) from e
    return client


class _LiveContainers:
    """The containers this process created and has not removed yet, whatever thread made them.

    A parallel run (doit's thread runner) starts containers from worker
    threads, which never see the main thread's KeyboardInterrupt; on an
    interrupt the CLI calls :func:`remove_live_containers`, which stops any
    new container from being created and removes these. Creation and the stop
    take one lock, so no container slips in between. One per process: it
    stands for what the process holds in the engine, like an open-file table."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[str, "Container"] = {}
        self._closed = False

    def create(self, make: Callable[[], "Container"]) -> "Container":
        with self._lock:
            if self._closed:
                raise EngineError("the run was interrupted; no new container is started.")
            c = make()
            self._live[c.id] = c
            return c

    def forget(self, c: "Container") -> None:
        with self._lock:
            self._live.pop(c.id, None)

    def close(self) -> list["Container"]:
        with self._lock:
            self._closed = True
            live, self._live = list(self._live.values()), {}
        return live


_LIVE = _LiveContainers()


class RunVolumes:
    """Volumes that live for one run of the task graph and no longer: the Go build cache the
    stages of a run share when [build] cache = "fresh" (created on first use, removed at the
    end of the run: :func:`run_volumes`, or at process exit when no run scope is open, as
    under ``doit verify``).

    Stages of a parallel run ask for the same volume from several threads: one lock makes the
    first create it (and hand it to its user) while the others wait, so none mounts it half
    made. One per process, like :data:`_LIVE`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._made: dict[str, "Engine"] = {}
        self._run_id = ""
        self._exit_hook = False

    def begin(self) -> None:
        """A new run: new volume names (an earlier run's are removed by its own :meth:`end`)."""
        with self._lock:
            self._run_id = uuid.uuid4().hex[:12]

    def ensure(self, engine: "Engine", key: str, *, owner: str = "", chown: "VolumeOwner | None" = None) -> str:
        """The name of this run's volume for ``key``, created empty on first use."""
        with self._lock:
            if not self._run_id:  # no run scope (doit verify): the volumes go at process exit
                self._run_id = uuid.uuid4().hex[:12]
                if not self._exit_hook:
                    import atexit

                    atexit.register(self.end)
                    self._exit_hook = True
            name = f"fixproof-run-{self._run_id}-{key}"
            if name not in self._made:
                engine.fresh_volume(name, owner=owner, chown=chown, pid=True)
                self._made[name] = engine
            return name

    def end(self) -> list[str]:
        """Remove this run's volumes; the names of those that could not be removed (in use:
        a later run's toolchain stage reaps them once this process is gone)."""
        with self._lock:
            made, self._made, self._run_id = self._made, {}, ""
        return [name for name, engine in made.items() if not engine.remove_volume(name)]


_RUN_VOLUMES = RunVolumes()


def run_volumes() -> RunVolumes:
    """This process's run-scoped volumes."""
    return _RUN_VOLUMES


@contextmanager
def run_scope() -> Iterator[RunVolumes]:
    """One run of the task graph: its run-scoped volumes are removed when it ends, whatever
    ends it. On an interrupt the containers of worker threads (which may still use them) are
    removed first."""
    _RUN_VOLUMES.begin()
    try:
        yield _RUN_VOLUMES
    except KeyboardInterrupt:
        remove_live_containers()
        raise
    finally:
        _RUN_VOLUMES.end()


def remove_live_containers() -> int:
    """On an interrupt: start no more containers and remove every one this process still has."""
    from docker.errors import APIError, NotFound

    n = 0
    for c in _LIVE.close():
        try:
            c.remove(force=True, v=True)
            n += 1
        except (NotFound, APIError):
            pass  # gone, or already being removed by its own thread
    return n


class Engine:
    """Runs labelled, time-limited containers and manages fixproof's volumes."""

    def __init__(self, client: "docker.DockerClient", run_id: str | None = None) -> None:
        self.client = client
        self.run_id = run_id or uuid.uuid4().hex[:12]

    @classmethod
    def connect(cls) -> "Engine":
        return cls(connect())

    # Labels ---------------------------------------------------------------
    @property
    def labels(self) -> dict[str, str]:
        return {LABEL: "1", RUN_LABEL: self.run_id, PID_LABEL: str(os.getpid()), HOST_LABEL: socket.gethostname()}

    # Images ---------------------------------------------------------------
    def image_attrs(self, ref: str) -> dict | None:
        from docker.errors import ImageNotFound, APIError

        try:
            return self.client.images.get(ref).attrs
        except ImageNotFound:
            return None
        except APIError as e:
            raise EngineError(f"the Docker Engine failed to look up image {ref}: {e.explanation or e}") from e

    # Volumes --------------------------------------------------------------
    def volume_exists(self, name: str) -> bool:
        from docker.errors import NotFound

        try:
            self.client.volumes.get(name)
            return True
        except NotFound:
            return False

    def fresh_volume(self, name: str, owner: str = "", *, chown: "VolumeOwner | None" = None,
                     pid: bool = False) -> None:
        """Remove the volume if it exists and create it empty. ``owner`` (a directory
        on this host) lets :meth:`reap_volumes` remove it once that directory is gone;
        ``chown`` hands its root to that user (see :meth:`ensure_volume`); ``pid``: it
        belongs to this process alone, and :meth:`reap_volumes` removes it once the process is gone."""
        from docker.errors import NotFound, APIError

        try:
            self.client.volumes.get(name).remove(force=True)
        except NotFound:
            pass
        except APIError as e:
            raise EngineError(f"cannot remove volume {name} (is a container still using it?): {e.explanation or e}") from e
        self._create_volume(name, owner, chown, pid=pid)
        if chown is not None:
            self._chown_volume(name, chown, created=True)

    def remove_volume(self, name: str) -> bool:
        """Remove the volume; False when the engine refuses (still in use) or cannot be reached."""
        from docker.errors import APIError, DockerException, NotFound

        try:
            self.client.volumes.get(name).remove(force=True)
        except NotFound:
            pass
        except (APIError, DockerException, OSError):
            return False
        return True

    def reap_volumes(self) -> int:
        """Remove fixproof volumes whose owner directory no longer exists on this host, and run-scoped
        volumes whose process is gone (killed before its run could remove them); none in use."""
        from docker.errors import APIError, NotFound

        n = 0
        host = socket.gethostname()
        for v in self.client.volumes.list(filters={"label": OWNER_LABEL}):
            labels = v.attrs.get("Labels") or {}
            owner = labels.get(OWNER_LABEL, "")
            pid = labels.get(PID_LABEL, "")
            orphan = pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid))
            if labels.get(HOST_LABEL) != host or not owner or (os.path.isdir(owner) and not orphan):
                continue
            try:
                v.remove()
                n += 1
            except (APIError, NotFound):
                pass  # in use or gone already: a later run reaps it
        return n

    def ensure_volume(self, name: str, owner: str = "", *, chown: "VolumeOwner | None" = None) -> bool:
        """Create the volume unless it exists (True when created).

        A new volume's root belongs to root. With ``chown``, a short container
        that has the CHOWN capability alone hands it to that user, every time:
        it is idempotent, and a volume that another stage or run has just
        created may not have been handed over yet (its chown still running, or
        killed), so existing is no proof that it is ready.
        """
        with _volume_lock(name):  # stages of a parallel run may ask for the same volume at once
            created = not self.volume_exists(name)
            if created:
                self._create_volume(name, owner, chown)
            if chown is not None:
                self._chown_volume(name, chown, created=created)
            return created

    def _create_volume(self, name: str, owner: str, chown: "VolumeOwner | None", *, pid: bool = False) -> None:
        labels = {LABEL: "1", **({OWNER_LABEL: owner, HOST_LABEL: socket.gethostname()} if owner else {})}
        if pid:
            labels.update({PID_LABEL: str(os.getpid()), HOST_LABEL: socket.gethostname()})
        if chown is not None:
            labels[UID_LABEL] = f"{chown.uid}:{chown.gid}"
        self.client.volumes.create(name, labels=labels)

    def _chown_volume(self, name: str, chown: "VolumeOwner", *, created: bool) -> None:
        from docker.errors import APIError, NotFound

        try:
            res = self.run(chown.image, ["chown", f"{chown.uid}:{chown.gid}", VOLUME_INIT_DIR],
                           mounts=[Mount(name, VOLUME_INIT_DIR, volume=True)], profile=_CHOWN_PROFILE,
                           timeout=120, what=f"chown volume {name}")
            if res.exit_code != 0:
                raise EngineError(f"cannot hand volume {name} to uid {chown.uid}: chown exited {res.exit_code} "
                                  f"({res.stderr.strip()[:200]})")
        except BaseException:
            if created:  # a volume of ours left owned by root: gone, so the next run makes it again
                try:
                    self.client.volumes.get(name).remove(force=True)
                except (APIError, NotFound):
                    pass
            raise

    # Containers -----------------------------------------------------------
    @contextmanager
    def container(
        self,
        image: str,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        mounts: Sequence[Mount] = (),
        network: bool | str = False,
        workdir: str | None = None,
        user: str | None = None,
        profile: Profile = DEFAULT_PROFILE,
    ) -> Iterator["Container"]:
        """A created (not started) container, always removed on exit.

        ``profile`` gives its privileges and limits; ``user`` (if given) overrides the profile's.
        ``network``: False (Docker's "none": its own namespace, only lo, up), True ("bridge"), a
        mode of NETWORK_MODES by name, or "container:<id>" (from :meth:`offline_netns`).
        """
        from docker.errors import APIError, ImageNotFound
        from docker.types import Mount as DMount

        all_mounts = [*mounts, *profile.extra_mounts]
        dmounts = [
            DMount(target=m.target, source=m.source, type="volume" if m.volume else "bind", read_only=m.read_only)
            for m in all_mounts
        ]
        try:
            c = _LIVE.create(lambda: self.client.containers.create(
                image,
                command=list(command),
                environment=dict(env or {}),
                mounts=dmounts,
                network_mode=network_mode(network),
                working_dir=workdir,
                user=user if user is not None else profile.user,
                labels=self.labels,
                detach=True,
                **profile.create_kwargs(),
            ))
        except ImageNotFound as e:
            raise EngineError(f"image {image} is not in the Docker Engine; run the toolchain stage first.") from e
        except APIError as e:
            raise EngineError(f"the Docker Engine refused to create a container from {image}: {e.explanation or e}") from e
        try:
            yield c
        finally:
            self._remove(c)
            _LIVE.forget(c)

    @contextmanager
    def offline_netns(self, image: str) -> Iterator[str]:
        """A network namespace with no usable interface at all, not even loopback (Docker's "none"
        leaves lo up): a holder container from ``image`` (network "none", root with NET_ADMIN only,
        running nothing but `sleep`) in which one perl ioctl takes lo down and checks it is down.
        Yields the network mode ("container:<id>") that puts another container in that namespace,
        where an unprivileged process cannot bring lo back up. The holder is always removed."""
        from docker.errors import APIError

        with self.container(image, ["sleep", "infinity"], network=False, profile=_NETNS_PROFILE) as holder:
            try:
                holder.start()
                code, out = holder.exec_run(["perl", "-e", _LO_DOWN], user="0:0")
            except APIError as e:
                raise EngineError(f"the Docker Engine could not prepare a namespace without network from {image}: "
                                  f"{e.explanation or e}") from e
            if code != 0:
                text = (out or b"").decode("utf-8", "replace").strip()[:200]
                raise EngineError(f"could not take the loopback interface down in a container from {image} "
                                  f"(perl exited {code}: {text}); the image needs perl (every Debian image has it), "
                                  "or let the tests use loopback with test.network = \"loopback\".")
            yield f"container:{holder.id}"

    def _remove(self, c: "Container") -> None:
        from docker.errors import NotFound, APIError

        for _ in range(3):
            try:
                c.remove(force=True, v=True)
                return
            except NotFound:
                return
            except APIError:  # removal already in progress; retry shortly
                time.sleep(0.2)

    def run(
        self,
        image: str,
        command: Sequence[str],
        *,
        timeout: float,
        progress: "Progress | None" = None,
        what: str = "",
        **kwargs,
    ) -> RunResult:
        """Run a command to completion in a new container and return its output.

        The container is killed and removed when ``timeout`` seconds pass
        (ContainerTimeout, exit 3). While it runs, a progress line appears
        every HEARTBEAT_S seconds.
        """
        label = what or " ".join(command)[:80]
        with self.container(image, command, **kwargs) as c:
            start = time.monotonic()
            code = self.wait_for_exit(c, timeout=timeout, label=label, progress=progress, on_timeout=lambda: ContainerTimeout(
                f"`{label}` in {image} ran past its {timeout:.0f} s timeout; the container was killed and removed. "
                "Raise the timeout in [timeouts] if the work is legitimately slow."))
            duration = time.monotonic() - start
            out = c.logs(stdout=True, stderr=False).decode("utf-8", "replace")
            err = c.logs(stdout=False, stderr=True).decode("utf-8", "replace")
            image_id = c.attrs.get("Image", "")
        return RunResult(code, out, err, duration, image_id, tuple(command))

    def wait_for_exit(self, c: "Container", *, timeout: float, label: str, on_timeout: Callable[[], Exception],
                      progress: "Progress | None" = None) -> int:
        """Start a created container and wait for its exit code.

        At ``timeout`` seconds it is killed and ``on_timeout()`` is raised (the
        caller's ``container()`` context removes it); a progress line appears
        every HEARTBEAT_S seconds meanwhile.
        """
        import requests
        from docker.errors import APIError

        start = time.monotonic()
        deadline = start + timeout
        try:
            c.start()
        except APIError as e:
            raise EngineError(f"the Docker Engine could not start a container for `{label}`: {e.explanation or e}") from e
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                try:
                    c.kill()
                except APIError:
                    pass  # it exited meanwhile; removal follows anyway
                raise on_timeout()
            try:
                status = c.wait(timeout=min(left, HEARTBEAT_S))
                break
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                if progress is not None:
                    progress.say(f"{label}: still running ({time.monotonic() - start:.0f}s)")
        return int(status.get("StatusCode", -1))

    def leftover_containers(self) -> list[str]:
        """Ids of fixproof-labelled containers (for tests and clean-up)."""
        # the low-level listing: containers.list() inspects each one and fails on one removed meanwhile
        return [c["Id"] for c in self.client.api.containers(all=True, filters={"label": LABEL})]

    def reap_orphans(self) -> int:
        """Remove labelled containers whose fixproof process is gone (e.g. killed with SIGKILL)."""
        n = 0
        host = socket.gethostname()
        # the low-level listing, as in leftover_containers: apps of a parallel run remove theirs meanwhile
        for c in self.client.api.containers(all=True, filters={"label": LABEL}):
            labels = c.get("Labels") or {}
            pid = labels.get(PID_LABEL, "")
            if labels.get(HOST_LABEL) == host and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                self._remove(self.client.containers.prepare_model(c))
                n += 1
        return n


_VOLUME_LOCKS: dict[str, threading.Lock] = {}
_VOLUME_LOCKS_LOCK = threading.Lock()


def _volume_lock(name: str) -> threading.Lock:
    """This process's lock for one volume name: one thread at a time creates and hands it over."""
    with _VOLUME_LOCKS_LOCK:
        return _VOLUME_LOCKS.setdefault(name, threading.Lock())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
