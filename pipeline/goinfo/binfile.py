"""Open an executable (ELF, PE, Mach-O, fat Mach-O) and read only what is asked for.

`BinFile.open(path)` opens the file and parses the file header; everything
else (section and program headers, symbols) is parsed on first use, so
reading a Go build info blob touches a few kilobytes of a file that may be
hundreds of megabytes. Reads are positioned reads (`os.pread`): the first
HEAD_SIZE bytes once on open (they hold the ELF header and, for an
internally linked Go binary, the program and section headers; the PE and
Mach-O headers), then exactly the bytes needed, with a read inside the
previous one served from memory. A Go ELF costs three reads: the head, the
section names, the blob. pread costs ~2 us per file against ~11 us for
mmap + munmap and touches no more of the file. `bytes_read` counts the
bytes read (or scanned), for the benchmark.

ELF goes through pyelftools' structs: its `ELFStructs` definitions of the
file header, section header and program header, compiled once per byte
order and class into one `struct.Struct` each (see `_flat_spec`; construct's
own field-by-field parse costs ~10 us a header, the compiled one well under
1 us), with pyelftools' field names and enum names; the compiled layout is
kept in the cache directory per pyelftools version (`_elf_layout`). Only the `sh_name` words
of the section table are searched with `struct` to find a section by name
without building an object per section. Nothing is memoised by content: a
fleet of copies of one binary costs what a fleet of distinct ones does.

PE and Mach-O use the small struct readers below. For a fat Mach-O only the
first architecture is read, like Go's debug/buildinfo.

Errors are `BinaryFormatError` with a one-line message naming the file.
"""

from __future__ import annotations

import os
import stat
import struct
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from fixproof.errors import BinaryFormatError

SCAN_CHUNK = 1 << 20
HEAD_SIZE = 4096  # read whole on open; see BinFile.read

