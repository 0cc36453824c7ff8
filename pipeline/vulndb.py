"""Client for the Go vulnerability database, v1 API (https://go.dev/doc/security/vuln/database).

Layout served under the base URL::

    index/db.json       {"modified": T}
    index/modules.json  [{"path": M, "vulns": [{"id", "modified", "fixed"?}]}]
    ID/<id>.json        one OSV entry

``file://`` URLs read that layout from disk and are not cached (they are
already local). ``http(s)://`` URLs are fetched with ``requests`` (gzip is
negotiated and decoded transparently; a body that is itself a gzip stream is
decompressed too) and cached on disk:

    <cache root>/<sha256(url)[:16]>/index/db.json, index/modules.json, ID/<id>.json

where the cache root is the ``cache_dir`` argument, else
``$FIXPROOF_CACHE_DIR/vulndb``, else ``$XDG_CACHE_HOME/fixproof/vulndb``
(``~/.cache/fixproof/vulndb``). Each open fetches ``index/db.json`` only;
``modules.json`` is fetched again only when its ``modified`` differs from the
cached one, and an ``ID/<id>.json`` only when the index lists a different
``modified`` for it than the cached copy has. Entries are fetched lazily, for
the modules asked about.

When the server cannot be reached and a cache exists, the client works from
the cache and says so through the ``notify`` callback. With no cache it
raises :class:`VulnDBError` naming the URL. Unparsable JSON raises
:class:`VulnDBError` naming the URL or file.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Protocol

from fixproof.cachedir import url_key as cache_key  # noqa: F401  (re-exported)
from fixproof.cachedir import vulndb_cache_root as default_cache_root  # noqa: F401
from fixproof.errors import VulnDBError
from fixproof.osv import (STDLIB, TOOLCHAIN, Affected, Entry, Event, Import, Range,  # noqa: F401  (re-exported)
                          _decode, _list, _Malformed, _maybe_gunzip, _obj, _strs, _time, parse_entry, read_local)
from fixproof.osv import normalise_url as _normalise_url

if TYPE_CHECKING:  # requests is imported only when an http(s) database is opened
    import requests

DEFAULT_URL = "https://vuln.go.dev"
DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds, per request

Notify = Callable[[str], None]


# --- data ----------------------------------------------------------------------


@dataclass(frozen=True)
class IndexVuln:
    """One advisory as index/modules.json lists it under a module."""

    id: str
    modified: datetime
    fixed: str = ""


@dataclass(frozen=True)
class DBInfo:
    """Where entries came from: for notices and evidence."""

    url: str
    modified: datetime
    offline: bool
    cache_dir: str  # "" for file:// databases


# --- parsing -------------------------------------------------------------------


def parse_modules_index(data: Any) -> dict[str, tuple[IndexVuln, ...]]:
    out: dict[str, tuple[IndexVuln, ...]] = {}
    for m in _list(data, "modules index"):
        m = _obj(m, "module")
        path = m.get("path")
        if not isinstance(path, str):
            raise _Malformed("module without a path")
        seen: dict[str, IndexVuln] = {}
        for v in _list(m.get("vulns"), "vulns"):
            v = _obj(v, "vuln")
            if not isinstance(v.get("id"), str):
                raise _Malformed(f"vuln without an id in {path}")
            iv = IndexVuln(id=v["id"], modified=_time(v.get("modified"), "modified"),
                           fixed=str(v.get("fixed") or ""))
            # The same id can be listed once per affected range; keep one.
            if iv.id not in seen or iv.modified > seen[iv.id].modified:
                seen[iv.id] = iv
        out[path] = tuple(seen.values())
    return out


def parse_db_info(data: Any) -> datetime:
    return _time(_obj(data, "db.json").get("modified"), "modified")


# --- transports ------------------------------------------------------------------


class _Unreachable(Exception):
    """The source could not be contacted (network, timeout, 5xx)."""


class Source(Protocol):
    """Where raw bytes come from. ``get`` raises _Unreachable or VulnDBError."""

    def describe(self, rel: str) -> str: ...

    def get(self, rel: str) -> bytes: ...


@dataclass(frozen=True)
class FileSource:
    """A database laid out on disk (file:// URLs); plain or .gz files."""

    root: Path

    def describe(self, rel: str) -> str:
        return str(self.root / rel)

    def get(self, rel: str) -> bytes:
        return read_local(self.root, rel)


@dataclass(frozen=True)
class HTTPSource:
    """A database served over http(s), fetched with requests."""

    base: str
    session: requests.Session
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT

    def describe(self, rel: str) -> str:
        return f"{self.base}/{rel}"

    def get(self, rel: str) -> bytes:
        import requests

        url = self.describe(rel)
        try:
            resp = self.session.get(url, timeout=self.timeout, headers={"Accept-Encoding": "gzip"})
        except (requests.ConnectionError, requests.Timeout) as e:
            raise _Unreachable(f"{url}: {type(e).__name__}") from e
        except requests.RequestException as e:
            raise VulnDBError(f"request for {url} failed: {e}.") from e
        if resp.status_code >= 500:
            raise _Unreachable(f"{url}: HTTP {resp.status_code}")
        if resp.status_code != 200:
            raise VulnDBError(
                f"{url} answered HTTP {resp.status_code}; check that --db points at a Go vulnerability database.")
        return _maybe_gunzip(resp.content, url)


# --- cache -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Cache:
    """The on-disk cache of one http(s) database."""

    dir: Path

    def path(self, rel: str) -> Path:
        return self.dir / rel

    def read(self, rel: str) -> bytes | None:
        try:
            return self.path(rel).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise VulnDBError(f"cannot read the cache file {self.path(rel)}: {e.strerror or e}.") from e

    def write(self, rel: str, body: bytes) -> None:
        import tempfile

        p = self.path(rel)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(body)
            os.replace(tmp, p)
        except OSError as e:
            raise VulnDBError(
                f"cannot write the cache file {p}: {e.strerror or e}; set FIXPROOF_CACHE_DIR to a writable directory.") from e


# --- client ----------------------------------------------------------------------


class VulnDB:
    """A Go vulnerability database opened for one run.

    ``notify`` receives one-line notices (offline mode); the library never
    prints. ``session`` and ``timeout`` are injectable for tests.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        notify: Notify | None = None,
        workers: int = 8,
    ) -> None:
        self.url = _normalise_url(url or DEFAULT_URL)
        self._notify = notify or (lambda _msg: None)
        self._workers = max(1, workers)
        scheme = urllib.parse.urlsplit(self.url).scheme
        self._own_session = False
        self._cache: _Cache | None
        self._source: Source
        if scheme == "file":
            self._source = FileSource(Path(urllib.parse.unquote(urllib.parse.urlsplit(self.url).path)))
            self._cache = None
        elif scheme in ("http", "https"):
            self._own_session = session is None
            if session is None:
                import requests
                import requests.adapters

                session = requests.Session()
                adapter = requests.adapters.HTTPAdapter(pool_maxsize=self._workers)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
            self._source = HTTPSource(self.url, session, timeout)
            root = Path(cache_dir) if cache_dir is not None else default_cache_root()
            self._cache = _Cache(root / cache_key(self.url))
        else:
            raise VulnDBError(f"unsupported vulnerability database URL {self.url!r}; use https://, http:// or file://.")
        self._info: DBInfo | None = None
        self._index: dict[str, tuple[IndexVuln, ...]] | None = None
        self._index_modified: dict[str, datetime] = {}
        self._entries: dict[str, Entry] = {}

    # -- index

    def open(self) -> DBInfo:
        """Read db.json (and modules.json when needed). Idempotent."""
        if self._info is None:
            info, index = self._load_index()
            self._index_modified = {v.id: v.modified for vulns in index.values() for v in vulns}
            self._info, self._index = info, index
        return self._info

    def _parse(self, body: bytes, where: str, parse: Callable[[Any], Any]) -> Any:
        try:
            return parse(_decode(body, where))
        except _Malformed as e:
            raise VulnDBError(f"{where} is malformed ({e}); the database or its cache is corrupt.") from e

    def _load_index(self) -> tuple[DBInfo, dict[str, tuple[IndexVuln, ...]]]:
        src = self._source
        if self._cache is None:
            modified = self._parse(src.get("index/db.json"), src.describe("index/db.json"), parse_db_info)
            index = self._parse(src.get("index/modules.json"), src.describe("index/modules.json"),
                                parse_modules_index)
            return DBInfo(self.url, modified, offline=False, cache_dir=""), index

        cache = self._cache
        try:
            remote_db = src.get("index/db.json")
        except _Unreachable as e:
            return self._offline(str(e))
        modified = self._parse(remote_db, src.describe("index/db.json"), parse_db_info)
        cached_db = cache.read("index/db.json")
        cached_mods = cache.read("index/modules.json")
        if cached_db is not None and cached_mods is not None:
            try:
                same = parse_db_info(json.loads(cached_db)) == modified
            except (ValueError, _Malformed):
                same = False  # a corrupt cached db.json just means "refresh"
            if same:
                try:
                    index = self._parse(cached_mods, str(cache.path("index/modules.json")), parse_modules_index)
                except VulnDBError:
                    pass  # a corrupt cached index is fetched again below
                else:
                    return DBInfo(self.url, modified, offline=False, cache_dir=str(cache.dir)), index
        try:
            mods = src.get("index/modules.json")
        except _Unreachable as e:
            raise VulnDBError(f"lost the connection to {self.url} while reading its index ({e}); try again.") from e
        index = self._parse(mods, src.describe("index/modules.json"), parse_modules_index)
        cache.write("index/modules.json", mods)
        cache.write("index/db.json", remote_db)  # written last: marks the index complete
        return DBInfo(self.url, modified, offline=False, cache_dir=str(cache.dir)), index

    def _offline(self, why: str) -> tuple[DBInfo, dict[str, tuple[IndexVuln, ...]]]:
        assert self._cache is not None
        cache = self._cache
        db = cache.read("index/db.json")
        mods = cache.read("index/modules.json")
        if db is None or mods is None:
            raise VulnDBError(
                f"cannot reach the Go vulnerability database at {self.url} ({why}) and there is no cache "
                f"of it in {cache.dir}; check the network or pass --db file:///path/to/vulndb.")
        modified = self._parse(db, str(cache.path("index/db.json")), parse_db_info)
        index = self._parse(mods, str(cache.path("index/modules.json")), parse_modules_index)
        self._notify(
            f"vulnerability database {self.url} unreachable ({why}); working offline from the cache "
            f"in {cache.dir} (database modified {modified.isoformat()}).")
        return DBInfo(self.url, modified, offline=True, cache_dir=str(cache.dir)), index

    @property
    def info(self) -> DBInfo:
        return self.open()

    def module_index(self) -> dict[str, tuple[IndexVuln, ...]]:
        """index/modules.json: every module path -> its advisories (a copy)."""
        self.open()
        assert self._index is not None
        return dict(self._index)

    def ids_for_module(self, module: str) -> tuple[IndexVuln, ...]:
        self.open()
        assert self._index is not None
        return self._index.get(module, ())

    def resolve(self, names: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Each name -> the Go ids it stands for: a GO id the index lists stands for itself, a
        CVE or GHSA alias for every entry that lists it (index/vulns.json); () when unknown."""
        names = list(dict.fromkeys(names))
        out = {n: ((n,) if self.known(n) else ()) for n in names}
        aliases = [n for n in names if not n.startswith("GO-")]
        if aliases:
            by_alias: dict[str, list[str]] = {}
            for v in self._vulns_index():
                for a in v.get("aliases") or ():
                    by_alias.setdefault(str(a), []).append(str(v["id"]))
            for n in aliases:
                out[n] = tuple(sorted(set(by_alias.get(n, ()))))
        return out

    def _vulns_index(self) -> list[dict[str, Any]]:
        """index/vulns.json (ids, modified times, aliases): from the source, else from the cache."""
        rel = "index/vulns.json"
        try:
            body = self._source.get(rel)
        except _Unreachable as e:
            body = self._cache.read(rel) if self._cache is not None else None
            if body is None:
                raise VulnDBError(f"cannot read {self._source.describe(rel)} to resolve advisory aliases ({e}), and "
                                  "there is no cached copy; name the advisories by their GO ids.") from e
        else:
            if self._cache is not None:
                self._cache.write(rel, body)
        data = self._parse(body, self._source.describe(rel), lambda d: d)
        if not isinstance(data, list):
            raise VulnDBError(f"{self._source.describe(rel)} is not a list of advisories; the database is corrupt.")
        return [v for v in data if isinstance(v, dict) and "id" in v]

    def known(self, vuln_id: str) -> bool:
        """Whether the database's index lists this id (under any module)."""
        self.open()
        return vuln_id in self._index_modified

    # -- entries

    def entry(self, vuln_id: str) -> Entry:
        return self.entries([vuln_id])[vuln_id]

    def entries(self, ids: Iterable[str]) -> dict[str, Entry]:
        """Fetch (or read from the cache) the entries with these ids."""
        info = self.open()
        ids = list(dict.fromkeys(ids))
        wanted = [i for i in ids if i not in self._entries]
        to_fetch: list[str] = []
        for vid in wanted:
            e = self._from_cache(vid, self._index_modified.get(vid), info.offline)
            if e is None:
                to_fetch.append(vid)
            else:
                self._entries[vid] = e
        if to_fetch:
            if self._cache is None or self._workers == 1 or len(to_fetch) == 1:
                fetched = [self._fetch(v) for v in to_fetch]
            else:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max_workers=self._workers) as pool:
                    fetched = list(pool.map(self._fetch, to_fetch))
            for e in fetched:
                self._entries[e.id] = e
        return {i: self._entries[i] for i in ids}

    def _from_cache(self, vid: str, index_modified: datetime | None, offline: bool) -> Entry | None:
        if self._cache is None:
            return None
        rel = f"ID/{vid}.json"
        body = self._cache.read(rel)
        if body is None:
            if offline:
                raise VulnDBError(
                    f"working offline, and the cache in {self._cache.dir} lacks {vid}; "
                    f"reconnect to {self.url} once to fill it.")
            return None
        try:
            entry = parse_entry(json.loads(body))
        except (ValueError, _Malformed) as e:
            if offline:
                raise VulnDBError(
                    f"the cache file {self._cache.path(rel)} is not valid JSON ({e}) and {self.url} is "
                    f"unreachable; delete the cache directory and reconnect.") from e
            return None  # refetch over the corrupt copy
        if index_modified is not None and entry.modified != index_modified and not offline:
            return None  # the index says this entry changed since we cached it
        return entry

    def _fetch(self, vid: str) -> Entry:
        if "/" in vid or vid.startswith("."):
            raise VulnDBError(f"refusing the odd vulnerability id {vid!r} from {self.url}.")
        rel = f"ID/{vid}.json"
        try:
            body = self._source.get(rel)
        except _Unreachable as e:
            raise VulnDBError(f"lost the connection to {self.url} while fetching {vid} ({e}); try again.") from e
        entry = self._parse(body, self._source.describe(rel), parse_entry)
        if entry.id != vid:
            raise VulnDBError(f"{self._source.describe(rel)} holds {entry.id}, not {vid}; the database is corrupt.")
        if self._cache is not None:
            self._cache.write(rel, body)
        return entry

    def entries_for_modules(self, modules: Iterable[str]) -> dict[str, tuple[Entry, ...]]:
        """module path -> its entries (only modules the index lists appear)."""
        mods = list(dict.fromkeys(modules))
        ids_by_mod = {m: tuple(v.id for v in self.ids_for_module(m)) for m in mods}
        entries = self.entries(i for ids in ids_by_mod.values() for i in ids)
        return {m: tuple(entries[i] for i in ids) for m, ids in ids_by_mod.items() if ids}

    def close(self) -> None:
        if self._own_session and isinstance(self._source, HTTPSource):
            self._source.session.close()

    def __enter__(self) -> "VulnDB":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
