"""The compact vulnerability index (fixproof.vulnindex) and the function-name pool: the fast path of
``fixproof vulns`` finds exactly what the full path (VulnDB, every entry, every function name) finds."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import DATA, VULNDB
from fixproof import vulnindex
from fixproof.goinfo import versions
from fixproof.goinfo.pclntab import FuncNames
from fixproof.vulndb import VulnDB
from fixproof.vulnmatch import checked_modules, link_prefix, match, module_paths, select_functions

DB_URL = VULNDB.as_uri()


@dataclass(frozen=True)
class _Mod:
    path: str
    version: str
    replace: "_Mod | None" = None


@dataclass(frozen=True)
class _Info:
    file: str
    goos: str
    goarch: str
    go_version: str
    path: str
    main: _Mod | None
    deps: tuple[_Mod, ...] = field(default_factory=tuple)


def _mod(d: dict[str, Any] | None) -> _Mod | None:
    if d is None:
        return None
    return _Mod(d["path"], d["version"], _mod(d.get("replace")))


def _recorded() -> list[_Info]:
    doc = json.loads((DATA / "vulns_module_lists.json").read_text())
    return [_Info(b["binary"], b["goos"], b["goarch"], b["go_version"], b["path"], _mod(b["main"]),
                  tuple(_mod(d) for d in b["deps"]))  # type: ignore[misc]
            for b in doc["binaries"]]


def _constructed(db: VulnDB) -> list[_Info]:
    """Binaries made up from the snapshot: many modules of the index, each at versions around the
    bounds its advisories name (below, at, just above, pre-releases), and Go releases old and new."""
    rnd = random.Random(14)
    index = db.module_index()
    modules = sorted(m for m in index if m not in ("stdlib", "toolchain"))
    picked = rnd.sample(modules, 300)
    entries = db.entries_for_modules(picked)
    bounds: dict[str, list[str]] = {}
    for m in picked:
        vs = {"v0.0.0", "v0.0.0-20200101000000-abcdefabcdef", "v99.0.0"}
        for e in entries.get(m, ()):
            for a in e.affected:
                for r in a.ranges:
                    for ev in r.events:
                        v = ev.introduced or ev.fixed
                        if v and v != "0":
                            v = "v" + v.lstrip("v")
                            vs.add(v)
                            sv = versions.parse_semver(v)
                            if sv is not None and not sv.prerelease:
                                vs.add(f"v{sv.major}.{sv.minor}.{sv.patch}-rc.1")
                                vs.add(f"v{sv.major}.{sv.minor}.{sv.patch + 1}")
                                if sv.patch:
                                    vs.add(f"v{sv.major}.{sv.minor}.{sv.patch - 1}")
        bounds[m] = sorted(vs)
    gos = ["go1.12.17", "go1.16.3", "go1.18", "go1.19.2", "go1.20.14", "go1.21rc2", "go1.21.0", "go1.22.4",
           "go1.22.5", "go1.23.2", "go1.24.13", "go1.26.8", "go1.27.4", "devel go1.28-abcdef"]
    infos = []
    for i in range(60):
        mods = rnd.sample(picked, 12)
        deps = tuple(_Mod(m, rnd.choice(bounds[m])) for m in mods)
        infos.append(_Info(f"made-{i}", rnd.choice(["linux", "windows", "darwin", ""]),
                           rnd.choice(["amd64", "arm64", "386"]), gos[i % len(gos)], "example.com/app",
                           _Mod("example.com/app", "(devel)"), deps))
    return infos


def _names_for(info: _Info, entries: dict[str, Any], rnd: random.Random) -> list[str]:
    """Function names for a made-up binary: some of the advisories' symbols (as methods on a
    pointer or a value, generic instances, closures), other functions of the same packages, and
    packages of the modules that no advisory names."""
    names = ["main.main", "runtime.main", "fmt.Println", "type:.eq.[2]interface {}", "go:buildid"]
    by_prefix = {m.path: m.import_prefix for m in checked_modules(info)[0]}
    for mod_path, ents in entries.items():
        prefix = by_prefix.get(mod_path, "")
        if prefix:
            names += [f"{link_prefix(prefix)}.Other", f"{prefix}/internal/x.Helper"]
        for e in ents:
            for a in e.affected:
                for imp in a.imports:
                    pkg = link_prefix(imp.path)
                    if rnd.random() < 0.3:
                        continue  # package not linked
                    names.append(f"{pkg}." + rnd.choice(["init", "glob..func1", "(*unrelated).M", "other[...]"]))
                    for s in imp.symbols:
                        r = rnd.random()
                        if r < 0.4:
                            continue
                        if "." in s:
                            t, m = s.split(".", 1)
                            names.append(f"{pkg}.(*{t}).{m}" if r < 0.6 else
                                         f"{pkg}.{t}[go.shape.int].{m}" if r < 0.7 else f"{pkg}.{t}.{m}")
                        else:
                            names.append(f"{pkg}.{s}.func1" if r < 0.5 else f"{pkg}.{s}")
    return names


@pytest.fixture(scope="module")
def snapshot() -> VulnDB:
    if not (VULNDB / "index" / "db.json").is_file():
        pytest.skip("the shared vulndb snapshot is not present")
    return VulnDB(DB_URL)


@pytest.fixture(scope="module")
def index(snapshot: VulnDB, tmp_path_factory: pytest.TempPathFactory) -> vulnindex.VulnIndex:
    cache = tmp_path_factory.mktemp("vulnidx")
    vulnindex.open_index(DB_URL, cache_dir=cache)  # derives and writes it
    idx = vulnindex.open_index(DB_URL, cache_dir=cache)  # reads it back
    assert idx.path is not None and idx.path.is_file()
    return idx


def test_fast_path_equals_full_path_on_the_snapshot(snapshot: VulnDB, index: vulnindex.VulnIndex) -> None:
    rnd = random.Random(7)
    infos = _recorded() + _constructed(snapshot)
    compared = symbol_level = 0
    for info in infos:
        full_entries = snapshot.entries_for_modules(module_paths(info))
        fast_entries = index.entries_for([(m.path, m.version) for m in checked_modules(info)[0]])
        assert set(fast_entries) <= set(full_entries), info.file
        names = _names_for(info, full_entries, rnd)
        pool = FuncNames("\0".join(names).encode() + b"\0")
        for functions, fast_functions in ((names, select_functions(info, fast_entries, pool)), (None, None)):
            full = match(info, functions, full_entries)
            fast = match(info, fast_functions, fast_entries)
            assert fast == full, info.file
            compared += len(full)
            symbol_level += sum(1 for f in full if f.level.value == "symbol")
    assert compared > 500 and symbol_level > 50  # the comparison covered real work


def test_entries_round_trip_through_the_index(snapshot: VulnDB, index: vulnindex.VulnIndex) -> None:
    for module in ("stdlib", "golang.org/x/text", "gopkg.in/yaml.v2", "github.com/hashicorp/vault"):
        ids = index.ids_for_module(module)
        assert ids == tuple(v.id for v in snapshot.ids_for_module(module))
        for rec in index._module_records(module):
            assert vulnindex.entry_from_json(rec[2]) == snapshot.entry(rec[0])


def test_sort_key_orders_like_compare() -> None:
    vs = ["v0.0.0", "v0.0.0-20190101000000-abcdefabcdef", "v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-alpha.beta",
          "v1.0.0-beta", "v1.0.0-beta.2", "v1.0.0-beta.11", "v1.0.0-rc.1", "v1.0.0", "v1.0.0+meta", "1.0.1",
          "v1.2", "v1.10.0", "v2.0.0+incompatible", "v1.22.0-rc.1", "v1.22.0", "v1.0.0-1", "v1.0.0-a-b", "v1.0.0-9"]
    for a in vs:
        for b in vs:
            ka, kb = versions.sort_key(a), versions.sort_key(b)
            assert ka is not None and kb is not None
            assert (ka > kb) - (ka < kb) == versions.compare(a, b), (a, b)
    assert versions.sort_key("(devel)") is None and versions.sort_key("") is None


def test_version_prefilter_agrees_with_affected(snapshot: VulnDB) -> None:
    """holds() over an entry's intervals says yes whenever versions.affected does."""
    ids = [v.id for m in ("stdlib", "golang.org/x/net", "golang.org/x/crypto") for v in snapshot.ids_for_module(m)]
    probe = ["v0.0.0", "v1.12.0", "v1.17.5", "v1.19.0-rc.1", "v1.20.0", "v1.21.3", "v1.22.4", "v1.22.5", "v1.26.8",
             "v0.0.0-20220101000000-abcdefabcdef", "v0.17.0", "v0.23.0", "v0.31.0", "(devel)"]
    for vid in ids:
        e = snapshot.entry(vid)
        for a in e.affected:
            iv = vulnindex.version_intervals(e, a.module)
            for v in probe:
                if versions.affected(v, a.ranges):
                    assert vulnindex.holds(iv, versions.sort_key(v)), (vid, a.module, v)


