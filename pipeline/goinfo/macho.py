"""The Mach-O reader (macOS executables, fat files too): a BinFile over small struct readers.

The load commands come from the file's first bytes and are walked on demand;
nothing is parsed per section until asked. For a fat Mach-O only the first
architecture is read, like Go's debug/buildinfo.
"""

from __future__ import annotations

import struct
from typing import Iterator

from fixproof.goinfo.binfile import FAT_MAGICS, MACHO_MAGICS, BinFile, Section, Segment, cstr, lazy

_MACHO_GOARCH = {7: "386", 0x01000007: "amd64", 12: "arm", 0x0100000C: "arm64"}

_LC_SEGMENT, _LC_SEGMENT_64, _LC_SYMTAB = 0x1, 0x19, 0x2
_VM_PROT_WRITE, _VM_PROT_EXECUTE = 0x2, 0x4
_S_ZEROFILL_TYPES = (0x1, 0xC, 0x12)  # S_ZEROFILL, S_GB_ZEROFILL, S_THREAD_LOCAL_ZEROFILL


class MachOFile(BinFile):
    """A Mach-O executable, or the first architecture of a fat one."""

    format = "macho"

    def _read_headers(self, head: bytes) -> None:
        if head[:4] in FAT_MAGICS:
            self._fat_init(head[:4] == FAT_MAGICS[1])
        self._macho_init()

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
        if head[:4] not in MACHO_MAGICS:
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

    # -- the BinFile interface -----------------------------------------

    @lazy
    def sections(self) -> tuple[Section, ...]:
        return tuple(self._sections())

    @lazy
    def segments(self) -> tuple[Segment, ...]:
        return tuple(seg for seg, *_ in self._segments() if seg.loadable)

    def section(self, name: str) -> Section | None:
        raw = name.encode()[:16].ljust(16, b"\0")
        return next(self._sections(raw), None)

    def symbols(self, wanted: frozenset[str]) -> dict[str, int]:
        symtab = next((p for cmd, p in self._commands() if cmd == _LC_SYMTAB), None)
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

    def macho_rw_segment(self) -> Segment | None:
        """Go's Mach-O data fallback: the first segment with prot = maxprot = RW."""
        for seg, prot, _t, _n, _s in self._segments():
            if seg.addr and seg.filesize and prot == (3, 3):
                return seg
        return None

    # -- load commands -------------------------------------------------

    def _commands(self) -> Iterator[tuple[int, int]]:
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

    def _segments(self) -> Iterator[tuple[Segment, tuple[int, int], int, int, int]]:
        """(segment, (maxprot, initprot), offset of its section table, section count, entry size)."""
        e, cmds = self._end, self._cmds
        for cmd, p in self._commands():
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
            sname = cstr(segname)
            seg = Segment(sname, vmaddr, vmsize, fileoff, filesize, bool(initprot & _VM_PROT_WRITE),
                          bool(initprot & _VM_PROT_EXECUTE), loadable=sname != "__PAGEZERO")
            yield seg, (maxprot, initprot), p + 8 + need, nsects, ssize

    def _sections(self, want: bytes | None = None) -> Iterator[Section]:
        """Sections in file order; with `want` (a raw 16-byte name), only those."""
        e, cmds = self._end, self._cmds
        for seg, _prot, table, nsects, ssize in self._segments():
            sfmt = e + ("16s16sQQIIIIIIII" if ssize == 80 else "16s16sIIIIIIIII")
            for k in range(nsects):
                at = table + k * ssize
                if want is not None and cmds[at : at + 16] != want:
                    continue
                f = struct.unpack_from(sfmt, cmds, at)
                sectname, addr, size, offset, flags = f[0], f[2], f[3], f[4], f[9]
                zerofill = (flags & 0xFF) in _S_ZEROFILL_TYPES or offset == 0
                yield Section(cstr(sectname), addr, size, offset, 0 if zerofill else size, seg.writable,
                              seg.executable)
