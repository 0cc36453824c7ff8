"""BinFile on the corpus of real Go binaries: format detection, sections, address mapping, damaged
binaries. Bad inputs that need no Go binary: tests/unit/goinfo/test_binfile.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import goinfo_corpus as gc
from fixproof.errors import BinaryFormatError
from fixproof.goinfo.binfile import HEAD_SIZE, BinFile
from unit.goinfo.test_binfile import _fails


@pytest.fixture(scope="module")
def corpus() -> gc.Corpus:
    return gc.corpus()


PTR_SIZE = {"amd64": 8, "arm64": 8, "s390x": 8, "386": 4}


@pytest.mark.parametrize("name", gc.recipe_names())
def test_header_facts(corpus: gc.Corpus, name: str) -> None:
    r = corpus.recipe(name)
    with BinFile.open(corpus[name]) as bf:
        assert bf.format == corpus.format_of(name)
        assert bf.goarch == r.goarch
        assert bf.goos == r.goos
        assert bf.ptr_size == PTR_SIZE[r.goarch]
        assert bf.little_endian == (r.goarch != "s390x")


@pytest.mark.parametrize("name", gc.recipe_names(lambda r: r.goos != "windows"))
def test_buildinfo_section_maps_like_segments(corpus: gc.Corpus, name: str) -> None:
    sect = ".go.buildinfo" if corpus.format_of(name) == "elf" else "__go_buildinfo"
    with BinFile.open(corpus[name]) as bf:
        s = bf.section(sect)
        assert s is not None and s.filesize >= 32
        direct = bf.read(s.offset, 32)
        assert direct.startswith(b"\xff Go buildinf:")
        assert bf.read_va(s.addr, 32) == direct  # through the program headers / segments
        loc = bf.va_to_offset(s.addr)
        assert loc is not None and loc[0] == s.offset


@pytest.mark.parametrize("name", ["go1.21.13-windows-amd64", "go1.26.8-windows-amd64-stripped"])
def test_pe_data_section_and_image_base(corpus: gc.Corpus, name: str) -> None:
    with BinFile.open(corpus[name]) as bf:
        d = bf.pe_data_section()
        assert d is not None and d.name == ".data" and d.writable
        # 1.21 links at 0x400000, 1.26 at 0x140000000: nothing may be hard-coded.
        assert bf.image_base == (0x400000 if "1.21" in name else 0x140000000)
        assert d.addr > bf.image_base


def test_pe_stripped_has_no_symbols(corpus: gc.Corpus) -> None:
    with BinFile.open(corpus["go1.26.8-windows-amd64-stripped"]) as bf:
        assert bf.symbols(frozenset({"runtime.pclntab"})) == {}
    with BinFile.open(corpus["go1.26.8-windows-amd64"]) as bf:
        assert "runtime.pclntab" in bf.symbols(frozenset({"runtime.pclntab"}))


def test_elf_symbols_match_go_tool_nm(corpus: gc.Corpus) -> None:
    path = corpus["go1.26.8-linux-amd64"]
    out = subprocess.run(["go", "tool", "nm", str(path)], env=gc.host_go_env(), capture_output=True, text=True,
                         check=True).stdout
    want = {}
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[2] in ("runtime.pclntab", "runtime.firstmoduledata"):
            want[parts[2]] = int(parts[0], 16)
    with BinFile.open(path) as bf:
        assert bf.symbols(frozenset(want)) == want


def _parse_in_a_fresh_process(path: Path, cache: Path) -> dict:
    code = ("import json, sys; from fixproof.goinfo.binfile import BinFile; "
            "assert 'elftools' not in sys.modules; "
            f"bf = BinFile.open({str(path)!r}); s = bf.section('.go.buildinfo'); "
            "print(json.dumps({'structs': 'elftools.elf.structs' in sys.modules, 'machine': bf._eh.e_machine, "
            "'buildinfo': [s.offset, s.size], 'shdr': bf._layout.shdr.packer.format}))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         env={**os.environ, "FIXPROOF_CACHE_DIR": str(cache)})
    return json.loads(out.stdout)


def test_pyelftools_gives_the_layout_once_per_version(corpus: gc.Corpus, tmp_path: Path) -> None:
    """The first run derives the ELF layout from pyelftools' structs and keeps it
    under pyelftools' version; later runs read it back without importing them."""
    import elftools

    binary = corpus["go1.26.8-linux-amd64"]
    first = _parse_in_a_fresh_process(binary, tmp_path)
    assert first["structs"] is True and first["machine"] == "EM_X86_64"
    kept = list((tmp_path / "goinfo").glob("*.json"))
    assert [p.name for p in kept] == [f"elf-layout-v1-pyelftools-{elftools.__version__}-le64.json"]
    second = _parse_in_a_fresh_process(binary, tmp_path)
    assert second["structs"] is False and {**second, "structs": True} == first

    kept[0].write_text('{"ehdr": {"format": "<Q"}}')  # damaged: derived again, and rewritten
    third = _parse_in_a_fresh_process(binary, tmp_path)
    assert third["structs"] is True and {**third, "structs": True} == first
    good = json.loads(kept[0].read_text())
    kept[0].write_text(json.dumps({k: v for k, v in good.items() if k != "sym_size"}))  # damaged elsewhere
    fourth = _parse_in_a_fresh_process(binary, tmp_path)
    assert fourth["structs"] is True and {**fourth, "structs": True} == first
    assert json.loads(kept[0].read_text()) == good
    assert json.loads(kept[0].read_text())["ehdr"]["names"][0] == "EI_CLASS"  # after the skipped magic


