"""Function names from a Go binary's pclntab, including functions that exist
only as inlined copies (they appear only in inline trees).

Supported layouts (magic, in either byte order, pointer size 4 or 8):

* 0xFFFFFFF1 (Go 1.20+) and 0xFFFFFFF0 (1.18-1.19): functab names and
  inline trees;
* 0xFFFFFFFA (1.16-1.17): functab names and inline trees;
* 0xFFFFFFFB (1.2-1.15): functab names only (the inline tree layout changed
  across those releases; they are not read).

The table is found by section name (.gopclntab, .data.rel.ro.gopclntab,
__gopclntab), then by the runtime.pclntab symbol, then by scanning for a
magic whose header validates (stripped PE, ELF without section headers).
Inline trees hang off `moduledata.gofunc` (1.18+): taken from the
`go:func.*` symbol when present, else from the moduledata found by its first
two words (the pclntab address and the function name table address), with
the gofunc field position checked against real inline tree entries.

Raw names are returned, deduplicated, functab order first. Errors are
`BinaryFormatError`.
"""

from __future__ import annotations

import bisect
import functools
import os
import struct
from dataclasses import dataclass
from typing import Iterable, Iterator, NamedTuple

from fixproof.goinfo.binfile import BinFile, Section, Segment

MAGIC_120 = 0xFFFFFFF1
MAGIC_118 = 0xFFFFFFF0
MAGIC_116 = 0xFFFFFFFA
MAGIC_12 = 0xFFFFFFFB
_MAGICS = (MAGIC_120, MAGIC_118, MAGIC_116, MAGIC_12)

_PCDATA_INLTREE_INDEX = 2
_FUNCDATA_INLTREE = 3
_NO_FUNCDATA = 0xFFFFFFFF
_SECTION_NAMES = (".gopclntab", ".data.rel.ro.gopclntab", "__gopclntab")
# Word index of moduledata.gofunc, by layout (see runtime/symtab.go):
# 1.18-1.19: 38; 1.20-1.26: 40 (covctrs added); 1.27: 43 (typedesclen,
# itaboffset, itabsize added). Others are tried if these do not validate.
_GOFUNC_WORDS = {MAGIC_118: (38,), MAGIC_120: (40, 43)}
_GOFUNC_SEARCH = range(30, 64)


@dataclass(frozen=True)
class PclnTable:
    """A validated pclntab header and the table bytes."""

    data: bytes
    addr: int  # virtual address of the header (0 if unknown)
    magic: int
    little_endian: bool
    quantum: int
    ptr_size: int
    nfunc: int
    funcname_off: int
    pctab_off: int
    functab_off: int

    @property
    def end(self) -> str:
        return "<" if self.little_endian else ">"


