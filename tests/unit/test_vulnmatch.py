"""vulnmatch on constructed inputs (no Go binaries needed).

BuildInfo/Module here are minimal stand-ins with the attributes of
fixproof.goinfo.buildinfo's types; vulnmatch only reads attributes.
Entries are our own constructed data, or facts (ids, ranges, symbols)
read at run time from the shared vulndb snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from fixproof.vulndb import Entry, VulnDB, parse_entry
from fixproof.vulnmatch import (
    BinarySymbols,
    FuncName,
    Level,
    checked_modules,
    match,
    parse_func_name,
)

@dataclass(frozen=True)
class Mod:
    path: str
    version: str
    sum: str = ""
    replace: "Mod | None" = None


@dataclass(frozen=True)
class BI:
    file: str = "app"
    format: str = "elf"
    goos: str = "linux"
    goarch: str = "amd64"
    go_version: str = "go1.22.4"
    path: str = "example.com/app"
    main: Mod | None = Mod("example.com/app", "(devel)")
    deps: tuple[Mod, ...] = ()
    settings: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def entry(id: str, module: str, ranges: list[tuple[str, str]] | None = None,
          imports: list[dict[str, Any]] | None = None, **extra: Any) -> Entry:
    events = [{"introduced": i} if i else {"fixed": f} for i, f in (ranges or [("0", "")])]
    aff: dict[str, Any] = {"package": {"name": module, "ecosystem": "Go"},
                           "ranges": [{"type": "SEMVER", "events": events}]}
    if imports is not None:
        aff["ecosystem_specific"] = {"imports": imports}
    return parse_entry({"id": id, "modified": "2024-01-01T00:00:00Z", "aliases": [f"CVE-{id}"],
                        "affected": [aff], **extra})


@pytest.mark.parametrize("raw,want", [
    ("net/http.(*Client).Do", FuncName("net/http", "Client.Do")),
    ("net/http.(*persistConn).readResponse", FuncName("net/http", "persistConn.readResponse")),
    ("net/url.URL.String", FuncName("net/url", "URL.String")),
    ("golang.org/x/text/language.ParseAcceptLanguage",
     FuncName("golang.org/x/text/language", "ParseAcceptLanguage")),
    ("gopkg.in/yaml%2ev2.Unmarshal", FuncName("gopkg.in/yaml.v2", "Unmarshal")),
    ("gopkg.in/yaml%2ev2.(*Decoder).Decode", FuncName("gopkg.in/yaml.v2", "Decoder.Decode")),
    ("go.uber.org/zap.New", FuncName("go.uber.org/zap", "New")),
    # generics: shape brackets stripped (govulncheck keeps them)
    ("main.(*List[go.shape.int]).Push", FuncName("main", "List.Push")),
    ("main.List[go.shape.string].Len", FuncName("main", "List.Len")),
    ("main.Map[go.shape.int,go.shape.string]", FuncName("main", "Map")),
    ("example.com/m/p.F[go.shape.interface {}]", FuncName("example.com/m/p", "F")),
    ("example.com/m/p.G[go.shape.struct { X net/http.Header }]", FuncName("example.com/m/p", "G")),
    ("sync/atomic.(*Pointer[go.shape.struct {}]).Load", FuncName("sync/atomic", "Pointer.Load")),
    # closures and wrappers: the package counts, no symbol of their own
    ("net/http.(*Client).Do.func1", FuncName("net/http", "")),
    ("main.main.func2.1", FuncName("main", "")),
    ("main.worker.gowrap1", FuncName("main", "")),
    ("main.run.deferwrap2", FuncName("main", "")),
    ("net/http.(*Transport).dialConn-fm", FuncName("net/http", "")),
    ("main.loop-range1", FuncName("main", "")),
    ("main.glob..func1", FuncName("main", "")),
    ("net/http.init.func3", FuncName("net/http", "")),
    ("main.(*List[go.shape.int]).Push.func1", FuncName("main", "")),
    ("runtime.main", FuncName("runtime", "main")),
    # generated names belong to no package
    ("type:.eq.[8]internal/cpu.option", None),
    ("go:buildid", None),
    ("type..eq.main.T", None),
    ("", None),
    ("nodot", None),
])
def test_parse_func_name(raw: str, want: FuncName | None) -> None:
    assert parse_func_name(raw) == want


def test_binary_symbols_main_is_the_binary_path() -> None:
    s = BinarySymbols.from_functions(["main.main", "main.Handle", "main.main.func1", "fmt.Println"],
                                     "example.com/app")
    assert s.packages["example.com/app"] == {"main", "Handle"}
    assert "main" not in s.packages
    assert s.packages["fmt"] == {"Println"}


XTEXT = entry("TEST-0001", "golang.org/x/text", [("0", ""), ("", "0.3.8")],
              [{"path": "golang.org/x/text/language", "symbols": ["ParseAcceptLanguage", "MatchStrings"]}])


def test_symbol_package_module_levels() -> None:
    info = BI(deps=(Mod("golang.org/x/text", "v0.3.7"),))
    db = {"golang.org/x/text": [XTEXT]}

    sym = match(info, ["golang.org/x/text/language.ParseAcceptLanguage", "main.main"], db)
    assert [(f.id, f.level, f.symbols, f.fixed, f.version) for f in sym] == [
        ("TEST-0001", Level.SYMBOL, ("golang.org/x/text/language.ParseAcceptLanguage",), "v0.3.8", "v0.3.7")]
    assert sym[0].aliases == ("CVE-TEST-0001",) and sym[0].file == "app"

    pkg = match(info, ["golang.org/x/text/language.Parse", "main.main"], db)
    assert [(f.level, f.symbols) for f in pkg] == [(Level.PACKAGE, ())]

    closure_only = match(info, ["golang.org/x/text/language.ParseAcceptLanguage.func1"], db)
    assert closure_only[0].level is Level.PACKAGE

    mod = match(info, ["golang.org/x/text/unicode/norm.Iter.Next"], db)
    assert [(f.level, f.symbols) for f in mod] == [(Level.MODULE, ())]

    assert match(info, None, db)[0].level is Level.MODULE  # functions unknown

    fixed = BI(deps=(Mod("golang.org/x/text", "v0.3.8"),))
    assert match(fixed, ["golang.org/x/text/language.ParseAcceptLanguage"], db) == ()


def test_to_json_shape() -> None:
    info = BI(deps=(Mod("golang.org/x/text", "v0.3.7"),))
    f = match(info, ["golang.org/x/text/language.MatchStrings"], {"golang.org/x/text": [XTEXT]})[0]
    assert f.to_json() == {
        "file": "app", "id": "TEST-0001", "aliases": ["CVE-TEST-0001"], "module": "golang.org/x/text",
        "version": "v0.3.7", "fixed": "v0.3.8",
        "symbols": ["golang.org/x/text/language.MatchStrings"], "level": "symbol"}


def test_import_without_symbols_is_the_whole_package() -> None:
    e = entry("TEST-0002", "example.com/lib", imports=[{"path": "example.com/lib/bad"}])
    info = BI(deps=(Mod("example.com/lib", "v1.0.0"),))
    got = match(info, ["example.com/lib/bad.helper.func1"], {"example.com/lib": [e]})
    assert [(f.level, f.symbols, f.fixed) for f in got] == [(Level.SYMBOL, ("example.com/lib/bad.*",), "")]
    assert match(info, ["example.com/lib/good.F"], {"example.com/lib": [e]})[0].level is Level.MODULE


def test_affected_without_imports_is_every_package_of_the_module() -> None:
    e = entry("TEST-0003", "example.com/lib", [("0", ""), ("", "1.2.0")])
    nested = Mod("example.com/lib/sub", "v0.1.0")  # a nested module: its packages are not lib's
    info = BI(deps=(Mod("example.com/lib", "v1.0.0"), nested))
    db = {"example.com/lib": [e]}
    got = match(info, ["example.com/lib/x.F", "example.com/lib/sub.G"], db)
    assert [(f.level, f.symbols) for f in got] == [(Level.SYMBOL, ("example.com/lib/x.*",))]
    only_nested = match(info, ["example.com/lib/sub.G"], db)
    assert [f.level for f in only_nested] == [Level.MODULE]


def test_platform_restrictions() -> None:
    e = entry("TEST-0004", "example.com/lib", imports=[
        {"path": "example.com/lib", "goos": ["windows"], "symbols": ["Open"]}])
    db = {"example.com/lib": [e]}
    fns = ["example.com/lib.Open"]
    assert match(BI(deps=(Mod("example.com/lib", "v1.0.0"),)), fns, db) == ()
    win = BI(goos="windows", deps=(Mod("example.com/lib", "v1.0.0"),))
    assert match(win, fns, db)[0].level is Level.SYMBOL
    unknown = BI(goos="", deps=(Mod("example.com/lib", "v1.0.0"),))  # unknown platform matches all
    assert match(unknown, fns, db)[0].level is Level.SYMBOL
    arch = entry("TEST-0005", "example.com/lib", imports=[
        {"path": "example.com/lib", "goarch": ["arm64", "386"], "symbols": ["Open"]}])
    assert match(win, fns, {"example.com/lib": [arch]}) == ()
    assert match(BI(goarch="386", deps=(Mod("example.com/lib", "v1.0.0"),)), fns,
                 {"example.com/lib": [arch]})[0].level is Level.SYMBOL


def test_replaced_dependency_uses_the_replacement() -> None:
    e = entry("TEST-0006", "example.com/fork", [("0", ""), ("", "1.5.0")],
              [{"path": "example.com/fork/pkg", "symbols": ["F"]}])
    db = {"example.com/fork": [e]}
    fns = ["example.com/orig/pkg.F"]  # symbols carry the import path, not the replacement's
    old = BI(deps=(Mod("example.com/orig", "v2.0.0", replace=Mod("example.com/fork", "v1.4.0")),))
    got = match(old, fns, db)
    assert [(f.module, f.version, f.level, f.symbols) for f in got] == [
        ("example.com/fork", "v1.4.0", Level.SYMBOL, ("example.com/fork/pkg.F",))]
    new = BI(deps=(Mod("example.com/orig", "v1.0.0", replace=Mod("example.com/fork", "v1.5.0")),))
    assert match(new, fns, db) == ()
    # same-path replacement pins another version: that version counts
    e2 = entry("TEST-0007", "example.com/orig", [("0", ""), ("", "1.5.0")])
    pinned = BI(deps=(Mod("example.com/orig", "v1.9.0", replace=Mod("example.com/orig", "v1.4.0")),))
    assert match(pinned, ["example.com/orig.F"], {"example.com/orig": [e2]})[0].version == "v1.4.0"
    # directory replacement: no version, not checked, and a note says so
    local = BI(deps=(Mod("example.com/orig", "v1.0.0", replace=Mod("../orig", "")),))
    assert match(local, ["example.com/orig.F"], {"example.com/orig": [e2]}) == ()
    assert any("../orig" in n for n in checked_modules(local)[1])


def test_main_package_maps_to_binary_path_and_generic_method() -> None:
    e = entry("TEST-0008", "example.com/app", imports=[
        {"path": "example.com/app", "symbols": ["Handle"]},
        {"path": "example.com/app/list", "symbols": ["List.Push"]}])
    fns = ["main.Handle", "example.com/app/list.(*List[go.shape.int]).Push"]
    tagged = BI(main=Mod("example.com/app", "v1.2.0"))
    got = match(tagged, fns, {"example.com/app": [e]})
    assert [(f.version, f.level, f.symbols) for f in got] == [
        ("v1.2.0", Level.SYMBOL, ("example.com/app.Handle", "example.com/app/list.List.Push"))]
    # a build from a checkout has no version: not checked (as govulncheck 1.9)
    assert match(BI(), fns, {"example.com/app": [e]}) == ()


def test_withdrawn_and_empty_versions() -> None:
    e = entry("TEST-0009", "example.com/lib", withdrawn="2024-02-01T00:00:00Z")
    info = BI(deps=(Mod("example.com/lib", "v1.0.0"),))
    assert match(info, [], {"example.com/lib": [e]}) == ()
    later = datetime(2024, 1, 15, tzinfo=timezone.utc)  # not yet withdrawn at that time
    assert len(match(info, [], {"example.com/lib": [e]}, now=later)) == 1
    e2 = entry("TEST-0010", "example.com/lib")
    assert match(BI(deps=(Mod("example.com/lib", ""),)), [], {"example.com/lib": [e2]}) == ()


def test_devel_go_skips_stdlib_with_a_note() -> None:
    info = BI(go_version="devel go1.24-abcdef Mon Jan 1 00:00:00 2024 +0000")
    mods, notes = checked_modules(info)
    assert "stdlib" not in [m.path for m in mods] and notes


@pytest.fixture(scope="module")
def snapshot(vulndb_snapshot: Path) -> VulnDB:
    return VulnDB(vulndb_snapshot.as_uri())


def test_stdlib_from_snapshot(snapshot: VulnDB) -> None:
    fns = ["net/http.(*Client).Do", "net/http.(*Client).do.func1", "main.main"]
    old = BI(go_version="go1.22.4")
    entries = snapshot.entries_for_modules(["stdlib", "toolchain"])
    by_id = {f.id: f for f in match(old, fns, entries)}
    f = by_id["GO-2024-2963"]
    assert (f.module, f.version, f.fixed, f.level, f.symbols) == (
        "stdlib", "v1.22.4", "v1.22.5", Level.SYMBOL, ("net/http.Client.Do",))
    assert "CVE-2024-24791" in f.aliases
    # advisories on the go command (module toolchain) are never findings of a binary, even
    # though the snapshot has some that affect go1.22.4
    assert snapshot.ids_for_module("toolchain")
    assert not [f for f in by_id.values() if f.module == "toolchain"]
    assert "GO-2025-3828" not in by_id
    assert "GO-2024-2963" not in {f.id for f in match(BI(go_version="go1.22.5"), fns, entries)}
    # an older branch gets the fix of its own branch
    f21 = {f.id: f for f in match(BI(go_version="go1.21.11"), fns, entries)}["GO-2024-2963"]
    assert f21.fixed == "v1.21.12"


def test_finding_json_carries_severity_only_when_the_advisory_has_one():
    from fixproof.vulnmatch import Finding, Level

    plain = Finding("b", "GO-1", (), "m", "v1", "v2", (), Level.MODULE)
    assert "severity" not in plain.to_json() and Finding.from_json(plain.to_json()) == plain
    scored = Finding("b", "GO-1", (), "m", "v1", "v2", (), Level.MODULE, (("CVSS_V3", "CVSS:3.1/AV:N"),))
    assert scored.to_json()["severity"] == [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N"}]
    assert Finding.from_json(scored.to_json()) == scored