# GOARCH for the ELF e_machine names pyelftools gives; MIPS and PPC64 depend
# on the class and byte order and are handled in _elf_goarch.
_ELF_GOARCH = {
    "EM_386": "386",
    "EM_X86_64": "amd64",
    "EM_ARM": "arm",
    "EM_AARCH64": "arm64",
    "EM_S390": "s390x",
    "EM_RISCV": "riscv64",
    "EM_LOONGARCH": "loong64",
}
_ELF_GOOS = {
    "ELFOSABI_FREEBSD": "freebsd",
    "ELFOSABI_NETBSD": "netbsd",
    "ELFOSABI_OPENBSD": "openbsd",
    "ELFOSABI_SOLARIS": "solaris",
}
_PE_GOARCH = {0x14C: "386", 0x8664: "amd64", 0x1C4: "arm", 0xAA64: "arm64"}
_MACHO_GOARCH = {7: "386", 0x01000007: "amd64", 12: "arm", 0x0100000C: "arm64"}
_MACHO_MAGICS = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
_FAT_MAGICS = (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf")

_SHT_NOBITS = 8
_SHF_WRITE, _SHF_EXECINSTR = 0x1, 0x4
_PF_X, _PF_W = 0x1, 0x2

_PE_SCN_CODE = 0x20
_PE_SCN_EXECUTE = 0x20000000
_PE_SCN_WRITE = 0x80000000
_PE_DATA = 0x40 | 0x40000000 | 0x80000000  # initialised data, read, write
_PE_ALIGN_BITS = 0x00F00000

_LC_SEGMENT, _LC_SEGMENT_64, _LC_SYMTAB = 0x1, 0x19, 0x2
_VM_PROT_WRITE, _VM_PROT_EXECUTE = 0x2, 0x4
_S_ZEROFILL_TYPES = (0x1, 0xC, 0x12)  # S_ZEROFILL, S_GB_ZEROFILL, S_THREAD_LOCAL_ZEROFILL


# Section and Segment are immutable records read by goinfo's own modules only:
# NamedTuples, which cost a tenth of a frozen dataclass to define (start-up)
# and an eighth to create (one or two per file on the inspect path).
class Section(NamedTuple):
    """A named section. `addr` is the virtual address (PE: ImageBase + RVA)."""

    name: str
    addr: int
    size: int  # size in memory
    offset: int  # file offset, relative to the image (the fat slice for fat files)
    filesize: int  # bytes present in the file (0 for .bss-like sections)
    writable: bool
    executable: bool


class Segment(NamedTuple):
    """A loadable range: ELF program header, PE section, Mach-O segment."""

    name: str
    addr: int
    memsize: int
    offset: int
    filesize: int
    writable: bool
    executable: bool
    loadable: bool = True


# -- pyelftools' structs, compiled --------------------------------------------


class _Flat(NamedTuple):
    """A pyelftools construct `Struct` compiled to one `struct.Struct`.

    construct interprets a Struct field by field (~10 us for one ELF header,
    most of a file's budget on a fleet); one `unpack_from` of the same layout
    costs well under 1 us. The layout, the field names and the enum names
    stay pyelftools': the format codes are those of its FormatFields, and enum
    fields are decoded with its MappingAdapters' own tables. Parsing gives a
    namedtuple with pyelftools' field names (e.g. `e_machine`, `sh_type`).
    Only the enum fields named at compile time are decoded (a decode costs as
    much as the unpack); the others stay numbers."""

    packer: struct.Struct
    make: Callable[[Iterable[object]], tuple]
    enums: tuple[tuple[int, Callable[[object], object]], ...]

    def parse(self, raw: bytes, at: int = 0) -> Any:
        values = self.packer.unpack_from(raw, at)
        if self.enums:
            values = list(values)
            for i, decode in self.enums:
                values[i] = decode(values[i])
        return self.make(values)


def _flat_spec(con: Any, decode: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Flatten a construct Struct into plain data: nested Structs are inlined,
    FormatFields (plain or behind an enum MappingAdapter) become values,
    anything else (e_ident's magic array, padding) is skipped by its static
    size. For the enum fields named in `decode`, pyelftools' table of names
    and what it does with a value it has no name for."""
    from elftools.construct.adapters import MappingAdapter
    from elftools.construct.core import FormatField, Pass, Struct

    codes: list[str] = []
    names: list[str] = []
    enums: list[list[Any]] = []
    orders: set[str] = set()

    def walk(sc: Any) -> None:
        if isinstance(sc, Struct):
            for sub in sc.subcons:
                walk(sub)
            return
        field = sc.subcon if isinstance(sc, MappingAdapter) else sc
        if not isinstance(field, FormatField):
            codes.append(f"{sc.sizeof()}x")
            return
        fmt = field.packer.format  # byte order and one code, e.g. "<H"
        orders.add(fmt[0])
        codes.append(fmt[1:])
        if field is not sc and field.name in decode:
            if sc.decdefault is Pass:
                unknown = "pass"  # a value without a name stays a number
            elif sc.decdefault is NotImplemented:
                unknown = "error"
            else:
                raise TypeError(f"{con.name}.{field.name}: unsupported enum default {sc.decdefault!r}")
            enums.append([len(names), {str(k): v for k, v in sc.decoding.items()}, unknown])
        names.append(field.name)

    walk(con)
    if len(orders) != 1:
        raise TypeError(f"{con.name}: mixed byte orders {orders}")
    spec = {"name": con.name, "format": orders.pop() + "".join(codes), "names": names, "enums": enums,
            "size": con.sizeof()}
    if struct.calcsize(spec["format"]) != spec["size"]:
        raise TypeError(f"{con.name}: compiled to {struct.calcsize(spec['format'])} bytes, construct says {spec['size']}")
    return spec


def _decoder(table: dict[str, str], unknown: str) -> Callable[[object], object]:
    names = {int(k): v for k, v in table.items()}
    if unknown == "pass":
        return lambda v: names.get(v, v)  # type: ignore[call-overload]

    def strict(v: object) -> object:
        try:
            return names[v]  # type: ignore[index]
        except KeyError:
            raise struct.error(f"no name for value {v!r}") from None
    return strict


def _flat(spec: dict[str, Any]) -> _Flat:
    from collections import namedtuple

    packer = struct.Struct(spec["format"])
    if packer.size != spec["size"] or len(spec["names"]) != len(packer.unpack(bytes(packer.size))):
        raise ValueError(f"{spec['name']}: layout does not add up")
    enums = tuple((int(i), _decoder(table, unknown)) for i, table, unknown in spec["enums"])
    return _Flat(packer, namedtuple(spec["name"], spec["names"])._make, enums)


class _ElfLayout(NamedTuple):
    """pyelftools' headers for one byte order and class, compiled. Private
    records in this module are NamedTuples: they cost a tenth of a dataclass
    to define, which counts in a command's start-up."""

    ehdr: _Flat
    shdr: _Flat
    phdr: _Flat
    sym_size: int
    word: struct.Struct  # one sh_name word, for searching the raw section table
    errors: tuple[type[Exception], ...]  # what a bad header raises


# Bump when the spec's shape changes; the pyelftools version is in the file name too.
_LAYOUT_CACHE_FORMAT = 1


@lru_cache(maxsize=None)
def _elf_layout(little_endian: bool, elfclass: int) -> _ElfLayout:
    """Pure and memoised: at most four distinct values per process.

    The layout comes from pyelftools' ELFStructs. Importing them costs ~15 ms
    (construct, and with it pdb, inspect, pprint...), a seventh of reading a
    fleet of 1,200 binaries (bench/RESULTS.md), so the flattened layout is
    kept in the cache directory under the pyelftools version that gave it
    (`import elftools` alone only reads its version) and recomputed from
    pyelftools when that version changes or the file is unreadable."""
    import elftools

    key = f"elf-layout-v{_LAYOUT_CACHE_FORMAT}-pyelftools-{elftools.__version__}-" \
          f"{'le' if little_endian else 'be'}{elfclass}.json"
    cached = _read_layout(key)
    layout = _layout(cached, little_endian) if cached is not None else None
    if layout is None:  # no cache file, or a damaged one: derive it again
        spec = _layout_from_pyelftools(little_endian, elfclass)
        _write_layout(key, spec)
        layout = _layout(spec, little_endian)
        assert layout is not None, "pyelftools' own layout does not add up"
    return layout


def _layout(spec: dict[str, Any], little_endian: bool) -> _ElfLayout | None:
    """The layout a spec describes, or None when it does not hold together."""
    try:
        flats = [_flat(spec[k]) for k in ("ehdr", "shdr", "phdr")]
        sym_size = int(spec["sym_size"])
    except (KeyError, TypeError, ValueError, struct.error):
        return None
    return _ElfLayout(*flats, sym_size, struct.Struct("<I" if little_endian else ">I"), (struct.error,))


def _layout_from_pyelftools(little_endian: bool, elfclass: int) -> dict[str, Any]:
    from elftools.elf.structs import ELFStructs

    s = ELFStructs(little_endian=little_endian, elfclass=elfclass)
    s.create_basic_structs()
    s.create_advanced_structs()
    # Decoded: the machine and OS ABI names (GOARCH, GOOS) and p_type (PT_LOAD);
    # sh_type is only compared with SHT_NOBITS.
    return {"ehdr": _flat_spec(s.Elf_Ehdr, frozenset({"e_machine", "EI_OSABI"})),
            "shdr": _flat_spec(s.Elf_Shdr),
            "phdr": _flat_spec(s.Elf_Phdr, frozenset({"p_type"})),
            "sym_size": s.Elf_Sym.sizeof()}


def _layout_path(key: str) -> str:
    from fixproof.cachedir import cache_root

    return os.path.join(cache_root(), "goinfo", key)


def _read_layout(key: str) -> dict[str, Any] | None:
    import json

    try:
        with open(_layout_path(key), "rb") as f:
            spec = json.loads(f.read())
    except (OSError, ValueError):
        return None  # absent or damaged: derived again from pyelftools
    return spec if isinstance(spec, dict) else None


def _write_layout(key: str, spec: dict[str, Any]) -> None:
    """Atomically, and only as a speed-up: an unwritable cache leaves every run deriving the layout."""
    import json
    import tempfile

    path = _layout_path(key)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".layout-")
        with os.fdopen(fd, "w") as f:
            json.dump(spec, f)
        os.replace(tmp, path)
    except OSError:
        pass  # read-only home or cache: the layout is derived again next time, nothing else changes


def preload_elf() -> None:
    """Load the usual layout (little-endian, 64-bit) now: for a caller about
    to fork workers, which then share it."""
    _elf_layout(True, 64)


class _lazy:
    """functools.cached_property without the lock that Python 3.11 takes on
    every first access (~0.5 us; a BinFile is not shared between threads)."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn
        self.name = fn.__name__

    def __get__(self, obj: Any, cls: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)  # later reads find the attribute first
        return value


def _cstr(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")


# -- the file ------------------------------------------------------------------


class BinFile:
    """One opened executable. Use as a context manager; not thread-safe."""

    format: str  # "elf" | "pe" | "macho"

    def __init__(self, path: str, pread: Callable[[int, int], bytes], size: int,
                 close: Callable[[], None] | None = None) -> None:
        self.path = path
        self._pread = pread
        self._close = close
        self._base = 0  # start of the Mach-O fat slice we read
        self.size = size  # size of the image we read (the slice for fat files)
        self.file_size = size
        self.bytes_read = 0
        self._head = b""  # the file's first HEAD_SIZE bytes (absolute offsets)
        self._last_at, self._last = 0, b""  # the previous pread and where it starts
        self.little_endian = True
        self.ptr_size = 8
        self.goos = ""
        self.goarch = ""
        self._identify()

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> "BinFile":
        name = os.fspath(path)
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer.
            fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError as e:
            raise BinaryFormatError(f"{name}: no such file") from e
        except PermissionError as e:
            raise BinaryFormatError(f"{name}: cannot open: permission denied") from e
        except OSError as e:
            raise BinaryFormatError(f"{name}: cannot open: {e.strerror or e}") from e
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise BinaryFormatError(f"{name}: is a directory")
            if not stat.S_ISREG(st.st_mode):
                raise BinaryFormatError(f"{name}: not a regular file")
            if st.st_size == 0:
                raise BinaryFormatError(f"{name}: empty file, not a Go binary")
            return cls(name, lambda off, n: os.pread(fd, n, off), st.st_size, lambda: os.close(fd))
        except BaseException:
            os.close(fd)
            raise

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "<bytes>") -> "BinFile":
        """For tests and fuzzing: the same reader over an in-memory image."""
        if not data:
            raise BinaryFormatError(f"{name}: empty file, not a Go binary")
        buf = bytes(data)
        return cls(name, lambda off, n: buf[off : off + n], len(buf))

    def close(self) -> None:
        if self._close is not None:
            close, self._close = self._close, None
            close()

    def __enter__(self) -> "BinFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fail(self, reason: str) -> BinaryFormatError:
        return BinaryFormatError(f"{self.path}: {reason}")

    # -- raw reads -----------------------------------------------------

    def read(self, offset: int, n: int) -> bytes:
        """Up to n bytes at a file offset of the image (short at the end).

        Served from memory, without a syscall, when the bytes lie in the
        file's first HEAD_SIZE bytes (one read on open: the ELF header with
        the program and section headers of an internally linked Go binary,
        the PE headers and section table, the Mach-O load commands) or inside
        the previous read (the blob search reads what the blob reader then
        asks for again).
        """
        if offset < 0 or n <= 0 or offset >= self.size:
            return b""
        if offset + n > self.size:
            n = self.size - offset
        at = self._base + offset
        end = at + n
        if end <= len(self._head):
            return self._head[at:end]
        rel = at - self._last_at
        if 0 <= rel and rel + n <= len(self._last):
            return self._last[rel : rel + n]
        try:
            b = self._pread(at, n)
        except OSError as e:
            raise self.fail(f"read error: {e.strerror or e}") from e
        self.bytes_read += len(b)
        self._last_at, self._last = at, b
        return b

    def read_exact(self, offset: int, n: int, what: str) -> bytes:
        b = self.read(offset, n)
        if len(b) != n:
            raise self.fail(f"truncated file (cannot read {what})")
        return b

    def find(self, pattern: bytes, start: int, end: int) -> int:
        """Image offset of the first `pattern` in [start, end), or -1.

        Reads the range in chunks that start at 4 KiB and double up to 1 MiB,
        so a pattern near the start (the usual case) costs a small read.
        """
        end = min(end, self.size)
        step = max(4096, 2 * len(pattern))
        while start < end:
            chunk = self.read(start, min(step, end - start))
            i = chunk.find(pattern)
            if i >= 0:
                return start + i
            if not chunk or start + len(chunk) >= end:
                return -1
            start += len(chunk) - len(pattern) + 1
            step = min(2 * step, SCAN_CHUNK)
        return -1

    # -- virtual addresses --------------------------------------------

    def va_to_offset(self, addr: int) -> tuple[int, int] | None:
        """(file offset, bytes available in the file from there) for a VA.

        The first range with file bytes covering `addr` wins, like Go's
        DataReader (ELF program headers, PE sections, Mach-O segments but
        __PAGEZERO).
        """
        for seg in self.segments:
            if seg.filesize and seg.addr <= addr < seg.addr + seg.filesize:
                return seg.offset + (addr - seg.addr), seg.addr + seg.filesize - addr
        return None

    def read_va(self, addr: int, n: int, hint: Section | None = None) -> bytes:
        """Up to n bytes at a virtual address; b"" if it is not mapped.

        With `hint`, a read that fits inside that section is served from the
        section header alone (no program header parsing for ELF).
        """
        if hint is not None and hint.addr <= addr and addr + n <= hint.addr + hint.filesize:
            return self.read(hint.offset + addr - hint.addr, n)
        loc = self.va_to_offset(addr)
        if loc is None:
            return b""
        off, avail = loc
        return self.read(off, min(n, avail))

    # -- format dispatch -----------------------------------------------

    def _identify(self) -> None:
        head = self._head = self.read(0, HEAD_SIZE)
        ident = head[:16]
        if ident[:4] == b"\x7fELF":
            self.format = "elf"
            self._elf_init(head)
        elif ident[:2] == b"MZ":
            self.format = "pe"
            self._pe_init(head)
        elif ident[:4] in _MACHO_MAGICS:
            self.format = "macho"
            self._macho_init()
        elif ident[:4] in _FAT_MAGICS:
            self.format = "macho"
            self._fat_init(ident[:4] == _FAT_MAGICS[1])
            self._macho_init()
        else:
            raise self.fail("not a Go binary (unrecognized file format)")

    @_lazy
    def sections(self) -> tuple[Section, ...]:
        if self.format == "elf":
            return tuple(self._elf_make_section(i) for i in range(self._shnum))
        if self.format == "pe":
            return self._pe_sections
        return tuple(self._macho_sections())

    @_lazy
    def segments(self) -> tuple[Segment, ...]:
        if self.format == "elf":
            return self._elf_segments()
        if self.format == "pe":
            # Go's DataReader maps [rva, rva + SizeOfRawData) of each section.
            return tuple(Segment(s.name, s.addr, s.size, s.offset, s.filesize, s.writable, s.executable)
                         for s in self._pe_sections)
        return tuple(seg for seg, *_ in self._macho_segments() if seg.loadable)

    def section(self, name: str) -> Section | None:
        """The first section called `name` (Mach-O: the section name alone)."""
        if self.format == "elf":
            cache = self._section_cache
            if name not in cache:
                cache[name] = self._elf_find_section(name)
            return cache[name]
        if self.format == "macho":
            return self._macho_section(name)
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def symbols(self, wanted: frozenset[str]) -> dict[str, int]:
        """Addresses of the wanted symbol names that the symbol table has."""
        if self.format == "elf":
            return self._elf_symbols(wanted)
        if self.format == "pe":
            return self._pe_symbols(wanted)
        return self._macho_symbols(wanted)

    def iter_data_ranges(self) -> Iterator[Section | Segment]:
        """Sections (or, without section headers, loadable segments) with file bytes."""
        items: tuple[Section | Segment, ...] = self.sections or tuple(s for s in self.segments if s.loadable)
        for s in items:
            if s.filesize:
                yield s

    # -- ELF -----------------------------------------------------------

    def _elf_init(self, head: bytes) -> None:
        ident = head[:16]
        if len(ident) < 16 or ident[4] not in (1, 2) or ident[5] not in (1, 2):
            raise self.fail("not a Go binary (unrecognized file format: bad ELF ident)")
        self.ptr_size = 4 if ident[4] == 1 else 8
        self.little_endian = ident[5] == 1
        self._end = "<" if self.little_endian else ">"
        layout = self._layout = _elf_layout(self.little_endian, 32 if ident[4] == 1 else 64)
        self._section_cache: dict[str, Section | None] = {}
        if len(head) < layout.ehdr.packer.size:
            raise self.fail("truncated file (cannot read the ELF header)")
        try:
            h = layout.ehdr.parse(head)
        except layout.errors as e:
            raise self.fail(f"corrupt ELF header: {e}") from e
        self._eh = h
        self.goarch = self._elf_goarch(h.e_machine)
        self.goos = _ELF_GOOS.get(str(h.EI_OSABI), "linux")
        self._shoff, self._shnum, self._shstrndx = h.e_shoff, h.e_shnum, h.e_shstrndx
        self._shentsize = h.e_shentsize
        if self._shoff == 0:
            # No section table (e.g. removed by sstrip): callers fall back to
            # the program headers, like Go 1.21-1.26 readers do.
            if self._shnum:
                raise self.fail("corrupt ELF header (section count without a section table)")
            return
        if h.e_shentsize < layout.shdr.packer.size:
            raise self.fail("corrupt ELF header (section header size)")
        if self._shnum == 0 or self._shstrndx == 0xFFFF:
            # Extended numbering: the real values live in section 0.
            s0 = self._elf_shdr(0)
            self._shnum = self._shnum or s0.sh_size
            if self._shstrndx == 0xFFFF:
                self._shstrndx = s0.sh_link
        if self._shoff + self._shnum * self._shentsize > self.size:
            raise self.fail("truncated or corrupt ELF file (section headers past the end)")
        if self._shnum and self._shstrndx >= self._shnum:
            raise self.fail("corrupt ELF header (section name table index)")

    def _elf_goarch(self, machine: str | int) -> str:
        if machine in _ELF_GOARCH:
            return _ELF_GOARCH[str(machine)]
        be = not self.little_endian
        if machine == "EM_PPC64":
            return "ppc64" if be else "ppc64le"
        if machine == "EM_MIPS":
            base = "mips" if self.ptr_size == 4 else "mips64"
            return base if be else base + "le"
        return str(machine).removeprefix("EM_").lower()

    def _elf_shdr(self, index: int) -> Any:
        """pyelftools' Elf_Shdr fields (sh_name, sh_type, ...) of one section header."""
        layout = self._layout
        at = index * self._shentsize
        table = self.__dict__.get("_shtable")  # the whole table, once it has been read
        if table is None or at + layout.shdr.packer.size > len(table):
            table, at = self.read_exact(self._shoff + at, layout.shdr.packer.size, f"ELF section header {index}"), 0
        try:
            return layout.shdr.parse(table, at)
        except layout.errors as e:
            raise self.fail(f"corrupt ELF section header {index}: {e}") from e

    @_lazy
    def _shtable(self) -> bytes:
        """The section header table (a few KiB), read once."""
        return self.read(self._shoff, self._shnum * self._shentsize) if self._shnum else b""

    @_lazy
    def _shstrtab(self) -> bytes:
        if not self._shnum:
            return b""
        _ = self._shtable  # read the table first, so the header below comes from it
        sh = self._elf_shdr(self._shstrndx)
        if sh.sh_offset + sh.sh_size > self.size:
            raise self.fail("truncated or corrupt ELF file (section names past the end)")
        return self.read(sh.sh_offset, sh.sh_size)

    def _elf_name_at(self, off: int) -> str:
        tab = self._shstrtab
        if off >= len(tab):
            raise self.fail("corrupt ELF section name offset")
        end = tab.find(b"\0", off)
        return tab[off : end if end >= 0 else len(tab)].decode("utf-8", "replace")

    def _elf_make_section(self, index: int) -> Section:
        sh = self._elf_shdr(index)
        nobits = sh.sh_type == _SHT_NOBITS
        return Section(
            name=self._elf_name_at(sh.sh_name),
            addr=sh.sh_addr,
            size=sh.sh_size,
            offset=sh.sh_offset,
            filesize=0 if nobits else sh.sh_size,
            writable=bool(sh.sh_flags & _SHF_WRITE),
            executable=bool(sh.sh_flags & _SHF_EXECINSTR),
        )

    def _elf_index(self, name: str) -> int | None:
        """Index of the first section header whose sh_name spells `name`."""
        tab = self._shstrtab
        want = name.encode() + b"\0"
        # sh_name may point into the middle of a longer name (".rela.text"
        # also names ".text"), so every occurrence is a candidate.
        table, entsize = self._shtable, self._shentsize
        word = self._layout.word
        best: int | None = None
        i = tab.find(want)
        while i >= 0:
            key = word.pack(i)
            j = table.find(key)
            while j >= 0:
                if j % entsize == 0:
                    index = j // entsize
                    best = index if best is None else min(best, index)
                    break
                j = table.find(key, j + 1)
            i = tab.find(want, i + 1)
        return best

    def _elf_find_section(self, name: str) -> Section | None:
        index = self._elf_index(name)
        return None if index is None else self._elf_make_section(index)

    def _elf_segments(self) -> tuple[Segment, ...]:
        h, layout = self._eh, self._layout
        phnum, phentsize = h.e_phnum, h.e_phentsize
        if phnum and phentsize < layout.phdr.packer.size:
            raise self.fail("corrupt ELF header (program header size)")
        if h.e_phoff + phnum * phentsize > self.size:
            raise self.fail("truncated or corrupt ELF file (program headers past the end)")
        table = self.read(h.e_phoff, phnum * phentsize)
        out = []
        for i in range(phnum):
            try:
                p = layout.phdr.parse(table, i * phentsize)
            except layout.errors as e:
                raise self.fail(f"corrupt ELF program header {i}: {e}") from e
            out.append(Segment(
                name=str(p.p_type),
                addr=p.p_vaddr,
                memsize=p.p_memsz,
                offset=p.p_offset,
                filesize=p.p_filesz,
                writable=bool(p.p_flags & _PF_W),
                executable=bool(p.p_flags & _PF_X),
                loadable=p.p_type in ("PT_LOAD", 1),
            ))
        return tuple(out)

    def _elf_symbols(self, wanted: frozenset[str]) -> dict[str, int]:
        index = self._elf_index(".symtab") if self._shnum else None
        if index is None:
            return {}
        symtab = self._elf_make_section(index)
        link = self._elf_shdr(index).sh_link
        if not symtab.filesize or not 0 < link < self._shnum:
            return {}
        strtab = self._elf_make_section(link)
        strings = self.read(strtab.offset, strtab.filesize)
        name_offs: dict[int, str] = {}
        for name in wanted:
            i = strings.find(b"\0" + name.encode() + b"\0")
            if i >= 0:
                name_offs[i + 1] = name
        if not name_offs:
            return {}
        entsize = self._layout.sym_size
        data = self.read(symtab.offset, symtab.filesize - symtab.filesize % entsize)
        # st_name is the first word; st_value follows (64-bit: after info,
        # other and shndx; 32-bit: right after st_name).
        fmt = f"{self._end}I4xQ{entsize - 16}x" if self.ptr_size == 8 else f"{self._end}II{entsize - 8}x"
        out: dict[str, int] = {}
        for st_name, value in struct.iter_unpack(fmt, data):
            name = name_offs.get(st_name)
            if name is not None and name not in out:
                out[name] = value
        return out

    # -- PE ------------------------------------------------------------

    def _pe_init(self, dos: bytes) -> None:
        if len(dos) < 0x40:
            raise self.fail("truncated file (cannot read the DOS header)")
        (lfanew,) = struct.unpack_from("<I", dos, 0x3C)
        head = self.read(lfanew, 24 + 32)
        if len(head) < 24 + 32 or head[:4] != b"PE\0\0":
            raise self.fail("not a Go binary (unrecognized file format: no PE signature)")
        machine, nsect, _ts, symptr, nsyms, optsize, _ch = struct.unpack_from("<HHIIIHH", head, 4)
        self.goos = "windows"
        self.goarch = _PE_GOARCH.get(machine, f"pe-machine-{machine:#x}")
        (magic,) = struct.unpack_from("<H", head, 24)
        if magic == 0x10B and optsize >= 32:
            (self.image_base,) = struct.unpack_from("<I", head, 24 + 28)
            self.ptr_size = 4
        elif magic == 0x20B and optsize >= 32:
            (self.image_base,) = struct.unpack_from("<Q", head, 24 + 24)
            self.ptr_size = 8
        else:
            raise self.fail("corrupt PE optional header")
        self._pe_table = self.read(lfanew + 24 + optsize, 40 * nsect)
        if len(self._pe_table) < 40 * nsect:
            raise self.fail("truncated PE section table")
        self._pe_symptr, self._pe_nsyms = symptr, nsyms

    def _pe_entries(self) -> Iterator[tuple[bytes, int, int, int, int, int]]:
        """(name, VirtualSize, RVA, SizeOfRawData, PointerToRawData, Characteristics)."""
        for name, vsize, rva, rawsize, rawptr, _r, _l, _nr, _nl, chars in struct.iter_unpack(
            "<8sIIIIIIHHI", self._pe_table
        ):
            yield name, vsize, rva, rawsize, rawptr, chars

    def _pe_section(self, name_raw: bytes, vsize: int, rva: int, rawsize: int, rawptr: int, chars: int) -> Section:
        name = _cstr(name_raw)
        if name.startswith("/") and name[1:].isdigit():
            name = self._pe_long_name(int(name[1:])) or name
        filesize = min(rawsize, max(0, self.size - rawptr)) if rawptr else 0
        return Section(name, self.image_base + rva, vsize, rawptr, filesize, bool(chars & _PE_SCN_WRITE),
                       bool(chars & (_PE_SCN_EXECUTE | _PE_SCN_CODE)))

    @_lazy
    def _pe_sections(self) -> tuple[Section, ...]:
        return tuple(self._pe_section(*e) for e in self._pe_entries())

    def pe_data_section(self) -> Section | None:
        """Go's peExe.DataStart: the first initialised read-write data section."""
        for e in self._pe_entries():
            _name, _vsize, rva, rawsize, _rawptr, chars = e
            if rva and rawsize and chars & ~_PE_ALIGN_BITS == _PE_DATA:
                return self._pe_section(*e)
        return None

    def _pe_long_name(self, off: int) -> str | None:
        if not self._pe_symptr:
            return None
        strtab = self._pe_symptr + 18 * self._pe_nsyms
        return _cstr(self.read(strtab + off, 256)) or None

    def _pe_symbols(self, wanted: frozenset[str]) -> dict[str, int]:
        if not self._pe_symptr or not self._pe_nsyms:
            return {}
        n = self._pe_nsyms
        raw = self.read(self._pe_symptr, 18 * n)
        strtab_off = self._pe_symptr + 18 * n
        size_raw = self.read(strtab_off, 4)
        strtab = self.read(strtab_off, struct.unpack("<I", size_raw)[0]) if len(size_raw) == 4 else b""
        sections = self._pe_sections
        out: dict[str, int] = {}
        i = 0
        while i + 18 <= len(raw):
            name_raw, value, secnum, _typ, _cls, naux = struct.unpack_from("<8sIhHBB", raw, i)
            if name_raw[:4] == b"\0\0\0\0":
                (soff,) = struct.unpack_from("<I", name_raw, 4)
                name = _cstr(strtab[soff:]) if soff < len(strtab) else ""
            else:
                name = _cstr(name_raw)
            if name in wanted and name not in out and 0 < secnum <= len(sections):
                out[name] = sections[secnum - 1].addr + value
            i += 18 * (1 + naux)
        return out

    # -- Mach-O --------------------------------------------------------

    def _fat_init(self, is64: bool) -> None:
        hdr = self.read_exact(0, 8, "the fat header")
        (narch,) = struct.unpack_from(">I", hdr, 4)
        entsize = 32 if is64 else 20
        if narch == 0 or 8 + narch * entsize > self.size:
            raise self.fail("not a Go binary (unrecognized file format: bad fat Mach-O header)")
        raw = self.read_exact(8, entsize, "the fat arch table")  # only Arches[0] is read, like Go
        if is64:
            _cpu, _sub, offset, size = struct.unpack_from(">iiQQ", raw)
        else:
            _cpu, _sub, offset, size = struct.unpack_from(">iiII", raw)
        if size == 0 or offset + size > self.size:
            raise self.fail("truncated or corrupt fat Mach-O file")
        self._base = offset
        self.size = size

    def _macho_init(self) -> None:
        head = self.read_exact(0, 28, "the Mach-O header")
        if head[:4] not in _MACHO_MAGICS:
            raise self.fail("not a Go binary (unrecognized file format: bad Mach-O magic)")
        self.little_endian = head[0] in (0xCE, 0xCF)
        e = self._end = "<" if self.little_endian else ">"
        magic, cpu, _sub, _ftype, ncmds, sizeofcmds, _flags = struct.unpack_from(e + "IiiIIII", head)
        is64 = magic == 0xFEEDFACF
        self.ptr_size = 8 if is64 else 4
        self.goos = "darwin"
        self.goarch = _MACHO_GOARCH.get(cpu & 0xFFFFFFFF, f"macho-cpu-{cpu & 0xFFFFFFFF:#x}")
        self._ncmds = ncmds
        self._cmds = self.read(32 if is64 else 28, sizeofcmds)
        if len(self._cmds) < sizeofcmds:
            raise self.fail("truncated Mach-O load commands")

    def _macho_commands(self) -> Iterator[tuple[int, int]]:
        """(cmd, offset in the load command area) of each load command."""
        e, cmds = self._end, self._cmds
        p = 0
        for _ in range(self._ncmds):
            if p + 8 > len(cmds):
                raise self.fail("corrupt Mach-O load commands")
            cmd, cmdsize = struct.unpack_from(e + "II", cmds, p)
            if cmdsize < 8 or p + cmdsize > len(cmds):
                raise self.fail("corrupt Mach-O load command size")
            yield cmd, p
            p += cmdsize

    def _macho_segments(self) -> Iterator[tuple[Segment, tuple[int, int], int, int, int]]:
        """(segment, (maxprot, initprot), offset of its section table, section count, entry size)."""
        e, cmds = self._end, self._cmds
        for cmd, p in self._macho_commands():
            if cmd not in (_LC_SEGMENT, _LC_SEGMENT_64):
                continue
            if cmd == _LC_SEGMENT_64:
                fmt, ssize = e + "16sQQQQiiII", 80
            else:
                fmt, ssize = e + "16sIIIIiiII", 68
            need = struct.calcsize(fmt)
            (cmdsize,) = struct.unpack_from(e + "I", cmds, p + 4)
            if cmdsize < 8 + need:
                raise self.fail("corrupt Mach-O segment command")
            segname, vmaddr, vmsize, fileoff, filesize, maxprot, initprot, nsects, _f = struct.unpack_from(
                fmt, cmds, p + 8)
            if 8 + need + nsects * ssize > cmdsize:
                raise self.fail("corrupt Mach-O section table")
            sname = _cstr(segname)
            seg = Segment(sname, vmaddr, vmsize, fileoff, filesize, bool(initprot & _VM_PROT_WRITE),
                          bool(initprot & _VM_PROT_EXECUTE), loadable=sname != "__PAGEZERO")
            yield seg, (maxprot, initprot), p + 8 + need, nsects, ssize

    def _macho_sections(self, want: bytes | None = None) -> Iterator[Section]:
        """Sections in file order; with `want` (a raw 16-byte name), only those."""
        e, cmds = self._end, self._cmds
        for seg, _prot, table, nsects, ssize in self._macho_segments():
            sfmt = e + ("16s16sQQIIIIIIII" if ssize == 80 else "16s16sIIIIIIIII")
            for k in range(nsects):
                at = table + k * ssize
                if want is not None and cmds[at : at + 16] != want:
                    continue
                f = struct.unpack_from(sfmt, cmds, at)
                sectname, addr, size, offset, flags = f[0], f[2], f[3], f[4], f[9]
                zerofill = (flags & 0xFF) in _S_ZEROFILL_TYPES or offset == 0
                yield Section(_cstr(sectname), addr, size, offset, 0 if zerofill else size, seg.writable,
                              seg.executable)

    def _macho_section(self, name: str) -> Section | None:
        raw = name.encode()[:16].ljust(16, b"\0")
        return next(self._macho_sections(raw), None)

    def macho_rw_segment(self) -> Segment | None:
        """Go's Mach-O data fallback: the first segment with prot = maxprot = RW."""
        for seg, prot, _t, _n, _s in self._macho_segments():
            if seg.addr and seg.filesize and prot == (3, 3):
                return seg
        return None

    def _macho_symbols(self, wanted: frozenset[str]) -> dict[str, int]:
        symtab = next((p for cmd, p in self._macho_commands() if cmd == _LC_SYMTAB), None)
        if symtab is None or len(self._cmds) < symtab + 24:
            return {}
        symoff, nsyms, stroff, strsize = struct.unpack_from(self._end + "IIII", self._cmds, symtab + 8)
        strings = self.read(stroff, strsize)
        name_offs: dict[int, str] = {}
        for name in wanted:
            for spelled in (name, "_" + name):
                i = strings.find(b"\0" + spelled.encode() + b"\0")
                if i >= 0:
                    name_offs[i + 1] = name
        if not name_offs:
            return {}
        fmt = self._end + ("I4xQ" if self.ptr_size == 8 else "I4xI")
        entsize = struct.calcsize(fmt)
        data = self.read(symoff, nsyms * entsize)
        data = data[: len(data) - len(data) % entsize]
        out: dict[str, int] = {}
        for strx, value in struct.iter_unpack(fmt, data):
            name = name_offs.get(strx)
            if name is not None and name not in out:
                out[name] = value
        return out
