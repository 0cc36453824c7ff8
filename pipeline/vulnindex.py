"""A compact index of a local (``file://``) Go vulnerability database, kept in the cache directory.

``fixproof vulns`` on one binary needs the advisories of a handful of modules,
but the database is thousands of files and a 1 MB ``index/modules.json``.
Reading and decoding those on every run costs more than the rest of the run,
so the first run after the database changes derives this index once:

    <vulndb cache root>/<sha256(url)[:16]>/compact-index-v1

(the cache root as for :class:`fixproof.vulndb.VulnDB`: ``$FIXPROOF_CACHE_DIR/vulndb``,
else ``$XDG_CACHE_HOME/fixproof/vulndb``). Its layout::

    FIXPROOF-VULNIDX 1\\n
    {"url", "stamp"}\\n                    what it was derived from
    {module path: [offset, length]}\\n     where each module's records are in the data
    data: per module, a JSON list of records [id, versions, entry]

``entry`` is the entry as :func:`fixproof.osv.parse_entry` read it (ids, dates,
aliases, affected modules, ranges, packages, symbols; never summaries or
details), ``versions`` the version intervals of the entry's ranges for that
module as :func:`fixproof.goinfo.versions.sort_key` keys, or null when every
version is affected. A run reads the file, decodes the directory and then only
the records of the binary's own modules, and turns into
:class:`~fixproof.osv.Entry` objects only the entries whose intervals hold
the module's version: the others could not match (:func:`fixproof.vulnmatch.match`
gives the same findings with or without them; tests/unit/test_vulnindex.py
checks it on the snapshot).

The ``stamp`` is the database's ``modified`` time (index/db.json) and the size
and modification time of its two index files: when any changes, the index is
derived again from the database through :class:`~fixproof.vulndb.VulnDB` (the
same parser as the full path). JSON only: nothing in the cache is executed or
unpickled. A damaged or unreadable index is derived again; when the cache
directory is not writable, the run uses the index it derived in memory and
says where it could not write.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from fixproof.cachedir import url_key, vulndb_cache_root
from fixproof.errors import VulnDBError
from fixproof.goinfo import versions
from fixproof.osv import Affected, Entry, Event, Import, Range, _decode, normalise_url, read_local

MAGIC = b"FIXPROOF-VULNIDX 1\n"
FILE_NAME = "compact-index-v1"

if TYPE_CHECKING:
    from fixproof.vulndb import VulnDB

Notify = Callable[[str], None]
Key = list[Any]
Intervals = list[list[Key | None]] | None


def is_local(url: str) -> bool:
    return urllib.parse.urlsplit(url).scheme == "file"


# --- entries <-> JSON ------------------------------------------------------------------


def _when(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def entry_to_json(e: Entry) -> list[Any]:
    return [e.id, _when(e.modified), _when(e.published), _when(e.withdrawn), list(e.aliases),
            [[a.module, a.ecosystem,
              [[r.type, [[ev.introduced, ev.fixed] for ev in r.events]] for r in a.ranges],
              [[i.path, list(i.goos), list(i.goarch), list(i.symbols)] for i in a.imports]]
             for a in e.affected]]


def entry_from_json(d: list[Any]) -> Entry:
    vid, modified, published, withdrawn, aliases, affected = d
    fromiso = datetime.fromisoformat
    return Entry(
        id=vid,
        modified=fromiso(modified),
        published=fromiso(published) if published else None,
        withdrawn=fromiso(withdrawn) if withdrawn else None,
        aliases=tuple(aliases),
        affected=tuple(
            Affected(module=m, ecosystem=eco,
                     ranges=tuple(Range(type=t, events=tuple(Event(introduced=i, fixed=f) for i, f in evs))
                                  for t, evs in ranges),
                     imports=tuple(Import(path=p, goos=tuple(os_), goarch=tuple(arch), symbols=tuple(syms))
                                   for p, os_, arch, syms in imports))
            for m, eco, ranges, imports in affected),
    )


def version_intervals(entry: Entry, module: str) -> Intervals:
    """The intervals (sort keys; None = unbounded) of the versions of ``module`` that
    ``entry`` affects, as :func:`fixproof.goinfo.versions.affected` reads its ranges; None when
    every version may be (no SEMVER range, or a bound that is no valid version)."""
    out: list[list[Key | None]] = []
    for a in entry.affected:
        if a.module != module:
            continue
        semver = [r for r in a.ranges if r.type == "SEMVER"]
        if not semver:
            return None
        for r in semver:
            if not r.events:
                return None
            for lo, hi in versions.intervals(r):
                klo = None if lo == "0" else versions.sort_key(lo)
                khi = None if hi == "" else versions.sort_key(hi)
                if (lo != "0" and klo is None) or (hi != "" and khi is None):
                    return None
                out.append([klo, khi])
    return out


def holds(intervals: Intervals, key: Key | None) -> bool:
    """Whether a version (its sort key; None when invalid) may be affected."""
    if intervals is None or key is None:
        return True
    for lo, hi in intervals:
        if (lo is None or lo <= key) and (hi is None or key < hi):
            return True
    return False


# --- building --------------------------------------------------------------------------


def _stamp(root: Path, modified: str) -> list[Any]:
    parts: list[Any] = [modified]
    for rel in ("index/db.json", "index/modules.json"):
        for p in (root / rel, root / (rel + ".gz")):
            try:
                st = p.stat()
            except OSError:
                continue
            parts.append([p.name, st.st_mtime_ns, st.st_size])
            break
        else:
            parts.append(None)
    return parts


def build(db: "VulnDB") -> tuple[dict[str, tuple[int, int]], bytes]:
    """Directory and data of the index of an open database (reads every entry once)."""
    index = db.module_index()
    entries = db.entries(v.id for vulns in index.values() for v in vulns)
    directory: dict[str, tuple[int, int]] = {}
    chunks: list[bytes] = []
    at = 0
    for module, vulns in index.items():
        if not vulns:
            continue
        records = [[v.id, version_intervals(entries[v.id], module), entry_to_json(entries[v.id])] for v in vulns]
        body = json.dumps(records, separators=(",", ":")).encode()
        directory[module] = (at, len(body))
        chunks.append(body)
        at += len(body)
    return directory, b"".join(chunks)


def _serialise(header: Mapping[str, Any], directory: Mapping[str, tuple[int, int]], data: bytes) -> bytes:
    return b"".join([MAGIC, json.dumps(header, separators=(",", ":")).encode(), b"\n",
                     json.dumps(directory, separators=(",", ":")).encode(), b"\n", data])


def _write(path: Path, body: bytes) -> None:
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# --- loading ---------------------------------------------------------------------------


class VulnIndex:
    """The compact index of one local database, open for one run."""

    def __init__(self, url: str, directory: Mapping[str, Sequence[int]], data: Any, base: int,
                 path: Path | None, rederive: Callable[[], "VulnIndex"] | None = None) -> None:
        self.url = url
        self.path = path  # the cache file, None when it could not be written
        self._directory = directory
        self._data = data  # bytes, or the cache file mapped (mmap): only the records read are copied
        self._base = base  # where the records start in it
        self._rederive = rederive  # for a cached file found damaged while reading it
        self._records: dict[str, list[Any]] = {}
        self._entries: dict[str, Entry] = {}

    def modules(self) -> Iterable[str]:
        return self._directory.keys()

    def _module_records(self, module: str) -> list[Any]:
        recs = self._records.get(module)
        if recs is None:
            loc = self._directory.get(module)
            try:
                at = self._base + loc[0] if loc is not None else 0
                recs = [] if loc is None else json.loads(self._data[at: at + loc[1]])
                if not isinstance(recs, list) or not all(isinstance(r, list) and len(r) == 3 for r in recs):
                    raise ValueError("not a list of records")
            except (ValueError, TypeError, IndexError):
                if self._rederive is None:
                    raise VulnDBError(f"the vulnerability database index {self.path} is damaged; delete it.") from None
                fresh, self._rederive = self._rederive(), None
                self._directory, self._data, self._base, self.path = (fresh._directory, fresh._data, fresh._base,
                                                                      fresh.path)
                self._records.clear()
                return self._module_records(module)
            self._records[module] = recs
        return recs

    def _entry(self, rec: list[Any]) -> Entry:
        e = self._entries.get(rec[0])
        if e is None:
            e = self._entries[rec[0]] = entry_from_json(rec[2])
        return e

    def entries_for(self, modules: Iterable[tuple[str, str]]) -> dict[str, tuple[Entry, ...]]:
        """(DB module path, version) pairs -> module path -> the entries that may affect that
        version (those listed for the module whose ranges hold it). A module asked for twice
        at different versions gets the entries of either."""
        out: dict[str, dict[str, Entry]] = {}
        for module, version in modules:
            key = versions.sort_key(version)
            for rec in self._module_records(module):
                if holds(rec[1], key):
                    out.setdefault(module, {})[rec[0]] = self._entry(rec)
        return {m: tuple(es.values()) for m, es in out.items()}

    def ids_for_module(self, module: str) -> tuple[str, ...]:
        return tuple(rec[0] for rec in self._module_records(module))


def _root_of(url: str) -> Path:
    return Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path))


def _read_db_modified(root: Path, url: str) -> str:
    """index/db.json's ``modified``, as written (the index is derived again when it changes)."""
    where = str(root / "index/db.json")
    data = _decode(read_local(root, "index/db.json"), where)
    modified = data.get("modified") if isinstance(data, dict) else None
    if not isinstance(modified, str):
        raise VulnDBError(f"{where} has no modified time; the database is corrupt.")
    return modified


