"""Shard report directories (``verify --shard K/N``) as one fleet report: ``fixproof merge OUT DIR...``.

Pure file work: every number and verdict comes from the files the shards
wrote, nothing is run. A shard directory holds summary.json (with a
``shard`` section: index, count, apps, fleet_apps, config, config_sha256) and
per app ``apps/<name>/`` (summary.json, stages/*.json, fixproof.sarif,
fixproof.openvex.json, index.html) and an evidence bundle at
``apps/<name>/evidence`` or ``evidence/<name>`` (``--evidence`` inside the
report directory).

OUT gets what an unsharded fleet run writes: junit.xml (suites
``fixproof.<app>.<stage>``, written from the apps' stage results by the same
writer), summary.json and index.html (the fleet page), ``apps/<name>/`` (each
app's reports, without its bundle), one fixproof.sarif (one run per app, each
keeping its ``automationDetails.id`` ``<category>/<app>/``), one
fixproof.openvex.json (every app's statements), and ``evidence/``: the
bundles and their index (fixproof.publish.evidence_index).

Refused (MergeError, exit 2, naming what): a directory that is not a shard
report, shards of different fleet configs or shard counts, a shard index
given twice, an app in two shards or in none, an app whose results are
missing or disagree with its recorded verdict, and a bundle that does not
verify. The fleet verdict is the worst app's, with the exit code an
unsharded run would give (report.exit_code over every app's checks).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from fixproof.errors import EXIT_USAGE, FixproofError
from fixproof.publish.evidence_check import check_bundle
from fixproof.publish.evidence_layout import MANIFEST_JSON
from fixproof.hashing import sha256_file
from fixproof.publish.evidence_index import IndexedBundle, safe_app_name, write_index
from fixproof.publish.junit import write_junit
from fixproof.publish.openvex import combine as combine_openvex
from fixproof.publish.report import HTML_NAME, OPENVEX_NAME, SARIF_NAME, exit_code, headline
from fixproof.results import StageResult, Status

MERGED_MARK = "merge"  # the key of summary.json that says OUT is a merge's (so a rerun may replace it)
_SHOWN = 5  # problems listed per refused bundle


class MergeError(FixproofError):
    """The shard directories cannot be merged into one fleet report."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Shard:
    """One shard's report directory as its summary.json describes it."""

    path: Path
    index: int
    count: int
    apps: tuple[str, ...]
    fleet_apps: tuple[str, ...]
    config: str
    config_sha256: str
    summary: dict


@dataclass(frozen=True)
class AppReport:
    """One app's results as a shard left them."""

    name: str
    shard: Shard
    dir: Path
    results: tuple[StageResult, ...]
    exit_code: int
    seconds: float
    bundle: Path


@dataclass(frozen=True)
class Merged:
    """What :func:`merge` wrote."""

    out: Path
    exit_code: int
    status: str
    summary: dict
    apps: int


def read_shard(d: Path) -> Shard:
    """The shard described by ``d``/summary.json; MergeError if ``d`` is not a shard report."""
    d = Path(d)
    hint = "give the report directory of a `fixproof verify --shard K/N` run"
    if not d.is_dir():
        raise MergeError(f"{d}: not a directory; {hint}.")
    try:
        summary = json.loads((d / "summary.json").read_text(encoding="utf-8"))
        info = summary["shard"]
        shard = Shard(d, int(info["index"]), int(info["count"]), tuple(map(str, info["apps"])),
                      tuple(map(str, info["fleet_apps"])), str(info["config"]), str(info["config_sha256"]), summary)
    except FileNotFoundError:
        raise MergeError(f"{d}: no summary.json, so not a shard report; {hint}.") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise MergeError(f"{d}: summary.json has no readable shard section ({type(e).__name__}: {e}), so it is "
                         f"not a shard report; {hint}.") from None
    if summary.get("run_error"):
        raise MergeError(f"{d}: shard {shard.index}/{shard.count} broke down before its verdict "
                         f"({summary['run_error']}); rerun that shard, then merge.")
    return shard


def check_shards(shards: Sequence[Shard]) -> list[str]:
    """Why these shards are not the parts of one fleet run (empty: they are)."""
    if not shards:
        return ["no shard directories given"]
    problems: list[str] = []
    first = shards[0]
    for s in shards[1:]:
        if s.config_sha256 != first.config_sha256 or s.fleet_apps != first.fleet_apps:
            problems.append(f"{s.path} is a shard of another fleet config ({s.config}, sha256 {s.config_sha256[:12]}, "
                            f"{len(s.fleet_apps)} apps) than {first.path} ({first.config}, sha256 "
                            f"{first.config_sha256[:12]}, {len(first.fleet_apps)} apps)")
        if s.count != first.count:
            problems.append(f"{s.path} is shard {s.index}/{s.count} but {first.path} is shard "
                            f"{first.index}/{first.count}: all shards must split the fleet into the same N parts")
    seen: dict[int, Path] = {}
    for s in shards:
        if s.index in seen:
            problems.append(f"shard {s.index}/{s.count} is given twice: {seen[s.index]} and {s.path}")
        seen.setdefault(s.index, s.path)
    owner: dict[str, Path] = {}
    for s in shards:
        for app in s.apps:
            if app in owner:
                problems.append(f"app {app!r} is in two shards: {owner[app]} and {s.path}")
            owner.setdefault(app, s.path)
            if app not in first.fleet_apps:
                problems.append(f"{s.path}: app {app!r} is not an app of the fleet config")
            if not safe_app_name(app):
                problems.append(f"{s.path}: app name {app!r} cannot name a directory")
    missing = [a for a in first.fleet_apps if a not in owner]
    if missing:
        absent = sorted(set(range(1, first.count + 1)) - set(seen))
        which = f" (shards not given: {', '.join(f'{k}/{first.count}' for k in absent)})" if absent else ""
        problems.append(f"missing apps: {', '.join(missing)}: no shard given verified them{which}")
    return problems


