"""Stage vulns: the built binary against the Go vulnerability database, to the function.

Policy (fix.fail_on): "listed" fails only on the advisories [fix] lists;
"symbol" also fails on any finding at symbol level; "any" fails on every
finding. Findings that do not fail are reported as warnings, never dropped.
A waived finding is reported as skipped with its reason; an expired waiver
no longer applies and says so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

from fixproof.errors import BinaryFormatError
from fixproof.goinfo.buildinfo import read_buildinfo
from fixproof.goinfo.pclntab import read_functions
from fixproof.results import CheckResult, StageFacts, StageResult, failed, passed, skipped
from fixproof.stages.advisories import db_check, load_listed, resolution_checks, toolchain_only, unknown_checks
from fixproof.config import Config
from fixproof.stages.build import binary_unchanged
from fixproof.stages.common import StageContext
from fixproof.stages.spec import Inputs, StageSpec
from fixproof.vulndb import VulnDB
from fixproof.vulnmatch import DEVEL, Finding, Level, checked_modules, match
from fixproof.findings import Reported, format_line
from fixproof.vex import Verdict
from fixproof.waivers import Waivers, load_waivers

STAGE = "vulns"


def _advisory_entries(items: Any) -> list[Mapping[str, Any]]:
    """The entries of a list of facts that name an advisory (a reader shows what it can of a damaged result)."""
    return [i for i in items or () if isinstance(i, Mapping) and i.get("id")]


@dataclass(frozen=True)
class VulnsFacts(StageFacts):
    """What the vulns stage hands the reports: the binary it judged, every finding in it, an OpenVEX
    verdict per listed advisory and the listed advisories as GO ids (aliases resolved).

    Read with :meth:`of`; None for a stage that judged nothing (its gate stopped it).
    """

    binary: str
    findings: tuple[Finding, ...] = ()
    vex: tuple[Verdict, ...] = ()
    listed: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"findings": [f.to_json() for f in self.findings], "binary": self.binary,
                "vex": [v.to_json() for v in self.vex], "listed": list(self.listed)}

    @classmethod
    def from_json(cls, facts: Mapping[str, Any]) -> "VulnsFacts | None":
        if not any(k in facts for k in ("findings", "vex", "listed")):
            return None
        return cls(str(facts.get("binary") or ""),
                   tuple(Finding.from_json(f) for f in _advisory_entries(facts.get("findings"))),
                   tuple(Verdict.from_json(v) for v in _advisory_entries(facts.get("vex"))),
                   tuple(map(str, facts.get("listed") or ())))


def run(ctx: StageContext, today: dt.date | None = None) -> StageResult:
    gate = ctx.gate("build")
    if gate:
        return StageResult(STAGE, (gate,))
    cfg = ctx.cfg
    path = ctx.built_binary()
    info = read_buildinfo(path)
    checks: list[CheckResult] = []
    try:
        functions: tuple[str, ...] | None = read_functions(path)
    except BinaryFormatError as e:
        functions = None
        checks.append(passed("function table", f"cannot read {path.name}'s function table ({e}); "
                             "findings are at module level only", warning=True))
    mods, notes = checked_modules(info)
    with VulnDB(cfg.vulndb_url, notify=ctx.progress.say) as db:  # one index read for everything below
        entries = db.entries_for_modules([m.path for m in mods])
        listed = load_listed(cfg, ctx.progress.say, db)
        shipped = _shipped_findings(Path(cfg.artifact), db) if cfg.artifact is not None else None
    findings = match(info, functions, entries, file=str(path))
    checks += [db_check(listed), *resolution_checks(listed), *unknown_checks(listed)]
    for n in notes:
        checks.append(passed("module coverage", n, warning=True))
    rules = load_waivers(cfg.waivers_path) if cfg.waivers_path else Waivers(source="")
    today = today or dt.date.today()

    by_id = {f.id: f for f in findings}
    unversioned = _unversioned(info)
    for aid in listed.ids:
        f = by_id.get(aid)
        if f is None and aid in listed.entries and toolchain_only(listed.entries[aid]):
            checks.append(passed(f"advisory {aid}", f"{aid} concerns the go command (module toolchain), not the "
                                 f"programs it builds; the toolchain stage judges the pinned Go against it",
                                 evidence={"advisory": aid}))
        elif f is None and aid in listed.entries and _unversioned_hits(listed.entries[aid], unversioned):
            module, why = _unversioned_hits(listed.entries[aid], unversioned)[0]
            checks.append(failed(f"advisory {aid}", f"cannot show that {aid} does not affect {path.name}: it names "
                                 f"{module}, {why}", evidence={"advisory": aid, "module": module}))
        elif f is None:
            checks.append(passed(f"advisory {aid}", f"{aid} does not affect {path.name} "
                                 f"({info.go_version}, {len(info.deps)} dependencies, {len(functions or ())} functions checked)",
                                 evidence={"advisory": aid}))
    for f in findings:
        checks.append(_finding_check(f, cfg.fix.fail_on, f.id in listed.entries, rules, today))
    if not findings:
        checks.append(passed("known vulnerabilities", f"no advisory in {listed.info.url} affects {path.name}",
                             evidence={"modules": len(mods)}))
    if cfg.artifact is not None:  # what production runs: the same judgement on the shipped binary
        checks += _shipped_checks(cfg, Path(cfg.artifact), shipped, listed, rules, today)
    facts = VulnsFacts(str(path), tuple(findings),
                       tuple(_verdicts(listed.ids, listed, info, by_id, functions is not None)), tuple(listed.ids))
    return StageResult(STAGE, tuple(checks), facts.to_json())


def _unversioned(info) -> dict[str, str]:
    """Modules linked into the binary that it records no version for (path -> why and what to do):
    the main module of a build from a checkout without a release tag, a directory replacement. No
    advisory can be matched against them, so a listed one naming them is never taken as absent."""
    out: dict[str, str] = {}
    main = info.main
    if main is not None and main.path and (not main.version or main.version == DEVEL):
        out[main.path] = (f"the main module, for which {info.go_version} recorded no version ({main.version or 'none'}): "
                          "build a clean checkout of the release tag with Go 1.24 or later (it stamps the tag as the "
                          "version), or pin a Go release that does")
    for d in info.deps:
        if d.replace is not None and not d.replace.version:
            out[d.path] = (f"which is replaced by the directory {d.replace.path} (no version): "
                           "build with the module version the fix is in")
    return out


def _unversioned_hits(entry, unversioned: dict[str, str]) -> list[tuple[str, str]]:
    return [(a.module, unversioned[a.module]) for a in entry.affected if a.module in unversioned]


def _shipped_findings(shipped: Path, db: VulnDB) -> tuple[str, dict[str, Finding]] | BinaryFormatError:
    """(Go version, findings by id) of the shipped artifact (--artifact), or why it cannot be read."""
    try:
        info = read_buildinfo(shipped)
    except BinaryFormatError as e:
        return e
    try:
        functions: tuple[str, ...] | None = read_functions(shipped)
    except BinaryFormatError:
        functions = None
    mods, _notes = checked_modules(info)
    entries = db.entries_for_modules([m.path for m in mods])
    return info.go_version, {f.id: f for f in match(info, functions, entries, file=str(shipped))}


def _shipped_checks(cfg, shipped: Path, read, listed, rules: Waivers, today: dt.date) -> list[CheckResult]:
    """The shipped artifact against the database, as the built binary is judged: each listed
    advisory passes or fails by name, other findings follow fix.fail_on."""
    label = "shipped artifact: "
    if isinstance(read, BinaryFormatError):
        return [failed(f"{label}vulnerabilities", f"the shipped artifact cannot be read as a Go binary: {read}")]
    go_version, found = read
    out: list[CheckResult] = []
    for aid in listed.ids:
        if aid not in found and not toolchain_only(listed.entries[aid]):
            out.append(passed(f"{label}advisory {aid}", f"{listed.label(aid)} does not affect the shipped "
                              f"{shipped.name} ({go_version})", evidence={"advisory": aid, "file": str(shipped)}))
    for f in found.values():
        r = _finding_check(f, cfg.fix.fail_on, f.id in listed.entries, rules, today)
        out.append(replace(r, name=label + r.name, message=r.message.replace(
            "the binary is affected", f"the shipped {shipped.name} is affected")))
    return out


def _fails(f: Finding, fail_on: str, is_listed: bool) -> bool:
    if is_listed or fail_on == "any":
        return True
    return fail_on == "symbol" and f.level is Level.SYMBOL


def _finding_check(f: Finding, fail_on: str, is_listed: bool, rules: Waivers, today: dt.date) -> CheckResult:
    name = f"advisory {f.id}"
    decision = rules.decide((f.id, *f.aliases), today)
    line = format_line(Reported(f, None)).split(": ", 1)[1]
    ev = f.to_json()
    if decision.waiver is not None:
        w = decision.waiver
        by = f" by {w.approved_by}" if w.approved_by else ""
        return skipped(name, f"waived until {w.expires.isoformat()}{by}: {w.reason} ({line})", evidence=ev)
    expired = ""
    if decision.expired is not None:
        expired = f"; the waiver expired on {decision.expired.expires.isoformat()} and no longer applies"
    if _fails(f, fail_on, is_listed):
        why = "listed in [fix] advisories" if is_listed else f"fix.fail_on = {fail_on!r}"
        return failed(name, f"the binary is affected: {line} ({why}){expired}", evidence=ev)
    return passed(name, f"affected but not failing under fix.fail_on = {fail_on!r}: {line}{expired}", evidence=ev, warning=True)


def _verdicts(advisories, listed, info, by_id: dict[str, Finding], functions_read: bool) -> list[Verdict]:
    """An OpenVEX verdict per listed advisory the database knows (fixproof.vex)."""
    from fixproof.vex import verdict

    linked = [m.path for m in (info.main, *info.deps) if m is not None]
    out = []
    for aid in advisories:
        entry = listed.entries.get(aid)
        if entry is None or toolchain_only(entry):
            continue
        f = by_id.get(aid)
        out.append(verdict(aid, entry.aliases, [a.module for a in entry.affected], linked,
                           f.to_json() if f else None, functions_read))
    return out


def inputs(cfg: Config) -> Inputs:
    files = [*([str(cfg.waivers_path)] if cfg.waivers_path else []), *([str(cfg.artifact)] if cfg.artifact else [])]
    # the DB changes and waivers expire: the result holds for one day
    return Inputs(file_dep=tuple(files), uptodate=(binary_unchanged(cfg),),
                  config={"day": dt.date.today().isoformat(), "artifact": str(cfg.artifact or "")})


SPEC = StageSpec(
    name=STAGE, order=600, run=run, needs=("build",), inputs=inputs, facts=VulnsFacts,
    doc="The built binary against the Go vulnerability database, to the function; policy and waivers.",
)
