"""The itab reader against real binaries.

Ground truth: for Go 1.17-1.26 the linker names every itab `go:itab.T,I`
(`go.itab.` up to 1.19) and `go tool nm` lists them, so the reader's set must
equal that list on unstripped builds, and a stripped build must give its
unstripped twin's set. Go 1.27 writes no such symbols: there the stripped and
unstripped builds must agree, every itab the 1.26 build of the same program
has for the program's own types must be there, and an independent walk of
the table checks every itab's hash against its type's.

Besides the goinfo corpus, a small program (ITAB_PROGRAM) exercises the
naming: map, func, array, chan and basic named types with methods, generic
instantiations, value and pointer receivers, unnamed structs, a local type.
Inputs that are not Go binaries: tests/unit/goinfo/test_itabs.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

import goinfo_corpus as gc
from fixproof.kinds.gdb import InterfaceCheck
from fixproof.errors import BinaryFormatError
from fixproof.goinfo import itabs as itabs_mod
from fixproof.goinfo.binfile import BinFile
from fixproof.goinfo.itabs import Itab, ItabTable, itabs_from, read_itabs
from fixproof.goinfo.pclntab import find_moduledata, locate
from fixproof.results import Status
from fixproof.stages.gdb import _itab_check

# -- the naming program ------------------------------------------------------------

ITAB_SHAPES = """\
package shapes

type Shape interface{ Area() float64 }

type Square struct{ Side float64 }

func (s Square) Area() float64 { return s.Side * s.Side }

type Circle struct{ R float64 }

func (c *Circle) Area() float64 { return 3 * c.R * c.R }
"""

ITAB_PROGRAM = """\
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"example.com/itabprobe/internal/shapes"
)

type Counts map[string]int

func (n Counts) String() string { return fmt.Sprint(len(n)) }

type HandlerFunc func() int

func (f HandlerFunc) Serve() int { return f() }

type Server interface{ Serve() int }

type Box[T any] struct{ v T }

func (b Box[T]) String() string { return fmt.Sprint(b.v) }

type Pair[K comparable, V any] struct {
	k K
	v V
}

func (p *Pair[K, V]) String() string { return fmt.Sprint(p.k, p.v) }

type Ints []int

func (x Ints) Len() int           { return len(x) }
func (x Ints) Less(i, j int) bool { return x[i] < x[j] }
func (x Ints) Swap(i, j int)      { x[i], x[j] = x[j], x[i] }

type Done chan int

func (c Done) Close() error { close(c); return nil }

type Key [4]byte

func (k Key) String() string { return string(k[:]) }

type Level int

func (l Level) String() string { return "level" }

var sink []any

//go:noinline
func str(s fmt.Stringer) { sink = append(sink, s.String()) }

//go:noinline
func serve(s Server) { sink = append(sink, s.Serve()) }

//go:noinline
func area(s shapes.Shape) { sink = append(sink, s.Area()) }

//go:noinline
func read(r io.Reader) { var b [1]byte; r.Read(b[:]) }

//go:noinline
func closer(c io.Closer) { c.Close() }

//go:noinline
func length(x sort.Interface) { sink = append(sink, x.Len()) }

