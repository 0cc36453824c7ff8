"""The exact Go release to pin for a module, from its go.mod ``go`` and ``toolchain`` lines.

- A ``toolchain go1.22.5`` line (not older than the go line) names the
  release the go command builds the module with: that release.
- A go line with a patch (``go 1.22.5``) or a pre-release (``go 1.23rc1``)
  and no toolchain line: that release, the lowest the go command accepts.
- A go line without a patch (``go 1.22``) is a language version any
  go1.22.x satisfies: the newest 1.22 release the module proxy lists (what
  a ``golang:1.22`` image or setup-go's ``go-version-file`` builds with,
  and the 1.22 release with every security fix of that line). When the
  list cannot be read, the first release of the line (go1.22.0; go1.20 for
  lines before 1.21, whose first releases had no ``.0``), said so.

``releases`` is the module proxy's list (engine.images.toolchain_releases),
[] when unknown; whether the pin is one of them is the caller's to check.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cmp_to_key
from typing import Sequence

from fixproof.errors import GoModError
from fixproof.goinfo import versions


@dataclass(frozen=True)
class Pin:
    """The release to pin (``1.22.5``) and why, in sentences for a config comment."""

    version: str
    why: str

    @property
    def image(self) -> str:
        return f"golang:{self.version}-bookworm"


def sort_releases(releases: Sequence[str]) -> list[str]:
    """Go releases oldest first, by Go's own order (1.21rc1 < 1.21.0 < 1.21.1 < 1.22rc1)."""
    return sorted(set(releases), key=cmp_to_key(versions.compare_go))


def pin(go_line: str, toolchain_line: str, releases: Sequence[str], *, gomod: str = "go.mod") -> Pin:
    """The exact release for a module whose ``gomod`` has these lines (see the module doc)."""
    known = sort_releases(releases)
    if not go_line:
        raise GoModError(f"{gomod} has no go line, so it names no Go release; add one (e.g. `go 1.22`, the "
                         "language version the module is written for) and run fixproof init again.")
    if versions.parse_go(go_line) is None:
        raise GoModError(f"{gomod}: go line {go_line!r} is not a Go version such as 1.22 or 1.22.5")
    chosen = _from_toolchain(go_line, toolchain_line, gomod)
    if chosen is None:
        chosen = _from_go_line(go_line, known, gomod)
    return chosen


def _from_toolchain(go_line: str, toolchain_line: str, gomod: str) -> Pin | None:
    if not toolchain_line:
        return None
    bare = versions.strip_go_suffixes(toolchain_line)
    if versions.parse_go(bare) is None or not bare.startswith("go"):
        raise GoModError(f"{gomod}: toolchain line {toolchain_line!r} names no Go release such as go1.22.5")
    version = bare.removeprefix("go")
    if versions.compare_go(version, go_line) < 0:
        return None  # older than the go line: the go command ignores it
    why = (f"{gomod} has `go {go_line}` and `toolchain {toolchain_line}`: the toolchain line names the release "
           f"the go command builds this module with, so that is the pin.")
    if bare != toolchain_line:
        why += f" ({toolchain_line} is a custom build of go{version}; the pin is the release it is built from.)"
    return Pin(version, why)


def _from_go_line(go_line: str, known: list[str], gomod: str) -> Pin:
    g = versions.parse_go(go_line)
    assert g is not None
    written_patch = go_line.count(".") >= 2
    if g.kind in ("beta", "rc") or written_patch:
        return Pin(go_line, f"{gomod} has `go {go_line}` and no toolchain line: the go command builds it with "
                            f"go{go_line} or newer, so the pin is exactly that release.")
    line = f"{g.major}.{g.minor}"
    first = line if (g.major, g.minor) < (1, 21) else f"{line}.0"
    of_line = [r for r in known if versions.language_version(r) == line]
    final = [r for r in of_line if (versions.parse_go(r) or g).kind == "release"]
    if final:
        return Pin(final[-1], f"{gomod} has `go {go_line}`, a language version that every go{line}.x release "
                              f"satisfies; the pin is go{final[-1]}, the newest {line} release on the module proxy "
                              f"(what a golang:{line} image or setup-go with go-version-file builds with, and the "
                              f"{line} release with every security fix). If your release builds use another "
                              f"{line}.x, pin that one.")
    if of_line:
        return Pin(of_line[-1], f"{gomod} has `go {go_line}`, and Go {line} has no final release on the module "
                                f"proxy yet: the pin is its newest pre-release, go{of_line[-1]}.")
    if known:
        raise GoModError(f"{gomod} has `go {go_line}`, but the module proxy lists no Go {line} release; fix the go "
                         f"line (newest releases: {', '.join(known[-3:])}).")
    return Pin(first, f"{gomod} has `go {go_line}`, a language version that every go{line}.x release satisfies. "
                      f"The module proxy's release list could not be read, so the pin is go{first}, the first "
                      f"release that satisfies it; later {line}.x releases carry security fixes: pin the one your "
                      f"release builds use.")

