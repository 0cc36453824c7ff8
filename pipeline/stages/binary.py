"""Stage binary: what the built binary says about itself, against the clean build list.

Reads the artifact with fixproof's own reader (no go process): the embedded
Go version, the main module, every dependency with version and h1 sum, the
build settings and the VCS stamp.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from fixproof.engine.proc import call
from fixproof.errors import ToolError
from fixproof.goinfo.buildinfo import BuildInfo, read_buildinfo
from fixproof.hashing import sha256_file
from fixproof.results import CheckResult, StageFacts, StageResult, failed, passed, skipped
from fixproof.config import Config
from fixproof.stages.build import binary_unchanged
from fixproof.stages.common import StageContext, first_of
from fixproof.stages.modules import ModulesFacts
from fixproof.stages.spec import Inputs, StageSpec

STAGE = "binary"



@dataclass(frozen=True)
class BinaryFacts(StageFacts):
    """What the binary stage read from the built binary: its build info (as ``inspect --json`` writes it)
    and its sha256. Read with :meth:`of`; None when the stage read nothing (its gate stopped it)."""

    sha256: str
    buildinfo: Mapping[str, Any] = field(default_factory=dict)

    @property
    def go_version(self) -> str:
        return str(self.buildinfo.get("go_version") or "")

    @property
    def deps(self) -> dict[str, str]:
        """module path -> the version the binary records."""
        return {str(d.get("path")): str(d.get("version")) for d in self.buildinfo.get("deps") or ()
                if isinstance(d, Mapping)}

    def to_json(self) -> dict[str, Any]:
        return {"buildinfo": dict(self.buildinfo), "sha256": self.sha256}

    @classmethod
    def from_json(cls, facts: Mapping[str, Any]) -> "BinaryFacts | None":
        if "buildinfo" not in facts:
            return None
        info = facts["buildinfo"]
        if not isinstance(info, Mapping):
            raise TypeError("buildinfo is not an object")
        return cls(str(facts.get("sha256") or ""), info)

def run(ctx: StageContext) -> StageResult:
    gate = ctx.gate("build", "modules")
    if gate:
        return StageResult(STAGE, (gate,))
    cfg = ctx.cfg
    built = ctx.built()
    modules = ModulesFacts.of(ctx.upstream("modules"))
    assert modules is not None and modules.clean is not None  # the gate saw a clean download
    path = built.binary
    checks: list[CheckResult] = []

    digest = sha256_file(path)
    if digest != built.sha256:
        checks.append(failed("artifact integrity", f"{path.name} changed after the build: sha256 {digest[:16]}… "
                             f"is not the built {built.sha256[:16]}…", evidence={"sha256": digest}))
        return StageResult(STAGE, tuple(checks))
    checks.append(passed("artifact integrity", f"{path.name} is the binary the build stage produced (sha256 {digest[:16]}…)",
                         evidence={"sha256": digest}))

    t0 = time.monotonic()
    info = read_buildinfo(path)
    checks.append(check_go_version(info, cfg.toolchain.go, time.monotonic() - t0))
    checks.append(check_main(info, modules.main_module))
    checks.append(check_deps(info, [m.to_json() for m in modules.build_list]))
    checks.append(check_settings(info, cfg.build.flags))
    checks.append(check_vcs(info, ctx.vcs_root))
    if cfg.artifact is not None:
        checks.extend(compare_artifact(cfg.artifact, info, digest, ctx.vcs_root, security_rank(cfg, ctx.progress.say)))
    return StageResult(STAGE, tuple(checks), BinaryFacts(digest, info.to_json()).to_json())


def check_go_version(info: BuildInfo, pin: str, dur: float = 0.0) -> CheckResult:
    name = "embedded Go version"
    if info.go_version == f"go{pin}":
        return passed(name, f"{Path(info.file).name} was built by {info.go_version}, the pinned version",
                      evidence={"go_version": info.go_version}, duration_s=dur)
    return failed(name, f"{Path(info.file).name} was built by {info.go_version}, not the pinned go{pin}",
                  evidence={"go_version": info.go_version, "pin": f"go{pin}"}, duration_s=dur)


def check_main(info: BuildInfo, main_module: str) -> CheckResult:
    name = "main module"
    got = info.main.path if info.main else ""
    if got and got == main_module:
        return passed(name, f"main module {got} {info.main.version}, package {info.path}",
                      evidence={"path": info.path, "main": info.main.to_json()})
    return failed(name, f"the binary's main module is {got or 'missing'}, expected {main_module}",
                  evidence={"path": info.path})


def _dep_key(d: dict) -> tuple[str, str, str, str, str, str]:
    r = d.get("replace") or {}
    return (d["path"], d["version"], d.get("sum", ""), r.get("path", ""), r.get("version", ""), r.get("sum", ""))


def _dep_sum(d: dict) -> str:
    return d.get("sum") or (d.get("replace") or {}).get("sum", "")


def dep_differences(a: dict[str, dict], b: dict[str, dict], a_name: str, b_name: str,
                    rank: Callable[[str], int] = lambda _p: 0) -> list[str]:
    """Dependencies (path -> {path, version, sum, replace}) that differ between two sides, one line
    each, the most security-relevant first (lowest ``rank``), then by path."""
    out = []
    for path in sorted(set(a) | set(b), key=lambda p: (rank(p), p)):
        x, y = a.get(path), b.get(path)
        if y is None:
            out.append(f"{path} {x['version']} is in the {a_name} but not in the {b_name}")
        elif x is None:
            out.append(f"{path} {y['version']} is in the {b_name} but not in the {a_name}")
        elif _dep_key(x) != _dep_key(y):
            out.append(f"{path}: {a_name} has {x['version']} {_dep_sum(x)}, {b_name} has {y['version']} {_dep_sum(y)}")
    return out


def check_deps(info: BuildInfo, build_list: list[dict]) -> CheckResult:
    """Every dependency in the binary equals the clean build list: path, version, h1 sum, replacement."""
    name = "dependencies match the clean build list"
    want = {d["path"]: d for d in build_list}
    have = {d.path: d.to_json() for d in info.deps}
    problems = dep_differences(have, want, "binary", "clean build list")
    if problems:
        return failed(name, first_of(problems), details="\n".join(problems), evidence={"binary": have, "build_list": want})
    if not have:
        return passed(name, "the binary links no module besides the main module, as the clean build list says",
                      evidence={"deps": 0})
    return passed(name, f"all {len(have)} dependencies match in version and h1 sum: "
                  + ", ".join(f"{p}@{d['version']}" for p, d in sorted(have.items())),
                  evidence={"deps": have})


def check_settings(info: BuildInfo, flags: tuple[str, ...]) -> CheckResult:
    name = "build settings"
    settings = dict(info.settings)
    missing = [f for f in flags if f in ("-trimpath", "-race") and settings.get(f) != "true"]
    if missing:
        return failed(name, f"the config asks for {' '.join(missing)} but the binary's build settings lack it",
                      evidence=settings)
    summary = ", ".join(f"{k}={settings[k]}" for k in ("-trimpath", "CGO_ENABLED", "GOOS", "GOARCH") if k in settings)
    return passed(name, f"recorded {len(settings)} build settings ({summary})", evidence=settings)


def check_vcs(info: BuildInfo, root: Path) -> CheckResult:
    name = "VCS revision"
    rev = info.setting("vcs.revision")
    if not rev:
        return skipped(name, "the binary carries no VCS stamp (no repository in the build context, or -buildvcs=false)")
    try:
        head = call(["git", "-C", str(root), "rev-parse", "HEAD"], timeout=30).stdout.strip()
    except ToolError as e:
        return skipped(name, f"cannot read the source revision to compare: {e}")
    modified = info.setting("vcs.modified") or "unknown"
    ev = {"vcs.revision": rev, "source HEAD": head, "vcs.modified": modified}
    if rev != head:
        return failed(name, f"the binary says vcs.revision {rev[:12]} but the source HEAD is {head[:12]}", evidence=ev)
    note = "; the working tree had uncommitted changes (vcs.modified=true)" if modified == "true" else ""
    return passed(name, f"vcs.revision {rev[:12]} is the source HEAD{note}", evidence=ev, warning=modified == "true")


def security_rank(cfg, say: Callable[[str], None]) -> Callable[[str], int]:
    """Module path -> 0 when a listed advisory names it, 1 when any advisory does, else 2."""
    from fixproof.stages.advisories import load_listed
    from fixproof.vulndb import VulnDB

    with VulnDB(cfg.vulndb_url, notify=say) as db:
        listed = load_listed(cfg, say, db) if cfg.fix.advisories else None
        named = {a.module for e in listed.entries.values() for a in e.affected} if listed else set()
        db.open()
        return lambda p: 0 if p in named else 1 if db.ids_for_module(p) else 2


def compare_artifact(shipped_path: Path, clean: BuildInfo, clean_sha: str, root: Path,
                     rank: Callable[[str], int] = lambda _p: 0) -> list[CheckResult]:
    """The shipped binary against the clean rebuild, first differences named.

    Go version, dependencies and VCS revision must be equal (failure
    otherwise); build settings and bit-for-bit identity are reported, and a
    difference there is a warning.
    """
    from fixproof.errors import BinaryFormatError

    name = Path(shipped_path).name
    try:
        shipped = read_buildinfo(shipped_path)
    except BinaryFormatError as e:
        return [failed("shipped artifact", f"the shipped artifact cannot be read as a Go binary: {e}")]
    out: list[CheckResult] = []
    if shipped.go_version == clean.go_version:
        out.append(passed("shipped artifact: Go version", f"{name} and the clean build were both built with {clean.go_version}"))
    else:
        out.append(failed("shipped artifact: Go version", f"shipped binary built with {shipped.go_version}, clean build {clean.go_version}",
                          evidence={"shipped": shipped.go_version, "clean": clean.go_version}))
    s_deps = {d.path: d.to_json() for d in shipped.deps}
    c_deps = {d.path: d.to_json() for d in clean.deps}
    diffs = dep_differences(s_deps, c_deps, "shipped binary", "clean build", rank)
    if diffs:
        out.append(failed("shipped artifact: dependencies", first_of(diffs), details="\n".join(diffs)))
    else:
        out.append(passed("shipped artifact: dependencies", f"all {len(c_deps)} dependencies equal in version and h1 sum"))
    s_set, c_set = dict(shipped.settings), dict(clean.settings)
    s_rev, c_rev = s_set.get("vcs.revision", ""), c_set.get("vcs.revision", "")
    if s_rev and c_rev and s_rev != c_rev:
        out.append(failed("shipped artifact: VCS revision", f"shipped binary is from revision {s_rev[:12]}, the clean build from {c_rev[:12]}"))
    elif s_rev or c_rev:
        mod = s_set.get("vcs.modified", "")
        msg = f"shipped revision {s_rev[:12] or 'unknown'} equals the clean build's" if s_rev == c_rev else \
            f"only one binary carries a VCS stamp (shipped {s_rev[:12] or 'none'}, clean {c_rev[:12] or 'none'})"
        dirty = "; the shipped binary was built from a modified tree (vcs.modified=true)" if mod == "true" else ""
        out.append(passed("shipped artifact: VCS revision", msg + dirty, warning=bool(dirty) or s_rev != c_rev))
    else:
        out.append(skipped("shipped artifact: VCS revision", "neither binary carries a VCS stamp"))
    ignore = {"vcs.revision", "vcs.time", "vcs.modified", "vcs"}
    sdiff = [f"{k}: shipped {s_set.get(k, '(unset)')!r}, clean {c_set.get(k, '(unset)')!r}"
             for k in sorted((set(s_set) | set(c_set)) - ignore) if s_set.get(k) != c_set.get(k)]
    if sdiff:
        out.append(passed("shipped artifact: build settings", "build settings differ: " + "; ".join(sdiff[:3]), warning=True,
                          details="\n".join(sdiff)))
    else:
        out.append(passed("shipped artifact: build settings", f"all {len(c_set)} build settings equal"))
    s_sha = sha256_file(Path(shipped_path))
    if s_sha == clean_sha:
        out.append(passed("shipped artifact: sha256", f"{name} is bit-for-bit the clean rebuild (sha256 {s_sha[:16]}…)"))
    else:
        out.append(passed("shipped artifact: sha256", f"{name} is not bit-for-bit the clean rebuild "
                          f"(sha256 {s_sha[:16]}… vs {clean_sha[:16]}…)", warning=True,
                          evidence={"shipped": s_sha, "clean": clean_sha}))
    return out


def inputs(cfg: Config) -> Inputs:
    return Inputs(file_dep=(str(cfg.artifact),) if cfg.artifact else (),
                  config={"artifact": str(cfg.artifact or "")}, uptodate=(binary_unchanged(cfg),))


SPEC = StageSpec(
    name=STAGE, order=500, run=run, needs=("build", "modules"), config=("toolchain",), inputs=inputs,
    doc="Read the built binary: embedded Go version, modules and sums vs the clean build list (and vs --artifact).",
    facts=BinaryFacts,
)