func main() {
	type local struct{ io.Reader }
	str(Counts{"a": 1})
	serve(HandlerFunc(func() int { return 1 }))
	str(Box[shapes.Square]{})
	str(Box[int]{})
	str(&Pair[string, *shapes.Circle]{})
	length(Ints{1})
	closer(make(Done))
	str(Key{})
	str(Level(2))
	area(shapes.Square{Side: 2})
	area(&shapes.Circle{R: 3})
	closer(struct {
		io.Reader
		io.Closer
	}{os.Stdin, os.Stdin})
	area(struct{ shapes.Shape }{shapes.Square{}})
	read(local{os.Stdin})
	var w io.Writer = os.Stdout
	fmt.Fprintln(w, len(sink), errors.New("x"))
}
"""

MOD = "example.com/itabprobe"
SQUARE = f"{MOD}/internal/shapes.Square"
CIRCLE = f"{MOD}/internal/shapes.Circle"
SHAPE = f"{MOD}/internal/shapes.Shape"
# What the program converts, spelled like the linker (Go 1.26 `go tool nm`);
# the local type is the one documented difference (the linker adds ".1").
PROGRAM_ITABS = {
    "main.Counts,fmt.Stringer",
    "main.HandlerFunc,main.Server",
    f"main.Box[{SQUARE}],fmt.Stringer",
    "main.Box[int],fmt.Stringer",
    f"*main.Pair[string,*{CIRCLE}],fmt.Stringer",
    "main.Ints,sort.Interface",
    "main.Done,io.Closer",
    "main.Key,fmt.Stringer",
    "main.Level,fmt.Stringer",
    f"{SQUARE},{SHAPE}",
    f"*{CIRCLE},{SHAPE}",
    "struct { io.Reader; io.Closer },io.Closer",
    f"struct {{ {SHAPE} }},{SHAPE}",
    "main.local,io.Reader",
}
# name -> (toolchain, GOOS, GOARCH, extra build flags[, GOEXPERIMENT])
PROGRAM_BUILDS: dict[str, tuple] = {
    "go1.21.13": ("1.21.13", "linux", "amd64", ()),
    "go1.24.13": ("1.24.13", "linux", "amd64", ()),
    "go1.24.13-noswissmap": ("1.24.13", "linux", "amd64", (), "noswissmap"),
    "go1.26.8": ("1.26.8", "linux", "amd64", ()),
    "go1.26.8-386": ("1.26.8", "linux", "386", ()),
    "go1.27.4": ("1.27.4", "linux", "amd64", ()),
    "go1.27.4-stripped": ("1.27.4", "linux", "amd64", ("-ldflags=-s -w",)),
    "go1.27.4-386": ("1.27.4", "linux", "386", ()),
    "go1.27.4-pie": ("1.27.4", "linux", "amd64", ("-buildmode=pie",)),
    "go1.27.4-windows-stripped": ("1.27.4", "windows", "amd64", ("-ldflags=-s -w",)),
    "go1.27.4-darwin-arm64": ("1.27.4", "darwin", "arm64", ()),
}
PROGRAM_CACHE = gc.REPO / ".fixproof-cache" / "itabprobe"


def _build_program(name: str) -> Path:
    go, goos, goarch, flags, *experiment = PROGRAM_BUILDS[name]
    key = hashlib.sha256(json.dumps([ITAB_SHAPES, ITAB_PROGRAM, go, goos, goarch, flags, experiment])
                         .encode()).hexdigest()[:16]
    out = PROGRAM_CACHE / f"{name}-{key}" / "prog"
    if out.is_file():
        return out
    PROGRAM_CACHE.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=PROGRAM_CACHE))
    try:
        (tmp / "internal" / "shapes").mkdir(parents=True)
        (tmp / "go.mod").write_text(f"module {MOD}\n\ngo 1.21\n")
        (tmp / "internal" / "shapes" / "shapes.go").write_text(ITAB_SHAPES)
        (tmp / "main.go").write_text(ITAB_PROGRAM)
        env = {**gc.host_go_env(), "GOTOOLCHAIN": f"go{go}", "GOOS": goos, "GOARCH": goarch, "CGO_ENABLED": "0",
               "GOEXPERIMENT": ",".join(experiment)}
        p = subprocess.run(["go", "build", "-buildvcs=false", *flags, "-o", str(tmp / "out" / "prog"), "."],
                           cwd=tmp, env=env, capture_output=True, text=True, timeout=gc.BUILD_TIMEOUT_S)
        if p.returncode != 0:
            raise RuntimeError(f"building {name}: {p.stderr}")
        try:
            os.rename(tmp / "out", out.parent)
        except OSError:
            if not out.is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


@pytest.fixture(scope="module")
def corpus() -> gc.Corpus:
    return gc.corpus()


@pytest.fixture(scope="module")
def program() -> dict[str, Path]:
    with ThreadPoolExecutor(max_workers=3) as ex:
        return dict(zip(PROGRAM_BUILDS, ex.map(_build_program, PROGRAM_BUILDS)))


def nm_itabs(path: Path) -> set[str]:
    """`go tool nm` itab symbols, prefix removed (names may contain spaces)."""
    p = subprocess.run(["go", "tool", "nm", str(path)], env=gc.host_go_env(), capture_output=True, text=True,
                       timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"go tool nm {path}: {p.stderr}")
    out = set()
    for line in p.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3:
            for prefix in ("go:itab.", "go.itab."):
                if parts[2].startswith(prefix):
                    out.add(parts[2][len(prefix):])
    return out


def _release(r: gc.Recipe) -> tuple[int, ...]:
    return gc.go_version_tuple(r.go)[:2]


def _own(pairs: set[str] | frozenset[str]) -> set[str]:
    """Itabs of the program itself (and its non-std dependencies), not the standard library's."""
    return {p for p in pairs if p.lstrip("*").startswith(("main.", "example.com/", "golang.org/x/", "struct {"))}


