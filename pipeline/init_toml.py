"""The fixproof.toml ``fixproof init`` writes: a :class:`Plan` rendered as commented TOML.

Only the documented format is written (README "Configuration": [app],
[toolchain], [build], [test], [fix], [report]); every value comes with a
comment saying where it came from. Rendering is pure: no file, process or
network is touched here, and the caller loads the result back with
fixproof.config.load before it counts.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from functools import cmp_to_key
from typing import Any, Mapping, Sequence

from fixproof.goinfo import versions
from fixproof.vulndb import STDLIB, TOOLCHAIN

WIDTH = 100
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_SCAN_STATES = ("found", "clean", "skipped", "failed")


@dataclass(frozen=True)
class Advisory:
    """A reachable advisory found in the first build, proposed for [fix] advisories."""

    id: str
    aliases: tuple[str, ...] = ()
    module: str = ""
    version: str = ""
    fixed: str = ""
    symbols: tuple[str, ...] = ()

    @classmethod
    def from_finding(cls, f: Mapping[str, Any]) -> "Advisory":
        """From a finding as the vulns stage records it (vulnmatch.Finding.to_json)."""
        return cls(str(f["id"]), tuple(str(a) for a in f.get("aliases") or ()), str(f.get("module") or ""),
                   str(f.get("version") or ""), str(f.get("fixed") or ""),
                   tuple(str(s) for s in f.get("symbols") or ()))

    def comment(self, max_symbols: int = 3) -> str:
        """``CVE-2024-24791; stdlib go1.22.4, fixed in go1.22.5; net/http.Client.Do``."""
        parts = []
        if self.aliases:
            parts.append(", ".join(self.aliases))
        if self.module:
            where = f"{self.module} {show_version(self.module, self.version)}" if self.version else self.module
            fix = f"fixed in {show_version(self.module, self.fixed)}" if self.fixed else "no fix yet"
            parts.append(f"{where}, {fix}")
        if self.symbols:
            more = len(self.symbols) - max_symbols
            parts.append(", ".join(self.symbols[:max_symbols]) + (f" (and {more} more)" if more > 0 else ""))
        return "; ".join(parts)


@dataclass(frozen=True)
class Scan:
    """What the first build's scan proposes for [fix].

    ``state``: "found" (reachable advisories), "clean" (none), "skipped"
    (--no-scan) or "failed" (the build did not get through; ``detail`` says
    why). ``detail`` for found/clean names the build ("./cmd/app built with
    go1.22.5"). ``unreachable``: findings at package or module level only,
    not proposed.
    """

    state: str
    detail: str = ""
    advisories: tuple[Advisory, ...] = ()
    unreachable: int = 0
    db: str = ""

    def __post_init__(self) -> None:
        if self.state not in _SCAN_STATES:
            raise ValueError(f"scan state {self.state!r} is not one of {_SCAN_STATES}")


@dataclass(frozen=True)
class Note:
    """A paragraph of a comment, and lines listed under it (one item each, not wrapped)."""

    text: str
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuildPlan:
    """[build] as proposed, and the comment that says where it came from."""

    flags: tuple[str, ...] = ("-trimpath",)
    ldflags: str = ""
    tags: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True)
class Plan:
    """Everything ``fixproof init`` found out about a module."""

    module: str  # the module path
    package: str  # the main package to build, "./cmd/app" or "."
    go: str  # the exact release, "1.22.5"
    go_why: str  # why that release (a paragraph)
    image: str
    build: BuildPlan = BuildPlan()
    scan: Scan = Scan("skipped")
    other_packages: tuple[str, ...] = ()
    found_with: str = ""  # how the main packages were found ("go list ./... in golang:1.22.5-bookworm")
    binary: str = ""
    image_id: str = ""
    dir: str = "."  # app.dir; a draft for the first build names the module by absolute path
    report_dir: str = "reports"
    version: str = ""  # fixproof's, for the header


def show_version(module: str, v: str) -> str:
    """A version as people write it: go1.22.5 for the standard library and the go command, else v1.2.3."""
    if module in (STDLIB, TOOLCHAIN):
        return versions.semver_to_go(v) or v
    return v


def toml_string(s: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def toml_array(items: Sequence[str]) -> str:
    return "[" + ", ".join(toml_string(i) for i in items) + "]"


def toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else toml_string(key)


def toml_inline_table(values: Mapping[str, str]) -> str:
    if not values:
        return "{}"
    return "{ " + ", ".join(f"{toml_key(k)} = {toml_string(v)}" for k, v in values.items()) + " }"


def _clean(text: str) -> str:
    """Comment text on one line: control characters (newlines included) become spaces."""
    return re.sub(r"[\x00-\x08\x0a-\x1f\x7f]+", " ", text).strip()


def comment(text: str, indent: str = "") -> list[str]:
    """A paragraph as ``# `` lines of at most WIDTH characters."""
    prefix = f"{indent}# "
    return textwrap.wrap(_clean(text), width=WIDTH, initial_indent=prefix, subsequent_indent=prefix,
                         break_long_words=False, break_on_hyphens=False) or [prefix.rstrip()]


def _kv(key: str, value: str, note: str = "") -> str:
    line = f"{key} = {value}"
    if note:
        line = f"{line:<33} # {_clean(note)}"
    return line


def render(plan: Plan) -> str:
    """The commented fixproof.toml for ``plan``."""
    lines: list[str] = []
    by = f"fixproof init (fixproof {plan.version})" if plan.version else "fixproof init"
    lines += comment(f"fixproof.toml for {plan.module}, written by {by}.")
    lines += comment("Review it, then run `fixproof verify` in this directory. Every key is documented in "
                     "fixproof's README (\"Configuration\"); relative paths are relative to this file.")
    lines += ["", *_app(plan), "", *_toolchain(plan), "", *_build(plan.build), "", *_test(), "", *_fix(plan), "",
              *_report(plan)]
    return "\n".join(lines) + "\n"


def _app(plan: Plan) -> list[str]:
    out = ["[app]", _kv("dir", toml_string(plan.dir), "the Go module" + (" (this directory)" if plan.dir == "." else "")),
           _kv("packages", toml_array([plan.package]),
               "the main package to build" + (f" ({plan.found_with})" if plan.found_with else ""))]
    if plan.other_packages:
        out += comment("Other main packages in this module (a config builds one; a fleet of [[app]] tables, "
                       "README \"Fleets\", verifies several):")
        out += [f"#   {_clean(p)}" for p in plan.other_packages]
    if plan.binary:
        out.append(_kv("binary", toml_string(plan.binary), "the binary's name, as the release config gives it"))
    return out


def _toolchain(plan: Plan) -> list[str]:
    out = ["[toolchain]", *comment(plan.go_why), _kv("go", toml_string(plan.go), "the exact Go release"),
           _kv("image", toml_string(plan.image),
               "pulled, or built here from the Go toolchain module when no registry answers")]
    if plan.image_id:
        out += comment("To pin the image itself, after review (its id in this Docker Engine; a pulled image may "
                       "be pinned by its repo digest instead):")
        out.append(f"# digest = {toml_string(plan.image_id)}")
    return out


def _build(b: BuildPlan) -> list[str]:
    out = ["[build]"]
    for note in b.notes:
        out += comment(note.text)
        out += [f"#   {_clean(item)}" for item in note.items]
    out.append(_kv("flags", toml_array(b.flags)))
    if b.ldflags:
        out.append(_kv("ldflags", toml_string(b.ldflags)))
    if b.tags:
        out.append(_kv("tags", toml_array(b.tags)))
    if b.env:
        out.append(_kv("env", toml_inline_table(b.env)))
    else:
        out.append("# env = { CGO_ENABLED = \"0\" }   # environment of go build (and of the tests)")
    return out


def _test() -> list[str]:
    return ["[test]", _kv("packages", toml_array(["./..."]), "the app's own go test run; enabled = false skips it"),
            _kv("network", toml_string("loopback"),
                "the tests' own 127.0.0.1 only (httptest servers); \"off\" takes even that away"),
            "# skip = [{ test = \"TestNeedsInternet\", reason = \"...\" }]   # each kept in JUnit as skipped, with its reason"]


def _fix(plan: Plan) -> list[str]:
    s = plan.scan
    db = f" in {s.db}" if s.db else ""
    example = ["# advisories = [\"GO-2024-2963\"]   # GO ids, or their CVE-/GHSA- aliases"]
    if s.state == "found":
        out = ["[fix]"]
        out += comment(f"Reachable advisories{db} found in a first build ({s.detail}): a vulnerable function is "
                       "in the binary (symbol level). `fixproof verify` fails until each is fixed. Keep the ones "
                       "this fix is about; remove others only after review, or waive them (fix.waivers, README "
                       "\"Vulnerability database, policy and waivers\").")
        if s.unreachable:
            out += comment(f"{s.unreachable} more finding(s) match at package or module level only (no vulnerable "
                           "function linked); `fixproof vulns` on the built binary lists them.")
        upgrades = clearing_upgrades(s.advisories)
        if upgrades:
            out += comment("The upgrades that clear them:")
            out += [f"#   {_clean(u)}" for u in upgrades]
        out.append("advisories = [")
        for a in s.advisories:
            note = a.comment()
            out.append(f"    {toml_string(a.id)}," + (f"  # {_clean(note)}" if note else ""))
        out.append("]")
        out.append("# fail_on = \"symbol\"              # also fail on reachable advisories not listed here")
        return out
    if s.state == "clean":
        why = f"A first build ({s.detail}) has no reachable advisory{db}"
        if s.unreachable:
            why += (f" ({s.unreachable} finding(s) at package or module level only, no vulnerable function linked; "
                    "`fixproof vulns` lists them)")
        why += "."
    elif s.state == "skipped":
        why = "No first build was scanned (fixproof init --no-scan)."
    else:
        why = f"No advisories could be proposed: the first build did not get through ({s.detail})."
    out = ["# [fix]"]
    out += comment(why)
    out += comment("Name the advisories this fix must prove gone from the pinned Go, the build list and the "
                   "binary, by GO id or by alias, and uncomment the section:")
    return out + example


def clearing_upgrades(advisories: Sequence[Advisory]) -> list[str]:
    """Per module, the lowest version that is at least every proposed advisory's fixed version:
    ``stdlib: build with go1.25.13 (30 advisories)``; modules with an advisory that has no fix say so."""
    by_module: dict[str, list[Advisory]] = {}
    for a in advisories:
        if a.module:
            by_module.setdefault(a.module, []).append(a)
    out = []
    for module, items in by_module.items():
        fixed = sorted((a.fixed for a in items if a.fixed), key=cmp_to_key(versions.compare))
        unfixed = len(items) - len(fixed)
        n = f"{len(items)} advisor{'y' if len(items) == 1 else 'ies'}"
        if fixed:
            target = show_version(module, fixed[-1])
            line = f"{module}: build with {target}" if module == STDLIB else f"{module}: upgrade to {target}"
            out.append(line + f" ({n}" + (f"; {unfixed} of them have no fix yet)" if unfixed else ")"))
        else:
            out.append(f"{module}: no fixed version yet ({n})")
    return out


def _report(plan: Plan) -> list[str]:
    return ["[report]", _kv("dir", toml_string(plan.report_dir),
                            "stage results, build output, JUnit, HTML, evidence (keep it out of git)")]
