"""A finding as fixproof reports it: the match, the waiver that applies, and its one-line form.

Shared by the vulns stage and the ``fixproof vulns`` command, which print
findings the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fixproof.goinfo import versions
from fixproof.vulndb import STDLIB, TOOLCHAIN
from fixproof.vulnmatch import Finding
from fixproof.waivers import Waiver


@dataclass(frozen=True)
class Reported:
    finding: Finding
    waiver: Waiver | None

    def to_json(self) -> dict[str, Any]:
        d = self.finding.to_json()
        d["waived"] = self.waiver.to_json() if self.waiver else None
        return d


def _show_version(module: str, v: str) -> str:
    if module in (STDLIB, TOOLCHAIN):
        return versions.semver_to_go(v) or v
    return v


def format_line(r: Reported) -> str:
    f = r.finding
    aliases = f" ({', '.join(f.aliases)})" if f.aliases else ""
    fixed = f"fixed in {_show_version(f.module, f.fixed)}" if f.fixed else "no fix"
    line = (f"{f.file}: {f.id}{aliases} {f.module}@{_show_version(f.module, f.version)} "
            f"{fixed} [{f.level.value}]")
    if f.symbols:
        line += " " + ", ".join(f.symbols)
    if r.waiver is not None:
        by = f" by {r.waiver.approved_by}" if r.waiver.approved_by else ""
        line += f"  WAIVED until {r.waiver.expires.isoformat()}{by}: {r.waiver.reason}"
    return line