# -- the corpus ----------------------------------------------------------------------


@pytest.mark.parametrize("name", gc.recipe_names(lambda r: not r.stripped and _release(r) >= (1, 17)
                                                 and _release(r) <= (1, 26)))
def test_equals_go_tool_nm(corpus: gc.Corpus, name: str) -> None:
    table = read_itabs(corpus[name])
    want = nm_itabs(corpus[name])
    assert len(want) > 10
    assert table.pairs() == want
    assert len(table.itabs) == len(want)  # no duplicates
    assert "*os.File,io.Writer" in want


@pytest.mark.parametrize("name", gc.recipe_names(lambda r: r.stripped and _release(r) >= (1, 17)))
def test_stripped_equals_unstripped_twin(corpus: gc.Corpus, name: str) -> None:
    stripped = read_itabs(corpus[name])
    assert stripped.itabs == read_itabs(corpus[corpus.recipe(name).twin]).itabs
    assert len(stripped.itabs) > 10


@pytest.mark.parametrize("name", gc.recipe_names(lambda r: r.go.startswith("1.27.")))
def test_go127_has_what_go126_has(corpus: gc.Corpus, name: str) -> None:
    if not corpus.recipe(name).stripped:
        assert nm_itabs(corpus[name]) == set()  # why the symbol table cannot be used
    table = read_itabs(corpus[name])
    assert table.layout == "go1.27"
    got = table.pairs()
    twin126 = read_itabs(corpus["go1.26.8-linux-amd64"]).pairs()
    assert _own(twin126) and _own(twin126) <= got
    assert {"*os.File,io.Writer", "*errors.errorString,error", "runtime.errorString,error"} <= got


def _walk_127(path: Path) -> list[tuple[int, int, int]]:
    """An independent walk of a Go 1.27 itab table (64-bit little-endian):
    (itab address, its Hash, its type's hash) for each."""
    with BinFile.open(path) as bf:
        md = find_moduledata(bf, locate(bf))
        assert md is not None
        types, etypes, off, size = md.words[37], md.words[39], md.words[40], md.words[41]
        assert types < etypes and off + size <= etypes - types
        out = []
        p, end = types + off, types + off + size
        while p < end:
            inter, typ, h, fun0 = struct.unpack("<QQI4xQ", bf.read_va(p, 32))
            (type_hash,) = struct.unpack("<I", bf.read_va(typ + 16, 4))
            kind = bf.read_va(inter + 23, 1)[0] & 0x1F
            assert kind == 20  # Interface
            (nmethods,) = struct.unpack("<Q", bf.read_va(inter + 48 + 8 + 8, 8))
            out.append((p, h, type_hash))
            p += 24 + 8 * (max(nmethods, 1) if fun0 else 1)
        assert p == end
        return out


@pytest.mark.parametrize("name", ["go1.27.4-linux-amd64", "go1.27.4-linux-amd64-stripped",
                                  "go1.27.4-linux-arm64", "go1.27.4-darwin-amd64-stripped"])
def test_go127_every_itab_hash_matches_its_type(corpus: gc.Corpus, name: str) -> None:
    walked = _walk_127(corpus[name])
    assert walked and all(h == type_hash for _, h, type_hash in walked)
    assert len(read_itabs(corpus[name]).itabs) == len(walked)


def test_layouts_by_release(corpus: gc.Corpus) -> None:
    expect = {"go1.17.13-linux-amd64": "go1.17", "go1.19.13-linux-amd64": "go1.18",
              "go1.21.13-linux-amd64": "go1.20", "go1.24.13-linux-amd64": "go1.20",
              "go1.26.8-linux-amd64": "go1.26", "go1.26.8-windows-amd64-stripped": "go1.26",
              "go1.27.4-linux-amd64": "go1.27", "go1.27.4-darwin-amd64": "go1.27"}
    for name, layout in expect.items():
        assert read_itabs(corpus[name]).layout == layout, name


@pytest.mark.parametrize("name", ["go1.21.13-linux-amd64", "go1.26.8-linux-amd64", "go1.27.4-linux-amd64"])
def test_layout_found_without_the_version_hint(corpus: gc.Corpus, name: str) -> None:
    """The Go version only orders the candidates: a wrong one, or none, gives the same table."""
    want = read_itabs(corpus[name])
    with BinFile.open(corpus[name]) as bf:
        assert itabs_from(bf, go_version="") == want
    with BinFile.open(corpus[name]) as bf:
        assert itabs_from(bf, go_version="go1.18.1") == want


