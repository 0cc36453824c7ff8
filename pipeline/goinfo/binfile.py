"""Open an executable (ELF, PE, Mach-O, fat Mach-O) and read only what is asked for.

`BinFile.open(path)` maps the file read-only and parses the file header.
Everything else (ELF section and program headers, symbols) is parsed on
first use, so reading a Go build info blob touches a few pages of a file
that may be hundreds of megabytes. `bytes_read` counts the bytes handed out
(or scanned), for the benchmark.

ELF goes through pyelftools' construct structs (`ELFStructs`) for the file
header, the section headers we need and the program headers; only the
`sh_name` words of the section table are scanned with `struct` to find a
section by name without building an object per section. PE and Mach-O
(including fat files, where only the first architecture is read, like Go's
debug/buildinfo) use the small struct readers below.

Errors are `BinaryFormatError` with a one-line message naming the file.
"""

from __future__ import annotations

import mmap
import os
import stat
import struct
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Iterator

from pipeline.errors import BinaryFormatError

if TYPE_CHECKING:  # pragma: no cover
    from elftools.elf.structs import ELFStructs

ELF_MAGIC = b"\x7fELF"
FAT_MAGICS = (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf")

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

_SHT_NOBITS = 8
_SHF_WRITE = 0x1
_SHF_EXECINSTR = 0x4
_PT_LOAD = 1
_PF_X, _PF_W = 0x1, 0x2

_PE_SCN_CODE = 0x20
_PE_SCN_EXECUTE = 0x20000000
_PE_SCN_WRITE = 0x80000000

_LC_SEGMENT, _LC_SEGMENT_64, _LC_SYMTAB = 0x1, 0x19, 0x2
_VM_PROT_WRITE, _VM_PROT_EXECUTE = 0x2, 0x4


@dataclass(frozen=True)
class Section:
    """A named section. `addr` is the virtual address (PE: ImageBase + RVA)."""

    name: str
    addr: int
    size: int  # size in memory
    offset: int  # file offset, relative to the (fat slice of the) file
    filesize: int  # bytes present in the file (0 for .bss-like sections)
    writable: bool
    executable: bool

    def contains(self, addr: int) -> bool:
        return self.addr <= addr < self.addr + self.filesize


@dataclass(frozen=True)
class Segment:
    """A loadable range: ELF program header, PE section, Mach-O segment."""

    name: str
    addr: int
    memsize: int
    offset: int
    filesize: int
    writable: bool
    executable: bool
    loadable: bool = True


@dataclass(frozen=True)
class Symbol:
    name: str
    addr: int


@lru_cache(maxsize=None)
def _elf_structs(little_endian: bool, elfclass: int) -> "ELFStructs":
    """pyelftools' structs for one byte order and class (pure; memoised)."""
    from elftools.elf.structs import ELFStructs

    s = ELFStructs(little_endian=little_endian, elfclass=elfclass)
    s.create_basic_structs()
    s.create_advanced_structs()
    return s


def _cstr(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")


class BinFile:
    """One opened executable. Use as a context manager; not thread-safe."""

    format: str  # "elf" | "pe" | "macho"

    def __init__(self, path: str, mm: mmap.mmap | bytes, size: int) -> None:
        self.path = path
        self._mm = mm
        self._base = 0  # start of the Mach-O fat slice we read
        self.size = size  # size of the image we read (the slice for fat files)
        self.file_size = size
        self.bytes_read = 0
        self.little_endian = True
        self.ptr_size = 8
        self.goos = ""
        self.goarch = ""
        self._identify()

    # -- opening -------------------------------------------------------

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
            try:
                mm = mmap.mmap(fd, st.st_size, access=mmap.ACCESS_READ)
            except (OSError, ValueError) as e:
                raise BinaryFormatError(f"{name}: cannot map file: {e}") from e
        finally:
            os.close(fd)
        try:
            return cls(name, mm, st.st_size)
        except BaseException:
            mm.close()
            raise

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "<bytes>") -> "BinFile":
        """For tests and fuzzing: the same reader over an in-memory image."""
        if not data:
            raise BinaryFormatError(f"{name}: empty file, not a Go binary")
        return cls(name, bytes(data), len(data))

    def close(self) -> None:
        if isinstance(self._mm, mmap.mmap):
            self._mm.close()

    def __enter__(self) -> "BinFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fail(self, reason: str) -> BinaryFormatError:
        return BinaryFormatError(f"{self.path}: {reason}")

    # -- raw reads -----------------------------------------------------

    def read(self, offset: int, n: int) -> bytes:
        """Up to n bytes at a file offset of the image (short at the end)."""
        if offset < 0 or n <= 0 or offset >= self.size:
            return b""
        n = min(n, self.size - offset)
        self.bytes_read += n
        start = self._base + offset
        return self._mm[start : start + n]

    def read_exact(self, offset: int, n: int, what: str) -> bytes:
        b = self.read(offset, n)
        if len(b) != n:
            raise self.fail(f"truncated file (cannot read {what})")
        return b

    def find(self, pattern: bytes, start: int, end: int) -> int:
        """Offset of the first `pattern` in [start, end) of the image, or -1.

        Counts the bytes scanned as read.
        """
        end = min(end, self.size)
        if start < 0 or start >= end:
            return -1
        i = self._mm.find(pattern, self._base + start, self._base + end)
        if i < 0:
            self.bytes_read += end - start
            return -1
        i -= self._base
        self.bytes_read += i + len(pattern) - start
        return i

    def view(self, offset: int, n: int) -> memoryview:
        """A zero-copy view for bulk parsers (pclntab); counts as read."""
        if offset < 0 or offset >= self.size or n <= 0:
            return memoryview(b"")
        n = min(n, self.size - offset)
        self.bytes_read += n
        start = self._base + offset
        return memoryview(self._mm)[start : start + n]

    # -- virtual addresses --------------------------------------------

    def va_to_offset(self, addr: int) -> tuple[int, int] | None:
        """(file offset, bytes available in the file from there) for a VA.

        The first loadable range covering `addr` wins, like Go's DataReader.
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
        if hint is not None and hint.filesize and hint.addr <= addr and addr + n <= hint.addr + hint.filesize:
            return self.read(hint.offset + addr - hint.addr, n)
        loc = self.va_to_offset(addr)
        if loc is None:
            return b""
        off, avail = loc
        return self.read(off, min(n, avail))

    # -- format dispatch -----------------------------------------------

    def _identify(self) -> None:
        ident = self.read(0, 16)
        if ident.startswith(ELF_MAGIC):
            self.format = "elf"
            self._elf_init(ident)
        elif ident.startswith(b"MZ"):
            self.format = "pe"
            self._pe_init()
        elif ident[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"):
            self.format = "macho"
            self._macho_init()
        elif ident[:4] in FAT_MAGICS:
            self.format = "macho"
            self._fat_init(ident[:4] == FAT_MAGICS[1])
            self._macho_init()
        else:
            raise self.fail("not a Go binary (unrecognized file format)")

    @cached_property
    def sections(self) -> tuple[Section, ...]:
        if self.format == "elf":
            return self._elf_sections()
        return self._sections

    @cached_property
    def segments(self) -> tuple[Segment, ...]:
        if self.format == "elf":
            return self._elf_segments()
        return self._segments

    def section(self, name: str) -> Section | None:
        """The first section called `name` (Mach-O: the section name alone)."""
        if self.format == "elf":
            return self._elf_section(name)
        for s in self._sections:
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

    # -- ELF -----------------------------------------------------------

    def _elf_init(self, ident: bytes) -> None:
        from elftools.construct.core import ConstructError

        if len(ident) < 16 or ident[4] not in (1, 2) or ident[5] not in (1, 2):
            raise self.fail("not a Go binary (unrecognized file format: bad ELF ident)")
        self.ptr_size = 4 if ident[4] == 1 else 8
        self.little_endian = ident[5] == 1
        self._es = _elf_structs(self.little_endian, 32 if ident[4] == 1 else 64)
        hsize = self._es.Elf_Ehdr.sizeof()
        try:
            h = self._es.Elf_Ehdr.parse(self.read_exact(0, hsize, "the ELF header"))
        except ConstructError as e:
            raise self.fail(f"corrupt ELF header: {e}") from e
        self._eh = h
        self._end = "<" if self.little_endian else ">"
        self.goarch = self._elf_goarch(h.e_machine)
        self.goos = _ELF_GOOS.get(h.e_ident.EI_OSABI, "linux")
        self._shoff, self._shnum, self._shstrndx = h.e_shoff, h.e_shnum, h.e_shstrndx
        shentsize = self._es.Elf_Shdr.sizeof()
        if self._shoff == 0:
            # No section table (e.g. stripped with sstrip): callers fall back
            # to the program headers, like Go 1.21-1.26 readers do.
            if self._shnum:
                raise self.fail("corrupt ELF header (section count without a section table)")
        else:
            if h.e_shentsize < shentsize:
                raise self.fail("corrupt ELF header (section header size)")
            self._shentsize = h.e_shentsize
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
            return _ELF_GOARCH[machine]
        be = not self.little_endian
        if machine == "EM_PPC64":
            return "ppc64" if be else "ppc64le"
        if machine == "EM_MIPS":
            base = "mips" if self.ptr_size == 4 else "mips64"
            return base if be else base + "le"
        return str(machine).removeprefix("EM_").lower()

    def _elf_shdr(self, index: int):  # -> elftools Container
        from elftools.construct.core import ConstructError

        size = self._es.Elf_Shdr.sizeof()
        raw = self.read_exact(self._shoff + index * self._shentsize, size, f"ELF section header {index}")
        try:
            return self._es.Elf_Shdr.parse(raw)
        except ConstructError as e:
            raise self.fail(f"corrupt ELF section header {index}: {e}") from e

    @cached_property
    def _shstrtab(self) -> bytes:
        if not self._shnum:
            return b""
        sh = self._elf_shdr(self._shstrndx)
        if sh.sh_offset + sh.sh_size > self.size:
            raise self.fail("truncated or corrupt ELF file (section names past the end)")
        return self.read(sh.sh_offset, sh.sh_size)

    @cached_property
    def _sh_names(self) -> tuple[int, ...]:
        """The sh_name word of every section header, in table order."""
        if not self._shnum:
            return ()
        table = self.read(self._shoff, self._shnum * self._shentsize)
        fmt = f"{self._end}I{self._shentsize - 4}x"
        return tuple(t[0] for t in struct.iter_unpack(fmt, table))

    def _elf_name_at(self, off: int) -> str:
        tab = self._shstrtab
        if off >= len(tab):
            raise self.fail("corrupt ELF section name offset")
        return _cstr(tab[off:])

    def _elf_make_section(self, index: int) -> Section:
        sh = self._elf_shdr(index)
        nobits = sh.sh_type == "SHT_NOBITS" or sh.sh_type == _SHT_NOBITS
        return Section(
            name=self._elf_name_at(sh.sh_name),
            addr=sh.sh_addr,
            size=sh.sh_size,
            offset=sh.sh_offset,
            filesize=0 if nobits else sh.sh_size,
            writable=bool(sh.sh_flags & _SHF_WRITE),
            executable=bool(sh.sh_flags & _SHF_EXECINSTR),
        )

    def _elf_section(self, name: str) -> Section | None:
        tab = self._shstrtab
        want = name.encode() + b"\0"
        # sh_name may point into the middle of a longer name (".rela.text"
        # also names ".text"), so every occurrence is a candidate.
        offs = set()
        i = tab.find(want)
        while i >= 0:
            offs.add(i)
            i = tab.find(want, i + 1)
        if not offs:
            return None
        for index, off in enumerate(self._sh_names):
            if off in offs:
                return self._elf_make_section(index)
        return None

    def _elf_sections(self) -> tuple[Section, ...]:
        return tuple(self._elf_make_section(i) for i in range(self._shnum))

    def _elf_segments(self) -> tuple[Segment, ...]:
        from elftools.construct.core import ConstructError

        h = self._eh
        size = self._es.Elf_Phdr.sizeof()
        if h.e_phnum and h.e_phentsize < size:
            raise self.fail("corrupt ELF header (program header size)")
        if h.e_phoff + h.e_phnum * h.e_phentsize > self.size:
            raise self.fail("truncated or corrupt ELF file (program headers past the end)")
        out = []
        for i in range(h.e_phnum):
            raw = self.read(h.e_phoff + i * h.e_phentsize, size)
            try:
                p = self._es.Elf_Phdr.parse(raw)
            except ConstructError as e:
                raise self.fail(f"corrupt ELF program header {i}: {e}") from e
            out.append(
                Segment(
                    name=str(p.p_type),
                    addr=p.p_vaddr,
                    memsize=p.p_memsz,
                    offset=p.p_offset,
                    filesize=p.p_filesz,
                    writable=bool(p.p_flags & _PF_W),
                    executable=bool(p.p_flags & _PF_X),
                    loadable=p.p_type in ("PT_LOAD", _PT_LOAD),
                )
            )
        return tuple(out)

    def _elf_symbols(self, wanted: frozenset[str]) -> dict[str, int]:
        symtab = self._elf_section(".symtab")
        if symtab is None or not symtab.filesize:
            return {}
        sh = self._elf_shdr(self._elf_section_index(".symtab"))
        strtab = self._elf_make_section(sh.sh_link) if sh.sh_link < self._shnum else None
        if strtab is None or not strtab.filesize:
            return {}
        strings = self.read(strtab.offset, strtab.filesize)
        name_offs: dict[int, str] = {}
        for name in wanted:
            i = strings.find(b"\0" + name.encode() + b"\0")
            if i >= 0:
                name_offs[i + 1] = name
        if not name_offs:
            return {}
        entsize = self._es.Elf_Sym.sizeof()
        data = self.read(symtab.offset, symtab.filesize - symtab.filesize % entsize)
        # st_name is the first word; st_value follows (64-bit: after info,
        # other and shndx; 32-bit: right after st_name).
        if self.ptr_size == 8:
            fmt = f"{self._end}I4xQ{entsize - 16}x"
        else:
            fmt = f"{self._end}II{entsize - 8}x"
        out: dict[str, int] = {}
        for st_name, value in struct.iter_unpack(fmt, data):
            name = name_offs.get(st_name)
            if name is not None and name not in out:
                out[name] = value
        return out

    def _elf_section_index(self, name: str) -> int:
        want = name.encode()
        for index, off in enumerate(self._sh_names):
            if self._shstrtab[off : off + len(want) + 1] == want + b"\0":
                return index
        raise self.fail(f"no {name} section")

    # -- PE ------------------------------------------------------------

    def _pe_init(self) -> None:
        dos = self.read_exact(0, 0x40, "the DOS header")
        (lfanew,) = struct.unpack_from("<I", dos, 0x3C)
        sig = self.read(lfanew, 24)
        if len(sig) < 24 or sig[:4] != b"PE\0\0":
            raise self.fail("not a Go binary (unrecognized file format: no PE signature)")
        machine, nsect, _ts, symptr, nsyms, optsize, _ch = struct.unpack_from("<HHIIIHH", sig, 4)
        self.goos = "windows"
        self.goarch = _PE_GOARCH.get(machine, f"pe-machine-{machine:#x}")
        opt = self.read(lfanew + 24, optsize)
        if len(opt) < 2:
            raise self.fail("truncated PE optional header")
        (magic,) = struct.unpack_from("<H", opt, 0)
        if magic == 0x10B and len(opt) >= 32:
            (self.image_base,) = struct.unpack_from("<I", opt, 28)
            self.ptr_size = 4
        elif magic == 0x20B and len(opt) >= 32:
            (self.image_base,) = struct.unpack_from("<Q", opt, 24)
            self.ptr_size = 8
        else:
            raise self.fail("corrupt PE optional header")
        table_off = lfanew + 24 + optsize
        raw = self.read(table_off, 40 * nsect)
        if len(raw) < 40 * nsect:
            raise self.fail("truncated PE section table")
        self._pe_symptr, self._pe_nsyms = symptr, nsyms
        sections, segments, chars_list = [], [], []
        for i in range(nsect):
            name_raw, vsize, rva, rawsize, rawptr, _r, _l, _nr, _nl, chars = struct.unpack_from(
                "<8sIIIIIIHHI", raw, 40 * i
            )
            name = _cstr(name_raw)
            if name.startswith("/") and name[1:].isdigit():
                name = self._pe_long_name(int(name[1:])) or name
            addr = self.image_base + rva
            writable = bool(chars & _PE_SCN_WRITE)
            executable = bool(chars & (_PE_SCN_EXECUTE | _PE_SCN_CODE))
            filesize = min(rawsize, max(0, self.size - rawptr)) if rawptr else 0
            sections.append(Section(name, addr, vsize, rawptr, filesize, writable, executable))
            # Go's DataReader maps [rva, rva+SizeOfRawData).
            segments.append(Segment(name, addr, vsize, rawptr, filesize, writable, executable))
            chars_list.append(chars)
        self._pe_chars = tuple(chars_list)
        self._sections = tuple(sections)
        self._segments = tuple(segments)

    def _pe_long_name(self, off: int) -> str | None:
        if not self._pe_symptr:
            return None
        strtab = self._pe_symptr + 18 * self._pe_nsyms
        return _cstr(self.read(strtab + off, 256)) or None

    def pe_data_section(self) -> Section | None:
        """Go's peExe.DataStart: the first initialised, read-write data section."""
        want = 0x40 | 0x40000000 | 0x80000000
        for s, chars in zip(self._sections, self._pe_chars):
            if s.addr != self.image_base and s.filesize and chars & ~0x600000 == want:
                return s
        return None

    def _pe_symbols(self, wanted: frozenset[str]) -> dict[str, int]:
        if not self._pe_symptr or not self._pe_nsyms:
            return {}
        n = self._pe_nsyms
        raw = self.read(self._pe_symptr, 18 * n)
        strtab_off = self._pe_symptr + 18 * n
        size_raw = self.read(strtab_off, 4)
        strtab = self.read(strtab_off, struct.unpack("<I", size_raw)[0]) if len(size_raw) == 4 else b""
        out: dict[str, int] = {}
        i = 0
        while i + 18 <= len(raw):
            name_raw, value, secnum, _typ, _cls, naux = struct.unpack_from("<8sIhHBB", raw, i)
            if name_raw[:4] == b"\0\0\0\0":
                (soff,) = struct.unpack_from("<I", name_raw, 4)
                name = _cstr(strtab[soff:]) if soff < len(strtab) else ""
            else:
                name = _cstr(name_raw)
            if name in wanted and name not in out and 0 < secnum <= len(self._sections):
                out[name] = self._sections[secnum - 1].addr + value
            i += 18 * (1 + naux)
        return out

    # -- Mach-O --------------------------------------------------------

    def _fat_init(self, is64: bool) -> None:
        hdr = self.read_exact(0, 8, "the fat header")
        (narch,) = struct.unpack_from(">I", hdr, 4)
        entsize = 32 if is64 else 20
        if narch == 0 or 8 + narch * entsize > self.size:
            raise self.fail("not a Go binary (unrecognized file format: bad fat Mach-O header)")
        raw = self.read(8, entsize)  # only Arches[0] is read, like Go
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
        self.little_endian = head[0] in (0xCE, 0xCF)
        e = "<" if self.little_endian else ">"
        self._end = e
        magic, cpu, _sub, _ftype, ncmds, sizeofcmds, _flags = struct.unpack_from(e + "IiiIIII", head)
        is64 = magic == 0xFEEDFACF
        self.ptr_size = 8 if is64 else 4
        self.goos = "darwin"
        self.goarch = _MACHO_GOARCH.get(cpu & 0xFFFFFFFF, f"macho-cpu-{cpu:#x}")
        off = 32 if is64 else 28
        cmds = self.read(off, sizeofcmds)
        if len(cmds) < sizeofcmds:
            raise self.fail("truncated Mach-O load commands")
        sections, segments = [], []
        self._symtab: tuple[int, int, int, int] | None = None
        rw: Segment | None = None
        p = 0
        for _ in range(ncmds):
            if p + 8 > len(cmds):
                raise self.fail("corrupt Mach-O load commands")
            cmd, cmdsize = struct.unpack_from(e + "II", cmds, p)
            if cmdsize < 8 or p + cmdsize > len(cmds):
                raise self.fail("corrupt Mach-O load command size")
            if cmd in (_LC_SEGMENT, _LC_SEGMENT_64):
                seg64 = cmd == _LC_SEGMENT_64
                fmt, sfmt = (e + "16sQQQQiiII", e + "16s16sQQIIIIIIII") if seg64 else (
                    e + "16sIIIIiiII",
                    e + "16s16sIIIIIIIII",
                )
                need = struct.calcsize(fmt)
                if cmdsize < 8 + need:
                    raise self.fail("corrupt Mach-O segment command")
                segname, vmaddr, vmsize, fileoff, filesize, maxprot, initprot, nsects, _f = struct.unpack_from(
                    fmt, cmds, p + 8
                )
                sname = _cstr(segname)
                seg = Segment(
                    sname,
                    vmaddr,
                    vmsize,
                    fileoff,
                    filesize,
                    bool(initprot & _VM_PROT_WRITE),
                    bool(initprot & _VM_PROT_EXECUTE),
                    loadable=sname != "__PAGEZERO",
                )
                if sname != "__PAGEZERO":
                    segments.append(seg)
                if rw is None and vmaddr and filesize and maxprot == 3 and initprot == 3:
                    rw = seg
                ssize = struct.calcsize(sfmt)
                q = p + 8 + need
                for _ in range(nsects):
                    if q + ssize > p + cmdsize:
                        raise self.fail("corrupt Mach-O section table")
                    fields = struct.unpack_from(sfmt, cmds, q)
                    sectname, _segn, addr, size, offset = fields[:5]
                    flags = fields[9]
                    zerofill = (flags & 0xFF) in (1, 0xC, 0x12)  # S_ZEROFILL, S_GB_ZEROFILL, S_THREAD_LOCAL_ZEROFILL
                    sections.append(
                        Section(
                            _cstr(sectname),
                            addr,
                            size,
                            offset,
                            0 if zerofill or offset == 0 else size,
                            seg.writable,
                            seg.executable,
                        )
                    )
                    q += ssize
            elif cmd == _LC_SYMTAB and cmdsize >= 24:
                self._symtab = struct.unpack_from(e + "IIII", cmds, p + 8)
            p += cmdsize
        self._macho_rw = rw
        self._sections = tuple(sections)
        self._segments = tuple(segments)

    def macho_rw_segment(self) -> Segment | None:
        """Go's Mach-O data fallback: the first segment with prot = maxprot = RW."""
        return self._macho_rw

    def _macho_symbols(self, wanted: frozenset[str]) -> dict[str, int]:
        if not self._symtab:
            return {}
        symoff, nsyms, stroff, strsize = self._symtab
        strings = self.read(stroff, strsize)
        name_offs: dict[int, str] = {}
        for name in wanted:
            for spelled in (name, "_" + name):
                i = strings.find(b"\0" + spelled.encode() + b"\0")
                if i >= 0:
                    name_offs[i + 1] = name
        if not name_offs:
            return {}
        e = self._end
        fmt = e + ("I4xQ" if self.ptr_size == 8 else "I4xI")
        entsize = struct.calcsize(fmt)
        data = self.read(symoff, nsyms * entsize)
        data = data[: len(data) - len(data) % entsize]
        out: dict[str, int] = {}
        for strx, value in struct.iter_unpack(fmt, data):
            name = name_offs.get(strx)
            if name is not None and name not in out:
                out[name] = value
        return out

    # -- helpers for callers -------------------------------------------

    def iter_data_ranges(self, *, writable: bool | None = None) -> Iterator[Section | Segment]:
        """Sections (or, without section headers, loadable segments) with file bytes."""
        items: tuple[Section | Segment, ...] = self.sections or tuple(s for s in self.segments if s.loadable)
        for s in items:
            if s.filesize and (writable is None or s.writable == writable):
                yield s
