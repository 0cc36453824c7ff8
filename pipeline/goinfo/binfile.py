"""Open an executable (ELF, PE, Mach-O, fat Mach-O) and read only what is asked for.

`BinFile.open(path)` opens the file, reads its first HEAD_SIZE bytes and
hands them to the reader of the format they name: `ElfFile` (goinfo/elf.py),
`PeFile` (goinfo/pe.py) or `MachOFile` (goinfo/macho.py, fat files too), each
a BinFile. A reader parses the file header on open; everything else (section
and program headers, symbols) is parsed on first use, so reading a Go build
info blob touches a few kilobytes of a file that may be hundreds of
megabytes. A format's module is imported when the first file of that format
is opened: a fleet of ELF binaries never loads the PE and Mach-O readers.

Reads are positioned reads (`os.pread`): the first HEAD_SIZE bytes once on
open (they hold the ELF header and, for an internally linked Go binary, the
program and section headers; the PE and Mach-O headers), then exactly the
bytes needed, with a read inside the previous one served from memory. A Go
ELF costs three reads: the head, the section names, the blob. pread costs
~2 us per file against ~11 us for mmap + munmap and touches no more of the
file. `bytes_read` counts the bytes read (or scanned), for the benchmark.
Nothing is memoised by content: a fleet of copies of one binary costs what a
fleet of distinct ones does.

This module holds what every format shares: the Section and Segment records,
opening and dispatch, positioned reads, the chunked search and virtual
address mapping. Errors are `BinaryFormatError` with a one-line message
naming the file.
"""

from __future__ import annotations

import os
import stat
from functools import lru_cache
from typing import Any, Callable, ClassVar, Iterator, NamedTuple

from fixproof.errors import BinaryFormatError

SCAN_CHUNK = 1 << 20
HEAD_SIZE = 4096  # read whole on open; see BinFile.read

ELF_MAGIC = b"\x7fELF"
MACHO_MAGICS = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
FAT_MAGICS = (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf")


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


class lazy:
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


def cstr(b: bytes) -> str:
    """A NUL-terminated name, as PE and Mach-O tables store them."""
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")


# -- the file ------------------------------------------------------------------


class BinFile:
    """One opened executable: the interface the goinfo readers use.

    Use as a context manager; not thread-safe. Made by `open`, `from_bytes`
    or `from_pread`, which return the reader of the file's format; a reader
    parses its headers in `_read_headers` and implements `sections`,
    `segments`, `section` and `symbols`.
    """

    format: ClassVar[str]  # "elf" | "pe" | "macho"

    def __init__(self, path: str, pread: Callable[[int, int], bytes], size: int,
                 close: Callable[[], None] | None, head: bytes) -> None:
        self.path = path
        self._pread = pread
        self._close = close
        self._base = 0  # start of the Mach-O fat slice we read
        self.size = size  # size of the image we read (the slice for fat files)
        self.file_size = size
        self.bytes_read = len(head)
        self._head = head  # the file's first HEAD_SIZE bytes (absolute offsets)
        self._last_at, self._last = 0, head  # the previous pread and where it starts
        self.little_endian = True
        self.ptr_size = 8
        self.goos = ""
        self.goarch = ""
        self._read_headers(head)

    @staticmethod
    def open(path: str | os.PathLike[str]) -> "BinFile":
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
            return BinFile.from_pread(name, lambda off, n: os.pread(fd, n, off), st.st_size,
                                      lambda: os.close(fd))
        except BaseException:
            os.close(fd)
            raise

    @staticmethod
    def from_bytes(data: bytes, name: str = "<bytes>") -> "BinFile":
        """For tests and fuzzing: the same reader over an in-memory image."""
        if not data:
            raise BinaryFormatError(f"{name}: empty file, not a Go binary")
        buf = bytes(data)
        return BinFile.from_pread(name, lambda off, n: buf[off : off + n], len(buf))

    @staticmethod
    def from_pread(path: str, pread: Callable[[int, int], bytes], size: int,
                   close: Callable[[], None] | None = None) -> "BinFile":
        """The reader for the format the first bytes name, over `pread(offset, n)`
        of an image of `size` bytes; `close` is called by `close()`."""
        if size <= 0:
            head = b""
        else:
            try:
                head = pread(0, min(HEAD_SIZE, size))
            except OSError as e:
                raise BinaryFormatError(f"{path}: read error: {e.strerror or e}") from e
        ident = head[:4]
        if ident == ELF_MAGIC:
            kind = "elf"
        elif ident[:2] == b"MZ":
            kind = "pe"
        elif ident in MACHO_MAGICS or ident in FAT_MAGICS:
            kind = "macho"
        else:
            raise BinaryFormatError(f"{path}: not a Go binary (unrecognized file format)")
        return _reader(kind)(path, pread, size, close, head)

    def _read_headers(self, head: bytes) -> None:
        """Parse the file header (and what the format needs up front) from `head`."""
        raise NotImplementedError

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

    # -- what each format gives -----------------------------------------

    @property
    def sections(self) -> tuple[Section, ...]:
        """Every section, in file order."""
        raise NotImplementedError

    @property
    def segments(self) -> tuple[Segment, ...]:
        """The ranges the loader maps (ELF program headers, PE sections, Mach-O segments)."""
        raise NotImplementedError

    def section(self, name: str) -> Section | None:
        """The first section called `name` (Mach-O: the section name alone)."""
        raise NotImplementedError

    def symbols(self, wanted: frozenset[str]) -> dict[str, int]:
        """Addresses of the wanted symbol names that the symbol table has."""
        raise NotImplementedError

    def iter_data_ranges(self) -> Iterator[Section | Segment]:
        """Sections (or, without section headers, loadable segments) with file bytes."""
        items: tuple[Section | Segment, ...] = self.sections or tuple(s for s in self.segments if s.loadable)
        for s in items:
            if s.filesize:
                yield s


@lru_cache(maxsize=None)
def _reader(kind: str) -> type[BinFile]:
    """The reader class of a format, its module imported on first use (a
    memoised lookup costs ~50 ns a file, an import statement ~600 ns)."""
    if kind == "elf":
        from fixproof.goinfo.elf import ElfFile

        return ElfFile
    if kind == "pe":
        from fixproof.goinfo.pe import PeFile

        return PeFile
    from fixproof.goinfo.macho import MachOFile

    return MachOFile
