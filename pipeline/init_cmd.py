"""``fixproof init [DIR] [--force] [--no-scan]``: write a commented fixproof.toml for the Go module in DIR.

What it finds, and how (nothing runs on the host's Go):

- the exact Go release, from go.mod's ``go``/``toolchain`` lines
  (fixproof.goinfo.gopin; the module proxy's release list says which
  releases exist), and its image ``golang:<release>-bookworm``, pulled or
  built as for ``verify``;
- the main packages: ``go list -e -find ./...`` in that image, network off,
  the module mounted read-only as in every stage;
- build flags, ldflags, tags and env from the app's own .goreleaser.yml/.yaml
  when there is one (fixproof.goinfo.goreleaser; templates left out, said so);
- ``[fix] advisories``: the reachable (symbol-level) advisories of a first
  build, made by the pipeline's own toolchain, modules, build and vulns
  stages on a draft of the config, in a scratch directory removed afterwards
  (``--no-scan`` skips it).

The file is loaded back with fixproof.config.load before it is put in place.

Exit codes (the CLI contract): 0 the config was written; 1 it was written,
but the first build did not pass, so no advisory could be proposed (the
reason is on stderr and in the file); 2 usage or configuration: DIR is no
Go module, fixproof.toml exists (without --force), go.mod names no Go
release the proxy has, the module has no main package or the go command
cannot list it; 3 infrastructure: no Docker Engine, the image can be neither
pulled nor built, a container past its timeout, the vulnerability database
unreachable. With 2 and 3 nothing is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence, TextIO

from fixproof import progress
from fixproof.errors import EXIT_FAILED, EXIT_OK, ConfigError, FixproofError, ReleaseConfigError, ToolError, UsageError
from fixproof.init_toml import Advisory, BuildPlan, Note, Plan, Scan, render
from fixproof.progress import Reporter, Verbosity

if TYPE_CHECKING:  # pragma: no cover
    from fixproof.config import Config
    from fixproof.goinfo.goreleaser import ReleaseBuild
    from fixproof.stages.common import StageContext

CONFIG_NAME = "fixproof.toml"
IMAGE_TIMEOUT = 1800  # seconds: pulling or building the golang image ([timeouts] image's default)
LIST_TIMEOUT = 300  # seconds: go list ./... (network off)
SCRATCH_PREFIX = ".fixproof-init-"
# Directory names that mark a main package as an aid rather than the app (examples, tools, tests).
_AUX_DIRS = frozenset({"example", "examples", "_examples", "demo", "demos", "test", "tests", "testing", "e2e",
                       "integration", "tools", "tool", "hack", "scripts", "script", "bench", "benchmark",
                       "benchmarks", "contrib", "misc", "docs", "doc", "gen", "generate", "generator", "internal",
                       "dev", "fuzz"})
_LIST_FORMAT = "{{.Name}}\t{{.Dir}}\t{{if .Error}}{{.Error.Err}}{{end}}"


def run(directory: str, *, force: bool = False, scan: bool = True, out: TextIO, err: TextIO,
        verbosity: int = Verbosity.NORMAL, reporter: Reporter | None = None) -> int:
    """Write DIR/fixproof.toml; progress goes to ``reporter`` (default: chosen for this terminal)."""
    with progress.use(reporter or progress.choose(Verbosity(verbosity))):
        return _run(directory, force=force, scan=scan, out=out, err=err)


def _run(directory: str, *, force: bool, scan: bool, out: TextIO, err: TextIO) -> int:
    from fixproof import __version__
    from fixproof.engine import images
    from fixproof.engine.docker import Engine
    from fixproof.goinfo import gopin
    from fixproof.goinfo.gomod import read_gomod

    module_dir = module_root(directory)
    target = module_dir / CONFIG_NAME
    refuse_overwrite(target, force)
    gomod = read_gomod(module_dir / "go.mod")
    progress.Progress("init").say("listing Go releases on the module proxy")
    releases = images.go_releases()
    pin = gopin.pin(gomod.go, gomod.toolchain, releases, gomod="go.mod")
    check_release(pin.version, releases)
    engine = Engine.connect()  # no Docker Engine: exit 3 before anything slow
    builds, build_problem = release_builds(module_dir)
    plan = Plan(module=gomod.module, package=".", go=pin.version, go_why=pin.why, image=pin.image,
                version=__version__)
    try:
        with scratch_dir(module_dir) as scratch:
            first = builds[0] if builds else None
            draft = load_draft(dataclasses.replace(plan, build=build_plan(first, builds, build_problem)),
                               module_dir, scratch)
            image = images.ensure_image(engine, pin.image, timeout=IMAGE_TIMEOUT, progress=progress.Progress("init"))
            mains = main_packages(_context(draft, engine))
            chosen = next((b for b in builds if b.main in mains), first)
            package, others = choose_main(mains, gomod.module, preferred=chosen.main if chosen else "")
            plan = dataclasses.replace(
                plan, package=package, other_packages=others, image_id=image.id,
                found_with=f"go list ./... in {pin.image}", binary=chosen.binary if chosen else "",
                build=build_plan(chosen, builds, build_problem, mains=mains))
            code = EXIT_OK
            if scan:
                result = scan_first_build(plan, module_dir, scratch)
                plan = dataclasses.replace(plan, scan=result)
                code = EXIT_FAILED if result.state == "failed" else EXIT_OK
    finally:
        _reap(engine)  # the scan's volumes, once their owner (the scratch directory) is gone
    write_config(target, render(plan), force)
    _tell(out, err, target, plan, code)
    return code


# -- the module and the file ---------------------------------------------------------------------------------


def module_root(directory: str) -> Path:
    """DIR as a Go module root; UsageError (exit 2) when it is none, naming where the modules are."""
    d = Path(directory)
    if not d.is_dir():
        raise UsageError(f"{directory}: no such directory; give the directory of a Go module (the one with go.mod).")
    d = d.resolve()
    if (d / "go.mod").is_file():
        if not os.access(d, os.W_OK):
            raise UsageError(f"{d} is not writable, so {CONFIG_NAME} cannot be written there.")
        return d
    above = next((p for p in d.parents if (p / "go.mod").is_file()), None)
    below = sorted(p.parent for p in d.glob("*/go.mod")) + sorted(p.parent for p in d.glob("*/*/go.mod"))
    hint = ""
    if below:
        hint = f" Modules below it: {', '.join(str(p.relative_to(d)) for p in below[:5])}; run fixproof init in one."
    elif above is not None:
        hint = f" It is inside the module at {above}: run fixproof init {above}."
    raise UsageError(f"{d} is not a Go module: it has no go.mod.{hint or ' Run fixproof init in the directory of the module that holds the main package.'}")


def refuse_overwrite(target: Path, force: bool) -> None:
    if target.exists() and not force:
        raise UsageError(f"{target} already exists; fixproof init does not overwrite it. Pass --force to replace "
                         "it, or edit it by hand.")


def check_release(version: str, releases: Sequence[str]) -> None:
    """ConfigError (exit 2) when the module proxy lists releases and ``version`` is none of them."""
    from fixproof.engine.images import near_releases
    from fixproof.goinfo.gopin import sort_releases

    if not releases or version in releases:
        return
    known = sort_releases(releases)
    near = near_releases(known, version) or known[-6:]
    raise ConfigError(f"go.mod asks for go{version}, which is not a Go release on the module proxy; fix its go or "
                      f"toolchain line (releases near it: {', '.join(near)}).")


def write_config(target: Path, text: str, force: bool) -> None:
    """Put ``text`` at ``target`` once fixproof.config.load accepts it; never over a file without ``force``."""
    from fixproof.config import load

    tmp = target.with_name(f".{target.name}.init-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        try:
            load(tmp)
        except ConfigError as e:
            raise FixproofError(f"fixproof init made a config that does not load ({e}); this is a bug in fixproof, "
                                "please report it with the module's go.mod and release config.") from e
        if force:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)  # fails if the file appeared meanwhile: never overwritten
            except FileExistsError:
                refuse_overwrite(target, force)
                raise
    except OSError as e:
        raise UsageError(f"cannot write {target}: {e.strerror or e}.") from e
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def scratch_dir(module_dir: Path) -> Iterator[Path]:
    """A hidden scratch directory in the module (which a CI's Docker daemon can mount, like the reports
    directory), removed on the way out; the go command and fixproof's file lists skip hidden directories."""
    path = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=module_dir))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def load_draft(plan: Plan, module_dir: Path, scratch: Path) -> "Config":
    """The plan as a config in ``scratch`` (the module named by path, reports in scratch), loaded."""
    from fixproof.config import load

    draft = scratch / CONFIG_NAME
    draft.write_text(render(dataclasses.replace(plan, dir=str(module_dir), report_dir=str(scratch / "reports"))),
                     encoding="utf-8")
    return load(draft)


