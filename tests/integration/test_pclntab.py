"""read_functions against `go tool nm` of the unstripped binary, and stripped
binaries against their unstripped twins (what needs no Go binary:
tests/unit/goinfo/test_pclntab.py)."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

import goinfo_corpus as gc
from fixproof.errors import BinaryFormatError
from fixproof.goinfo import pclntab
from fixproof.goinfo.binfile import BinFile
from fixproof.goinfo.elf import ElfFile
from fixproof.goinfo.macho import MachOFile
from fixproof.goinfo.pclntab import functions_from, locate, read_functions
from fixproof.goinfo.pe import PeFile


@pytest.fixture(scope="module")
def corpus() -> gc.Corpus:
    return gc.corpus()


@pytest.fixture(scope="module")
def functions(corpus: gc.Corpus) -> dict[str, tuple[str, ...]]:
    return {name: read_functions(corpus[name]) for name in corpus.names()}


def _explained(nm_name: str, ours: set[str], recipe: gc.Recipe) -> bool:
    """Why a `go tool nm` text symbol may be spelled differently (or absent)
    in the pclntab; each rule is a documented naming quirk, not a miss."""
    if nm_name in ("runtime.text", "runtime.etext"):  # markers, not functions
        return True
    if recipe.cgo and ("." not in nm_name or nm_name.startswith(("_cgo", "x_cgo", "__"))):
        return True  # C functions of a cgo binary (x_cgo_munmap.cold...) have no functab entry
    candidates = {nm_name}
    if recipe.goos == "darwin":  # Mach-O adds a leading "_" to assembly symbols
        candidates.add(nm_name.removeprefix("_"))
    if gc.go_version_tuple(recipe.go) < (1, 21):  # 1.18-1.20 pclntab: "[...]" for type arguments
        candidates |= {re.sub(r"\[.*\]", "[...]", c) for c in candidates}
    # The pclntab keeps "·" where the symbol table says "." (1.17 "·dwrap·1",
    # 1.24+ "type:.eq.runtime.untracedG·4").
    dotted = {o.replace("\u00b7", ".") for o in ours if "\u00b7" in o}
    return bool(candidates & ours) or bool(candidates & dotted)


@pytest.mark.parametrize("name", gc.recipe_names(lambda r: not r.stripped))
def test_functions_cover_go_tool_nm(corpus: gc.Corpus, functions: dict, name: str) -> None:
    ours = set(functions[name])
    assert len(ours) == len(functions[name])  # deduplicated
    nm = gc.go_nm_functions(corpus[name])
    unexplained = sorted(n for n in nm if n not in ours and not _explained(n, ours, corpus.recipe(name)))
    assert unexplained == []
    assert len(ours) > 1000


@pytest.mark.parametrize("name", gc.recipe_names(lambda r: r.program in ("modern", "cgo") and not r.stripped))
def test_inline_only_functions_come_from_inline_trees(corpus: gc.Corpus, functions: dict, name: str) -> None:
    ours = set(functions[name])
    for f in gc.EXPECTED_FUNCS:
        assert f in ours
    # main.(*Client).Do is always inlined: no symbol, no functab entry, only inline trees.
    assert gc.INLINE_ONLY in ours
    assert gc.INLINE_ONLY not in gc.go_nm_functions(corpus[name])


def test_generic_and_closure_names(functions: dict) -> None:
    f26 = set(functions["go1.26.8-linux-amd64"])
    assert "main.(*List[go.shape.string]).Push" in f26 or "main.(*List[go.shape.string]).Len" in f26
    assert "main.main.func1" in f26 and "main.Greeter.Greet-fm" in f26
    assert "main.(*List[...]).Len" in set(functions["go1.18.10-linux-amd64"])
    assert "main.main.gowrap1" not in f26  # errgroup's go statement lives in errgroup, not main
    assert any(n.startswith("type:.eq.") for n in f26)
    assert any(n.startswith("type..eq.") for n in functions["go1.19.13-linux-amd64"])


@pytest.mark.parametrize("name", gc.recipe_names(lambda r: r.stripped))
def test_stripped_equals_unstripped_twin(corpus: gc.Corpus, functions: dict, name: str) -> None:
    twin = corpus.recipe(name).twin
    assert set(functions[name]) == set(functions[twin])


@pytest.mark.parametrize("name", ["go1.26.8-linux-amd64", "go1.18.10-linux-386", "go1.21.13-linux-amd64-pie",
                                  "go1.26.8-linux-s390x", "go1.17.13-linux-amd64", "go1.27.4-linux-arm64"])
def test_elf_without_section_headers(corpus: gc.Corpus, functions: dict, name: str, tmp_path: Path) -> None:
    out = gc.drop_elf_section_headers(corpus[name], tmp_path / "nosh")
    assert read_functions(out) == functions[name]


def test_fat_macho(corpus: gc.Corpus, functions: dict, tmp_path: Path) -> None:
    fat = gc.make_fat_macho([corpus["go1.26.8-darwin-arm64"], corpus["go1.27.4-darwin-amd64"]], tmp_path / "fat")
    assert read_functions(fat) == functions["go1.26.8-darwin-arm64"]


@pytest.mark.parametrize("name,magic", [
    ("go1.15.15-linux-amd64-file", pclntab.MAGIC_12),
    ("go1.17.13-linux-amd64", pclntab.MAGIC_116),
    ("go1.18.10-linux-amd64", pclntab.MAGIC_118),
    ("go1.19.13-linux-amd64", pclntab.MAGIC_118),
    ("go1.20.14-linux-amd64", pclntab.MAGIC_120),
    ("go1.27.4-linux-amd64", pclntab.MAGIC_120),
    ("go1.26.8-linux-s390x", pclntab.MAGIC_120),
])
def test_layouts(corpus: gc.Corpus, name: str, magic: int) -> None:
    with BinFile.open(corpus[name]) as bf:
        tab = locate(bf)
        assert tab.magic == magic
        assert tab.little_endian == ("s390x" not in name)
        assert tab.ptr_size == 8
    assert "main.main" in read_functions(corpus[name])


def test_pointer_size_4(corpus: gc.Corpus) -> None:
    with BinFile.open(corpus["go1.26.8-linux-386"]) as bf:
        assert locate(bf).ptr_size == 4


@pytest.mark.parametrize("name", ["go1.26.8-linux-amd64", "go1.21.13-windows-amd64", "go1.22.12-darwin-arm64",
                                  "go1.18.10-linux-386", "go1.26.8-linux-s390x"])
def test_magic_scan_finds_the_same_table(corpus: gc.Corpus, name: str) -> None:
    with BinFile.open(corpus[name]) as bf:
        by_name_or_symbol = locate(bf)
        by_scan = pclntab._scan(bf)
    assert by_scan is not None
    assert (by_scan.addr, by_scan.nfunc, by_scan.magic) == (by_name_or_symbol.addr, by_name_or_symbol.nfunc,
                                                              by_name_or_symbol.magic)


@pytest.mark.parametrize("name", ["go1.18.10-linux-amd64", "go1.20.14-linux-amd64", "go1.24.13-linux-amd64",
                                  "go1.26.8-linux-amd64", "go1.27.4-linux-amd64", "go1.26.8-windows-amd64",
                                  "go1.21.13-linux-amd64-pie", "go1.26.8-linux-386"])
def test_gofunc_from_moduledata_equals_symbol(corpus: gc.Corpus, functions: dict, name: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Without symbols, moduledata.gofunc must give the same inline trees."""
    for reader in (ElfFile, PeFile, MachOFile):  # each format's reader has its own symbols()
        monkeypatch.setattr(reader, "symbols", lambda self, wanted: {})
    with BinFile.open(corpus[name]) as bf:
        assert functions_from(bf) == functions[name]


