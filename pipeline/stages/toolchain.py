"""Stage toolchain: the pinned image, the Go inside it, and go.mod's go/toolchain lines."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from fixproof.engine.images import ImageInfo, ensure_image
from fixproof.goinfo import versions
from fixproof.goinfo.gomod import read_gomod
from fixproof.results import CheckResult, StageFacts, StageResult, failed, passed, skipped
from fixproof.stages.advisories import (db_check, go_checks, go_command_advisories, load_listed, resolution_checks,
                                        unknown_checks)
from fixproof.config import Config
from fixproof.stages.common import GO_VERSION_OUT_RE, StageContext, tail
from fixproof.stages.spec import Inputs, StageSpec
from fixproof.vulndb import VulnDB

STAGE = "toolchain"


@dataclass(frozen=True)
class GoInImage:
    """What `go version` said inside the image."""

    version: str  # "go1.22.5"
    goos: str
    goarch: str


@dataclass(frozen=True)
class GoCommandAdvisory:
    """An advisory on the go command (module toolchain) that affects the pinned Go."""

    id: str
    aliases: tuple[str, ...]
    fixed: str  # "go1.22.7", "" when no release fixes it

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "aliases": list(self.aliases), "fixed": self.fixed}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "GoCommandAdvisory":
        return cls(str(data["id"]), tuple(map(str, data.get("aliases") or ())), str(data.get("fixed") or ""))


@dataclass(frozen=True)
class ToolchainFacts(StageFacts):
    """What the toolchain stage hands downstream: the pinned image it verified (ref, id, repo
    digests, labels), the pin, the Go that runs in it, and the go command's advisories.

    ``go`` is None when `go version` did not run in the image. Read with :meth:`of`.
    """

    image: ImageInfo
    pin: str  # "go1.22.5"
    go: GoInImage | None = None
    go_command_advisories: tuple[GoCommandAdvisory, ...] = ()

    @property
    def image_id(self) -> str:
        return self.image.id

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"image": self.image.to_json(), "pin": self.pin}
        if self.go is not None:
            out.update(go_version=self.go.version, goos=self.go.goos, goarch=self.go.goarch)
        out["go_command_advisories"] = [a.to_json() for a in self.go_command_advisories]
        return out

    @classmethod
    def from_json(cls, facts: Mapping[str, Any]) -> "ToolchainFacts | None":
        """None for a stage that stopped before it had the image (an engine or config error)."""
        if not facts.get("image"):
            return None
        go = (GoInImage(str(facts["go_version"]), str(facts.get("goos") or ""), str(facts.get("goarch") or ""))
              if facts.get("go_version") else None)
        return cls(ImageInfo.from_json(facts["image"]), str(facts.get("pin") or ""), go,
                   tuple(GoCommandAdvisory.from_json(a) for a in facts.get("go_command_advisories") or ()))


def run(ctx: StageContext) -> StageResult:
    # the first stage of a run (every stage needs it): clear what killed runs left behind
    ctx.engine.reap_orphans()
    ctx.engine.reap_volumes()
    cfg = ctx.cfg
    pin = cfg.toolchain.go
    ref = cfg.toolchain.image
    checks: list[CheckResult] = []

    t0 = time.monotonic()
    image = ensure_image(ctx.engine, ref, timeout=cfg.timeouts.image, progress=ctx.progress)
    # what the image is, not how this run got it (that is evidence["obtained"]), so a rerun says the same
    if image.built_locally:
        origin = "a local stand-in built from " + image.labels.get(
            "org.fixproof.go.module", image.labels.get("org.fixproof.recipe", "a local recipe"))
    else:
        origin = "a registry image" + (f" ({image.repo_digests[0]})" if image.repo_digests else "")
    checks.append(passed("pinned image available", f"{ref} is {origin} (id {image.id[:19]})",
                         evidence=image.to_json(), duration_s=time.monotonic() - t0))

    if cfg.toolchain.digest:
        want = cfg.toolchain.digest
        have = [d.split("@", 1)[-1] for d in image.repo_digests] + [image.id]
        if want in have:
            checks.append(passed("image digest", f"{ref} matches the pinned digest {want[:19]}", evidence={"digest": want}))
        else:
            checks.append(failed("image digest", f"{ref} is {', '.join(h[:19] for h in have)}, not the pinned {want[:19]}; "
                                 "the tag was moved or rebuilt: re-pin after review", evidence={"want": want, "have": have}))
    else:
        checks.append(skipped("image digest", "toolchain.digest is not set; the image id is recorded as evidence instead"))

    # go version and go env inside the image, in the module directory, with
    # toolchain switching off: a go.mod needing a newer Go fails here.
    t0 = time.monotonic()
    script = "go version && go env -json GOVERSION GOTOOLCHAIN GOROOT GOOS GOARCH"
    env = ctx.offline_env()
    env["GOFLAGS"] = ""  # go env must not depend on -mod flags
    mounts = ctx.source_mounts()
    res = ctx.engine.run(ref, ["sh", "-c", script], env=env, mounts=mounts, profile=ctx.go_profile(mounts),
                         workdir=ctx.workdir, network=False, timeout=cfg.timeouts.command,
                         progress=ctx.progress, what="go version")
    dur = time.monotonic() - t0
    m = GO_VERSION_OUT_RE.match(res.stdout)
    go: GoInImage | None = None
    if res.exit_code != 0 or not m:
        msg = tail(res.stderr or res.stdout, 3).replace("\n", " / ")
        if "requires go >=" in msg:
            checks.append(failed("go version in image", f"go.mod in {cfg.app.dir} needs a newer Go than {ref} provides: {msg}",
                                 details=res.stderr, duration_s=dur))
        else:
            checks.append(failed("go version in image", f"`go version` did not run in {ref}: {msg}",
                                 details=res.stderr, duration_s=dur))
        image_go = ""
    else:
        image_go = m.group(1)
        go = GoInImage(image_go, m.group(2), m.group(3))
        if image_go == f"go{pin}":
            checks.append(passed("go version in image", f"{ref} runs {image_go}, the pinned version",
                                 evidence={"go_version": image_go}, duration_s=dur))
        else:
            older = _older(image_go, pin)
            hint = (f"the image is older than the fix needs; use an image with go{pin} (e.g. golang:{pin}-bookworm)"
                    if older else f"pin the image that provides go{pin}, or change toolchain.go after review")
            checks.append(failed("go version in image", f"{ref} runs {image_go} but the pin is go{pin}: {hint}",
                                 evidence={"go_version": image_go, "pin": f"go{pin}"}, duration_s=dur))
        checks.append(_switching_check(res.stdout[m.end():], image_go))

    checks.extend(_gomod_checks(ctx, pin))
    with VulnDB(cfg.vulndb_url, notify=ctx.progress.say) as db:  # one index read for both
        if cfg.fix.advisories:
            listed = load_listed(cfg, ctx.progress.say, db)
            checks += [db_check(listed), *resolution_checks(listed), *unknown_checks(listed), *go_checks(listed, pin)]
        tool = go_command_advisories(db, pin)
    checks.append(tool)
    facts = ToolchainFacts(image, f"go{pin}", go,
                           tuple(GoCommandAdvisory.from_json(a) for a in tool.evidence["advisories"]))
    return StageResult(STAGE, tuple(checks), facts.to_json())


def _older(image_go: str, pin: str) -> bool:
    return versions.compare_go(image_go, pin) < 0


def _switching_check(env_json: str, image_go: str) -> CheckResult:
    name = "no toolchain switching"
    try:
        env = json.loads(env_json)
    except json.JSONDecodeError:
        return failed(name, "`go env -json` printed no JSON; cannot show that GOTOOLCHAIN=local is in effect")
    if env.get("GOTOOLCHAIN") != "local":
        return failed(name, f"GOTOOLCHAIN is {env.get('GOTOOLCHAIN')!r} inside the build container; it must be local")
    if env.get("GOVERSION") != image_go:
        return failed(name, f"go reports GOVERSION {env.get('GOVERSION')} but `go version` says {image_go}: a toolchain switch happened")
    return passed(name, f"GOTOOLCHAIN=local and GOVERSION={image_go} in the module directory: go cannot switch toolchains silently",
                  evidence={k: str(v) for k, v in env.items()})


def _gomod_checks(ctx: StageContext, pin: str) -> list[CheckResult]:
    cfg = ctx.cfg
    mod = read_gomod(cfg.gomod_path)
    name = cfg.gomod_path.name
    out: list[CheckResult] = []
    if not mod.go:
        out.append(failed(f"{name} go line", f"{cfg.gomod_path} has no go line; add `go {pin.rsplit('.', 1)[0]}` so the language version is explicit"))
    elif versions.compare_go(mod.go, pin) <= 0:
        out.append(passed(f"{name} go line", f"{name} requires go {mod.go}; the pinned go{pin} satisfies it", evidence={"go": mod.go}))
    else:
        out.append(failed(f"{name} go line", f"{name} requires go {mod.go} but the pinned toolchain is go{pin}; "
                          "raise toolchain.go (and the image) or lower the go line", evidence={"go": mod.go, "pin": pin}))
    if not mod.toolchain:
        out.append(passed(f"{name} toolchain line", f"{name} has no toolchain line; the go line and the pin decide", evidence={"toolchain": ""}))
    else:
        if versions.parse_go(mod.toolchain) is None:
            out.append(failed(f"{name} toolchain line", f"{name} names toolchain {mod.toolchain}, which is not a Go release"))
            return out
        order = versions.compare_go(mod.toolchain, pin)
        if order == 0:
            out.append(passed(f"{name} toolchain line", f"{name} names {mod.toolchain}, the pinned version", evidence={"toolchain": mod.toolchain}))
        elif order > 0:
            out.append(failed(f"{name} toolchain line", f"{name} asks for {mod.toolchain} but the pinned toolchain is go{pin}; "
                              "developers build with a newer Go than CI ships: align the pin and the toolchain line",
                              evidence={"toolchain": mod.toolchain, "pin": pin}))
        else:
            out.append(passed(f"{name} toolchain line", f"{name} names {mod.toolchain}, older than the pinned go{pin}; "
                              f"update it to go{pin} so local builds use the fixed toolchain too",
                              evidence={"toolchain": mod.toolchain, "pin": pin}, warning=True))
    return out


def image_unchanged(cfg: Config) -> Callable[[], bool]:
    """doit uptodate: true only while the engine still has the very image the stage verified."""
    def check() -> bool:
        from fixproof.engine.docker import Engine
        from fixproof.errors import FixproofError

        try:
            recorded = ToolchainFacts.of(StageResult.read(cfg.stages_dir / f"{STAGE}.json"))
            if recorded is None:
                return False  # no verified image: rerun
            attrs = Engine.connect().image_attrs(cfg.toolchain.image)
        except (OSError, ValueError, KeyError, FixproofError):
            return False
        return bool(attrs) and attrs["Id"] == recorded.image_id
    return check


def inputs(cfg: Config) -> Inputs:
    return Inputs(file_dep=(str(cfg.gomod_path),), uptodate=(image_unchanged(cfg),))


SPEC = StageSpec(
    name=STAGE, order=100, run=run, config=("toolchain",), inputs=inputs, facts=ToolchainFacts,
    doc="Pinned image present or built; go version inside equals the pin; go.mod go/toolchain lines agree.",
)