# -- the cached file ------------------------------------------------------------------------


def _tiny_db(root: Path, modified: str, fixed: str) -> str:
    (root / "index").mkdir(parents=True, exist_ok=True)
    (root / "ID").mkdir(exist_ok=True)
    (root / "index" / "db.json").write_text(json.dumps({"modified": modified}))
    (root / "index" / "modules.json").write_text(json.dumps(
        [{"path": "example.com/lib", "vulns": [{"id": "GO-2099-0001", "modified": modified}]}]))
    (root / "ID" / "GO-2099-0001.json").write_text(json.dumps({
        "id": "GO-2099-0001", "modified": modified, "aliases": ["CVE-2099-1"],
        "affected": [{"package": {"name": "example.com/lib", "ecosystem": "Go"},
                      "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
                      "ecosystem_specific": {"imports": [{"path": "example.com/lib/p", "symbols": ["F"]}]}}]}))
    return root.as_uri()


def _ids(idx: vulnindex.VulnIndex, version: str) -> list[str]:
    return [e.id for e in idx.entries_for([("example.com/lib", version)]).get("example.com/lib", ())]


def test_index_is_derived_again_when_the_database_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = _tiny_db(tmp_path / "db", "2024-01-01T00:00:00Z", "1.5.0")
    cache = tmp_path / "cache"
    idx = vulnindex.open_index(url, cache_dir=cache)
    assert _ids(idx, "v1.4.0") == ["GO-2099-0001"] and _ids(idx, "v1.5.0") == []
    # unchanged: read back, not derived again
    with monkeypatch.context() as m:
        m.setattr(vulnindex, "build", lambda db: pytest.fail("derived again for an unchanged database"))
        assert _ids(vulnindex.open_index(url, cache_dir=cache), "v1.4.0") == ["GO-2099-0001"]
    # a new database (modified time changes): derived again
    _tiny_db(tmp_path / "db", "2024-02-01T00:00:00Z", "1.4.0")
    idx = vulnindex.open_index(url, cache_dir=cache)
    assert _ids(idx, "v1.4.0") == []


