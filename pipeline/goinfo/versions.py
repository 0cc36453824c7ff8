"""Go module versions, Go toolchain versions and OSV SEMVER ranges.

Module versions follow golang.org/x/mod/semver: a ``v`` prefix, optional
pre-release, build metadata ignored (so ``v2.0.0+incompatible`` equals
``v2.0.0``). Pseudo-versions (``v0.0.0-20220101000000-abcdef123456``,
``v1.2.4-0.2022...``) are ordinary pre-releases and order correctly with no
special case. OSV ranges in the Go database write versions without the
``v``; both spellings are accepted everywhere here.

Ordering of invalid versions mirrors x/mod/semver: an invalid version
(``(devel)``) sorts below every valid one and equal to any other invalid
one, so :func:`affected` says yes to it for any range that starts at
``introduced: "0"``. Callers that know a version is unknown (empty, or
``(devel)``) should not ask; vulnmatch does not.

Go toolchain versions (``go1.22.5``, ``go1.21rc2``) map onto semver with
:func:`go_to_semver`; go.mod ``go`` lines compare with :func:`compare_go`
under the Go 1.21 rules (``1.21`` < ``1.21rc1`` < ``1.21.0``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence

_SEMVER = re.compile(
    r"^v(?P<major>0|[1-9]\d*)"
    r"(?:\.(?P<minor>0|[1-9]\d*)"
    r"(?:\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r")?)?$"
)


@dataclass(frozen=True, order=False)
class SemVer:
    """A parsed semantic version; build metadata is kept but never compared."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: str = ""

    def __str__(self) -> str:
        s = f"v{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            s += "-" + ".".join(self.prerelease)
        if self.build:
            s += "+" + self.build
        return s


def _with_v(version: str) -> str:
    """Accept ``1.2.3``, ``v1.2.3`` and ``go1.2.3`` spellings (the OSV forms)."""
    if version.startswith("go"):
        version = version[2:]
    if not version.startswith("v"):
        version = "v" + version
    return version


@functools.lru_cache(maxsize=4096)
def parse_semver(version: str) -> SemVer | None:
    """Parse a module version (with or without ``v``); None when invalid.

    Like x/mod/semver, ``v1`` and ``v1.2`` are shorthands for ``v1.0.0`` and
    ``v1.2.0``, but only without a pre-release or build suffix. Numeric
    pre-release identifiers may not have leading zeros.
    """
    m = _SEMVER.match(_with_v(version.strip()))
    if m is None:
        return None
    pre = tuple(m["pre"].split(".")) if m["pre"] else ()
    for ident in pre:
        if ident.isdigit() and len(ident) > 1 and ident.startswith("0"):
            return None
    return SemVer(
        major=int(m["major"]),
        minor=int(m["minor"] or 0),
        patch=int(m["patch"] or 0),
        prerelease=pre,
        build=m["build"] or "",
    )


def is_valid(version: str) -> bool:
    return parse_semver(version) is not None


def canonical(version: str) -> str:
    """``1.2`` -> ``v1.2.0``; ``v2.0.0+incompatible`` -> ``v2.0.0``; "" if invalid."""
    v = parse_semver(version)
    if v is None:
        return ""
    return str(SemVer(v.major, v.minor, v.patch, v.prerelease))


