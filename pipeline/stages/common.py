"""What every stage shares: its context, container settings, upstream gates."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator

from pipeline.config import Config
from pipeline.engine.docker import Engine, Mount
from pipeline.progress import Progress
from pipeline.results import CheckResult, StageResult, Status, skipped

SRC = "/src"
MODCACHE = "/go/pkg/mod"
GOCACHE = "/root/.cache/go-build"
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

    def built_binary(self) -> Path:
        """The binary the build stage made (call after gate("build") passed)."""
        build = self.upstream("build")
        assert build is not None
        return Path(build.facts["binary"])

    def probe_image(self):
        """The probe image (gdb, bpftrace), built locally when missing."""
        from pipeline.engine import images

        return images.ensure_image(self.engine, images.PROBE_REF, timeout=self.cfg.timeouts.image,
                                   progress=self.progress)

    def container_profile(self, base):
        """A capability profile, made privileged when [docker] privileged = true."""
        import dataclasses

        return dataclasses.replace(base, privileged=True) if self.cfg.docker.privileged else base

    # Container settings --------------------------------------------------
    @cached_property
    def vcs_root(self) -> Path:
        """The source tree to mount: the enclosing VCS root, else the module root."""
        d = self.cfg.app_dir
        for p in (d, *d.parents):
            if (p / ".git").exists():
                return p
        return d

    @property
    def workdir(self) -> str:
        rel = self.cfg.app_dir.relative_to(self.vcs_root)
        return f"{SRC}/{rel}".rstrip("/.") if str(rel) != "." else SRC

    @property
    def modcache_volume(self) -> str:
        """The verified module cache of this app in this report directory: concurrent
        runs elsewhere (another checkout, another CI job on the host) never share it."""
        key = f"{self.cfg.app_dir}\0{self.cfg.app.modfile}\0{self.cfg.reports_dir}"
        return "fixproof-modcache-" + hashlib.sha256(key.encode()).hexdigest()[:16]

    def gocache_volume(self, image_id: str) -> str:
        return "fixproof-gocache-" + image_id.removeprefix("sha256:")[:16]

    def source_mount(self) -> Mount:
        return Mount(str(self.vcs_root), SRC, read_only=True)

    def goflags(self, *extra: str) -> str:
        flags = ["-mod=readonly", *extra]
        if self.cfg.app.modfile:
            flags.append(f"-modfile={self.cfg.app.modfile}")
        if self.cfg.modules.goflags:
            flags.extend(self.cfg.modules.goflags.split())
        return " ".join(flags)

    def offline_env(self) -> dict[str, str]:
        """Env for commands that must not touch the network or switch toolchains."""
        return {
            "GOTOOLCHAIN": "local",
            "GOPROXY": "off",
            "GOFLAGS": self.goflags(),
            "GOMODCACHE": MODCACHE,
            "GOCACHE": GOCACHE,
            "HOME": "/tmp",
            # a repository mounted from the host is owned by another uid
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "safe.directory",
            "GIT_CONFIG_VALUE_0": "*",
        }

    def image_ref(self) -> str:
        return self.cfg.toolchain.image

    def verified_image_id(self) -> str:
        up = self.upstream("toolchain")
        return str((up.facts if up else {}).get("image", {}).get("id", ""))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
    from pipeline.errors import ConfigError

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
