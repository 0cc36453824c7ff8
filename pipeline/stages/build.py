"""Stage build: the pinned image, network off, the verified module cache read-only."""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from fixproof.config import BuildConfig, Config
from fixproof.engine.docker import Mount
from fixproof.hashing import sha256_file
from fixproof.results import StageFacts, StageResult, error, failed, passed
from fixproof.stages.common import (GOCACHE, MODCACHE, OUT, StageContext, app_files, missing_package_error,
                                     missing_package_line, tail)
from fixproof.stages.sourcetree import vcs_metadata
from fixproof.stages.spec import Inputs, StageSpec

STAGE = "build"


@dataclass(frozen=True)
class BuildFacts(StageFacts):
    """What the build hands downstream: the binary it made, its sha256, the go command and the image.

    Read a build result's facts with :meth:`of`, never by key: a build that made no binary has none.
    """

    binary: Path
    sha256: str
    command: str
    image_id: str

    def to_json(self) -> dict[str, Any]:
        return {"binary": str(self.binary), "sha256": self.sha256, "command": self.command,
                "image_id": self.image_id}

    @classmethod
    def from_json(cls, facts: Mapping[str, Any]) -> "BuildFacts | None":
        """The facts of a build that made a binary; None for one that did not."""
        if not facts.get("binary"):
            return None
        return cls(Path(str(facts["binary"])), str(facts.get("sha256") or ""), str(facts.get("command") or ""),
                   str(facts.get("image_id") or ""))


# Lines by which a go command says the machine, not the code, stopped it.
_INFRA_MARKERS = ("no space left on device", "disk quota exceeded", "cannot allocate memory",
                  "resource temporarily unavailable", "too many open files", "read-only file system")


def infrastructure_failure(output: str) -> str:
    """The line of a failed go command's output that blames the machine (full disk, no
    memory...), or "": such a run says nothing about the app and is an error, never a failure."""
    for line in output.splitlines():
        low = line.lower()
        if any(m in low for m in _INFRA_MARKERS):
            return line.strip()
    return ""


def build_flags(b: BuildConfig) -> list[str]:
    """The [build] flags, ldflags and tags as go command flags: every go command that
    compiles the app (build, test, race) takes exactly these, so they test one variant."""
    args = list(b.flags)
    if b.ldflags:
        args += ["-ldflags", b.ldflags]
    if b.tags:
        args += ["-tags", ",".join(b.tags)]
    return args


def go_build_args(ctx: StageContext, output: str) -> list[str]:
    return ["go", "build", *build_flags(ctx.cfg.build), "-o", output, ctx.cfg.app.packages[0]]


def cache_mounts(ctx: StageContext, image_id: str, *, untrusted: bool) -> list[Mount]:
    """The source (read-only), the verified module cache (read-only) and the Go build cache.

    Two Go build caches, never mixed (README "Security"): the build stage's
    (``untrusted=False``), one per image shared by every app on the host for
    speed, is written only by `go build`, which compiles the app but runs none
    of its code; containers that run the app's code (its tests, the -race
    exercise and their builds: ``untrusted=True``) get a cache of their own per
    app and report directory, so an entry they plant reaches no verified
    build and no other app. With build.cache = "fresh" neither is kept: the
    build's cache is a tmpfs that goes with its container, and test and race
    share one volume that lives for the run alone (StageContext.run_cache_volume).
    """
    mounts = [*ctx.source_mounts(), Mount(ctx.modcache_volume, MODCACHE, read_only=True, volume=True)]
    if ctx.cfg.build.cache == "volume":
        if untrusted:
            vol = ctx.untrusted_cache_volume(image_id)
            ctx.engine.ensure_volume(vol, owner=str(ctx.cfg.reports_dir), chown=ctx.volume_owner())
        else:
            vol = ctx.build_cache_volume(image_id)
            ctx.engine.ensure_volume(vol, chown=ctx.volume_owner())
        mounts.append(Mount(vol, GOCACHE, volume=True))
    elif untrusted:
        mounts.append(Mount(ctx.run_cache_volume(image_id), GOCACHE, volume=True))
    return mounts


def check_cache_volume(ctx: StageContext) -> None:
    from fixproof.errors import EngineError

    if not ctx.engine.volume_exists(ctx.modcache_volume):
        raise EngineError(f"the verified module cache volume {ctx.modcache_volume} is gone; "
                          "run the pipeline again and the modules stage will rebuild it.")