def read_app(shard: Shard, name: str) -> tuple[AppReport | None, list[str]]:
    """One app's stage results and bundle from its shard; problems if they are incomplete or disagree."""
    where = f"{shard.path} (shard {shard.index}/{shard.count}), app {name!r}"
    recorded = (shard.summary.get("apps") or {}).get(name)
    d = shard.path / "apps" / name
    if not isinstance(recorded, dict) or not (d / "summary.json").is_file():
        return None, [f"{where}: no verdict (summary.json) for it; the shard's report is incomplete, rerun it"]
    problems: list[str] = []
    try:
        app_summary = json.loads((d / "summary.json").read_text(encoding="utf-8"))
        stages = list(app_summary["stages"])
        results = tuple(StageResult.read(d / "stages" / f"{s}.json") for s in stages)
    except (OSError, ValueError, KeyError, TypeError) as e:
        return None, [f"{where}: its stage results are unreadable ({type(e).__name__}: {e}); rerun the shard"]
    code = exit_code(results)
    if code != int(recorded.get("exit_code", -1)) or code != int(app_summary.get("exit_code", -1)):
        problems.append(f"{where}: its stage results give exit code {code}, its summary says "
                        f"{recorded.get('exit_code')}: the report was changed after the run")
    for f in (SARIF_NAME,):
        if not (d / f).is_file():
            problems.append(f"{where}: {f} is missing; the shard's report is incomplete, rerun it")
    candidates = (d / "evidence", shard.path / "evidence" / name)
    bundle = next((b for b in candidates if (b / MANIFEST_JSON).is_file()), None)
    if bundle is None:
        problems.append(f"{where}: no evidence bundle at {candidates[0]} or {candidates[1]} "
                        "(a shard run with --evidence DIR outside its report directory: put DIR/<app> there)")
    seconds = float(recorded.get("seconds") or sum(c.duration_s for r in results for c in r.checks))
    app = AppReport(name, shard, d, results, code, seconds, bundle or candidates[0])
    return (app if not problems else None), problems