def read_functions(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """Every function name in a Go binary (functab + inline trees), deduplicated."""
    with BinFile.open(path) as bf:
        return functions_from(bf)


def functions_from(bf: BinFile) -> tuple[str, ...]:
    try:
        tab = locate(bf)
        names = dict.fromkeys(_functab_names(bf, tab))
        names.update(dict.fromkeys(_inline_names(bf, tab)))
    except (struct.error, IndexError, ValueError, OverflowError) as e:
        raise bf.fail(f"corrupt Go function table (pclntab): {e}") from e
    return tuple(names)


@dataclass(frozen=True)
class FuncNames:
    """A binary's function names, for looking up a few packages without listing every function.

    Since Go 1.16 the pclntab pools the names of every function and every inlined
    function, once each, in one table (funcnametab: NUL-terminated strings, the linker's
    walkFuncs); the functab and the inline trees only point into it. So the set of names
    in that table is the set `functions_from` returns (checked on every binary of the test
    corpus, Go 1.17-1.27), and the names starting with a given prefix are found by
    bisection in the pool's names sorted once (a split and a sort, both in C), without
    walking the functab, decoding the inline trees or parsing every name. Older tables
    (1.2-1.15) have no such pool: `listed` then holds `functions_from`'s names.
    """

    pool: bytes | None
    listed: tuple[str, ...] = ()

    @functools.cached_property
    def _sorted(self) -> list[bytes]:
        """The pool's names, sorted: a prefix's names are one run, found by bisection."""
        assert self.pool is not None
        names = self.pool.split(b"\0")
        names.sort()
        return names[bisect.bisect_right(names, b""):]  # the pool holds each name once; no empty ones

    def _run(self, prefix: str) -> Iterator[bytes]:
        names = self._sorted
        p = prefix.encode("utf-8")
        i = bisect.bisect_left(names, p)
        while i < len(names) and names[i].startswith(p):
            yield names[i]
            i += 1

    def select(self, prefixes: Iterable[str] | None) -> list[str]:
        """The distinct names that start with one of `prefixes` (every name for None)."""
        if self.pool is None:
            if prefixes is None:
                return list(dict.fromkeys(self.listed))
            pre = tuple(prefixes)
            return list(dict.fromkeys(n for n in self.listed if n.startswith(pre)))
        if prefixes is None:
            return [n.decode("utf-8", "replace") for n in dict.fromkeys(self._sorted)]
        found: dict[bytes, None] = {}
        for p in prefixes:
            if p:
                found.update(dict.fromkeys(self._run(p)))
        return [n.decode("utf-8", "replace") for n in found]

    def iter_prefixed(self, prefix: str) -> Iterator[str]:
        """The names that start with `prefix`, one at a time."""
        if self.pool is None:
            yield from dict.fromkeys(n for n in self.listed if n.startswith(prefix))
            return
        for n in self._run(prefix):
            yield n.decode("utf-8", "replace")


def function_names(bf: BinFile) -> FuncNames:
    """The binary's function names as a `FuncNames` (see there); BinaryFormatError as `functions_from`."""
    try:
        tab = locate(bf)
        if tab.magic == MAGIC_12:
            return FuncNames(None, functions_from(bf))
        pool = tab.data[tab.funcname_off : _cu_offset(tab)]
    except (struct.error, IndexError, ValueError, OverflowError) as e:
        raise bf.fail(f"corrupt Go function table (pclntab): {e}") from e
    if not pool.strip(b"\0"):
        raise bf.fail("corrupt Go function table (pclntab): empty function name table")
    return FuncNames(pool)


def _cu_offset(tab: PclnTable) -> int:
    """Where funcnametab ends (cutab starts), from the header (1.16+ layouts)."""
    w = "Q" if tab.ptr_size == 8 else "I"
    if tab.magic in (MAGIC_120, MAGIC_118):
        return struct.unpack_from(tab.end + w * 8, tab.data, 8)[4]
    return struct.unpack_from(tab.end + w * 7, tab.data, 8)[3]


def close_names(name: str, functions: Iterable[str], n: int = 5) -> tuple[str, ...]:
    """Function names like ``name`` (for "no such function" messages): fuzzy
    matches, else names ending like it ("pkg.(*T).M" for "example.com/x/pkg.(*T).M")."""
    import difflib

    functions = list(functions)
    close = difflib.get_close_matches(name, functions, n=n, cutoff=0.6)
    if not close:
        tail = name.rsplit("/", 1)[-1]
        close = sorted(f for f in functions if f.endswith(tail))[:n]
    return tuple(f for f in close if f != name)


# -- locating ----------------------------------------------------------------


def locate(bf: BinFile) -> PclnTable:
    """Find and validate the pclntab; BinaryFormatError if there is none."""
    for name in _SECTION_NAMES:
        s = bf.section(name)
        if s is not None and s.filesize:
            tab = _parse_header(bf.read(s.offset, s.filesize), s.addr)
            if tab is not None:
                return tab
    syms = bf.symbols(frozenset({"runtime.pclntab", "runtime.epclntab", "pclntab", "epclntab"}))
    for start_name, end_name in (("runtime.pclntab", "runtime.epclntab"), ("pclntab", "epclntab")):
        start, end = syms.get(start_name), syms.get(end_name)
        if start is not None and end is not None and end > start:
            tab = _tab_at_va(bf, start, end - start)
            if tab is not None:
                return tab
    tab = _scan(bf)
    if tab is not None:
        return tab
    raise bf.fail("not a Go binary (no Go function table found)")


def _tab_at_va(bf: BinFile, addr: int, size: int) -> PclnTable | None:
    loc = bf.va_to_offset(addr)
    if loc is None:
        return None
    off, avail = loc
    return _parse_header(bf.read(off, min(size, avail)), addr)


def _scan_ranges(bf: BinFile) -> Iterator[Section | Segment]:
    """Where to look for a magic: read-only data first, then everything else."""
    ranges = list(bf.iter_data_ranges())
    if bf.format == "pe":
        ranges.sort(key=lambda s: s.name != ".rdata")
    else:
        ranges.sort(key=lambda s: (s.writable, s.executable))
    yield from ranges


def _scan(bf: BinFile) -> PclnTable | None:
    patterns = []
    for magic in _MAGICS:
        for order in ("<", ">"):
            patterns.append(struct.pack(order + "I", magic) + b"\0\0")
    for r in _scan_ranges(bf):
        for pat in patterns:
            pos = r.offset
            end = r.offset + r.filesize
            while True:
                i = bf.find(pat, pos, end)
                if i < 0:
                    break
                addr = r.addr + (i - r.offset)
                tab = _parse_header(bf.read(i, end - i), addr)
                if tab is not None:
                    return tab
                pos = i + 1
    return None


def _parse_header(data: bytes, addr: int) -> PclnTable | None:
    """A PclnTable if `data` starts with a plausible pclntab header, else None."""
    if len(data) < 16 or data[4] != 0 or data[5] != 0:
        return None
    quantum, ptr_size = data[6], data[7]
    if quantum not in (1, 2, 4) or ptr_size not in (4, 8):
        return None
    for little in (True, False):
        e = "<" if little else ">"
        (magic,) = struct.unpack_from(e + "I", data, 0)
        if magic in _MAGICS:
            break
    else:
        return None
    w = "Q" if ptr_size == 8 else "I"
    size = len(data)
    try:
        if magic == MAGIC_12:
            (nfunc,) = struct.unpack_from(e + w, data, 8)
            funcname_off, pctab_off, functab_off = 0, 0, 8 + ptr_size
            offsets = [functab_off]
        else:
            nwords = 8 if magic in (MAGIC_120, MAGIC_118) else 7
            words = struct.unpack_from(e + w * nwords, data, 8)
            if nwords == 8:
                nfunc, _nfiles, _text, funcname_off, cu_off, filetab_off, pctab_off, functab_off = words
            else:
                nfunc, _nfiles, funcname_off, cu_off, filetab_off, pctab_off, functab_off = words
            offsets = [8 + nwords * ptr_size, funcname_off, cu_off, filetab_off, pctab_off, functab_off]
    except struct.error:
        return None
    if nfunc <= 0 or offsets != sorted(offsets) or offsets[-1] >= size:
        return None
    entry = 8 if magic in (MAGIC_120, MAGIC_118) else 2 * ptr_size
    if functab_off + nfunc * entry > size:
        return None
    return PclnTable(bytes(data), addr, magic, little, quantum, ptr_size, nfunc, funcname_off, pctab_off, functab_off)


# -- names -------------------------------------------------------------------


def _cstring(data: bytes, off: int) -> str:
    end = data.index(b"\0", off)
    return data[off:end].decode("utf-8", "replace")


def _func_offsets(tab: PclnTable) -> list[int]:
    """Offset of each _func, relative to the table start."""
    e, d = tab.end, tab.data
    if tab.magic in (MAGIC_120, MAGIC_118):
        words = struct.unpack_from(f"{e}{2 * tab.nfunc}I", d, tab.functab_off)
        return [tab.functab_off + f for f in words[1::2]]
    w = "Q" if tab.ptr_size == 8 else "I"
    words = struct.unpack_from(f"{e}{2 * tab.nfunc}{w}", d, tab.functab_off)
    base = tab.functab_off if tab.magic == MAGIC_116 else 0
    return [base + f for f in words[1::2]]


def _name_field(tab: PclnTable) -> int:
    """Offset of nameOff inside _func."""
    return 4 if tab.magic in (MAGIC_120, MAGIC_118) else tab.ptr_size


def _functab_names(bf: BinFile, tab: PclnTable) -> Iterator[str]:
    e, d = tab.end, tab.data
    nf = _name_field(tab)
    base = tab.funcname_off
    unpack = struct.Struct(e + "i").unpack_from
    for fo in _func_offsets(tab):
        (name_off,) = unpack(d, fo + nf)
        if name_off < 0 or base + name_off >= len(d):
            raise ValueError(f"function name offset {name_off} out of range")
        yield _cstring(d, base + name_off)


# -- inline trees --------------------------------------------------------------


def _pcvalue_max(d: bytes, off: int) -> int:
    """Largest value in a pc-value table (runtime.step), -1 if empty.

    Raises ValueError for varints longer than a uint32 needs (5 bytes) and
    IndexError for a table that runs off the end: both mean corruption.
    """
    val, best, first, n = -1, -1, True, len(d)
    p = off
    while p < n:
        b = d[p]
        if b == 0 and not first:
            break
        uv, shift = 0, 0
        while True:
            b = d[p]
            p += 1
            uv |= (b & 0x7F) << shift
            if b < 0x80:
                break
            shift += 7
            if shift > 28:
                raise ValueError("corrupt pc-value table (varint too long)")
        val += ~(uv >> 1) if uv & 1 else uv >> 1
        for _ in range(5):  # pc delta: skipped
            b = d[p]
            p += 1
            if b < 0x80:
                break
        else:
            raise ValueError("corrupt pc-value table (varint too long)")
        first = False
        if val > best:
            best = val
    return best


class _InlineLayout(NamedTuple):
    """Where an inline tree entry keeps its name, by pclntab layout."""

    entry_size: int
    name_field: int
    absolute_funcdata: bool  # 1.16-1.17: funcdata are pointers, not gofunc offsets


def _inline_layout(tab: PclnTable) -> _InlineLayout | None:
    if tab.magic == MAGIC_120:
        return _InlineLayout(16, 4, False)
    if tab.magic == MAGIC_118:
        return _InlineLayout(20, 12, False)
    if tab.magic == MAGIC_116:
        return _InlineLayout(20, 12, True)
    return None


def _npcdata_offset(tab: PclnTable) -> int:
    return 28 if tab.magic in (MAGIC_120, MAGIC_118) else tab.ptr_size + 24


def _inline_names(bf: BinFile, tab: PclnTable) -> Iterator[str]:
    layout = _inline_layout(tab)
    if layout is None:
        return
    refs = list(_inline_refs(tab))
    if not refs:
        return
    if layout.absolute_funcdata:
        base = 0
    else:
        gofunc = _gofunc(bf, tab, layout, refs)
        if gofunc is None:
            raise bf.fail("cannot find the inline trees (moduledata.gofunc) in this Go binary")
        base = gofunc
    d = tab.data
    names_base = tab.funcname_off
    seen: set[int] = set()
    for ref, count in refs:
        raw = bf.read_va(base + ref, count * layout.entry_size)
        if len(raw) < count * layout.entry_size:
            raise ValueError("inline tree runs past the end of the file")
        for k in range(count):
            (name_off,) = struct.unpack_from(tab.end + "i", raw, k * layout.entry_size + layout.name_field)
            if name_off in seen:
                continue
            seen.add(name_off)
            if name_off < 0 or names_base + name_off >= len(d):
                raise ValueError(f"inline tree name offset {name_off} out of range")
            yield _cstring(d, names_base + name_off)


def _inline_refs(tab: PclnTable) -> Iterator[tuple[int, int]]:
    """(funcdata[InlTree] value, number of entries) for each function with an inline tree."""
    e, d = tab.end, tab.data
    if tab.magic == MAGIC_120:
        fixed = 44
    elif tab.magic == MAGIC_118:
        fixed = 40
    else:
        fixed = tab.ptr_size + 36
    npc_at = _npcdata_offset(tab)
    u32 = struct.Struct(e + "I").unpack_from
    ptr = struct.Struct(e + ("Q" if tab.ptr_size == 8 else "I")).unpack_from
    for fo in _func_offsets(tab):
        (npcdata,) = u32(d, fo + npc_at)
        nfuncdata = d[fo + fixed - 1]
        if npcdata <= _PCDATA_INLTREE_INDEX or nfuncdata <= _FUNCDATA_INLTREE:
            continue
        (pcoff,) = u32(d, fo + fixed + 4 * _PCDATA_INLTREE_INDEX)
        if pcoff == 0:
            continue
        fd = fo + fixed + 4 * npcdata
        if tab.magic == MAGIC_116:
            if tab.ptr_size == 8 and (tab.addr + fd) % 8:
                fd += 4
            (ref,) = ptr(d, fd + tab.ptr_size * _FUNCDATA_INLTREE)
            if ref == 0:
                continue
        else:
            (ref,) = u32(d, fd + 4 * _FUNCDATA_INLTREE)
            if ref == _NO_FUNCDATA:
                continue
        count = _pcvalue_max(d, tab.pctab_off + pcoff) + 1
        if count > 0:
            yield ref, count


# -- gofunc ----------------------------------------------------------------------


def _plausible_gofunc(bf: BinFile, tab: PclnTable, layout: _InlineLayout, refs: list[tuple[int, int]],
                      gofunc: int) -> bool:
    """Do the first few inline trees, read from this gofunc, look real?"""
    d = tab.data
    names_len = len(d) - tab.funcname_off
    for ref, count in refs[:8]:
        raw = bf.read_va(gofunc + ref, count * layout.entry_size)
        if len(raw) < count * layout.entry_size:
            return False
        for k in range(count):
            at = k * layout.entry_size
            if layout.entry_size == 16 and raw[at + 1 : at + 4] != b"\0\0\0":
                return False
            (name_off,) = struct.unpack_from(tab.end + "i", raw, at + layout.name_field)
            if not 0 <= name_off < names_len:
                return False
            p = tab.funcname_off + name_off
            if name_off and d[p - 1] != 0 or d[p] == 0:
                return False
    return True


def _gofunc(bf: BinFile, tab: PclnTable, layout: _InlineLayout, refs: list[tuple[int, int]]) -> int | None:
    sym = "go:func.*" if tab.magic == MAGIC_120 else "go.func.*"
    addr = bf.symbols(frozenset({sym})).get(sym)
    if addr is not None and _plausible_gofunc(bf, tab, layout, refs, addr):
        return addr
    words = _moduledata_words(bf, tab)
    if words is None:
        return None
    preferred = _GOFUNC_WORDS.get(tab.magic, ())
    for i in (*preferred, *(i for i in _GOFUNC_SEARCH if i not in preferred)):
        if i < len(words) and words[i] and _plausible_gofunc(bf, tab, layout, refs, words[i]):
            return words[i]
    return None


@dataclass(frozen=True)
class Moduledata:
    """The start of runtime.firstmoduledata: where it is and its first words."""

    addr: int  # virtual address
    words: tuple[int, ...]  # pointer-sized words, in target byte order


def find_moduledata(bf: BinFile, tab: PclnTable, nwords: int = 64) -> Moduledata | None:
    """runtime.firstmoduledata, found by its first two words (pcHeader,
    funcnametab.ptr) at a pointer-aligned place in the data (writable ranges
    first); its first `nwords` words (fewer if the file ends). None if not found."""
    if not tab.addr:
        return None
    w = "Q" if tab.ptr_size == 8 else "I"
    e = tab.end
    pattern = struct.pack(e + w + w, tab.addr, tab.addr + tab.funcname_off)
    ranges = sorted(bf.iter_data_ranges(), key=lambda r: not r.writable)
    for r in ranges:
        pos, end = r.offset, r.offset + r.filesize
        while True:
            i = bf.find(pattern, pos, end)
            if i < 0:
                break
            if (i - r.offset) % tab.ptr_size == 0:
                raw = bf.read(i, nwords * tab.ptr_size)
                n = len(raw) // tab.ptr_size
                return Moduledata(r.addr + (i - r.offset), struct.unpack_from(e + w * n, raw))
            pos = i + 1
    return None


def _moduledata_words(bf: BinFile, tab: PclnTable) -> tuple[int, ...] | None:
    """The first 64 words of runtime.firstmoduledata; None if not found."""
    md = find_moduledata(bf, tab)
    return None if md is None else md.words
