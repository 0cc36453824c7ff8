"""The PE reader (Windows executables): a BinFile over small struct readers.

The DOS header, the COFF header, the optional header's image base and the
section table come from the file's first HEAD_SIZE bytes; the COFF symbol
and string tables are read only when symbols are asked for.
"""

from __future__ import annotations

import struct
from typing import Iterator

from fixproof.goinfo.binfile import BinFile, Section, Segment, cstr, lazy

_PE_GOARCH = {0x14C: "386", 0x8664: "amd64", 0x1C4: "arm", 0xAA64: "arm64"}

_PE_SCN_CODE = 0x20
_PE_SCN_EXECUTE = 0x20000000
_PE_SCN_WRITE = 0x80000000
_PE_DATA = 0x40 | 0x40000000 | 0x80000000  # initialised data, read, write
_PE_ALIGN_BITS = 0x00F00000


class PeFile(BinFile):
    """A PE executable (PE32 or PE32+)."""

    format = "pe"

    def _read_headers(self, dos: bytes) -> None:
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

    # -- the BinFile interface -----------------------------------------

    @lazy
    def sections(self) -> tuple[Section, ...]:
        return tuple(self._section(*e) for e in self._entries())

    @lazy
    def segments(self) -> tuple[Segment, ...]:
        # Go's DataReader maps [rva, rva + SizeOfRawData) of each section.
        return tuple(Segment(s.name, s.addr, s.size, s.offset, s.filesize, s.writable, s.executable)
                     for s in self.sections)

    def section(self, name: str) -> Section | None:
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def symbols(self, wanted: frozenset[str]) -> dict[str, int]:
        if not self._pe_symptr or not self._pe_nsyms:
            return {}
        n = self._pe_nsyms
        raw = self.read(self._pe_symptr, 18 * n)
        strtab_off = self._pe_symptr + 18 * n
        size_raw = self.read(strtab_off, 4)
        strtab = self.read(strtab_off, struct.unpack("<I", size_raw)[0]) if len(size_raw) == 4 else b""
        sections = self.sections
        out: dict[str, int] = {}
        i = 0
        while i + 18 <= len(raw):
            name_raw, value, secnum, _typ, _cls, naux = struct.unpack_from("<8sIhHBB", raw, i)
            if name_raw[:4] == b"\0\0\0\0":
                (soff,) = struct.unpack_from("<I", name_raw, 4)
                name = cstr(strtab[soff:]) if soff < len(strtab) else ""
            else:
                name = cstr(name_raw)
            if name in wanted and name not in out and 0 < secnum <= len(sections):
                out[name] = sections[secnum - 1].addr + value
            i += 18 * (1 + naux)
        return out

    def pe_data_section(self) -> Section | None:
        """Go's peExe.DataStart: the first initialised read-write data section."""
        for e in self._entries():
            _name, _vsize, rva, rawsize, _rawptr, chars = e
            if rva and rawsize and chars & ~_PE_ALIGN_BITS == _PE_DATA:
                return self._section(*e)
        return None

    # -- the section table ---------------------------------------------

    def _entries(self) -> Iterator[tuple[bytes, int, int, int, int, int]]:
        """(name, VirtualSize, RVA, SizeOfRawData, PointerToRawData, Characteristics)."""
        for name, vsize, rva, rawsize, rawptr, _r, _l, _nr, _nl, chars in struct.iter_unpack(
            "<8sIIIIIIHHI", self._pe_table
        ):
            yield name, vsize, rva, rawsize, rawptr, chars

    def _section(self, name_raw: bytes, vsize: int, rva: int, rawsize: int, rawptr: int, chars: int) -> Section:
        name = cstr(name_raw)
        if name.startswith("/") and name[1:].isdigit():
            name = self._long_name(int(name[1:])) or name
        filesize = min(rawsize, max(0, self.size - rawptr)) if rawptr else 0
        return Section(name, self.image_base + rva, vsize, rawptr, filesize, bool(chars & _PE_SCN_WRITE),
                       bool(chars & (_PE_SCN_EXECUTE | _PE_SCN_CODE)))

    def _long_name(self, off: int) -> str | None:
        if not self._pe_symptr:
            return None
        strtab = self._pe_symptr + 18 * self._pe_nsyms
        return cstr(self.read(strtab + off, 256)) or None