def merge(out: Path, dirs: Sequence[Path], *, now: datetime | None = None) -> Merged:
    """Write the fleet report of the shards in ``dirs`` to ``out``; MergeError (nothing written) if they
    are not the complete, intact parts of one fleet run."""
    out = Path(out).resolve()
    shards = [read_shard(Path(d)) for d in dirs]
    _check_out(out, shards)
    problems = check_shards(shards)
    if problems:
        raise MergeError(_refusal(problems))
    apps: dict[str, AppReport] = {}
    for s in shards:
        for name in s.apps:
            app, why = read_app(s, name)
            problems += why
            if app is not None:
                apps[name] = app
    checked: dict[str, IndexedBundle] = {}
    for name, app in apps.items():
        result = check_bundle(app.bundle)
        if result.problems:
            shown = "; ".join(result.problems[:_SHOWN]) + (" ..." if len(result.problems) > _SHOWN else "")
            problems.append(f"app {name!r}: its evidence bundle {app.bundle} does not verify ({shown}); "
                            "rerun its shard rather than merge evidence that does not hold")
            continue
        checked[name] = IndexedBundle(name, result.evidence_digest, sha256_file(app.bundle / MANIFEST_JSON),
                                      result.files, result.signer, app.shard.index)
    if problems:
        raise MergeError(_refusal(problems))
    fleet = shards[0]
    ordered = [apps[n] for n in fleet.fleet_apps]
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.merge.", dir=out.parent))
    try:
        summary = _write(staging, out, ordered, [checked[a.name] for a in ordered], shards, now)
        staging.chmod(0o755)
        _swap(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Merged(out, summary["exit_code"], summary["status"], summary, len(ordered))


def _write(root: Path, out: Path, apps: list[AppReport], bundles: list[IndexedBundle], shards: Sequence[Shard],
           now: datetime | None) -> dict:
    from fixproof.publish.html import write_html

    fleet = shards[0]
    labelled = [StageResult(f"{a.name}.{r.stage}", r.checks, r.facts) for a in apps for r in a.results]
    junit = write_junit(labelled, root / "junit.xml", timestamp=now, properties={"fixproof.config": fleet.config})
    code = exit_code(labelled)
    worst = max((a.exit_code for a in apps), key=_severity, default=code)
    if _status(code) != _status(worst):  # cannot happen: both are over the same checks
        raise AssertionError(f"fleet exit code {code} disagrees with the worst app's {worst}")
    (root / "apps").mkdir()
    for a in apps:
        shutil.copytree(a.dir, root / "apps" / a.name, symlinks=True, ignore=shutil.ignore_patterns("evidence"))
        shutil.copytree(a.bundle, root / "evidence" / a.name, symlinks=True)
    write_index(root / "evidence", bundles, {"config": fleet.config, "config_sha256": fleet.config_sha256,
                                             "apps": list(fleet.fleet_apps), "shards": fleet.count})
    summary: dict[str, Any] = {
        "exit_code": code,
        "status": _status(code),
        "headline": headline(labelled, code, _fail_on(apps)),
        "junit": str(out / "junit.xml"),
        "counts": {"tests": junit.tests, "failures": junit.failures, "errors": junit.errors, "skipped": junit.skipped},
        "stages": {r.stage: [c.to_json() for c in r.checks if c.status is not Status.PASSED or c.warning]
                   for r in labelled},
        "apps": {a.name: {"exit_code": a.exit_code, "status": _status(a.exit_code), "dir": str(root / "apps" / a.name),
                          "summary": str(root / "apps" / a.name / "summary.json"), "seconds": a.seconds,
                          "shard": a.shard.index, "evidence": str(root / "evidence" / a.name),
                          "evidence_digest": b.evidence_digest} for a, b in zip(apps, bundles)},
        "sarif": str(_write_sarif(root, apps)),
        MERGED_MARK: {"config": fleet.config, "config_sha256": fleet.config_sha256, "count": fleet.count,
                      "shards": [{"index": s.index, "dir": str(s.path.resolve()), "apps": list(s.apps)}
                                 for s in sorted(shards, key=lambda s: s.index)]},
        "evidence": str(root / "evidence"),
    }
    vex = _write_openvex(root, apps, now)
    if vex is not None:
        summary["openvex"] = str(vex)
    summary["html"] = str(root / HTML_NAME)
    write_html(labelled, summary, root / HTML_NAME, now=now)  # app links: relative, so they hold after the move
    final = json.loads(json.dumps(summary).replace(json.dumps(str(root))[1:-1], json.dumps(str(out))[1:-1]))
    (root / "summary.json").write_text(json.dumps(final, indent=2) + "\n", encoding="utf-8")
    return final


def _write_sarif(root: Path, apps: Sequence[AppReport]) -> Path:
    docs = [json.loads((a.dir / SARIF_NAME).read_text(encoding="utf-8")) for a in apps]
    first = docs[0] if docs else {}
    doc = {"$schema": first.get("$schema", "https://json.schemastore.org/sarif-2.1.0.json"),
           "version": first.get("version", "2.1.0"), "runs": [run for d in docs for run in d.get("runs", [])]}
    path = root / SARIF_NAME
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return path


def _write_openvex(root: Path, apps: Sequence[AppReport], now: datetime | None) -> Path | None:
    """One OpenVEX v0.2.0 document with every app's statements (None: no app judged a listed advisory)."""
    docs = [json.loads(p.read_text(encoding="utf-8")) for p in (a.dir / OPENVEX_NAME for a in apps) if p.is_file()]
    if not any(d.get("statements") for d in docs):
        return None
    doc = combine_openvex(docs, tooling="fixproof merge", now=now)
    path = root / OPENVEX_NAME
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return path


def _fail_on(apps: Sequence[AppReport]) -> str:
    """fix.fail_on of the fleet config, from the copy in the first app's bundle (default "listed")."""
    for a in apps[:1]:
        for cfg in sorted((a.bundle / "inputs" / "config").glob("*.toml")):
            try:
                return str(tomllib.loads(cfg.read_text(encoding="utf-8")).get("fix", {}).get("fail_on", "listed"))
            except (OSError, ValueError, AttributeError):
                pass
    return "listed"


def _severity(code: int) -> int:
    return {0: 0, 1: 1}.get(code, 2 + code)


def _status(code: int) -> str:
    return {0: "passed", 1: "failed"}.get(code, "error")


def _check_out(out: Path, shards: Sequence[Shard]) -> None:
    for s in shards:
        src = s.path.resolve()
        if out == src or src in out.parents or out in src.parents:
            raise MergeError(f"OUT {out} overlaps the shard directory {s.path}; merge into a directory of its own.")
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not _is_merge(out))):
        raise MergeError(f"OUT {out} exists and is not an earlier merge's report; refusing to replace it. "
                         "Give a new or empty directory.")


def _is_merge(out: Path) -> bool:
    try:
        return MERGED_MARK in json.loads((out / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


def _swap(staging: Path, dest: Path) -> None:
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        dest.rename(old)
        staging.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(dest)


def _refusal(problems: Sequence[str]) -> str:
    return (f"cannot merge: {len(problems)} problem(s); nothing was written:\n"
            + "\n".join(f"  - {p}" for p in problems))
