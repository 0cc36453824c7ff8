"""What every stage shares: its context, container settings, upstream gates."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from fixproof.config import Config
from fixproof.engine.docker import DEFAULT_PROFILE, Engine, Mount, Profile, Tmpfs, VolumeOwner, unprivileged_ids
from fixproof.goinfo.versions import compare_go
from fixproof.progress import Progress
from fixproof.results import CheckResult, StageResult, Status, error, skipped
from fixproof.stages.sourcetree import SRC, SourceTree, source_tree  # noqa: F401 - SRC: re-exported

if TYPE_CHECKING:
    from fixproof.stages.build import BuildFacts

MODCACHE = "/go/pkg/mod"
GOCACHE = "/cache/go-build"  # a volume (see cache_mounts in fixproof.stages.build), else a tmpfs
OUT = "/out"


@dataclass
class StageContext:
    """Inputs of one stage run. The engine is connected on first use only."""

    cfg: Config
    stage: str
    engine_factory: Callable[[], Engine] = Engine.connect
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self.engine_factory()
        return self._engine

    @cached_property
    def progress(self) -> Progress:
        # in a fleet, name the app as doit does (build:edge)
        return Progress(f"{self.stage}:{self.cfg.app_name}" if self.cfg.grouped else self.stage)

    def result_path(self, stage: str | None = None) -> Path:
        return self.cfg.stages_dir / f"{stage or self.stage}.json"

    def upstream(self, stage: str) -> StageResult | None:
        p = self.result_path(stage)
        if not p.exists():
            return None
        try:
            return StageResult.read(p)
        except (OSError, ValueError, KeyError):
            return None

    def gate(self, *stages: str) -> CheckResult | None:
        """A skipped check when an upstream stage did not pass, else None."""
        for s in stages:
            up = self.upstream(s)
            if up is None:
                return skipped("prerequisites", f"not run: the {s} stage has no result yet")
            if not up.usable_downstream:
                return skipped("prerequisites",
                               f"not run: the {s} stage did not pass, so this stage would have no trustworthy input")
        return None

    def built(self) -> "BuildFacts":
        """What the build stage made (call after gate("build") passed: a usable build made a binary)."""
        from fixproof.stages.build import BuildFacts

        facts = BuildFacts.of(self.upstream("build"))
        assert facts is not None, "the build gate passed, so the build made a binary"
        return facts

    def built_binary(self) -> Path:
        """The binary the build stage made (call after gate("build") passed)."""
        return self.built().binary

    def probe_image(self):
        """The probe image (gdb, bpftrace), built locally when missing."""
        from fixproof.engine import images

        return images.ensure_image(self.engine, images.PROBE_REF, timeout=self.cfg.timeouts.image,
                                   progress=self.progress)

    def container_profile(self, base: Profile, *, unprivileged: bool = False) -> Profile:
        """``base`` with the [docker] limits (pids, memory, tmpfs size), privileged when
        [docker] privileged = true, and run as the unprivileged user when ``unprivileged``."""
        import dataclasses

        d = self.cfg.docker
        profile = dataclasses.replace(
            base, pids_limit=d.pids_limit, memory=d.memory_bytes,
            tmpfs=tuple(t if t.read_only else dataclasses.replace(t, size=d.tmpfs_bytes) for t in base.tmpfs))
        if unprivileged:
            profile = dataclasses.replace(profile, user=self.user)
        return dataclasses.replace(profile, privileged=True) if d.privileged else profile

    def go_profile(self, mounts: list[Mount]) -> Profile:
        """Containers of the go command (toolchain, modules, build, test, race): the unprivileged
        user, no capability, the .git directories of the source hidden, and a tmpfs Go build
        cache unless ``mounts`` put a volume there."""
        import dataclasses

        base = self.container_profile(DEFAULT_PROFILE, unprivileged=True)
        targets = {m.target for m in mounts}
        extra = [t for t in self.source.masks() if t.target not in targets]
        if GOCACHE not in targets:
            extra.append(Tmpfs(GOCACHE, size=self.cfg.docker.tmpfs_bytes, owner=unprivileged_ids()))
        return dataclasses.replace(base, tmpfs=(*base.tmpfs, *extra))

    @property
    def user(self) -> str:
        """The "uid:gid" of containers that build or run the app (never root)."""
        uid, gid = unprivileged_ids()
        return f"{uid}:{gid}"

    def volume_owner(self) -> VolumeOwner:
        """Hand a new cache volume to the unprivileged user (with the toolchain image's chown)."""
        uid, gid = unprivileged_ids()
        return VolumeOwner(uid, gid, self.cfg.toolchain.image)

    def output_mount(self, out_dir: Path) -> Mount:
        """``out_dir`` as /out, writable by the unprivileged user: when fixproof runs as root
        it is handed to that user for the run (``reclaim_output`` takes it back)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        uid, gid = unprivileged_ids()
        if os.getuid() == 0 and uid != 0:
            os.chown(out_dir, uid, gid)
        return Mount(str(out_dir), OUT)

    def reclaim_output(self, out_dir: Path) -> None:
        """Give ``out_dir`` and what a container wrote into it back to this process's user
        (symlinks are not followed)."""
        if os.getuid() != 0:
            return  # the container ran as this user: its files are ours already
        uid, gid = os.getuid(), os.getgid()
        for root, dirs, files in os.walk(out_dir):
            for name in [*dirs, *files]:
                os.lchown(os.path.join(root, name), uid, gid)
        os.lchown(out_dir, uid, gid)

    # Container settings --------------------------------------------------
    @cached_property
    def vcs_root(self) -> Path:
        """The enclosing VCS root (a directory holding .git), else the module root."""
        d = self.cfg.app_dir
        for p in (d, *d.parents):
            if (p / ".git").exists():
                return p
        return d

    @cached_property
    def source(self) -> SourceTree:
        """What of the source tree containers see (fixproof.stages.sourcetree)."""
        return source_tree(self.cfg.app_dir, self.cfg.gomod_path, self.vcs_root, own_dirs(self.cfg))

    @property
    def workdir(self) -> str:
        return self.source.workdir

    def source_mounts(self) -> list[Mount]:
        """The module (and the go.work and replace directories it needs), read-only."""
        return self.source.mounts()

    @property
    def modcache_volume(self) -> str:
        """The verified module cache of this app in this report directory: concurrent
        runs elsewhere (another checkout, another CI job on the host) never share it."""
        key = f"{self.cfg.app_dir}\0{self.cfg.app.modfile}\0{self.cfg.reports_dir}"
        return "fixproof-modcache-" + hashlib.sha256(key.encode()).hexdigest()[:16]

    def build_cache_volume(self, image_id: str) -> str:
        """The Go build cache of the build stage: one per image (and container uid), shared by
        every app on the host and written only by the build stage's `go build`, which runs no
        code of the app; never mounted where the app's own code runs."""
        uid, _ = unprivileged_ids()
        return f"fixproof-gocache-build-{image_id.removeprefix('sha256:')[:16]}-{uid}"

    def untrusted_cache_volume(self, image_id: str) -> str:
        """The Go build cache of containers that run the app's code (test, race): one per app,
        report directory and image, so what an app's tests write there reaches only its own
        later tests and race builds, never a verified build or another app."""
        uid, _ = unprivileged_ids()
        key = f"{self.cfg.app_dir}\0{self.cfg.app.modfile}\0{self.cfg.reports_dir}\0{image_id}\0{uid}"
        return "fixproof-gocache-app-" + hashlib.sha256(key.encode()).hexdigest()[:16]

    def run_cache_volume(self, image_id: str) -> str:
        """With build.cache = "fresh": the Go build cache of this run's containers that run the app's
        code (test, race), created empty for the run and removed at its end, so the standard library is
        compiled once per build mode in the run, not once per container. Never the build stage's:
        a test could plant entries there that a verified build would then link."""
        from fixproof.engine.docker import run_volumes

        uid, _ = unprivileged_ids()
        key = f"{self.cfg.app_dir}\0{self.cfg.app.modfile}\0{self.cfg.reports_dir}\0{image_id}\0{uid}"
        return run_volumes().ensure(self.engine, "gocache-app-" + hashlib.sha256(key.encode()).hexdigest()[:16],
                                    owner=str(self.cfg.reports_dir), chown=self.volume_owner())

    def goflags(self, *extra: str, vcs: bool = False) -> str:
        """GOFLAGS of the go commands in containers. Without ``vcs`` (every container but the build's,
        which gets git metadata of its own) ``-buildvcs=false``: there a repository's ``.git`` is hidden
        under an empty directory, in which git finds no repository, and `go list` or `go build -race` of
        a main package in a module at the repository root would fail with "error obtaining VCS status"."""
        flags = ["-mod=readonly", *extra]
        if not vcs and compare_go(self.cfg.toolchain.go, "1.18") >= 0:  # -buildvcs came with Go 1.18
            flags.append("-buildvcs=false")
        if self.cfg.app.modfile:
            flags.append(f"-modfile={self.cfg.app.modfile}")
        if self.cfg.modules.goflags:
            flags.extend(self.cfg.modules.goflags.split())
        return " ".join(flags)

    def offline_env(self, *, vcs: bool = False) -> dict[str, str]:
        """Env for commands that must not touch the network or switch toolchains (``vcs``: the
        container has git metadata for VCS stamping, see ``goflags``)."""
        return {
            "GOTOOLCHAIN": "local",
            "GOPROXY": "off",
            "GOFLAGS": self.goflags(vcs=vcs),
            "GOMODCACHE": MODCACHE,
            "GOCACHE": GOCACHE,
            # the root filesystem is read-only and the user unprivileged: go's other state
            # (GOPATH/pkg/sumdb, telemetry, config) goes to the tmpfs
            "GOPATH": "/tmp/gopath",
            "HOME": "/tmp",
            # a repository mounted from the host is owned by another uid
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "safe.directory",
            "GIT_CONFIG_VALUE_0": "*",
        }

    def image_ref(self) -> str:
        return self.cfg.toolchain.image

    def verified_image_id(self) -> str:
        """The id of the image the toolchain stage verified, "" when it has none."""
        from fixproof.stages.toolchain import ToolchainFacts

        facts = ToolchainFacts.of(self.upstream("toolchain"))
        return facts.image_id if facts is not None else ""


def own_dirs(cfg: Config) -> tuple[Path, ...]:
    """fixproof's own directories (reports, cache, temporary directory, virtualenv, checkout or install),
    which a CI job may have put inside the app's tree; containers see them empty (fixproof.stages.sourcetree)."""
    import sys
    import tempfile

    from fixproof.cachedir import cache_root

    package = Path(__file__).resolve().parents[1]  # the installed package, or the checkout's pipeline/
    return (cfg.run_reports_dir, cfg.reports_dir, cache_root(), Path(tempfile.gettempdir()), Path(sys.prefix),
            package, package.parent if (package.parent / "pyproject.toml").is_file() else package)


def iter_json_objects(text: str) -> Iterator[dict[str, Any]]:
    """Decode a stream of concatenated JSON objects (go -json output)."""
    dec = json.JSONDecoder()
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return
        obj, i = dec.raw_decode(text, i)
        yield obj


def first_of(problems: list[str]) -> str:
    """The first problem, and how many more there are: a message a person can act on."""
    return problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")


# The lines of go's (and git's) output that decide an outcome, most decisive first.
_DECISIVE = ("checksum mismatch", "security error", "missing go.sum entry", "verifying ", "no required module provides",
             "unknown revision", "invalid version", "cannot find module", "not found", "no such host",
             "connection refused", "timeout", "permission denied", "no space left", "undefined:", "cannot use",
             "panic:", "fatal", "error")
_NOISE = ("for more information", "go: downloading", "go: finding", "go: extracting")


def decisive_line(text: str, default: str = "") -> str:
    """The one line of a tool's output a person must see: the first line holding the most
    decisive marker (a checksum mismatch before a generic error), else the last line that is
    not noise ("For more information, see ...", download progress)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.lower().startswith(_NOISE)]
    for marker in _DECISIVE:
        hit = next((ln for ln in useful if marker in ln.lower()), None)
        if hit is not None:
            return hit
    return useful[-1] if useful else default


_NO_PACKAGE = ("no Go files in", "directory not found", "is not in std", "does not contain package",
               "matched no packages")


def missing_package_line(output: str) -> str:
    """The line of a go command's output saying a package the config names is not there, or "":
    that is a configuration error (exit 2), never a verdict on the app."""
    return next((ln.strip() for ln in output.splitlines() if any(m in ln for m in _NO_PACKAGE)), "")


def missing_package_error(name: str, packages, line: str, **kw) -> CheckResult:
    return error(name, f"app.packages = {list(packages)} names no buildable package: {line}; give the main "
                 "package's path relative to app.dir, e.g. \"./cmd/app\"", **kw)


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


GO_VERSION_OUT_RE = re.compile(r"^go version (\S+) (\S+)/(\S+)")


def app_files(cfg: Config) -> list[str]:
    """Every file of the Go module (build and test inputs), hidden dirs excluded.

    The app is untrusted input: a symlink that leads out of the module (whose
    target fixproof would otherwise hash, read and copy into reports) or a
    name with a control character (which would break line-based manifests)
    is refused with a ConfigError naming it.
    """
    from fixproof.errors import ConfigError

    out: list[str] = []
    reports = cfg.reports_dir
    module = cfg.app_dir.resolve()
    for root, dirs, files in os.walk(cfg.app_dir):
        rp = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (rp / d) != reports)
        for name in [*dirs, *files]:
            p = rp / name
            if any(ord(c) < 32 or ord(c) == 127 for c in name):
                raise ConfigError(f"the app has a file name with a control character: {str(p)!r}; rename it "
                                  "(Go modules cannot hold such names either).")
            if p.is_symlink():
                target = p.resolve()
                if target != module and module not in target.parents:
                    raise ConfigError(f"{p} is a symlink to {target}, outside the module {module}; fixproof reads "
                                      "only the module's own files: replace the link with the file, or remove it.")
        out.extend(str(rp / f) for f in sorted(files) if not f.startswith("."))
    return out


def is_failed(checks: list[CheckResult]) -> bool:
    return any(c.status in (Status.FAILED, Status.ERROR) for c in checks)


def slug(name: str) -> str:
    """A check name as a file name: reports/<stage>/<slug>.<ext>."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "check"


def timed(r: CheckResult, start: float) -> CheckResult:
    """The same result with its duration measured from ``start`` (time.monotonic())."""
    import time

    return CheckResult(r.name, r.status, r.message, evidence=r.evidence, duration_s=time.monotonic() - start,
                       classname=r.classname, details=r.details, warning=r.warning, blocks=r.blocks)