def _context(cfg: "Config", engine) -> "StageContext":
    from fixproof.stages.common import StageContext

    return StageContext(cfg, "init", engine_factory=lambda: engine)


def _reap(engine) -> None:
    """Remove the scan's volumes (their owner, the scratch directory, is gone by now). Best effort: the
    toolchain stage of any later run reaps what is left, so a failure here must not hide the outcome."""
    import requests
    from docker.errors import DockerException

    try:
        engine.reap_volumes()
    except (DockerException, requests.RequestException, OSError) as e:
        progress.Progress("init").say(f"could not remove the first build's volumes ({e}); a later run removes them")


# -- the release config --------------------------------------------------------------------------------------


def release_builds(module_dir: Path) -> tuple[tuple["ReleaseBuild", ...], str]:
    """The app's GoReleaser builds of this module, and a problem to mention ("" when none)."""
    from fixproof.goinfo import goreleaser

    root = next((p for p in (module_dir, *module_dir.parents) if (p / ".git").exists()), module_dir)
    path = goreleaser.find(module_dir, root)
    if path is None:
        return (), ""
    try:
        builds = goreleaser.read(path, module_dir)
    except ReleaseConfigError as e:
        return (), f"{e}; it was not used"
    if not builds:
        return (), f"{path.name} has no Go build of this module (builds[].dir); it was not used"
    return builds, ""