def test_damaged_index_is_derived_again(tmp_path: Path) -> None:
    url = _tiny_db(tmp_path / "db", "2024-01-01T00:00:00Z", "1.5.0")
    idx = vulnindex.open_index(url, cache_dir=tmp_path / "cache")
    assert idx.path is not None
    for damage in (b"", b"garbage", vulnindex.MAGIC + b"{not json\n", idx.path.read_bytes()[:-40]):
        idx.path.write_bytes(damage)
        again = vulnindex.open_index(url, cache_dir=tmp_path / "cache")
        assert _ids(again, "v1.4.0") == ["GO-2099-0001"]
        assert idx.path.read_bytes().startswith(vulnindex.MAGIC)
    # damaged inside a module's records, same size: found when read, derived again
    body = bytearray(idx.path.read_bytes())
    at = body.rindex(b"GO-2099-0001")
    body[at - 3:at + 3] = b"@@@@@@"
    idx.path.write_bytes(bytes(body))
    assert _ids(vulnindex.open_index(url, cache_dir=tmp_path / "cache"), "v1.4.0") == ["GO-2099-0001"]
    assert b"@@@@@@" not in idx.path.read_bytes()


def test_unwritable_cache_still_works_and_says_so(tmp_path: Path) -> None:
    url = _tiny_db(tmp_path / "db", "2024-01-01T00:00:00Z", "1.5.0")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    notes: list[str] = []
    idx = vulnindex.open_index(url, cache_dir=blocker, notify=notes.append)
    assert _ids(idx, "v1.4.0") == ["GO-2099-0001"] and idx.path is None
    assert len(notes) == 1 and "FIXPROOF_CACHE_DIR" in notes[0]


