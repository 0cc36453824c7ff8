"""The pinned images: present, pulled by tag, or built as local stand-ins.

On machines with no registry fixproof builds images with the same names:
``debian:bookworm-slim`` from Debian packages (debootstrap, then docker
import) and ``golang:<ver>-bookworm`` from it plus the exact Go toolchain,
downloaded as the module golang.org/toolchain@v0.0.1-go<ver>.linux-<arch>
through the Go module proxy (go checks its hash against the checksum
database). Each built image records what it was built from in its labels.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from fixproof.engine.proc import call, require_tool
from fixproof.errors import ConfigError, FixproofError, ImageError, ToolError

if TYPE_CHECKING:  # pragma: no cover
    from fixproof.engine.docker import Engine
    from fixproof.progress import Progress

BASE_REF = "debian:bookworm-slim"
PROBE_REF = "fixproof-probe:bookworm"
GOLANG_RE = re.compile(r"^golang:(?P<ver>1\.\d+(?:\.\d+)?(?:(?:rc|beta)\d+)?)-bookworm$")
LABEL_PREFIX = "org.fixproof."
DEBIAN_MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class ImageInfo:
    ref: str
    id: str
    repo_digests: tuple[str, ...]
    source: str  # "present" (already in the engine), "pulled", "built"
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def built_locally(self) -> bool:
        return any(k.startswith(LABEL_PREFIX) for k in self.labels)

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "id": self.id,
            "repo_digests": list(self.repo_digests),
            "obtained": self.source,  # how this run got it: present, pulled or built
            "labels": {k: v for k, v in self.labels.items() if k.startswith(LABEL_PREFIX) or k.startswith("org.opencontainers")},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ImageInfo":
        """The image as :meth:`to_json` wrote it (labels as kept there)."""
        return cls(str(data.get("ref") or ""), str(data.get("id") or ""), tuple(map(str, data.get("repo_digests") or ())),
                   str(data.get("obtained") or ""), {str(k): str(v) for k, v in (data.get("labels") or {}).items()})


def cache_dir() -> Path:
    from fixproof.cachedir import cache_root

    return cache_root()


def go_arch() -> str:
    m = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(m, m)


def _info(attrs: Mapping[str, Any], ref: str, source: str) -> ImageInfo:
    cfg = attrs.get("Config") or {}
    return ImageInfo(ref, attrs["Id"], tuple(attrs.get("RepoDigests") or ()), source, dict(cfg.get("Labels") or {}))


def _dockerfile(name: str) -> Path:
    return Path(str(resources.files("fixproof") / "data" / "images" / name / "Dockerfile"))


def ensure_image(engine: "Engine", ref: str, *, timeout: float, progress: "Progress") -> ImageInfo:
    """Return the image, pulling it or building a stand-in if it is missing."""
    attrs = engine.image_attrs(ref)
    if attrs is not None:
        return _info(attrs, ref, "present")
    with _image_lock(ref, progress):
        attrs = engine.image_attrs(ref)  # another run may have made it while this one waited
        if attrs is not None:
            return _info(attrs, ref, "present")
        return _pull_or_build(engine, ref, timeout=timeout, progress=progress)


@contextlib.contextmanager
def _image_lock(ref: str, progress: "Progress") -> Iterator[None]:
    """One builder per image on this host: parallel apps of a fleet and
    concurrent runs wait for the first instead of building the same image twice.
    An flock, so a run killed mid-build releases it with its process."""
    import fcntl
    import hashlib

    locks = cache_dir() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    path = locks / (hashlib.sha256(ref.encode()).hexdigest()[:16] + ".lock")
    with open(path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress.say(f"waiting for another fixproof run that is making image {ref}")
            fcntl.flock(f, fcntl.LOCK_EX)  # the holder is bounded by its own build timeout
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _pull_or_build(engine: "Engine", ref: str, *, timeout: float, progress: "Progress") -> ImageInfo:
    progress.say(f"image {ref} not present; trying to pull it")
    pull_error = _try_pull(engine, ref)
    if pull_error is None:
        attrs = engine.image_attrs(ref)
        if attrs is not None:
            return _info(attrs, ref, "pulled")
    progress.say(f"pull failed ({pull_error}); building a local stand-in")
    m = GOLANG_RE.match(ref)
    if ref == BASE_REF:
        build_base(engine, timeout=timeout, progress=progress)
    elif m:
        build_golang(engine, m.group("ver"), timeout=timeout, progress=progress)
    elif ref == PROBE_REF:
        build_probe(engine, timeout=timeout, progress=progress)
    else:
        raise ImageError(
            f"image {ref} is not in the Docker Engine and could not be pulled ({pull_error}); fixproof can build "
            "only debian:bookworm-slim and golang:<version>-bookworm itself. Load the image (docker load) and retry."
        )
    attrs = engine.image_attrs(ref)
    if attrs is None:  # pragma: no cover - the build said it succeeded
        raise ImageError(f"building {ref} reported success but the engine does not list it.")
    return _info(attrs, ref, "built")


def _try_pull(engine: "Engine", ref: str) -> str | None:
    from docker.errors import DockerException

    repo, _, tag = ref.rpartition(":") if ":" in ref.split("/")[-1] else (ref, "", "latest")
    try:
        engine.client.images.pull(repo, tag=tag)
        return None
    except (DockerException, OSError) as e:
        text = str(getattr(e, "explanation", "") or e)
        return text.splitlines()[0][:160] if text else type(e).__name__


def build_base(engine: "Engine", *, timeout: float, progress: "Progress") -> None:
    """debian:bookworm-slim from Debian packages: debootstrap, then docker import."""
    require_tool("debootstrap", "install it (apt-get install debootstrap) or run `make setup`.")
    if os.geteuid() != 0:
        raise ImageError(
            f"{BASE_REF} is missing and building it with debootstrap needs root; run `sudo make setup` once."
        )
    work = Path(tempfile.mkdtemp(prefix="fixproof-rootfs-"))
    try:
        rootfs = work / "rootfs"
        progress.say(f"debootstrap --variant=minbase bookworm ({DEBIAN_MIRROR}); about 30-60 s")
        call(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), DEBIAN_MIRROR], timeout=timeout)
        tarball = work / "rootfs.tar"
        call(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], timeout=timeout)
        labels = {
            LABEL_PREFIX + "recipe": "debootstrap",
            LABEL_PREFIX + "suite": "bookworm",
            LABEL_PREFIX + "variant": "minbase",
            LABEL_PREFIX + "mirror": DEBIAN_MIRROR,
        }
        changes = [f"LABEL {k}={json.dumps(v)}" for k, v in labels.items()] + ['CMD ["bash"]']
        repo, tag = BASE_REF.split(":")
        progress.say(f"docker import -> {BASE_REF}")
        engine.client.api.import_image_from_file(str(tarball), repository=repo, tag=tag, changes=changes)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@dataclass(frozen=True)
class Toolchain:
    module: str  # golang.org/toolchain@v0.0.1-go1.22.5.linux-amd64
    dir: Path
    sum: str  # h1: hash, checked by go against the checksum database
    gosumdb: str


def fetch_toolchain(version: str, *, timeout: float, progress: "Progress") -> Toolchain:
    """Download the Go toolchain as a module through the Go module proxy."""
    go = require_tool("go", "a Go installation is needed to fetch toolchains through the module proxy (apt-get install golang, or put go on PATH).")
    module = f"golang.org/toolchain@v0.0.1-go{version}.linux-{go_arch()}"
    env = _toolchain_env()
    gosumdb = os.environ.get("GOSUMDB", "") or "sum.golang.org"
    if gosumdb == "off":
        raise ImageError("GOSUMDB=off: fixproof will not build a toolchain image without checking its hash against the checksum database.")
    progress.say(f"go mod download {module}")
    with tempfile.TemporaryDirectory(prefix="fixproof-gomod-") as tmp:  # outside any module
        res = call([go, "mod", "download", "-json", module], timeout=timeout, env=env, cwd=tmp, check=False)
    try:
        info = json.loads(res.stdout) if res.stdout.strip() else {}
    except json.JSONDecodeError as e:
        raise ToolError(f"go mod download printed output that is not JSON: {res.stdout[:200]!r}") from e
    if res.returncode != 0 or info.get("Error") or not info.get("Dir"):
        reason = info.get("Error") or res.stderr.strip() or f"exit code {res.returncode}"
        releases = toolchain_releases(go, env, timeout=timeout)
        if releases and version not in releases:  # the proxy lists its releases: this is not one of them
            choices = near_releases(releases, version)
            hint = (f"choose one of: {', '.join(choices)}" if choices
                    else "give a release such as 1.22.5 (go1.21 and later are named with a patch number, 1.21.0)")
            raise ConfigError(f"toolchain.go = {version!r}: there is no Go release go{version} for linux/{go_arch()} "
                              f"on the module proxy; {hint}.")
        raise ImageError(f"cannot download {module} through the Go module proxy: {first_line(reason)}")
    root = Path(info["Dir"])
    _make_executable(root)
    return Toolchain(module, root, info.get("Sum", ""), gosumdb)


def _toolchain_env() -> dict[str, str]:
    """The go command's environment for toolchain modules: fixproof's own module cache, no switching."""
    modcache = cache_dir() / "toolchains"
    modcache.mkdir(parents=True, exist_ok=True)
    return {
        "GOMODCACHE": str(modcache),
        "GOFLAGS": "-modcacherw",
        "GOTOOLCHAIN": "local",
        "GO111MODULE": "on",
    }


def go_releases(*, timeout: float = 60) -> list[str]:
    """Go releases the module proxy serves as toolchains for this platform, oldest first as the proxy
    lists them; [] when there is no go command on PATH or the proxy does not answer."""
    go = shutil.which("go")
    return toolchain_releases(go, _toolchain_env(), timeout=timeout) if go else []


def toolchain_releases(go: str, env: Mapping[str, str], *, timeout: float) -> list[str]:
    """Go releases the module proxy serves as toolchains for this platform, oldest first ([] if it cannot say)."""
    with tempfile.TemporaryDirectory(prefix="fixproof-gomod-") as tmp:
        try:
            res = call([go, "list", "-m", "-versions", "golang.org/toolchain"], timeout=min(timeout, 60), env=env,
                       cwd=tmp, check=False)
        except FixproofError:
            return []
    suffix = f".linux-{go_arch()}"
    return [v.removeprefix("v0.0.1-go").removesuffix(suffix) for v in res.stdout.split()
            if v.startswith("v0.0.1-go") and v.endswith(suffix)] if res.returncode == 0 else []


def near_releases(releases: list[str], near: str, limit: int = 12) -> list[str]:
    """The releases that start like ``near`` ("1.25" -> 1.25.0, 1.25.1, ...), else those of
    its major.minor; the newest ``limit`` of them."""
    minor = ".".join(near.split(".")[:2])
    for prefix in (near, minor):
        picked = [r for r in releases if r == prefix or r.startswith((prefix + ".", prefix + "rc"))]
        if picked:
            return picked[-limit:]
    return []


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text)


def _make_executable(goroot: Path) -> None:
    """Module zips carry no permission bits; the go command marks its tools executable the same way."""
    for sub in (goroot / "bin", goroot / "pkg" / "tool"):
        for dirpath, _, files in os.walk(sub):
            for f in files:
                p = Path(dirpath) / f
                p.chmod(p.stat().st_mode | 0o111)


def build_golang(engine: "Engine", version: str, *, timeout: float, progress: "Progress") -> None:
    base = ensure_image(engine, BASE_REF, timeout=timeout, progress=progress)
    tc = fetch_toolchain(version, timeout=timeout, progress=progress)
    ref = f"golang:{version}-bookworm"
    labels = {
        LABEL_PREFIX + "recipe": "golang-standin",
        LABEL_PREFIX + "go.module": tc.module,
        LABEL_PREFIX + "go.module.sum": tc.sum,
        LABEL_PREFIX + "go.gosumdb": tc.gosumdb,
        LABEL_PREFIX + "base": BASE_REF,
        LABEL_PREFIX + "base.id": base.id,
        "org.opencontainers.image.version": version,
    }
    _build_from_dockerfile(engine, ref, "golang", context=tc.dir, buildargs={"GOLANG_VERSION": version},
                           labels=labels, timeout=timeout, progress=progress)


def build_probe(engine: "Engine", *, timeout: float, progress: "Progress") -> None:
    """The probe image (gdb, bpftrace) FROM the base, which is built first when missing: the
    Dockerfile's FROM must never fall through to a registry pull."""
    base = ensure_image(engine, BASE_REF, timeout=timeout, progress=progress)
    _build_from_dockerfile(engine, PROBE_REF, "probe", context=None, buildargs={}, labels={
        LABEL_PREFIX + "recipe": "probe", LABEL_PREFIX + "base": BASE_REF, LABEL_PREFIX + "base.id": base.id},
        timeout=timeout, progress=progress)


