"""The run's evidence bundle: what the stages left, with the inputs and the environment.

Written by the doit verify task after the report (so `doit verify` and
`fixproof verify` leave the same bundle), to ``--evidence DIR`` or
``<reports>/evidence``; a fleet gets one per app. The bundle format is
fixproof.publish.evidence_layout's, written by fixproof.publish.evidence_writer.

What the environment was comes from the stage results where a stage recorded
it (the Go version and the images from the toolchain stage, gdb and bpftrace
from the gdb and trace stages); only what no stage records is asked here, each
with a timeout: the git state of the app's work tree and the Docker Engine's
version. When one of those cannot be had, the bundle records "unknown" with
the reason and the run says so.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

from fixproof import progress
from fixproof.hashing import sha256_file

UNKNOWN = "unknown"  # a version or state fixproof could not find out (the bundle says why)
GIT_TIMEOUT_S = 30
GIT_STATUS_TIMEOUT_S = 120
ENGINE_TIMEOUT_S = 30


def bundle_dir(cfg, evidence: str | Path | None, apps: int) -> Path:
    """--evidence DIR (one subdirectory per app of a fleet, or of a shard of one), else <reports>/evidence.
    ``apps``: how many apps the run has (kept for callers; a fleet's app is known by ``cfg.grouped``)."""
    if evidence is None:
        return cfg.reports_dir / "evidence"
    return Path(evidence) / cfg.app_name if cfg.grouped else Path(evidence)


# What fixproof runs on (pyproject.toml); versions of these go into the evidence.
_DEPENDENCIES = ("doit", "docker", "pygdbmi", "pyelftools", "junit-xml", "requests", "rich", "cryptography")


def write(cfg, dest: Path, summary: dict) -> None:
    """Write this run's evidence bundle to ``dest`` and print its evidence digest."""
    import platform

    from fixproof import __version__, registry
    from fixproof.publish.evidence_writer import write_bundle
    from fixproof.results import StageResult
    from fixproof.signing import load_private_key
    from fixproof.stages.build import BuildFacts
    from fixproof.stages.common import StageContext, app_files
    from fixproof.stages.modules import ModulesFacts
    from fixproof.stages.toolchain import ToolchainFacts

    say = progress.Progress("evidence")
    ran = list(summary.get("stages") or {})  # this run's stages: older results of others are not its evidence
    results: dict[str, StageResult] = {}
    for s in ran:
        try:
            results[s] = StageResult.read(cfg.stages_dir / f"{s}.json")
        except (OSError, ValueError, KeyError):
            pass  # the report stage already turned an unreadable result into an error check
    inputs = {"config/" + cfg.path.name: cfg.path, "app/" + cfg.gomod_path.name: cfg.gomod_path}
    if cfg.gosum_path.exists():
        inputs["app/" + cfg.gosum_path.name] = cfg.gosum_path
    reports = [cfg.stages_dir / f"{s}.json" for s in ran] + [Path(summary["junit"]), cfg.reports_dir / "summary.json"]
    logs: dict[str, Path] = {}
    for s in ran:  # what each stage leaves besides its result (gdb transcripts, probe output...), as its spec says
        if s not in registry.names():
            continue
        spec = registry.spec(s)
        reports += spec.reports(cfg)
        logs.update(spec.logs(cfg))
    reports += [cfg.reports_dir / "fixproof.openvex.json", cfg.reports_dir / "fixproof.sarif"]
    reports += [cfg.reports_dir / "index.html"]
    images: dict = {}
    toolchain = ToolchainFacts.of(results.get("toolchain"))
    if toolchain is not None:
        image = toolchain.image
        images[image.ref] = {"id": image.id, "obtained": image.source, "repo_digests": ",".join(image.repo_digests),
                             **{k: str(v) for k, v in image.labels.items()}}
    facts = {s: r.facts for s, r in results.items()}  # the gdb and trace stages' facts are not typed yet
    for s in ran:  # the probe image of the stages that ran one (gdb, trace)
        probe = facts.get(s, {}).get("probe_image")
        if probe:
            images[probe["ref"]] = {"id": probe["id"], "obtained": probe["obtained"],
                                    "repo_digests": ",".join(probe.get("repo_digests") or ()),
                                    **{k: str(v) for k, v in probe.get("labels", {}).items()}}
    binary: dict = {"path": None, "sha256": None, "note": "the build stage did not run or built nothing"}
    built = BuildFacts.of(results.get("build"))
    if built is not None and built.binary.is_file():
        inputs["bin/" + built.binary.name] = built.binary
        binary = {"path": "inputs/bin/" + built.binary.name, "sha256": built.sha256}
    tree, listing = source_tree(cfg.app_dir, app_files(cfg))
    source = {
        "tree_sha256": tree,
        "how": "sha256 of the lines \"<sha256>  <path>\\n\" of every file of the app (paths relative to "
               "the module root, sorted, hidden files and the reports directory left out): the listing below",
        "files": {rel: sha for sha, rel in (line.split("  ", 1) for line in listing.splitlines())},
        "git": _git_state(cfg.app_dir, say),
    }
    go = toolchain.go if toolchain is not None else None
    environment = {
        "docker_engine": _engine_version(say),
        "go": {"version": go.version if go else "not recorded", "goos": go.goos if go else "",
               "goarch": go.goarch if go else "", "pin": toolchain.pin if toolchain is not None else ""},
        "probe_tools": _probe_tools(facts),
        "binary": binary,
        "stages": ran,
    }
    tools = {"fixproof": __version__, "python": platform.python_version(),
             **{name: _dist_version(name) for name in _dependencies()}}
    key = load_private_key(cfg.signing_key_path) if cfg.signing_key_path else None
    roots: dict[str, Path | str] = {
        "$REPORTS": cfg.reports_dir, "$RUN_REPORTS": cfg.run_reports_dir,
        "$APP": cfg.app_dir, "$CONFIG_DIR": cfg.base_dir, "$SRC": StageContext(cfg, "report").vcs_root}
    modules = ModulesFacts.of(results.get("modules"))
    if modules is not None:  # named after the report directory: like the directories, this run's own
        roots["$MODCACHE_VOLUME"] = modules.volume
    written = write_bundle(dest, inputs=inputs, reports=[r for r in reports if r.exists()], tools=tools,
                           images=images, logs=logs, documents={"source.json": source}, environment=environment,
                           roots=roots, signing_key=key, reports_root=cfg.reports_dir)
    signed = f", signed by {written.signer}" if written.signer else ""
    say.say(f"bundle written to {dest}{signed}; evidence digest sha256:{written.evidence_digest} "
            f"(check it with `fixproof evidence verify {dest}`)")


def source_tree(root: Path, files: Iterable[str | Path]) -> tuple[str, str]:
    """(digest, listing) of a source tree: the listing is "<sha256>  <relative path>\\n" per file sorted
    by path (what ``sha256sum`` prints, so ``sha256sum -c`` in ``root`` checks it); the digest is its sha256."""
    root = Path(root)
    rels = sorted(Path(f).resolve().relative_to(root.resolve()).as_posix() for f in files)
    listing = "".join(f"{sha256_file(root / rel)}  {rel}\n" for rel in rels)
    return hashlib.sha256(listing.encode("utf-8")).hexdigest(), listing


def _git_state(app_dir: Path, say: progress.Progress) -> dict:
    """HEAD and the dirty flag of the work tree holding the app (what go stamps as vcs.revision/modified).

    No stage records them, so git is asked here (with a timeout). Outside a git work tree both are None;
    when git cannot tell (missing, too slow, failing) they are "unknown", with the reason, and the run
    says so."""
    from fixproof.engine.proc import call
    from fixproof.errors import ToolError

    def unknown(why: str, head: str = UNKNOWN) -> dict:
        say.say(f"warning: the app's git state is unknown and recorded as such in the bundle: {why}")
        return {"head": head, "dirty": UNKNOWN, "note": why}

    try:
        head = call(["git", "-C", str(app_dir), "rev-parse", "HEAD"], timeout=GIT_TIMEOUT_S, check=False)
    except ToolError as e:
        return unknown(str(e))
    if head.returncode != 0:
        return {"head": None, "dirty": None, "note": "not in a git work tree (or no commit yet)"}
    try:
        status = call(["git", "-C", str(app_dir), "status", "--porcelain"], timeout=GIT_STATUS_TIMEOUT_S,
                      check=False)
    except ToolError as e:
        return unknown(str(e), head.stdout.strip())
    if status.returncode != 0:
        tail = (status.stderr or status.stdout).strip().splitlines()[-1:] or ["no output"]
        return unknown(f"`git status` failed with exit code {status.returncode}: {tail[0]}", head.stdout.strip())
    return {"head": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def _engine_version(say: progress.Progress) -> dict:
    """The Docker Engine's own version record (the SDK's client.version()), or "unknown" and why.

    No stage records it, so the engine is asked here (with a timeout); when it does not answer, the
    bundle records ``Version: unknown`` with the reason and the run says so."""
    from fixproof.engine.docker import connect
    from fixproof.errors import EngineError

    def unknown(why: str) -> dict:
        say.say(f"warning: the Docker Engine's version is unknown and recorded as such in the bundle: {why}")
        return {"Version": UNKNOWN, "error": why}

    try:
        client = connect(timeout=ENGINE_TIMEOUT_S)
    except EngineError as e:
        return unknown(str(e))
    import requests  # the SDK's, once a client exists
    from docker.errors import DockerException

    try:
        v = client.version()
    except (DockerException, requests.RequestException) as e:
        return unknown(f"the Docker Engine did not say its version: {e}")
    finally:
        client.close()
    keep = ("Version", "ApiVersion", "MinAPIVersion", "GitCommit", "GoVersion", "Os", "Arch", "KernelVersion")
    out = {k: str(v[k]) for k in keep if k in v}
    if isinstance(v.get("Platform"), dict) and v["Platform"].get("Name"):
        out["Platform"] = str(v["Platform"]["Name"])
    return out


def _probe_tools(facts: dict) -> dict:
    """gdb and bpftrace versions in the probe image, where the gdb and trace stages recorded them."""
    out = {}
    for tool, stage in (("gdb", "gdb"), ("bpftrace", "trace")):
        if stage not in facts:
            out[tool] = f"not recorded (the {stage} stage did not run)"
            continue
        f = facts[stage]
        version = f.get(f"{tool}_version") or (f.get("probe_image") or {}).get(f"{tool}_version")
        out[tool] = str(version) if version else f"not recorded (no {stage} check of this run started {tool})"
    return out


def _dependencies() -> list[str]:
    """fixproof's Python dependencies: its installed metadata, and the known list."""
    import re
    from importlib import metadata

    try:
        reqs = metadata.requires("fixproof") or []
    except metadata.PackageNotFoundError:
        reqs = []
    names = {m.group(0).lower() for r in reqs if "extra ==" not in r
             for m in [re.match(r"[A-Za-z0-9][A-Za-z0-9_.-]*", r)] if m}
    return sorted(names | set(_DEPENDENCIES))


def _dist_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"
