"""The advisories a config lists ([fix] advisories), read from the vulnerability DB.

Shared by the toolchain stage (is the pinned Go fixed?), the modules stage
(is the build list fixed?) and the vulns stage (is the binary free of them?).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cmp_to_key
from typing import Callable

from fixproof.config import Config
from fixproof.goinfo import versions
from fixproof.results import CheckResult, error, failed, passed
from fixproof.vulndb import STDLIB, TOOLCHAIN, DBInfo, Entry, VulnDB


@dataclass(frozen=True)
class Listed:
    info: DBInfo
    entries: dict[str, Entry]  # GO id -> entry, for the listed advisories the DB knows, in config order
    unknown: tuple[str, ...]  # names in [fix] advisories the DB does not know
    named_as: dict[str, str]  # GO id -> the alias the config named it by (CVE-..., GHSA-...), if not its GO id

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self.entries)

    def label(self, aid: str) -> str:
        """``GO-2022-1059`` or ``GO-2022-1059 (listed as CVE-2022-32149)``."""
        alias = self.named_as.get(aid)
        return f"{aid} (listed as {alias})" if alias else aid


def load_listed(cfg: Config, notify: Callable[[str], None], db: VulnDB | None = None) -> Listed:
    """Fetch the listed advisories, CVE and GHSA aliases resolved to GO ids through the database
    (``db`` when the caller has it open, so its index is read once); VulnDBError (exit 3) when
    the DB is unreachable with no cache."""
    if db is None:
        with VulnDB(cfg.vulndb_url, notify=notify) as own:
            return load_listed(cfg, notify, own)
    info = db.open()
    resolved = db.resolve(cfg.fix.advisories)
    ids = list(dict.fromkeys(i for n in cfg.fix.advisories for i in resolved[n]))
    entries = db.entries(ids) if ids else {}
    named_as = {i: n for n in cfg.fix.advisories if not n.startswith("GO-") for i in resolved[n]}
    return Listed(info, {i: entries[i] for i in ids}, tuple(n for n in cfg.fix.advisories if not resolved[n]),
                  named_as)


def resolution_checks(listed: Listed) -> list[CheckResult]:
    """One passed check per alias in [fix] advisories, saying which GO id(s) it maps to."""
    by_alias: dict[str, list[str]] = {}
    for aid, alias in listed.named_as.items():
        by_alias.setdefault(alias, []).append(aid)
    return [passed(f"advisory {alias}", f"{alias} is {', '.join(ids)} in {listed.info.url}",
                   evidence={"alias": alias, "ids": ids}) for alias, ids in by_alias.items()]


def db_check(listed: Listed) -> CheckResult:
    i = listed.info
    how = "offline, from its cache" if i.offline else "live"
    return passed("vulnerability database", f"{i.url} ({how}), modified {i.modified.isoformat()}",
                  evidence={"url": i.url, "modified": i.modified.isoformat(), "offline": i.offline})


def unknown_checks(listed: Listed) -> list[CheckResult]:
    return [error(f"advisory {a}", f"{a} is not in the vulnerability database {listed.info.url} (not as a GO id, "
                  "nor as an alias of one); check fix.advisories", evidence={"exit_code": 2}) for a in listed.unknown]


def fixed_for(entry: Entry, module: str, version: str) -> tuple[bool, str]:
    """(is this module version affected, the fixed version that applies) for one entry."""
    hit, fixed = False, ""
    for a in entry.affected:
        if a.module != module:
            continue
        if versions.affected(version, a.ranges):
            hit = True
            fx = versions.fixed_version(version, a.ranges)
            if fx and (not fixed or versions.less(fx, fixed)):
                fixed = fx
    return hit, fixed


def toolchain_only(entry: Entry) -> bool:
    """An advisory on the go command alone (module ``toolchain``): a fact about the image, not a binary."""
    return bool(entry.affected) and all(a.module == TOOLCHAIN for a in entry.affected)


def go_command_advisories(db: VulnDB, pin: str) -> CheckResult:
    """Every advisory on the go command (module ``toolchain``) that affects the pinned Go.

    They concern the build tool in the pinned image, not the programs it
    builds, so they are a warning about the image, never a failure of the
    app; the ids are in the evidence for an auditor.
    """
    sv = versions.go_to_semver(f"go{pin}")
    ids = [v.id for v in db.ids_for_module(TOOLCHAIN)]
    hits = []
    for aid, entry in sorted(db.entries(ids).items()):
        if entry.is_withdrawn():
            continue
        hit, fx = fixed_for(entry, TOOLCHAIN, sv)
        if hit:
            hits.append({"id": aid, "aliases": list(entry.aliases),
                         "fixed": versions.semver_to_go(fx) if fx else ""})
    name = "go command advisories"
    if not hits:
        return passed(name, f"no advisory on the go command (module toolchain) affects go{pin}",
                      evidence={"pin": f"go{pin}", "advisories": []})
    newest = max((h["fixed"] for h in hits if h["fixed"]), key=cmp_to_key(versions.compare_go), default="")
    shown = ", ".join(h["id"] for h in hits[:5]) + (f" and {len(hits) - 5} more" if len(hits) > 5 else "")
    return passed(name, f"the go command of go{pin} in the pinned image is affected by {len(hits)} "
                  f"advisor{'y' if len(hits) == 1 else 'ies'} ({shown}); they concern the build tool, not the "
                  f"binary it builds" + (f"; {newest} fixes them" if newest else ""),
                  evidence={"pin": f"go{pin}", "advisories": hits}, warning=True)


def go_checks(listed: Listed, pin: str) -> list[CheckResult]:
    """Listed advisories against the pinned Go (stdlib and toolchain entries)."""
    out = []
    sv = versions.go_to_semver(f"go{pin}")
    for aid, entry in listed.entries.items():
        mods = {a.module for a in entry.affected} & {STDLIB, TOOLCHAIN}
        if not mods:
            continue
        hits = [(m, *fixed_for(entry, m, sv)) for m in sorted(mods)]
        bad = [(m, fx) for m, hit, fx in hits if hit]
        if bad:
            fx = versions.semver_to_go(bad[0][1]) if bad[0][1] else "no fixed release"
            out.append(failed(f"pinned Go vs {aid}", f"the pinned go{pin} is older than {listed.label(aid)}'s fix ({fx}); "
                              f"pin {fx} or later", evidence={"advisory": aid, "pin": f"go{pin}", "fixed": fx}, blocks=False))
        else:
            out.append(passed(f"pinned Go vs {aid}", f"go{pin} is not affected by {aid}", evidence={"advisory": aid}))
    return out


def module_checks(listed: Listed, build_list: list[dict]) -> list[CheckResult]:
    """Listed advisories against the clean build list (non-stdlib modules)."""
    out = []
    mods = {}
    for d in build_list:
        r = d.get("replace") or {}
        if r.get("version"):
            mods[r["path"]] = r["version"]
        else:
            mods[d["path"]] = d["version"]
    for aid, entry in listed.entries.items():
        paths = {a.module for a in entry.affected} - {STDLIB, TOOLCHAIN}
        if not paths:
            continue
        used = [(p, mods[p]) for p in sorted(paths) if p in mods]
        bad = [(p, v, fixed_for(entry, p, v)[1]) for p, v in used if fixed_for(entry, p, v)[0]]
        if bad:
            p, v, fx = bad[0]
            out.append(failed(f"build list vs {aid}", f"the build list has {p} {v}, affected by {listed.label(aid)} "
                              f"(fixed in {fx or 'no release yet'}); require {fx or 'a fixed version'} or later",
                              evidence={"advisory": aid, "module": p, "version": v, "fixed": fx}, blocks=False))
        elif used:
            out.append(passed(f"build list vs {aid}", ", ".join(f"{p} {v}" for p, v in used) + f" is not affected by {aid}",
                              evidence={"advisory": aid}))
        else:
            out.append(passed(f"build list vs {aid}", f"no module of {aid} ({', '.join(sorted(paths))}) is in the build list",
                              evidence={"advisory": aid}))
    return out