def _cmp_prerelease(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    if a == b:
        return 0
    if not a:
        return 1  # a release is above any of its pre-releases
    if not b:
        return -1
    for x, y in zip(a, b):
        if x == y:
            continue
        xd, yd = x.isdigit(), y.isdigit()
        if xd and yd:
            return -1 if int(x) < int(y) else 1
        if xd != yd:
            return -1 if xd else 1  # numeric identifiers sort first
        return -1 if x < y else 1
    return -1 if len(a) < len(b) else 1


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as a <, ==, > b. Invalid sorts below valid; build ignored."""
    va, vb = parse_semver(a), parse_semver(b)
    if va is None or vb is None:
        if va is None and vb is None:
            return 0
        return -1 if va is None else 1
    ka, kb = (va.major, va.minor, va.patch), (vb.major, vb.minor, vb.patch)
    if ka != kb:
        return -1 if ka < kb else 1
    return _cmp_prerelease(va.prerelease, vb.prerelease)


def sort_key(version: str) -> list[object] | None:
    """A JSON-friendly key that orders valid versions exactly as :func:`compare` does; None if invalid.

    ``[major, minor, patch, 1]`` for a release, ``[major, minor, patch, 0, tag, ident, ...]``
    for a pre-release, each identifier as ``0, int`` (numeric) or ``1, str``: Python compares
    these lists element by element, so a numeric identifier sorts below an alphanumeric one,
    a release above its pre-releases and a longer pre-release above its prefix. Build metadata
    is ignored. Used by the compact vulnerability index (fixproof.vulnindex) to pre-select the
    advisories whose ranges hold a version without parsing every range on every run.
    """
    v = parse_semver(version)
    if v is None:
        return None
    key: list[object] = [v.major, v.minor, v.patch]
    if not v.prerelease:
        key.append(1)
        return key
    key.append(0)
    for ident in v.prerelease:
        if ident.isdigit():
            key += [0, int(ident)]
        else:
            key += [1, ident]
    return key


def less(a: str, b: str) -> bool:
    return compare(a, b) < 0


def is_pseudo(version: str) -> bool:
    """True for pseudo-versions (``v0.0.0-20191109021931-daa7c04131f5``)."""
    v = parse_semver(version)
    if v is None or not v.prerelease:
        return False
    return bool(re.search(r"(^|\.)\d{14}-[0-9a-f]{12}$", ".".join(v.prerelease)))


# --- Go toolchain versions -------------------------------------------------

_GO_TAG = re.compile(r"^go(?P<mm>\d+(?:\.\d+)?)(?P<patch>\.\d+)?(?:(?P<kind>beta|rc)(?P<n>\d+))?$")


def strip_go_suffixes(go_version: str) -> str:
    """Drop what follows the release in ``runtime.Version()`` style strings.

    ``go1.22.5 X:boringcrypto``, ``go1.21.0-X:loopvar`` and
    ``go1.23.1-bigcorp`` all become the bare tag.
    """
    s = go_version.strip().split(" ")[0]
    m = re.match(r"^(go\d+(?:\.\d+)*(?:(?:beta|rc)\d+)?)(?:-.*)?$", s)
    return m.group(1) if m else s


def is_devel(go_version: str) -> bool:
    return go_version.strip().startswith("devel")


def go_to_semver(go_version: str) -> str:
    """``go1.22.5`` -> ``v1.22.5``; "" for devel builds or anything unparsable.

    ``go1.21`` -> ``v1.21.0`` (releases before 1.21 had no ``.0``);
    ``go1.22rc1`` -> ``v1.22.0-rc.1``; ``go1`` -> ``v1.0.0``; experiment
    suffixes (`` X:...``, ``-X:...``) are dropped.
    """
    if not go_version or is_devel(go_version):
        return ""
    tag = strip_go_suffixes(go_version)
    if tag == "go1":
        return "v1.0.0"
    m = _GO_TAG.match(tag)
    if m is None:
        return ""
    mm = m["mm"]
    if "." not in mm:
        return ""
    v = f"v{mm}{m['patch'] or '.0'}"
    if m["kind"]:
        v += f"-{m['kind']}.{m['n']}"
    return v if is_valid(v) else ""


def semver_to_go(version: str) -> str:
    """``v1.22.5`` -> ``go1.22.5``; ``v1.22.0-rc.1`` -> ``go1.22rc1``."""
    v = parse_semver(version)
    if v is None:
        return ""
    base = f"go{v.major}.{v.minor}"
    if v.prerelease and len(v.prerelease) == 2 and v.prerelease[0] in ("rc", "beta"):
        return f"{base}{v.prerelease[0]}{v.prerelease[1]}"
    if v.prerelease:
        return f"{base}.{v.patch}-{'.'.join(v.prerelease)}"
    if v.patch == 0 and (v.major, v.minor) < (1, 21):
        return base  # go1.20, not go1.20.0
    return f"{base}.{v.patch}"


@dataclass(frozen=True)
class GoVersion:
    """A Go version in the go.mod/toolchain sense (cmd/go/internal/gover).

    ``kind`` is "" for a language version (``1.21``), ``beta``/``rc`` for
    pre-releases, and ``release`` for ``1.21.0`` and later patches.
    """

    major: int
    minor: int
    patch: int | None
    kind: str
    pre: int = 0

    def key(self) -> tuple[int, int, int, int, int]:
        kind_rank = {"": 0, "beta": 1, "rc": 2, "release": 3}[self.kind]
        return (self.major, self.minor, kind_rank, self.pre, self.patch or 0)


_GOVER = re.compile(r"^(?:go)?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(beta|rc)(\d+))?$")


def parse_go(version: str) -> GoVersion | None:
    """Parse ``1.21``, ``1.21.0``, ``go1.21rc2``, ``1.22.5 X:...`` (gover rules)."""
    s = strip_go_suffixes(version if version.startswith("go") else "go" + version.strip())
    m = _GOVER.match(s)
    if m is None:
        return None
    major, minor, patch, kind, n = m.groups()
    if minor is None:
        minor = "0"
    if patch is not None and kind:
        return None  # 1.21.0rc1 is not a Go version
    if kind:
        return GoVersion(int(major), int(minor), None, kind, int(n))
    if patch is not None:
        return GoVersion(int(major), int(minor), int(patch), "release")
    # Before Go 1.21 a bare "1.20" was the release itself (go1.20 == 1.20.0).
    if (int(major), int(minor)) < (1, 21):
        return GoVersion(int(major), int(minor), 0, "release")
    return GoVersion(int(major), int(minor), None, "")


def compare_go(a: str, b: str) -> int:
    """Compare Go versions: ``1.21`` < ``1.21rc1`` < ``1.21.0`` < ``1.21.1``.

    Unparsable versions sort below parsable ones, as in gover.
    """
    ga, gb = parse_go(a), parse_go(b)
    if ga is None or gb is None:
        if ga is None and gb is None:
            return 0
        return -1 if ga is None else 1
    ka, kb = ga.key(), gb.key()
    return (ka > kb) - (ka < kb)


def language_version(version: str) -> str:
    """``1.22.5`` -> ``1.22``: the language version a toolchain implements."""
    g = parse_go(version)
    return "" if g is None else f"{g.major}.{g.minor}"


def go_line_minimum(go_line: str) -> str:
    """The lowest toolchain release that satisfies a go.mod ``go`` line, as semver.

    Since Go 1.21 a ``go 1.22`` line is a language version; the first
    toolchain release providing it is 1.22.0, so ``go 1.22`` -> ``v1.22.0`` and
    ``go 1.22.5`` -> ``v1.22.5``. (A 1.22 release candidate also accepts
    ``go 1.22``; for "did the fix ship" purposes the release is what counts.)
    """
    g = parse_go(go_line)
    if g is None:
        return ""
    if g.kind in ("beta", "rc"):
        return f"v{g.major}.{g.minor}.0-{g.kind}.{g.pre}"
    return f"v{g.major}.{g.minor}.{g.patch or 0}"


def toolchain_satisfies(toolchain: str, go_line: str) -> bool:
    """Whether toolchain ``go1.22.5`` may build a module whose go line is ``go_line``."""
    return compare_go(toolchain, go_line) >= 0


# --- OSV SEMVER ranges -------------------------------------------------------


class EventLike(Protocol):
    introduced: str
    fixed: str


class RangeLike(Protocol):
    type: str
    events: Sequence[EventLike]


def _event_version(e: EventLike) -> str:
    return e.introduced or e.fixed


def _sorted_events(events: Iterable[EventLike]) -> list[EventLike]:
    evs = [e for e in events if e.introduced or e.fixed]
    zero = [e for e in evs if e.introduced == "0"]
    rest = [e for e in evs if e.introduced != "0"]
    # Stable sort by version; for equal versions an introduced event comes
    # after a fixed one (fixed X / introduced X: X is affected again).
    rest.sort(key=lambda e: 0 if e.fixed else 1)
    rest.sort(key=functools.cmp_to_key(lambda x, y: compare(_event_version(x), _event_version(y))))
    return zero + rest


def _intervals(r: RangeLike) -> list[tuple[str, str]]:
    """(introduced, fixed) pairs of one range; fixed "" means still open."""
    out: list[tuple[str, str]] = []
    start: str | None = None
    for e in _sorted_events(r.events):
        if start is None and e.introduced:
            start = e.introduced
        elif start is not None and e.fixed:
            out.append((start, e.fixed))
            start = None
    if start is not None:
        out.append((start, ""))
    return out


def intervals(r: RangeLike) -> list[tuple[str, str]]:
    """(introduced, fixed) pairs of one range as :func:`affected` reads them; fixed "" means still open,
    introduced "0" the beginning of time."""
    return _intervals(r)


def _in_interval(version: str, lo: str, hi: str) -> bool:
    if lo != "0" and less(version, lo):
        return False
    return hi == "" or less(version, hi)


def affected(version: str, ranges: Sequence[RangeLike]) -> bool:
    """Whether ``version`` falls in any OSV SEMVER range (govulncheck semantics).

    No ranges at all, or no SEMVER range among them, means every version is
    affected. ``introduced: "0"`` is the beginning of time. ``version`` may be
    written with ``v``, ``go`` or no prefix.
    """
    semver_ranges = [r for r in ranges if r.type == "SEMVER"]
    if not semver_ranges:
        return True
    for r in semver_ranges:
        if not r.events:
            return True
        if any(_in_interval(version, lo, hi) for lo, hi in _intervals(r)):
            return True
    return False


def fixed_version(version: str, ranges: Sequence[RangeLike]) -> str:
    """The fix for ``version``: the lowest ``fixed`` event above it, "" if none.

    Only ranges that contain ``version`` count, so a version in a range with
    no fix yields "" even if some other branch has one. Returned with a ``v``.
    """
    best = ""
    for r in ranges:
        if r.type != "SEMVER":
            continue
        for lo, hi in _intervals(r):
            if not _in_interval(version, lo, hi):
                continue
            if hi == "":
                return ""
            if best == "" or less(hi, best):
                best = hi
    return _with_v(best) if best else ""