def build_plan(chosen: "ReleaseBuild | None", builds: Sequence["ReleaseBuild"], problem: str = "",
               mains: Sequence[str] = ()) -> BuildPlan:
    """[build] from the chosen GoReleaser build, or go build's defaults plus -trimpath."""
    if chosen is None:
        lead = (f"The release config: {problem}." if problem else
                "No .goreleaser.yml/.yaml for this module, so go build's defaults plus -trimpath.")
        return BuildPlan(notes=(Note(lead + " Set what your release build uses: flags, ldflags, tags, env."),))
    notes = [Note(f"From {chosen.label}: the flags, ldflags, tags and env the release build uses.")]
    if chosen.default_ldflags:
        notes.append(Note("It sets no ldflags, so GoReleaser's default applies: -s -w, no symbol table ([[gdb]] "
                          "checks and some [[trace]] probes need it: drop -s -w to add them)."))
    if chosen.dropped:
        notes.append(Note("Left out: GoReleaser templates, which have a value only inside a GoReleaser run (the "
                          "rebuilt binary's build settings differ from a shipped one's in these):",
                          tuple(d.describe() for d in chosen.dropped)))
    if chosen.left_out_env:
        notes.append(Note(f"Not taken from its env: {', '.join(chosen.left_out_env)} (fixproof sets these itself "
                          "for a verified build; module settings go in [modules])."))
    if chosen.overrides:
        notes.append(Note("Its per-target overrides are not applied: fixproof builds for the Docker Engine's "
                          "platform."))
    if mains and chosen.main and chosen.main not in mains:
        notes.append(Note(f"Its main {chosen.main} is no main package here; [app] packages names another."))
    others = [b for b in builds if b is not chosen]
    if others:
        notes.append(Note("Other builds in the file:", tuple(
            f"builds[{b.index}]" + (f" (id \"{b.id}\")" if b.id else "") + (f": {b.main}" if b.main else "")
            for b in others)))
    return BuildPlan(flags=chosen.flags, ldflags=chosen.ldflags, tags=chosen.tags, env=dict(chosen.env),
                     notes=tuple(notes))


