"""Stage modules: a clean download into an empty cache, every hash against go.sum.

The download runs with a scratch copy of go.mod and *no* go.sum, so the go
command checks every module it fetches against the checksum database; the
hashes it records are then compared with the committed go.sum line by line.
``go mod verify`` runs on the committed files as an independent second check.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from fixproof.config import Config
from fixproof.goinfo.gomod import SumLine, parse_gosum, read_gomod, read_gosum
from fixproof.results import CheckResult, StageFacts, StageResult, failed, passed
from fixproof.stages.advisories import load_listed, module_checks
from fixproof.stages.common import (MODCACHE, StageContext, decisive_line, first_of, iter_json_objects,
                                     missing_package_error, missing_package_line)
from fixproof.engine.docker import Mount
from fixproof.stages.spec import Inputs, StageSpec

STAGE = "modules"
SPLIT = "@@fixproof-split@@"
CA_PATH = "/etc/fixproof/ca-certificates.crt"
DEPS_FORMAT = "{{with .Module}}{{.Path}}\t{{.Version}}{{with .Replace}}\t{{.Path}}\t{{.Version}}{{end}}{{end}}"


@dataclass(frozen=True)
class Replacement:
    """What replaces a module of the build list: another module version, or a directory (no version)."""

    path: str
    version: str
    sum: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "version": self.version, "sum": self.sum}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Replacement":
        return cls(str(data["path"]), str(data.get("version") or ""), str(data.get("sum") or ""))


@dataclass(frozen=True)
class BuildListModule:
    """A module that provides packages to the build target, with its verified h1 sum ("" when replaced)."""

    path: str
    version: str
    sum: str
    replace: Replacement | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "version": self.version, "sum": self.sum,
                "replace": None if self.replace is None else self.replace.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "BuildListModule":
        r = data.get("replace")
        return cls(str(data["path"]), str(data["version"]), str(data.get("sum") or ""),
                   Replacement.from_json(r) if r else None)


@dataclass(frozen=True)
class DownloadedModule:
    """A module of the clean download, with the hashes go checked against the checksum database."""

    path: str
    version: str
    sum: str
    gomod_sum: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "version": self.version, "sum": self.sum, "gomod_sum": self.gomod_sum}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "DownloadedModule":
        return cls(str(data["path"]), str(data["version"]), str(data.get("sum") or ""),
                   str(data.get("gomod_sum") or ""))


@dataclass(frozen=True)
class CleanDownload:
    """What a clean download established: the main module, the build list and every module fetched."""

    main_module: str
    build_list: tuple[BuildListModule, ...]
    downloaded: tuple[DownloadedModule, ...]


@dataclass(frozen=True)
class ModulesFacts(StageFacts):
    """What the modules stage hands downstream: the fetch settings (``env``), the verified module
    cache volume and, once the clean download succeeded, what it established (``clean``).

    Read with :meth:`of`; None for a stage stopped before it made the volume.
    """

    env: Mapping[str, str]
    volume: str
    clean: CleanDownload | None = None

    @property
    def main_module(self) -> str:
        return self.clean.main_module if self.clean is not None else ""

    @property
    def build_list(self) -> tuple[BuildListModule, ...]:
        return self.clean.build_list if self.clean is not None else ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"env": dict(self.env), "volume": self.volume}
        if self.clean is not None:
            out.update(main_module=self.clean.main_module, build_list=[b.to_json() for b in self.clean.build_list],
                       downloaded=[d.to_json() for d in self.clean.downloaded])
        return out

    @classmethod
    def from_json(cls, facts: Mapping[str, Any]) -> "ModulesFacts | None":
        if not facts.get("volume"):
            return None
        clean = None
        if "main_module" in facts:
            clean = CleanDownload(str(facts["main_module"]),
                                  tuple(BuildListModule.from_json(b) for b in facts.get("build_list") or ()),
                                  tuple(DownloadedModule.from_json(d) for d in facts.get("downloaded") or ()))
        return cls({str(k): str(v) for k, v in (facts.get("env") or {}).items()}, str(facts["volume"]), clean)


def run(ctx: StageContext) -> StageResult:
    gate = ctx.gate("toolchain")
    if gate:
        return StageResult(STAGE, (gate,))
    cfg = ctx.cfg
    checks: list[CheckResult] = [_env_check(ctx)]
    env_facts = checks[0].evidence

    gomod = read_gomod(cfg.gomod_path)
    committed = read_gosum(cfg.gosum_path)

    vol = ctx.modcache_volume
    ctx.engine.fresh_volume(vol, owner=str(ctx.cfg.reports_dir), chown=ctx.volume_owner())
    checks.append(passed("empty module cache", f"module cache volume {vol} was created empty for this run", evidence={"volume": vol}))

    # 1. Clean download: tidy a scratch go.mod that has no go.sum, so go checks
    #    every hash against the checksum database, then download the modules
    #    the packages need.
    t0 = time.monotonic()
    scratch_flags = " ".join(["-modfile=/tmp/w/go.mod", *cfg.modules.goflags.split()])
    script = (
        f"mkdir -p /tmp/w && cp {shlex.quote(cfg.gomod_path.name)} /tmp/w/go.mod && "
        f"GOFLAGS={shlex.quote(scratch_flags)} go mod tidy && cat /tmp/w/go.sum 2>/dev/null; "
        f"echo {SPLIT} && GOFLAGS={shlex.quote(scratch_flags + ' -mod=readonly')} go mod download -json"
    )
    env = {
        **ctx.offline_env(),
        "GOPROXY": cfg.modules.goproxy,
        "GOSUMDB": cfg.modules.gosumdb,
        "GONOSUMDB": cfg.modules.gonosumdb,
        "GOPRIVATE": cfg.modules.goprivate,
    }
    mounts = [*ctx.source_mounts(), Mount(vol, MODCACHE, volume=True)]
    ca = cfg.ca_bundle_path
    if ca is not None:
        mounts.append(Mount(str(ca), CA_PATH, read_only=True))
        env["SSL_CERT_FILE"] = CA_PATH
    env_facts = {**env_facts, "CA bundle": str(ca) if ca else "the image's own"}
    ctx.progress.say(f"go mod tidy + download into {vol} (GOPROXY={cfg.modules.goproxy})")
    res = ctx.engine.run(cfg.toolchain.image, ["sh", "-c", script], env=env, network=True,
                         mounts=mounts, profile=ctx.go_profile(mounts), workdir=ctx.workdir,
                         timeout=cfg.timeouts.download, progress=ctx.progress, what="go mod download")
    fresh_sum, _, dl_out = res.stdout.partition(SPLIT)
    downloaded, dl_errors = _parse_download(dl_out)
    dur = time.monotonic() - t0
    if res.exit_code != 0 or dl_errors or SPLIT not in res.stdout:
        reasons = dl_errors or [decisive_line(res.stderr + res.stdout, f"exit code {res.exit_code}")]
        checks.append(failed("clean module download", f"go mod download failed: {reasons[0]}",
                             details="\n".join(reasons) + "\n" + res.stderr, duration_s=dur))
        return StageResult(STAGE, tuple(checks), ModulesFacts(env_facts, vol).to_json())
    checks.append(passed("clean module download",
                         f"{len(downloaded)} module(s) downloaded into an empty cache; every hash checked against "
                         f"{cfg.modules.gosumdb or 'the checksum database'}",
                         evidence={"modules": {f"{m['Path']}@{m['Version']}": m.get("Sum", "") for m in downloaded}},
                         duration_s=dur))
    fresh = parse_gosum(fresh_sum, Path("clean go.sum"))
    extra = _extra_lines(committed, fresh)
    known = _checksum_db_sums(ctx, extra, env, mounts) if extra else {}
    checks.append(_gosum_check(ctx, committed, fresh, known))

    # 2. Offline, on the committed files: go mod verify and the build list.
    ro_mounts = [*ctx.source_mounts(), Mount(vol, MODCACHE, read_only=True, volume=True)]
    offline = dict(mounts=ro_mounts, profile=ctx.go_profile(ro_mounts),
                   workdir=ctx.workdir, network=False, timeout=cfg.timeouts.command, progress=ctx.progress)
    env = ctx.offline_env()
    verify = ctx.engine.run(cfg.toolchain.image, ["go", "mod", "verify"], env=env, what="go mod verify", **offline)
    if verify.exit_code == 0 and "all modules verified" in verify.stdout:
        checks.append(passed("go mod verify", "go mod verify: all modules verified", evidence={"output": verify.stdout.strip()}))
    else:
        checks.append(failed("go mod verify", f"go mod verify failed: {decisive_line(verify.stderr + verify.stdout, f'exit code {verify.exit_code}')}",
                             details=verify.stdout + verify.stderr))

    # 3. Modules linked into the build target, with their verified sums.
    pkgs = list(cfg.app.packages)
    deps_res = ctx.engine.run(cfg.toolchain.image, ["go", "list", "-deps", "-f", DEPS_FORMAT, *pkgs],
                              env={**env, "CGO_ENABLED": cfg.build.env.get("CGO_ENABLED", "0")},
                              what="go list -deps", **offline)
    sums = {(m["Path"], m["Version"]): m.get("Sum", "") for m in downloaded}
    build_list = []
    if deps_res.exit_code == 0:
        build_list = _build_list(deps_res.stdout, gomod.module, sums)
        checks.append(passed("build list", f"{len(build_list)} module(s) provide packages to {' '.join(pkgs)}",
                             evidence={"modules": [f"{b['path']}@{b['version']}" for b in build_list]}))
    elif missing_package_line(deps_res.stderr):
        checks.append(missing_package_error("build list", pkgs, missing_package_line(deps_res.stderr),
                                            details=deps_res.stderr, evidence={"exit_code": 2}))
    else:
        checks.append(failed("build list", f"go list -deps {' '.join(pkgs)} failed: {decisive_line(deps_res.stderr, f'exit code {deps_res.exit_code}')}",
                             details=deps_res.stderr))
    if cfg.fix.advisories and deps_res.exit_code == 0:
        checks.extend(module_checks(load_listed(cfg, ctx.progress.say), build_list))
    clean = CleanDownload(gomod.module, tuple(BuildListModule.from_json(b) for b in build_list),
                          tuple(DownloadedModule(m["Path"], m["Version"], m.get("Sum", ""), m.get("GoModSum", ""))
                                for m in downloaded))
    return StageResult(STAGE, tuple(checks), ModulesFacts(env_facts, vol, clean).to_json())


def _env_check(ctx: StageContext) -> CheckResult:
    m = ctx.cfg.modules
    env = {"GOPROXY": m.goproxy, "GOSUMDB": m.gosumdb, "GONOSUMDB": m.gonosumdb, "GOPRIVATE": m.goprivate,
           "GOFLAGS": m.goflags}
    insecure = []
    if m.gosumdb.strip() == "off":
        insecure.append("GOSUMDB=off")
    if "-insecure" in m.goflags.split():
        insecure.append("GOFLAGS=-insecure")
    if not insecure:
        extra = ""
        if m.gonosumdb or m.goprivate:
            extra = f"; modules matching GONOSUMDB/GOPRIVATE ({m.gonosumdb or m.goprivate}) are not checked against the checksum database"
        return passed("module fetch settings", f"GOPROXY={m.goproxy} GOSUMDB={m.gosumdb}{extra}", evidence=env,
                      warning=bool(extra))
    if m.allow_insecure_reason:
        return passed("module fetch settings", f"{' and '.join(insecure)} allowed by config: {m.allow_insecure_reason}",
                      evidence=env, warning=True)
    return failed("module fetch settings", f"{' and '.join(insecure)} turns off module authentication; remove it, "
                  "or set modules.allow_insecure_reason to say why it is acceptable", evidence=env)


def _parse_download(stdout: str) -> tuple[list[dict], list[str]]:
    mods, errors = [], []
    try:
        for obj in iter_json_objects(stdout):
            if obj.get("Error"):
                errors.append(f"{obj.get('Path')}@{obj.get('Version')}: {obj['Error']}")
            else:
                mods.append(obj)
    except json.JSONDecodeError as e:
        errors.append(f"unreadable go mod download output ({e})")
    return mods, errors


def _extra_lines(committed: tuple[SumLine, ...], fresh: tuple[SumLine, ...]) -> list[SumLine]:
    """Committed go.sum lines a clean tidy does not write."""
    want = {(s.path, s.version) for s in fresh}
    return [s for s in committed if (s.path, s.version) not in want]


def _checksum_db_sums(ctx: StageContext, extra: list[SumLine], env: dict, mounts: list) -> dict[tuple[str, str], str]:
    """(path, version) -> the hash the checksum database holds, for the modules of extra go.sum
    lines: `go mod download -json` of each into a scratch cache, which go checks against GOSUMDB.
    Modules it cannot fetch or verify are left out (their lines stay failures)."""
    cfg = ctx.cfg
    wanted = sorted({(s.path, s.version.removesuffix("/go.mod")) for s in extra})
    args = [f"{p}@{v}" for p, v in wanted]
    scratch = {**env, "GOMODCACHE": "/tmp/extra-modcache", "GOFLAGS": "-modcacherw"}
    res = ctx.engine.run(cfg.toolchain.image, ["sh", "-c", 'cd /tmp && exec go mod download -json "$@"', "sh", *args],
                         env=scratch, network=True, mounts=mounts, profile=ctx.go_profile(mounts), workdir=ctx.workdir,
                         timeout=cfg.timeouts.download, progress=ctx.progress, what="go mod download (extra go.sum lines)")
    out: dict[tuple[str, str], str] = {}
    try:
        objs = list(iter_json_objects(res.stdout))
    except ValueError:
        return out
    for m in objs:
        if m.get("Error") or not m.get("Path") or not m.get("Version"):
            continue
        if m.get("Sum"):
            out[(m["Path"], m["Version"])] = m["Sum"]
        if m.get("GoModSum"):
            out[(m["Path"], m["Version"] + "/go.mod")] = m["GoModSum"]
    return out


def _gosum_check(ctx: StageContext, committed: tuple[SumLine, ...], fresh: tuple[SumLine, ...],
                 known: dict[tuple[str, str], str] | None = None) -> CheckResult:
    """The committed go.sum must hold every line a clean, checksum-DB-verified tidy writes, with
    the same hashes. A line the tidy does not need is a warning when the checksum database
    agrees with its hash (real projects carry such lines and go accepts them), a failure when
    it disagrees (only tampering makes that) or when the database could not confirm it."""
    name = ctx.cfg.gosum_path.name
    known = known or {}
    have = {(s.path, s.version): s for s in committed}
    want = {(s.path, s.version): s for s in fresh}
    problems: list[str] = []
    extra_ok: list[str] = []
    for key, line in sorted(want.items()):
        got = have.get(key)
        if got is None:
            problems.append(f"{name} lacks {line.path} {line.version} {line.hash} (run go mod tidy and commit {name})")
        elif got.hash != line.hash:
            problems.append(f"{name}:{got.line} records {got.hash} for {line.path} {line.version}, but a clean download "
                            f"checked against the checksum database gives {line.hash}: {name} was altered or the module changed")
    for key, got in sorted(have.items()):
        if key in want:
            continue
        db = known.get(key)
        if db == got.hash:
            extra_ok.append(f"{name}:{got.line} {got.path} {got.version}")
        elif db:
            problems.append(f"{name}:{got.line} records {got.hash} for {got.path} {got.version}, but the checksum "
                            f"database holds {db}: a line no build needs, with a hash that can only come from tampering")
        else:
            problems.append(f"{name}:{got.line} has a line for {got.path} {got.version}, which a clean go mod tidy does "
                            "not need and the checksum database could not confirm (stale or injected; run go mod tidy)")
    if problems:
        return failed("go.sum lines", first_of(problems),
                      details="\n".join(problems), evidence={"problems": problems, "extra_confirmed": extra_ok})
    if extra_ok:
        return passed("go.sum lines", f"{name} holds every line of a clean, verified go mod tidy, and "
                      f"{len(extra_ok)} more that no build needs, each confirmed by the checksum database "
                      f"(first: {extra_ok[0]}); go mod tidy would drop them",
                      evidence={"lines": len(committed), "extra_confirmed": extra_ok}, warning=True)
    return passed("go.sum lines", f"{name}'s {len(committed)} line(s) equal the go.sum of a clean, verified go mod tidy",
                  evidence={"lines": len(committed)})


def _build_list(text: str, main_module: str, sums: dict[tuple[str, str], str]) -> list[dict]:
    seen: dict[str, dict] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 2 or not parts[0] or parts[0] == main_module:
            continue
        path, version = parts[0], parts[1]
        entry: dict = {"path": path, "version": version, "sum": sums.get((path, version), ""), "replace": None}
        if len(parts) >= 4:
            rpath, rver = parts[2], parts[3]
            entry["replace"] = {"path": rpath, "version": rver, "sum": sums.get((rpath, rver), "") if rver else ""}
            entry["sum"] = ""
        seen[path] = entry
    return [seen[k] for k in sorted(seen)]


def volume_present(cfg: Config) -> Callable[[], bool]:
    """doit uptodate: true only while the verified module cache volume still exists."""
    def check() -> bool:
        from fixproof.errors import FixproofError

        try:
            ctx = StageContext(cfg, STAGE)
            return ctx.engine.volume_exists(ctx.modcache_volume)
        except FixproofError:
            return False
    return check


def inputs(cfg: Config) -> Inputs:
    gomod = [str(cfg.gomod_path)] + ([str(cfg.gosum_path)] if cfg.gosum_path.exists() else [])
    return Inputs(file_dep=tuple(gomod), uptodate=(volume_present(cfg),))


SPEC = StageSpec(
    name=STAGE, order=200, run=run, needs=("toolchain",), config=("modules",), inputs=inputs, facts=ModulesFacts,
    doc="Empty module cache, clean verified download, go.sum line by line, go mod verify.",
)