# -- names ----------------------------------------------------------------------------------


def test_link_prefix_escapes_like_the_linker() -> None:
    assert link_prefix("gopkg.in/yaml.v2") == "gopkg.in/yaml%2ev2"
    assert link_prefix("gopkg.in/yaml.v2", last=False) == "gopkg.in/yaml.v2"
    assert link_prefix("net/http") == "net/http"
    assert link_prefix('a/b"c%d e') == "a/b%22c%25d%20e"


def test_name_pool_select() -> None:
    names = ["main.main", "net/http.(*Client).Do", "net/http.Get", "net/httptest.NewServer",
             "gopkg.in/yaml%2ev2.Unmarshal", "gopkg.in/yaml.v2/sub.F", "net/http.Get"]
    pool = FuncNames(b"\0".join(n.encode() for n in names) + b"\0\0")
    assert pool.select(["net/http."]) == ["net/http.(*Client).Do", "net/http.Get"]
    assert sorted(pool.select(["gopkg.in/yaml%2ev2.", "gopkg.in/yaml.v2/"])) == [
        "gopkg.in/yaml%2ev2.Unmarshal", "gopkg.in/yaml.v2/sub.F"]
    assert pool.select(["main."]) == ["main.main"]  # at a name's start only
    assert sorted(pool.select(None)) == sorted(set(names))
    assert set(pool.iter_prefixed("net/http.")) == {"net/http.(*Client).Do", "net/http.Get"}
    assert pool.select(["net/http.(*Client).", "nothing.", "net/http.(*Client).Do"]) == ["net/http.(*Client).Do"]
    listed = FuncNames(None, tuple(names))
    assert list(listed.iter_prefixed("main.")) == ["main.main"]
    assert listed.select(["net/http."]) == ["net/http.(*Client).Do", "net/http.Get"]


# -- imports --------------------------------------------------------------------------------


def test_vulns_on_a_local_database_imports_no_network_stack(tmp_path: Path) -> None:
    """`fixproof vulns` with a file:// database never imports requests (nor urllib3, certifi), and
    with its compact index already derived not even the database client (fixproof.vulndb)."""
    url = _tiny_db(tmp_path / "db", "2024-01-01T00:00:00Z", "1.5.0")
    vulnindex.open_index(url, cache_dir=tmp_path / "cache" / "vulndb")
    code = (
        "import io, sys\n"
        "from fixproof import cli\n"
        "from fixproof import vulns_cmd\n"
        "class M:\n"
        "    path, version, replace = 'example.com/lib', 'v1.4.0', None\n"
        "class I:\n"
        "    file, goos, goarch, go_version, path, main, deps = 'x', 'linux', 'amd64', 'go1.22.4', 'example.com/a', None, (M(),)\n"
        f"rc = vulns_cmd.run(['x'], db={url!r}, waivers=None, as_json=True, out=io.StringIO(), err=sys.stderr,\n"
        "                   read_buildinfo=lambda p: I(), read_functions=lambda p: ['example.com/lib/p.F'])\n"
        "assert rc == 1, rc\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('requests', 'urllib3', 'certifi', 'ssl', 'http')\n"
        "             or m == 'fixproof.vulndb')\n"
        "print(' '.join(bad))\n"
    )
    env = dict(os.environ, FIXPROOF_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""