# -- the main packages ---------------------------------------------------------------------------------------


def main_packages(ctx: "StageContext") -> tuple[str, ...]:
    """The module's main packages ("./cmd/app", "."), by ``go list -e -find ./...`` in the pinned image,
    network off (no dependency is needed to learn a package's name). ConfigError (exit 2) when the go
    command cannot list the module or it has no main package."""
    from fixproof.stages.build import infrastructure_failure

    cfg = ctx.cfg
    args = ["go", "list", "-e", "-find", "-f", _LIST_FORMAT]
    if cfg.build.tags:
        args += ["-tags", ",".join(cfg.build.tags)]
    args.append("./...")
    # no module cache is mounted: the go command would only note that it cannot download (GOPROXY=off)
    env = {**ctx.offline_env(), "GOFLAGS": "", "GOMODCACHE": "/tmp/gomodcache", **cfg.build.env}
    mounts = ctx.source_mounts()
    ctx.progress.say(f"go list ./... in {cfg.toolchain.image} (network off)")
    res = ctx.engine.run(cfg.toolchain.image, args, env=env, mounts=mounts, profile=ctx.go_profile(mounts),
                         workdir=ctx.workdir, network=False, timeout=LIST_TIMEOUT, progress=ctx.progress,
                         what="go list ./...")
    output = res.stderr + res.stdout
    if res.exit_code != 0:
        infra = infrastructure_failure(output)
        if infra:
            raise ToolError(f"go list ./... in {cfg.toolchain.image} could not run to the end: {infra}; free the "
                            "resource and retry.")
        raise ConfigError(f"go list ./... in {cfg.toolchain.image} failed: "
                          f"{_reason(res.stderr, f'exit code {res.exit_code}')}; fix the module (go.mod, go.work) "
                          "so the go command can list its packages.")
    mains, listed = parse_list(res.stdout, ctx.workdir)
    if not mains:
        raise ConfigError(f"no main package in {cfg.app_dir} (go list ./... in {cfg.toolchain.image} found "
                          f"{listed} package(s), none of them a program): fixproof verifies a program, so run fixproof "
                          "init in the module that holds its package main.")
    return mains


def _reason(text: str, default: str) -> str:
    """The decisive line of a go command's output, with the line after it when it only announces it
    ("go: errors parsing go.mod:")."""
    from fixproof.stages.common import decisive_line

    line = decisive_line(text, default)
    if line.endswith(":"):
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if line in lines and lines.index(line) + 1 < len(lines):
            line = f"{line} {lines[lines.index(line) + 1]}"
    return line


def parse_list(stdout: str, workdir: str) -> tuple[tuple[str, ...], int]:
    """The main packages in go list output (``name<TAB>dir<TAB>error`` lines) as paths relative to
    ``workdir``, and how many packages were listed."""
    mains: list[str] = []
    listed = 0
    for line in stdout.splitlines():
        parts = line.split("\t")
        if len(parts) < 2 or not parts[1]:
            continue
        listed += 1
        name, pkg_dir = parts[0], parts[1]
        if name != "main":
            continue
        rel = os.path.relpath(pkg_dir, workdir).replace(os.sep, "/")
        if rel.startswith(".."):
            continue
        mains.append("." if rel == "." else "./" + rel)
    return tuple(dict.fromkeys(mains)), listed


