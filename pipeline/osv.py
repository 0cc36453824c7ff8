"""The Go vulnerability database's records as fixproof reads them (OSV entries), and reading a
database laid out on disk.

Split from :mod:`fixproof.vulndb` (which re-exports every name here) so that ``fixproof vulns``
on a local database, which reads entries through :mod:`fixproof.vulnindex`, defines and imports
none of the client (sources, cache, index parsing): start-up time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from fixproof.errors import VulnDBError

STDLIB = "stdlib"
TOOLCHAIN = "toolchain"


# --- data ----------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One OSV range event: exactly one of introduced/fixed is set."""

    introduced: str = ""
    fixed: str = ""


@dataclass(frozen=True)
class Range:
    """One OSV range: its type (SEMVER for Go) and its events."""

    type: str
    events: tuple[Event, ...]


@dataclass(frozen=True)
class Import:
    """ecosystem_specific.imports[]: a vulnerable package, optionally per platform."""

    path: str
    goos: tuple[str, ...] = ()
    goarch: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()

    def matches_platform(self, goos: str, goarch: str) -> bool:
        """An empty list, or an unknown GOOS/GOARCH of the binary, matches everything."""
        return (not goos or not self.goos or goos in self.goos) and (
            not goarch or not self.goarch or goarch in self.goarch
        )


@dataclass(frozen=True)
class Affected:
    """One affected block of an entry: a module, its ranges and its vulnerable packages."""

    module: str
    ranges: tuple[Range, ...]
    imports: tuple[Import, ...] = ()
    ecosystem: str = "Go"


@dataclass(frozen=True)
class Entry:
    """The parts of an OSV entry fixproof uses (never summary or details)."""

    id: str
    modified: datetime
    aliases: tuple[str, ...] = ()
    affected: tuple[Affected, ...] = ()
    withdrawn: datetime | None = None
    published: datetime | None = None

    def is_withdrawn(self, now: datetime | None = None) -> bool:
        if self.withdrawn is None:
            return False
        return self.withdrawn <= (now or datetime.now(timezone.utc))


# --- parsing -------------------------------------------------------------------


class _Malformed(ValueError):
    pass


def _time(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise _Malformed(f"{what} is not a timestamp")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise _Malformed(f"{what} is not a timestamp: {value!r}") from e
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _strs(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Malformed(f"{what} is not a list of strings")
    return tuple(value)


def _obj(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _Malformed(f"{what} is not an object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Malformed(f"{what} is not a list")
    return value


def parse_entry(data: Any) -> Entry:
    """OSV JSON (already decoded) -> Entry. Raises ValueError when malformed."""
    d = _obj(data, "entry")
    if not isinstance(d.get("id"), str) or not d["id"]:
        raise _Malformed("entry has no id")
    affected = []
    for i, a in enumerate(_list(d.get("affected"), "affected")):
        a = _obj(a, f"affected[{i}]")
        pkg = _obj(a.get("package"), f"affected[{i}].package")
        ranges = []
        for r in _list(a.get("ranges"), "ranges"):
            r = _obj(r, "range")
            events = []
            for e in _list(r.get("events"), "events"):
                e = _obj(e, "event")
                events.append(Event(introduced=str(e.get("introduced") or ""), fixed=str(e.get("fixed") or "")))
            ranges.append(Range(type=str(r.get("type") or ""), events=tuple(events)))
        es = a.get("ecosystem_specific") or {}
        imports = []
        for imp in _list(_obj(es, "ecosystem_specific").get("imports"), "imports"):
            imp = _obj(imp, "import")
            if not isinstance(imp.get("path"), str):
                raise _Malformed("import has no path")
            imports.append(Import(
                path=imp["path"],
                goos=_strs(imp.get("goos"), "goos"),
                goarch=_strs(imp.get("goarch"), "goarch"),
                symbols=_strs(imp.get("symbols"), "symbols"),
            ))
        affected.append(Affected(
            module=str(pkg.get("name") or ""),
            ecosystem=str(pkg.get("ecosystem") or ""),
            ranges=tuple(ranges),
            imports=tuple(imports),
        ))
    return Entry(
        id=d["id"],
        modified=_time(d.get("modified"), "modified"),
        published=_time(d["published"], "published") if d.get("published") else None,
        withdrawn=_time(d["withdrawn"], "withdrawn") if d.get("withdrawn") else None,
        aliases=tuple(dict.fromkeys(_strs(d.get("aliases"), "aliases"))),  # the DB repeats some
        affected=tuple(affected),
    )


# --- reading ---------------------------------------------------------------------


def _maybe_gunzip(body: bytes, where: str) -> bytes:
    if body[:2] == b"\x1f\x8b":
        import gzip

        try:
            return gzip.decompress(body)
        except (OSError, EOFError) as e:
            raise VulnDBError(f"{where} is a corrupt gzip stream ({e}); re-publish or re-download the database.") from e
    return body


def read_local(root: Path, rel: str) -> bytes:
    """``rel`` of the database laid out under ``root`` (or ``rel.gz``), decompressed; VulnDBError
    naming the file when it is missing or unreadable."""
    path = root / rel
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        gz = path.with_name(path.name + ".gz")
        try:
            body = gz.read_bytes()
        except FileNotFoundError as e:
            raise VulnDBError(
                f"{path} does not exist; is {root} a Go vulnerability database (v1 layout)?") from e
        except OSError as e:
            raise VulnDBError(f"cannot read {gz}: {e.strerror or e}.") from e
    except OSError as e:
        raise VulnDBError(f"cannot read {path}: {e.strerror or e}.") from e
    return _maybe_gunzip(body, str(path))


def _decode(body: bytes, where: str) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise VulnDBError(f"{where} is not valid JSON ({e}); the database or its cache is corrupt.") from e


def normalise_url(url: str) -> str:
    """A database URL in normal form: no trailing slash; a bare path becomes a file:// URL."""
    url = url.strip()
    if "://" not in url:  # a bare path is a local database
        return Path(url).resolve().as_uri()
    return url.rstrip("/")
