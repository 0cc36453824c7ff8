"""OpenVEX verdicts of the advisories a config lists, from evidence only.

For each advisory in [fix] advisories the vulns stage records a verdict
(:func:`verdict`); the report turns the verdicts into one OpenVEX document
(fixproof.publish.openvex) naming the product by the built binary's sha256:

* ``affected``: a vulnerable function of the advisory is in the binary's
  function table (symbol level), with an action statement naming the fix;
* ``not_affected`` / ``vulnerable_code_not_present``: the affected module
  version is linked but none of the advisory's vulnerable functions (or
  packages) is in the binary's function table;
* ``not_affected`` / ``component_not_present``: no module the advisory
  affects is in the binary;
* ``fixed``: the module (or Go version) the advisory affects is in the binary
  at a version outside the affected ranges;
* ``under_investigation``: the evidence cannot decide (the function table
  could not be read, so a module-level match proves neither way).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

STATUSES = ("not_affected", "affected", "fixed", "under_investigation")
JUSTIFICATIONS = ("component_not_present", "vulnerable_code_not_present", "vulnerable_code_not_in_execute_path",
                  "vulnerable_code_cannot_be_controlled_by_adversary", "inline_mitigations_already_exist")
_GO_MODULES = ("stdlib",)  # toolchain advisories concern the go command, not a binary: no statements


@dataclass(frozen=True)
class Verdict:
    id: str
    aliases: tuple[str, ...]
    status: str
    justification: str = ""
    detail: str = ""  # impact statement (not_affected), action (affected), or notes

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "aliases": list(self.aliases), "status": self.status,
                "justification": self.justification, "detail": self.detail}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Verdict":
        return cls(str(d["id"]), tuple(d.get("aliases") or ()), str(d["status"]), str(d.get("justification") or ""),
                   str(d.get("detail") or ""))


def fix_action(finding: Mapping[str, Any]) -> str:
    """What a user does about a finding: build with a fixed Go for the standard library,
    require a fixed version of any other module."""
    from fixproof.goinfo.versions import semver_to_go

    fixed = finding.get("fixed") or ""
    if finding["module"] == "stdlib":
        return f"Build with Go {semver_to_go(fixed).removeprefix('go')} or later" if fixed else \
            "No Go release fixes this yet; rebuild once one does"
    if fixed:
        return f"Require {finding['module']} {fixed} or later and rebuild"
    return f"No version of {finding['module']} fixes this yet; remove it or wait for a fix"


def verdict(advisory: str, aliases: Iterable[str], affected_modules: Iterable[str], linked_modules: Iterable[str],
            finding: Mapping[str, Any] | None, functions_read: bool) -> Verdict:
    """The VEX status of one advisory for one binary.

    ``affected_modules``: the modules the advisory names; ``linked_modules``:
    the modules in the binary's build info; ``finding``: the vulns stage's
    finding for this advisory (``level`` symbol/package/module) or None.
    """
    aliases = tuple(aliases)
    if finding is not None:
        level = finding["level"]
        where = f"{finding['module']}@{finding['version']}"
        fix = f" to {finding['fixed']}" if finding.get("fixed") else ""
        if level == "symbol":
            syms = ", ".join(finding.get("symbols") or ())
            return Verdict(advisory, aliases, "affected", detail=f"{fix_action(finding)}: "
                           f"{where} is linked and its vulnerable code ({syms}) is in the binary.")
        if not functions_read:
            return Verdict(advisory, aliases, "under_investigation",
                           detail=f"{where} is in the affected range, and the binary's function table could not "
                                  "be read to tell whether the vulnerable code is present.")
        what = "package is linked but none of its vulnerable functions" if level == "package" else \
            "vulnerable packages and functions"
        return Verdict(advisory, aliases, "not_affected", "vulnerable_code_not_present",
                       detail=f"{where} is in the affected range, but the advisory's {what} are not in the "
                              "binary's function table.")
    linked = set(linked_modules)
    named = [m for m in affected_modules if m in _GO_MODULES or m in linked]
    if not named:
        return Verdict(advisory, aliases, "not_affected", "component_not_present",
                       detail="No module the advisory affects is in the binary's build info.")
    return Verdict(advisory, aliases, "fixed",
                   detail=f"{', '.join(sorted(set(named)))} in the binary is at a version outside the affected ranges.")