def test_elf_without_section_headers_and_fat_macho(corpus: gc.Corpus, tmp_path: Path) -> None:
    for name in ("go1.26.8-linux-amd64", "go1.27.4-linux-amd64", "go1.21.13-linux-amd64-pie-stripped"):
        out = gc.drop_elf_section_headers(corpus[name], tmp_path / f"nosh-{name}")
        assert read_itabs(out).itabs == read_itabs(corpus[name]).itabs
    fat = gc.make_fat_macho([corpus["go1.27.4-darwin-amd64"], corpus["go1.26.8-darwin-arm64"]], tmp_path / "fat")
    assert read_itabs(fat).itabs == read_itabs(corpus["go1.27.4-darwin-amd64"]).itabs


def test_old_releases_say_so(corpus: gc.Corpus) -> None:
    with pytest.raises(BinaryFormatError, match="Go 1.17 and later"):
        read_itabs(corpus["go1.15.15-linux-amd64-file"])


def test_results_are_frozen(corpus: gc.Corpus) -> None:
    table = read_itabs(corpus["go1.27.4-linux-amd64"])
    assert isinstance(table, ItabTable) and all(isinstance(i, Itab) for i in table.itabs)
    assert list(table.itabs) == sorted(table.itabs, key=lambda i: (i.type, i.interface))
    assert Itab("*os.File", "io.Writer") in table.itabs
    assert Itab("*os.File", "io.Writer").pair == "*os.File,io.Writer"
    with pytest.raises(FrozenInstanceError):
        table.itabs[0].type = "x"  # type: ignore[misc]


# -- the naming program ---------------------------------------------------------------


def test_program_names_equal_go_tool_nm(program: dict[str, Path]) -> None:
    for name in ("go1.21.13", "go1.24.13", "go1.24.13-noswissmap", "go1.26.8", "go1.26.8-386"):
        got = read_itabs(program[name]).pairs()
        want = nm_itabs(program[name])
        # The one documented difference: a type declared inside a function.
        assert "main.local.1,io.Reader" in want and "main.local,io.Reader" in got
        want = (want - {"main.local.1,io.Reader"}) | {"main.local,io.Reader"}
        assert got == want, name
        # (386 builds may resolve the anonymous struct conversions differently.)
        assert PROGRAM_ITABS - {p for p in PROGRAM_ITABS if p.startswith("struct")} <= got, name


def test_program_go127(program: dict[str, Path]) -> None:
    base = read_itabs(program["go1.27.4"])
    assert base.layout == "go1.27"
    assert _own(read_itabs(program["go1.26.8"]).pairs()) <= base.pairs()
    assert PROGRAM_ITABS - {p for p in PROGRAM_ITABS if p.startswith("struct")} <= base.pairs()
    for name in ("go1.27.4-stripped", "go1.27.4-pie", "go1.27.4-darwin-arm64", "go1.27.4-windows-stripped"):
        got = read_itabs(program[name]).pairs()
        assert _own(got) == _own(base.pairs()), name
    # 32-bit: the walk settles where Fun starts (12 bytes in since Go 1.22).
    got386 = read_itabs(program["go1.27.4-386"]).pairs()
    assert _own(read_itabs(program["go1.26.8-386"]).pairs()) <= got386
    assert f"*{CIRCLE},{SHAPE}" in got386 and f"{SQUARE},{SHAPE}" in got386