def choose_main(mains: Sequence[str], module: str, preferred: str = "") -> tuple[str, tuple[str, ...]]:
    """The main package to verify and the others: the release config's, else the module root, else
    ./cmd/<module name>, else another ./cmd/ package, else the shallowest; examples, tools and tests last."""
    parts = module.rstrip("/").split("/")
    if len(parts) > 1 and parts[-1].startswith("v") and parts[-1][1:].isdigit():
        parts = parts[:-1]  # github.com/o/app/v2 -> app
    name = parts[-1]

    def rank(p: str) -> tuple:
        elems = [] if p == "." else p.removeprefix("./").split("/")
        aux = any(e.lower() in _AUX_DIRS for e in elems)
        kind = (0 if p == "." else 1 if elems == ["cmd", name] else 2 if elems == [name]
                else 3 if elems[:1] == ["cmd"] else 4)
        return (aux, kind, len(elems), p)

    ordered = sorted(dict.fromkeys(mains), key=rank)
    first = preferred if preferred in ordered else ordered[0]
    return first, tuple(p for p in ordered if p != first)


# -- the first build -----------------------------------------------------------------------------------------


def scan_first_build(plan: Plan, module_dir: Path, scratch: Path) -> Scan:
    """The reachable advisories of a first build, by the pipeline's own stages (toolchain, modules,
    build, vulns) on a draft of the config. A stage that fails gives a "failed" scan saying why; one
    that could not run (engine, network, database) raises with its exit code."""
    from fixproof import registry, tasks
    from fixproof.progress import Outcome
    from fixproof.results import StageResult, Status

    cfg = load_draft(plan, module_dir, scratch)
    stages = registry.closure(["vulns"])
    reporter = progress.current()
    reporter.plan(stages)
    result: StageResult | None = None
    for name in stages:
        reporter.started(name)
        tasks.run_stage(name, cfg)
        result = StageResult.read(cfg.stages_dir / f"{name}.json")
        reporter.finished(name, Outcome.from_statuses(c.status for c in result.checks))
        bad = next((c for c in result.checks if c.status is Status.ERROR), None)
        if bad is not None:
            code = bad.evidence.get("exit_code")
            what = f"the first build could not run: {name}: {bad.message}"
            hint = "; fix that, or pass --no-scan to write the config without proposing advisories."
            if code == 2:
                raise ConfigError(what + hint)
            raise ToolError(what + hint)
        if name != "vulns" and not result.usable_downstream:
            bad = next((c for c in result.checks if c.status is Status.FAILED and c.blocks),
                       next((c for c in result.checks if c.status is not Status.PASSED), None))
            why = f"{name}: {bad.name}: {bad.message}" if bad else f"{name} did not pass"
            return Scan("failed", why)
    assert result is not None and result.stage == "vulns"
    from fixproof.stages.vulns import VulnsFacts

    facts = VulnsFacts.of(result)
    findings = [f.to_json() for f in facts.findings] if facts else []
    reachable: dict[str, Advisory] = {}
    for f in findings:
        if f.get("level") == "symbol" and f["id"] not in reachable:
            reachable[f["id"]] = Advisory.from_finding(f)
    others = {f["id"] for f in findings} - set(reachable)
    detail = f"{plan.package} built with go{plan.go}"
    return Scan("found" if reachable else "clean", detail, tuple(reachable[k] for k in sorted(reachable)),
                unreachable=len(others), db=cfg.vulndb_url)


def _tell(out: TextIO, err: TextIO, target: Path, plan: Plan, code: int) -> None:
    s = plan.scan
    found = {"found": f"{len(s.advisories)} reachable advisor{'y' if len(s.advisories) == 1 else 'ies'} "
                      "proposed in [fix]",
             "clean": "no reachable advisory in a first build ([fix] left for you to fill in)",
             "skipped": "not scanned (--no-scan): name the advisories in [fix]",
             "failed": "no advisory proposed: the first build did not pass"}[s.state]
    out.write(f"wrote {target}: {plan.package}, go{plan.go} ({plan.image}); {found}\n")
    where = "" if Path.cwd().resolve() == target.parent else f" -c {target}"
    out.write(f"next: review it, then run: fixproof verify{where}\n")
    if code == EXIT_FAILED:
        err.write(f"fixproof: the first build did not pass ({s.detail}); {target.name} was written without "
                  "advisories, and fixproof verify will report the same failure.\n")
