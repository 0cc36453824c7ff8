"""What the HTML page shows, in reading order, with every check in exactly one place.

The page leads with the verdict's reason, so this module sorts the stage
results into sections a person reads top to bottom:

1. failed checks (failed or error) that are not about one advisory;
2. each advisory listed in ``[fix] advisories`` with its chain of evidence
   across the stages: the pinned Go (toolchain), the build list (modules),
   the module version in the binary (build info, OpenVEX), the binary's
   functions (vulns), the shipped artifact (``--artifact``) and the runtime
   checks and tests that name it;
3. other findings of the vulns stage, grouped by module with the one
   upgrade that clears them;
4. warnings (passed checks with a finding policy let through);
5. the remaining checks, by stage.

A check about an advisory (by name or by its ``advisory`` evidence) is
shown with that advisory and nowhere else, so each finding appears once.
It reads stage results only; it runs no tool and opens no database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Any, Mapping, Sequence

from fixproof.goinfo import versions
from fixproof.results import CheckResult, StageResult, Status

SHIPPED_PREFIX = "shipped artifact: "
RUNTIME_STAGES = ("test", "gdb", "trace", "race")
_GO_MODULES = ("stdlib", "toolchain")


@dataclass(frozen=True)
class Placed:
    """A check with the stage that produced it."""

    stage: str
    check: CheckResult


@dataclass(frozen=True)
class Link:
    """One step of a listed advisory's chain of evidence: a check, or a fact read from a stage's result."""

    step: str  # "Pinned Go", "Build list", "Module in the binary", "Binary functions", "Shipped artifact", "Runtime"
    stage: str
    check: CheckResult | None  # None: a fact, not a check
    text: str  # the fact's sentence, or "" when the check's message says it


@dataclass(frozen=True)
class ListedAdvisory:
    id: str
    aliases: tuple[str, ...]
    vex_status: str  # OpenVEX status, "" when the vulns stage judged none (e.g. an advisory on the go command)
    justification: str
    detail: str
    links: tuple[Link, ...]

    @property
    def failing(self) -> bool:
        return any(x.check is not None and x.check.status in (Status.FAILED, Status.ERROR) for x in self.links) \
            or self.vex_status in ("affected", "under_investigation")


@dataclass(frozen=True)
class FindingRow:
    """One advisory not listed in [fix] advisories that affects the binary (or the shipped artifact)."""

    id: str
    aliases: tuple[str, ...]
    module: str
    version: str
    fixed: str
    level: str
    symbols: tuple[str, ...]
    built: CheckResult | None  # the vulns check for the built binary
    shipped: CheckResult | None  # the same advisory in the shipped artifact (--artifact)

    @property
    def reachable(self) -> bool:
        return self.level == "symbol"

    @property
    def failing(self) -> bool:
        return any(c is not None and c.status is Status.FAILED for c in (self.built, self.shipped))


@dataclass(frozen=True)
class ModuleGroup:
    """The other findings in one module, and the one upgrade that clears them."""

    module: str
    version: str
    rows: tuple[FindingRow, ...]
    target: str  # the newest of the rows' fixed versions; "" when none has a fix
    unfixed: int  # rows with no fixed version yet

    @property
    def reachable(self) -> int:
        return sum(r.reachable for r in self.rows)

    @property
    def failing(self) -> int:
        return sum(r.failing for r in self.rows)

    def upgrade(self) -> str:
        """``Go 1.22.5 -> 1.25.13 clears 57 advisories, 31 reachable``: to the newest of their fixed versions."""
        if not self.target:
            return f"{self.title()}: no fixed version yet for {plural(self.unfixed, 'advisory', 'advisories')}"
        fixable = [r for r in self.rows if r.fixed]
        text = (f"{self.title()} -> {show_version(self.module, self.target)} clears "
                f"{plural(len(fixable), 'advisory', 'advisories')}, {sum(r.reachable for r in fixable)} reachable")
        if self.unfixed:
            text += f"; {plural(self.unfixed, 'advisory has', 'advisories have')} no fixed version yet"
        return text

    def title(self) -> str:
        return f"{_module_label(self.module)} {show_version(self.module, self.version)}"


@dataclass(frozen=True)
class PageModel:
    failed: tuple[Placed, ...]  # failed/error checks not about one advisory
    listed: tuple[ListedAdvisory, ...]  # failing ones first, then in config order
    groups: tuple[ModuleGroup, ...]  # groups with failing findings first, then by size
    warnings: tuple[Placed, ...]
    rest: tuple[Placed, ...]  # every other check, in stage order
    shown_with_advisories: Mapping[str, int]  # stage -> checks shown in sections 2 and 3

    @property
    def failing_listed(self) -> int:
        return sum(a.failing for a in self.listed)

    @property
    def failing_findings(self) -> int:
        return sum(g.failing for g in self.groups)


def build(results: Sequence[StageResult]) -> PageModel:
    by_stage = {r.stage: r for r in results}
    vulns = by_stage.get("vulns")
    from fixproof.stages.vulns import VulnsFacts

    facts = VulnsFacts.of(vulns)
    vex = {v.id: v.to_json() for v in facts.vex} if facts else {}
    listed_ids = list(facts.listed) if facts and facts.listed else list(vex)
    findings = [f.to_json() for f in facts.findings] if facts else []
    aliases = {str(f["id"]): tuple(map(str, f.get("aliases") or ())) for f in findings}
    aliases.update({i: tuple(map(str, v.get("aliases") or ())) for i, v in vex.items()})

    taken: set[int] = set()  # id() of checks placed with an advisory
    placed = [Placed(r.stage, c) for r in results for c in r.checks]

    def take(pred) -> list[Placed]:
        out = [p for p in placed if id(p.check) not in taken and pred(p)]
        taken.update(id(p.check) for p in out)
        return out

    listed = []
    for aid in listed_ids:
        names = {_norm(aid), *(_norm(a) for a in aliases.get(aid, ()))}
        mine = take(lambda p, aid=aid, names=names: _about(p, aid) or (
            p.stage in RUNTIME_STAGES and any(n in _norm(p.check.name) for n in names)))
        listed.append(_listed(aid, aliases.get(aid, ()), vex.get(aid) or {}, mine, by_stage))
    listed.sort(key=lambda a: not a.failing)  # stable: config order within

    rows = []
    shipped_only = {str(p.check.evidence.get("id")): p for p in placed
                    if p.check.name.startswith(SHIPPED_PREFIX + "advisory ") and p.check.evidence.get("module")}
    seen: set[str] = set()
    for f in [*findings, *(p.check.evidence for i, p in shipped_only.items() if i not in {str(x["id"]) for x in findings})]:
        fid = str(f["id"])
        if fid in listed_ids or fid in seen:
            continue
        seen.add(fid)
        built = take(lambda p, fid=fid: p.stage == "vulns" and p.check.name == f"advisory {fid}")
        shipped = take(lambda p, fid=fid: p.stage == "vulns" and p.check.name == f"{SHIPPED_PREFIX}advisory {fid}")
        rows.append(FindingRow(fid, tuple(map(str, f.get("aliases") or ())), str(f.get("module", "")),
                               str(f.get("version", "")), str(f.get("fixed") or ""), str(f.get("level", "")),
                               tuple(map(str, f.get("symbols") or ())), built[0].check if built else None,
                               shipped[0].check if shipped else None))

    shown: dict[str, int] = {}
    for p in placed:
        if id(p.check) in taken:
            shown[p.stage] = shown.get(p.stage, 0) + 1
    left = [p for p in placed if id(p.check) not in taken]
    return PageModel(
        failed=tuple(p for p in left if p.check.status in (Status.FAILED, Status.ERROR)),
        listed=tuple(listed),
        groups=tuple(_groups(rows)),
        warnings=tuple(p for p in left if p.check.status is Status.PASSED and p.check.warning),
        rest=tuple(p for p in left if p.check.status in (Status.PASSED, Status.SKIPPED) and not (
            p.check.status is Status.PASSED and p.check.warning)),
        shown_with_advisories=shown,
    )


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# --- listed advisories -------------------------------------------------------

_STEPS = {"toolchain": "Pinned Go", "modules": "Build list", "vulns": "Binary functions"}


def _about(p: Placed, aid: str) -> bool:
    """A check about one advisory: named after it, carrying it as evidence, or resolving an alias to it."""
    c = p.check
    if c.name in (f"advisory {aid}", f"{SHIPPED_PREFIX}advisory {aid}"):
        return True
    if c.name.endswith(f" vs {aid}") or c.evidence.get("advisory") == aid:
        return True
    ids = c.evidence.get("ids")
    return bool(c.evidence.get("alias")) and isinstance(ids, list) and aid in ids


def _listed(aid: str, aliases: tuple[str, ...], vex: Mapping[str, Any], mine: list[Placed],
            by_stage: Mapping[str, StageResult]) -> ListedAdvisory:
    links: list[Link] = []
    for p in mine:
        if p.check.evidence.get("alias"):
            links.append(Link("Listed as", p.stage, p.check, ""))
    for stage in ("toolchain", "modules"):
        links += [Link(_STEPS[stage], p.stage, p.check, "") for p in mine
                  if p.stage == stage and not p.check.evidence.get("alias")]
    embedded = _embedded(str(vex.get("detail") or ""), by_stage.get("binary"), [p for p in mine if p.stage == "vulns"])
    if embedded:
        links.append(Link("Module in the binary", "binary", None, embedded))
    links += [Link(_STEPS["vulns"], p.stage, p.check, "") for p in mine
              if p.stage == "vulns" and not p.check.name.startswith(SHIPPED_PREFIX) and not p.check.evidence.get("alias")]
    links += [Link("Shipped artifact", p.stage, p.check, "") for p in mine
              if p.stage == "vulns" and p.check.name.startswith(SHIPPED_PREFIX)]
    runtime = [p for p in mine if p.stage in RUNTIME_STAGES]
    links += [Link("Runtime" if p.stage != "test" else "Test", p.stage, p.check, "") for p in runtime]
    if not runtime:
        links.append(Link("Runtime", "", None, _runtime_note(aid, by_stage)))
    return ListedAdvisory(aid, aliases, str(vex.get("status") or ""), str(vex.get("justification") or ""),
                          str(vex.get("detail") or ""), tuple(links))


def _embedded(detail: str, binary: StageResult | None, vulns_checks: list[Placed]) -> str:
    """Which version of the advisory's modules the binary's build info names (binary stage facts)."""
    from fixproof.stages.binary import BinaryFacts

    facts = BinaryFacts.of(binary)
    deps = facts.deps if facts else {}
    for p in vulns_checks:  # an affected advisory names its module in the finding
        m = p.check.evidence.get("module")
        if isinstance(m, str) and m and m not in _GO_MODULES:
            deps.setdefault(m, str(p.check.evidence.get("version", "")))
    named = [f"{path} {v}" for path, v in sorted(deps.items()) if re.search(rf"(^|\s){re.escape(path)}[@\s]", detail + " ")]
    go = facts.go_version if facts else ""
    if go and re.search(r"(^|\s)stdlib[@\s]", detail + " "):
        named.insert(0, f"the standard library of {go}")
    if not named:
        return ""
    return "The binary's build info records " + ", ".join(named) + "."


def _runtime_note(aid: str, by_stage: Mapping[str, StageResult]) -> str:
    counts = []
    for s in RUNTIME_STAGES:
        r = by_stage.get(s)
        if r is None or not r.checks:
            continue
        bad = sum(c.status in (Status.FAILED, Status.ERROR) for c in r.checks)
        ran = sum(c.status is not Status.SKIPPED for c in r.checks)
        counts.append(f"{s} {ran} run" + (f", {bad} not passed" if bad else ""))
    where = f" The runtime checks and tests cover the binary as a whole ({'; '.join(counts)})." if counts else ""
    return f"No test, gdb, trace or race check is named after this advisory.{where}"


# --- other findings ----------------------------------------------------------


def _groups(rows: list[FindingRow]) -> list[ModuleGroup]:
    by_module: dict[tuple[str, str], list[FindingRow]] = {}
    for r in rows:
        by_module.setdefault((r.module, r.version), []).append(r)
    out = []
    for (module, version), rs in by_module.items():
        rs.sort(key=lambda r: (not r.failing, not r.reachable, r.id))
        fixed = [r.fixed for r in rs if r.fixed]
        target = max(fixed, key=cmp_to_key(versions.compare)) if fixed else ""
        out.append(ModuleGroup(module, version, tuple(rs), target, len(rs) - len(fixed)))
    out.sort(key=lambda g: (-g.failing, -len(g.rows), g.module))
    return out


def _module_label(module: str) -> str:
    return "Go" if module == "stdlib" else module


def show_version(module: str, v: str) -> str:
    """Go versions without the ``v`` (``1.22.5``), module versions as Go writes them (``v0.3.8``)."""
    if module in _GO_MODULES:
        return (versions.semver_to_go(v) or v).removeprefix("go")
    return v


def _norm(text: str) -> str:
    """Letters and digits, upper case: ``GO-2024-2963`` and ``TestRegressionGO20242963`` meet as ``GO20242963``."""
    return "".join(ch for ch in text.upper() if ch.isalnum())