def _build_from_dockerfile(
    engine: "Engine", ref: str, name: str, *, context: Path | None, buildargs: Mapping[str, str],
    labels: Mapping[str, str], timeout: float, progress: "Progress",
) -> None:
    from docker.errors import APIError, BuildError

    dockerfile = _dockerfile(name)
    with tempfile.TemporaryDirectory(prefix="fixproof-ctx-") as empty:
        ctx = context or Path(empty)
        progress.say(f"docker build {ref} (context {ctx})")
        try:
            stream = engine.client.api.build(
                path=str(ctx), dockerfile=str(dockerfile), tag=ref, buildargs=dict(buildargs), labels=dict(labels),
                rm=True, forcerm=True, decode=True, timeout=int(timeout), pull=False,
            )
            for chunk in stream:
                if "error" in chunk:
                    raise ImageError(f"docker build of {ref} failed: {chunk['error'].strip()}")
                line = (chunk.get("stream") or "").strip()
                if line.startswith("Step "):
                    progress.say(f"build {ref}: {line}")
        except (APIError, BuildError) as e:
            raise ImageError(f"docker build of {ref} failed: {e}") from e
        except FixproofError:
            raise
        except Exception as e:  # requests timeouts and connection errors from the build stream
            raise ImageError(f"docker build of {ref} did not complete ({type(e).__name__}: {e}).") from e