def run(ctx: StageContext) -> StageResult:
    gate = ctx.gate("toolchain", "modules")
    if gate:
        return StageResult(STAGE, (gate,))
    cfg = ctx.cfg
    check_cache_volume(ctx)
    image_id = ctx.verified_image_id()
    out_dir = cfg.reports_dir / "build"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / cfg.binary_name
    if target.exists():
        target.unlink()
    build = go_build_args(ctx, f"{OUT}/{cfg.binary_name}")
    mounts = [*cache_mounts(ctx, image_id, untrusted=False), ctx.output_mount(out_dir)]
    t0 = time.monotonic()
    ctx.progress.say(" ".join(build) + " (network off, GOPROXY=off, module cache read-only)")
    try:
        with vcs_metadata(ctx.source) as vcs:  # git metadata for VCS stamping, in this container alone
            script = (f"{vcs.prepare} && " if vcs and vcs.prepare else "") + 'exec go "$@"'
            env = {**ctx.offline_env(vcs=vcs is not None), **(vcs.env if vcs else {}), **cfg.build.env}
            mounts += list(vcs.mounts) if vcs else []
            res = ctx.engine.run(cfg.toolchain.image, ["sh", "-c", script, "sh", *build[1:]], env=env,
                                 mounts=mounts, profile=ctx.go_profile(mounts),
                                 workdir=ctx.workdir, network=False, timeout=cfg.timeouts.build,
                                 progress=ctx.progress, what="go build")
    finally:
        ctx.reclaim_output(out_dir)
    dur = time.monotonic() - t0
    cmd = " ".join(shlex.quote(a) for a in build)
    evidence = {"command": cmd, "image": cfg.toolchain.image, "image_id": res.image_id, "network": "none",
                "GOPROXY": "off", "GOFLAGS": env["GOFLAGS"], "module_cache": f"{ctx.modcache_volume} (read-only)",
                "build_env": dict(cfg.build.env), "user": ctx.user,
                "build_cache": (ctx.build_cache_volume(image_id) if cfg.build.cache == "volume"
                                else "fresh (tmpfs, discarded)")}
    checks = []
    if image_id and res.image_id != image_id:
        checks.append(failed("image unchanged since toolchain check",
                             f"the build ran in {res.image_id[:19]} but the toolchain stage verified {image_id[:19]}; "
                             "the tag moved between stages: rerun the pipeline", evidence=evidence))
    if res.exit_code != 0:
        first = next((l for l in res.stderr.splitlines() if l and not l.startswith("#")), f"exit code {res.exit_code}")
        infra = infrastructure_failure(res.stderr + res.stdout)
        bad_package = missing_package_line(res.stderr)
        if bad_package:  # the config names no buildable main package: a configuration error, not a verdict
            checks.append(missing_package_error("go build", cfg.app.packages, bad_package, details=res.stderr + res.stdout,
                                                evidence={**evidence, "exit_code": 2}, duration_s=dur))
        elif infra:  # the machine failed, not the app: no verdict on the fix
            checks.append(error("go build", f"go build could not run to the end: {infra}; free the resource and "
                                "rerun", details=res.stderr + res.stdout, evidence={**evidence, "exit_code": 3},
                                duration_s=dur))
        else:
            checks.append(failed("go build", f"go build failed: {first}", details=res.stderr + res.stdout,
                                 evidence=evidence, duration_s=dur))
        return StageResult(STAGE, tuple(checks), {"command": cmd})  # no binary: BuildFacts.of says None
    if not target.is_file():
        checks.append(error("go build", f"go build reported success but {target} does not exist", evidence=evidence))
        return StageResult(STAGE, tuple(checks), {"command": cmd})
    digest = sha256_file(target)
    evidence.update(binary=str(target), sha256=digest, size=target.stat().st_size)
    checks.append(passed("go build", f"built {target.name} (sha256 {digest[:16]}…) with {cmd}", evidence=evidence,
                         duration_s=dur, details=tail(res.stderr, 20)))
    return StageResult(STAGE, tuple(checks), BuildFacts(target, digest, cmd, res.image_id).to_json())


def binary_unchanged(cfg: Config) -> Callable[[], bool]:
    """doit uptodate: true only while the built binary is still the one the build stage hashed
    (every stage that reads the binary lists it among its inputs)."""
    def check() -> bool:
        try:
            facts = BuildFacts.of(StageResult.read(cfg.stages_dir / f"{STAGE}.json"))
        except (OSError, ValueError, KeyError):
            return False
        if facts is None:
            return True  # the build produced nothing; its own result says why
        try:
            return sha256_file(facts.binary) == facts.sha256
        except OSError:
            return False
    return check


def vcs_head(cfg: Config) -> str:
    """The source revision the build will stamp, "" outside a git work tree."""
    from fixproof.engine.proc import call
    from fixproof.errors import ToolError

    try:
        res = call(["git", "-C", str(cfg.app_dir), "rev-parse", "HEAD"], timeout=30, check=False)
    except ToolError:
        return ""
    return res.stdout.strip() if res.returncode == 0 else ""


def inputs(cfg: Config) -> Inputs:
    # the binary records the source revision (vcs.revision): a new commit is a new input
    return Inputs(file_dep=tuple(app_files(cfg)), config={"vcs_head": vcs_head(cfg)},
                  uptodate=(binary_unchanged(cfg),))


SPEC = StageSpec(
    name=STAGE, order=300, run=run, needs=("toolchain", "modules"), config=("build",), inputs=inputs,
    facts=BuildFacts,
    doc="go build in the pinned image: network off, GOPROXY=off, verified cache read-only.",
)