def _load(path: Path, url: str, stamp: list[Any], rederive: Callable[[], VulnIndex]) -> VulnIndex | None:
    """The cached index when it is intact and was derived from this state of the database; None
    otherwise. The file is mapped, not read: a run copies the directory and its modules' records.
    (It is only ever replaced, never written in place, so a mapping stays valid.)"""
    import mmap

    try:
        with open(path, "rb") as f:
            body = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # missing, unreadable, or empty (which mmap refuses)
        return None
    try:
        if body[:len(MAGIC)] != MAGIC:
            return None
        h_end = body.find(b"\n", len(MAGIC))
        d_end = body.find(b"\n", h_end + 1) if h_end >= 0 else -1
        if d_end < 0:
            return None
        header = json.loads(body[len(MAGIC):h_end])
        if not isinstance(header, dict) or header.get("url") != url or header.get("stamp") != stamp:
            return None
        directory = json.loads(body[h_end + 1:d_end])
    except ValueError:
        return None
    if not isinstance(directory, dict) or header.get("size") != len(body) - d_end - 1:
        return None
    return VulnIndex(url, directory, body, d_end + 1, path, rederive)


def open_index(url: str, *, cache_dir: str | os.PathLike[str] | None = None,
               notify: Notify | None = None) -> VulnIndex:
    """The compact index of the local database at ``url`` (a file:// URL), derived again when
    the database changed. VulnDBError when the database cannot be read."""
    notify = notify or (lambda _m: None)
    url = normalise_url(url)
    root = _root_of(url)
    stamp = _stamp(root, _read_db_modified(root, url))
    cache_root = Path(cache_dir) if cache_dir is not None else vulndb_cache_root()
    path = cache_root / url_key(url) / FILE_NAME
    idx = _load(path, url, stamp, lambda: _derive(url, stamp, path, notify))
    if idx is not None:
        return idx
    return _derive(url, stamp, path, notify)


def _derive(url: str, stamp: list[Any], path: Path, notify: Notify) -> VulnIndex:
    from fixproof.vulndb import VulnDB  # the full client: only when the index is derived

    with VulnDB(url) as db:
        directory, data = build(db)
    # the database may have changed while it was read: stamp what was there before
    body = _serialise({"url": url, "stamp": stamp, "size": len(data)}, directory, data)
    written: Path | None = path
    try:
        _write(path, body)
    except OSError as e:
        written = None
        notify(f"cannot keep the vulnerability database index in {path.parent} ({e.strerror or e}); "
               f"every run reads the whole database: set FIXPROOF_CACHE_DIR to a writable directory")
    return VulnIndex(url, {k: list(v) for k, v in directory.items()}, data, 0, written)