# -- bad inputs ------------------------------------------------------------------


def test_truncated_binaries_raise_binaryformaterror(corpus: gc.Corpus, tmp_path: Path) -> None:
    data = corpus["go1.26.8-linux-amd64"].read_bytes()
    with BinFile.open(corpus["go1.26.8-linux-amd64"]) as bf:
        s = bf.section(".gopclntab")
        assert s is not None
        pcln_off = s.offset
    for cut in (100, len(data) // 3, pcln_off + 64, pcln_off + 100_000, len(data) - 1000):
        p = tmp_path / f"cut{cut}"
        p.write_bytes(data[:cut])
        try:
            names = read_functions(p)
        except BinaryFormatError as e:
            assert str(e).startswith(str(p))
        else:
            assert names  # a cut past everything pclntab needs may still read


def test_plausible_magic_with_garbage_header(corpus: gc.Corpus, tmp_path: Path) -> None:
    data = bytearray(corpus["go1.26.8-linux-amd64"].read_bytes())
    with BinFile.open(corpus["go1.26.8-linux-amd64"]) as bf:
        s = bf.section(".gopclntab")
        assert s is not None
    # Keep the magic, quantum and pointer size; make the offsets nonsense.
    struct.pack_into("<8Q", data, s.offset + 8, 1 << 40, 3, 0, 1 << 50, 7, 6, 5, 4)
    p = tmp_path / "badhdr"
    p.write_bytes(bytes(data))
    with pytest.raises(BinaryFormatError):
        read_functions(p)


def test_functions_when_pcvalue_tables_are_corrupt(corpus: gc.Corpus, tmp_path: Path) -> None:
    data = bytearray(corpus["go1.26.8-linux-amd64"].read_bytes())
    with BinFile.open(corpus["go1.26.8-linux-amd64"]) as bf:
        tab = locate(bf)
        s = bf.section(".gopclntab")
        assert s is not None
    start = s.offset + tab.pctab_off
    data[start : start + 200_000] = b"\xff" * 200_000  # varints that never end in range
    p = tmp_path / "badpc"
    p.write_bytes(bytes(data))
    with pytest.raises(BinaryFormatError):
        read_functions(p)


def test_function_offset_beyond_any_size(corpus: gc.Corpus) -> None:
    """Found by tests/integration/fuzz: a 1.2-1.15 functab entry whose func offset does
    not fit a C ssize_t (struct raised OverflowError)."""
    name = "go1.15.15-linux-amd64-file"
    data = bytearray(corpus[name].read_bytes())
    with BinFile.open(corpus[name]) as bf:
        tab = locate(bf)
        s = bf.section(".gopclntab")
        assert s is not None and tab.magic == pclntab.MAGIC_12
    # functab: (entry pc, func offset) pairs of pointer size; break the first offset.
    struct.pack_into("<Q", data, s.offset + tab.functab_off + 8, 0xFFFF_FFFF_FFFF_FF00)
    with BinFile.from_bytes(bytes(data), "huge") as bf, pytest.raises(BinaryFormatError, match="corrupt"):
        functions_from(bf)




def test_name_pool_holds_exactly_the_functions(corpus: gc.Corpus, functions: dict) -> None:
    """FuncNames (the funcnametab pool, 1.16+) has the same names as functab + inline trees,
    on every binary of the corpus; 1.2-1.15 tables fall back to the listed names."""
    for name in corpus.names():
        with BinFile.open(corpus[name]) as bf:
            names = pclntab.function_names(bf)
        assert set(names.select(None)) == set(functions[name]), name
        assert (names.pool is None) == name.startswith("go1.15"), name
        # a prefix selects exactly the names that start with it
        for prefix in ("main.", "runtime.", "fmt.", "net/http."):
            assert set(names.select([prefix])) == {f for f in functions[name] if f.startswith(prefix)}, (name, prefix)
