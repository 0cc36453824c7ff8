"""The ELF reader: a BinFile over pyelftools' header layouts, compiled.

Headers are parsed with pyelftools' `ELFStructs` definitions of the file
header, section header and program header, compiled to one `struct.Struct`
each and kept in the cache directory (goinfo/elflayout.py), with pyelftools'
field names and enum names; pyelftools' structs (and construct) are imported
only when that cache has no layout for the installed pyelftools. Only the
`sh_name` words of the section table are searched with `struct` to find a
section by name without building an object per section.
"""

from __future__ import annotations

import struct
from typing import Any

from fixproof.goinfo.binfile import BinFile, Section, Segment, lazy
from fixproof.goinfo.elflayout import elf_layout

# GOARCH for the ELF e_machine names pyelftools gives; MIPS and PPC64 depend
# on the class and byte order and are handled in ElfFile._goarch.
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

_SHT_NOBITS = 8
_SHF_WRITE, _SHF_EXECINSTR = 0x1, 0x4
_PF_X, _PF_W = 0x1, 0x2


def preload_elf() -> None:
    """Load the usual layout (little-endian, 64-bit) now: for a caller about
    to fork workers, which then share it (and this module)."""
    elf_layout(True, 64)


class ElfFile(BinFile):
    """An ELF executable (32 or 64 bits, either byte order)."""

    format = "elf"

    def _read_headers(self, head: bytes) -> None:
        ident = head[:16]
        if len(ident) < 16 or ident[4] not in (1, 2) or ident[5] not in (1, 2):
            raise self.fail("not a Go binary (unrecognized file format: bad ELF ident)")
        self.ptr_size = 4 if ident[4] == 1 else 8
        self.little_endian = ident[5] == 1
        self._end = "<" if self.little_endian else ">"
        layout = self._layout = elf_layout(self.little_endian, 32 if ident[4] == 1 else 64)
        self._section_cache: dict[str, Section | None] = {}
        if len(head) < layout.ehdr.packer.size:
            raise self.fail("truncated file (cannot read the ELF header)")
        try:
            h = layout.ehdr.parse(head)
        except layout.errors as e:
            raise self.fail(f"corrupt ELF header: {e}") from e
        self._eh = h
        self.goarch = self._goarch(h.e_machine)
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
            s0 = self._shdr(0)
            self._shnum = self._shnum or s0.sh_size
            if self._shstrndx == 0xFFFF:
                self._shstrndx = s0.sh_link
        if self._shoff + self._shnum * self._shentsize > self.size:
            raise self.fail("truncated or corrupt ELF file (section headers past the end)")
        if self._shnum and self._shstrndx >= self._shnum:
            raise self.fail("corrupt ELF header (section name table index)")

    def _goarch(self, machine: str | int) -> str:
        if machine in _ELF_GOARCH:
            return _ELF_GOARCH[str(machine)]
        be = not self.little_endian
        if machine == "EM_PPC64":
            return "ppc64" if be else "ppc64le"
        if machine == "EM_MIPS":
            base = "mips" if self.ptr_size == 4 else "mips64"
            return base if be else base + "le"
        return str(machine).removeprefix("EM_").lower()

    # -- the BinFile interface -----------------------------------------

    @lazy
    def sections(self) -> tuple[Section, ...]:
        return tuple(self._make_section(i) for i in range(self._shnum))

    @lazy
    def segments(self) -> tuple[Segment, ...]:
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

    def section(self, name: str) -> Section | None:
        """The first section called `name`, found without parsing the others."""
        cache = self._section_cache
        if name not in cache:
            index = self._index(name)
            cache[name] = None if index is None else self._make_section(index)
        return cache[name]

    def symbols(self, wanted: frozenset[str]) -> dict[str, int]:
        index = self._index(".symtab") if self._shnum else None
        if index is None:
            return {}
        symtab = self._make_section(index)
        link = self._shdr(index).sh_link
        if not symtab.filesize or not 0 < link < self._shnum:
            return {}
        strtab = self._make_section(link)
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

    # -- the section table ---------------------------------------------

    def _shdr(self, index: int) -> Any:
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

    @lazy
    def _shtable(self) -> bytes:
        """The section header table (a few KiB), read once."""
        return self.read(self._shoff, self._shnum * self._shentsize) if self._shnum else b""

    @lazy
    def _shstrtab(self) -> bytes:
        if not self._shnum:
            return b""
        _ = self._shtable  # read the table first, so the header below comes from it
        sh = self._shdr(self._shstrndx)
        if sh.sh_offset + sh.sh_size > self.size:
            raise self.fail("truncated or corrupt ELF file (section names past the end)")
        return self.read(sh.sh_offset, sh.sh_size)

    def _name_at(self, off: int) -> str:
        tab = self._shstrtab
        if off >= len(tab):
            raise self.fail("corrupt ELF section name offset")
        end = tab.find(b"\0", off)
        return tab[off : end if end >= 0 else len(tab)].decode("utf-8", "replace")

    def _make_section(self, index: int) -> Section:
        sh = self._shdr(index)
        nobits = sh.sh_type == _SHT_NOBITS
        return Section(
            name=self._name_at(sh.sh_name),
            addr=sh.sh_addr,
            size=sh.sh_size,
            offset=sh.sh_offset,
            filesize=0 if nobits else sh.sh_size,
            writable=bool(sh.sh_flags & _SHF_WRITE),
            executable=bool(sh.sh_flags & _SHF_EXECINSTR),
        )

    def _index(self, name: str) -> int | None:
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