# -- bad inputs ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["go1.26.8-linux-amd64", "go1.27.4-linux-amd64"])
def test_truncated_binaries_raise_binaryformaterror(corpus: gc.Corpus, name: str, tmp_path: Path) -> None:
    data = corpus[name].read_bytes()
    want = read_itabs(corpus[name])
    for cut in (100, 5000, len(data) // 4, len(data) // 3, len(data) // 2, len(data) - 100_000, len(data) - 1000):
        p = tmp_path / f"cut{cut}"
        p.write_bytes(data[:cut])
        try:
            got = read_itabs(p)
        except BinaryFormatError as e:
            assert str(e).startswith(str(p))
        else:
            assert got.itabs == want.itabs  # a cut past everything the table needs still reads


def _md_offset(path: Path) -> tuple[int, int]:
    """(file offset of runtime.firstmoduledata, pointer size)."""
    with BinFile.open(path) as bf:
        table = itabs_from(bf)
        loc = bf.va_to_offset(table.moduledata)
        assert loc is not None
        return loc[0], bf.ptr_size


def test_damaged_tables_do_not_validate(corpus: gc.Corpus, tmp_path: Path) -> None:
    # 1.27: an itabsize that does not end on an itab boundary.
    name = "go1.27.4-linux-amd64"
    data = bytearray(corpus[name].read_bytes())
    md, _ = _md_offset(corpus[name])
    (size,) = struct.unpack_from("<Q", data, md + 41 * 8)
    struct.pack_into("<Q", data, md + 41 * 8, size - 8)
    bad = tmp_path / "size"
    bad.write_bytes(bytes(data))
    with pytest.raises(BinaryFormatError, match="does not validate"):
        read_itabs(bad)
    # 1.26: one itab whose Hash is not its type's.
    name = "go1.26.8-linux-amd64"
    data = bytearray(corpus[name].read_bytes())
    md, _ = _md_offset(corpus[name])
    links, n = struct.unpack_from("<QQ", data, md + 48 * 8)
    with BinFile.open(corpus[name]) as bf:
        loc = bf.va_to_offset(links)
        assert loc is not None and n > 3
        (itab,) = struct.unpack_from("<Q", data, loc[0] + 3 * 8)
        itab_loc = bf.va_to_offset(itab)
        assert itab_loc is not None
    data[itab_loc[0] + 16] ^= 0xFF
    bad = tmp_path / "hash"
    bad.write_bytes(bytes(data))
    with pytest.raises(BinaryFormatError, match="hash"):
        read_itabs(bad)


def test_moduledata_not_found(corpus: gc.Corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(itabs_mod, "find_moduledata", lambda bf, tab: None)
    with pytest.raises(BinaryFormatError, match="module data"):
        read_itabs(corpus["go1.27.4-linux-amd64"])


# -- the gdb stage's interface check ----------------------------------------------------


def _check(require: tuple[str, ...] = (), forbid: tuple[str, ...] = ()) -> InterfaceCheck:
    return InterfaceCheck(name="itabs", require_itab=require, forbid_itab=forbid)


@pytest.mark.parametrize("name", ["go1.27.4-linux-amd64", "go1.27.4-linux-amd64-stripped"])
def test_gdb_itab_check_on_go127(corpus: gc.Corpus, name: str) -> None:
    """Go 1.27 has no go:itab symbols: the symbol table would fail the require
    and pass the forbid; the table read from data gets both right."""
    path = corpus[name]
    ok = _itab_check(_check(require=("*os.File,io.Writer",), forbid=("*os.File,fmt.Stringer",)), path)
    assert ok.status is Status.PASSED, ok.message
    assert ok.evidence["found"] == ["*os.File,io.Writer"] and ok.evidence["missing"] == []
    bad = _itab_check(_check(require=("*os.File,fmt.Stringer",), forbid=("*os.File,io.Writer",)), path)
    assert bad.status is Status.FAILED
    assert "no itab for *os.File,fmt.Stringer" in bad.message
    assert "forbidden itab *os.File,io.Writer is in the binary" in bad.message
    assert bad.evidence["found"] == ["*os.File,io.Writer"]
    assert bad.evidence["missing"] == ["*os.File,fmt.Stringer"]


def test_gdb_itab_check_program_pairs(program: dict[str, Path]) -> None:
    for name in ("go1.27.4", "go1.27.4-stripped", "go1.26.8"):
        ok = _itab_check(_check(require=(f"{SQUARE},{SHAPE}", f"*{CIRCLE},{SHAPE}"),
                                forbid=(f"*{SQUARE},{SHAPE}", f"{CIRCLE},{SHAPE}")), program[name])
        assert ok.status is Status.PASSED, (name, ok.message)
        bad = _itab_check(_check(forbid=(f"*{CIRCLE},{SHAPE}",)), program[name])
        assert bad.status is Status.FAILED and f"forbidden itab *{CIRCLE}" in bad.message


def test_gdb_itab_check_unreadable_is_an_error(corpus: gc.Corpus, tmp_path: Path) -> None:
    not_go = tmp_path / "ls"
    shutil.copyfile("/bin/ls", not_go)
    truncated = tmp_path / "truncated"
    truncated.write_bytes(corpus["go1.27.4-linux-amd64"].read_bytes()[:5000])
    for path in (not_go, truncated, tmp_path / "missing", corpus["go1.15.15-linux-amd64-file"]):
        for cfg in (_check(require=("*os.File,io.Writer",)), _check(forbid=("*os.File,io.Writer",))):
            res = _itab_check(cfg, path)
            assert res.status is Status.ERROR, (path, res)
            assert "cannot read the itab table" in res.message
            assert res.evidence["exit_code"] == BinaryFormatError.exit_code