def test_unwritable_cache_still_reads(corpus: gc.Corpus, tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    got = _parse_in_a_fresh_process(corpus["go1.26.8-linux-amd64"], blocked)
    assert got["structs"] is True and got["machine"] == "EM_X86_64"


def test_elf_without_section_headers_uses_segments(corpus: gc.Corpus, tmp_path: Path) -> None:
    out = gc.drop_elf_section_headers(corpus["go1.26.8-linux-amd64"], tmp_path / "nosh")
    with BinFile.open(out) as bf:
        assert bf.sections == ()
        assert bf.section(".go.buildinfo") is None
        assert any(s.loadable and s.writable and not s.executable for s in bf.segments)


def test_fat_macho_reads_first_arch(corpus: gc.Corpus, tmp_path: Path) -> None:
    fat = gc.make_fat_macho([corpus["go1.27.4-darwin-amd64"], corpus["go1.26.8-darwin-arm64"]], tmp_path / "fat")
    with BinFile.open(fat) as bf:
        assert (bf.format, bf.goarch) == ("macho", "amd64")
        assert bf.size == corpus["go1.27.4-darwin-amd64"].stat().st_size
        s = bf.section("__go_buildinfo")
        assert s is not None and bf.read(s.offset, 14) == b"\xff Go buildinf:"


def test_reads_only_a_little(corpus: gc.Corpus) -> None:
    from fixproof.goinfo.buildinfo import buildinfo_from

    for name in corpus.names():
        with BinFile.open(corpus[name]) as bf:
            buildinfo_from(bf)
            assert bf.bytes_read < 0.05 * bf.file_size, name


def _construct_fields(c: object) -> dict:
    """A pyelftools Container as a flat dict (e_ident's fields inlined)."""
    out = {}
    for k, v in c.items():
        if hasattr(v, "items"):
            out.update(_construct_fields(v))
        elif not k.startswith("_"):
            out[k] = v
    return out


@pytest.mark.parametrize("name", gc.recipe_names(lambda r: r.goos not in ("windows", "darwin")))
def test_compiled_headers_equal_pyelftools_parse(corpus: gc.Corpus, name: str) -> None:
    """The struct-compiled headers read what pyelftools' own construct parse reads."""
    from elftools.elf.structs import ELFStructs

    data = corpus[name].read_bytes()
    with BinFile.from_bytes(data, name) as bf:
        layout = bf._layout
        s = ELFStructs(little_endian=bf.little_endian, elfclass=8 * bf.ptr_size)
        s.create_basic_structs()
        s.create_advanced_structs()
        tables = [(layout.ehdr, s.Elf_Ehdr, [0]),
                  (layout.shdr, s.Elf_Shdr, [bf._eh.e_shoff + i * bf._eh.e_shentsize for i in range(bf._eh.e_shnum)]),
                  (layout.phdr, s.Elf_Phdr, [bf._eh.e_phoff + i * bf._eh.e_phentsize for i in range(bf._eh.e_phnum)])]
        for flat, con, offsets in tables:
            assert offsets
            for off in offsets:
                want = _construct_fields(con.parse(data[off : off + con.sizeof()]))
                got = flat.parse(data, off)._asdict()
                assert set(got) <= set(want)
                for field, value in got.items():
                    # Enum fields we do not decode stay numbers; pyelftools gives names.
                    assert value == want[field] or (isinstance(want[field], str) and isinstance(value, int)), field
                    assert field not in ("e_machine", "EI_OSABI", "p_type") or value == want[field]


def test_a_go_elf_costs_three_reads(corpus: gc.Corpus) -> None:
    """The file's first 4 KiB hold the ELF and section headers; then come the
    section names and the blob, which the blob reader finds in the last read."""
    from fixproof.goinfo.buildinfo import buildinfo_from

    data = corpus["go1.26.8-linux-amd64"].read_bytes()
    reads: list[tuple[int, int]] = []

    def pread(off: int, n: int) -> bytes:
        reads.append((off, n))
        return data[off : off + n]

    with BinFile.from_pread("counted", pread, len(data)) as bf:
        assert buildinfo_from(bf).go_version == "go1.26.8"
    assert len(reads) == 3 and reads[0] == (0, HEAD_SIZE)


# -- bad inputs -------------------------------------------------------------


def test_garbage_and_truncated(corpus: gc.Corpus, tmp_path: Path) -> None:
    p = tmp_path / "garbage"
    p.write_bytes(os.urandom(4096))
    _fails(p, "not a Go binary")
    data = corpus["go1.26.8-linux-amd64"].read_bytes()
    for cut, words in ((10, ("",)), (40, ("truncated",))):
        q = tmp_path / f"cut{cut}"
        q.write_bytes(data[:cut])
        _fails(q, *words)
    # Section headers live past the end: caught when the file is opened.
    elf32 = corpus["go1.26.8-linux-386"].read_bytes()
    q = tmp_path / "cut-elf32"
    q.write_bytes(elf32[:52])
    with pytest.raises(BinaryFormatError):
        with BinFile.open(q) as bf:
            bf.section(".go.buildinfo")


