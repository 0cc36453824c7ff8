"""The itabs a Go binary's runtime starts with, read from its data.

An itab pairs a concrete type with an interface it satisfies; the compiler
writes one for every conversion it can resolve statically, and the runtime
registers them all at start-up (`itabsinit`). The linker also names each one
`go:itab.<type>,<interface>` (`go.itab.` before Go 1.20), but Go 1.27 no
longer puts those names in the symbol table and `-s` removes them anyway, so
this reader goes where the runtime goes: `runtime.firstmoduledata`.

Where the table is, by moduledata layout (word indices, pointer-sized words;
see pclntab.find_moduledata for how the moduledata itself is found):

* Go 1.27: `types` (37), `typedesclen`, `etypes` (39), `itaboffset` (40),
  `itabsize` (41); the itabs lie back to back from types+itaboffset, each
  `Fun` offset + max(1, methods) words long, or just the fixed part when
  `Fun[0]` is 0 (as the runtime's ITab.Size says);
* Go 1.26: `types` (37), `etypes` (38), `itablinks` slice (48): pointers to
  the itabs;
* Go 1.20-1.25: the same with `itablinks` at 47 (no epclntab word);
* Go 1.18-1.19: `types` (35), `etypes` (36), `itablinks` (45) (no covctrs);
* Go 1.17: `itablinks` at 43 (no rodata, gofunc). Older releases are
  refused: by version when the build info gives one, else because their
  names (lengths encoded differently) come out empty and fail validation.

The layout is chosen by validation, not by the Go version: a candidate is
accepted only if every itab it yields is readable, its interface and type
descriptors lie inside [types, etypes), the interface's kind is Interface with
at least one method, and the itab's Hash equals its type's hash. The 1.27 walk
must also end exactly at itabsize (which also settles where `Fun` starts on
32-bit targets: 12 from Go 1.22, 16 before). The Go version from the build
info only orders the candidates, and decides whether an empty table is
believed. No candidate validating is a `BinaryFormatError` with the reason.

Itab layout (all versions): Inter, Type (pointers), Hash uint32 at 2 words,
Fun[] after that. Type descriptor: Hash at 2 words, TFlag and Kind (low 5
bits) in the next 4 bytes, Str (int32 offset from `types`) 3 words + 16 bytes
in; names are a flags byte, a uvarint length and the bytes (Go 1.17+).

Naming follows the linker's `go:itab` symbols: `*os.File,io.Writer`,
`example.com/app/shapes.Square,example.com/app/shapes.Shape`. Type strings in
the binary carry package *names*; a named type's package name is replaced by
the import path in its UncommonType.PkgPath (it follows the kind's own
struct; MapType changed size twice, and which one a map has is told by its
group or bucket size field, see _Reader._map_sizes),
`*T` takes T's path, and an unnamed struct of embedded or exported, untagged
fields is spelled again from its fields. Type arguments need nothing: the
binary already spells them with import paths (`main.Box[example.com/x.T]`).
Checked equal to `go tool nm` on Go 1.17-1.26 builds for linux amd64, 386,
arm64, s390x, PIE, cgo, windows and darwin. Known differences:

* a type declared inside a function has no `.N` suffix (`main.local` where
  the linker writes `main.local.1`): the binary does not record it;
* other unnamed types with package-qualified parts (a struct with tags or
  unexported fields, `*struct {...}` of those) keep the binary's spelling,
  with package names inside (`struct { f shapes.Shape "tag" }`).
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from typing import Callable

from fixproof.goinfo.binfile import BinFile
from fixproof.goinfo.pclntab import PclnTable, find_moduledata, locate

_KIND_MASK = 0x1F
_KIND_ARRAY, _KIND_CHAN, _KIND_FUNC, _KIND_INTERFACE = 17, 18, 19, 20
_KIND_MAP, _KIND_POINTER, _KIND_SLICE, _KIND_STRUCT = 21, 22, 23, 25
_TFLAG_UNCOMMON, _TFLAG_EXTRA_STAR, _TFLAG_NAMED = 0x1, 0x2, 0x4
_MAX_ITABS = 1 << 20  # more than any real program has: a bigger count is garbage
_MAX_TYPES_REGION = 1 << 30
_MAX_DEPTH = 8  # *(*(*T)), struct { *T }: descriptors followed when naming one type
_IMPORT_PATH = re.compile(r"[A-Za-z0-9_.~+%-]+(?:/[A-Za-z0-9_.~+%-]+)*")


@dataclass(frozen=True)
class Itab:
    """One itab: a concrete type and an interface, in the linker's spelling."""

    type: str
    interface: str

    @property
    def pair(self) -> str:
        """`<type>,<interface>`: the go:itab symbol without its prefix, as config files write it."""
        return f"{self.type},{self.interface}"


@dataclass(frozen=True)
class ItabTable:
    """The itabs of one binary, sorted by type then interface (the runtime's
    table order means nothing and differs between releases)."""

    itabs: tuple[Itab, ...]
    layout: str  # which moduledata layout validated, e.g. "go1.27"
    moduledata: int  # virtual address of runtime.firstmoduledata

    def pairs(self) -> frozenset[str]:
        return frozenset(i.pair for i in self.itabs)


@dataclass(frozen=True)
class _Layout:
    name: str
    since: tuple[int, int]  # first Go release with this layout
    until: tuple[int, int]  # last one
    types: int  # word index of moduledata.types
    etypes: int
    links: int = -1  # word index of the itablinks slice (ptr, len, cap), or -1
    itaboffset: int = -1  # 1.27: word indices of itaboffset and itabsize
    itabsize: int = -1


_LAYOUTS = (
    _Layout("go1.27", (1, 27), (99, 0), types=37, etypes=39, itaboffset=40, itabsize=41),
    _Layout("go1.26", (1, 26), (1, 26), types=37, etypes=38, links=48),
    _Layout("go1.20", (1, 20), (1, 25), types=37, etypes=38, links=47),
    _Layout("go1.18", (1, 18), (1, 19), types=35, etypes=36, links=45),
    _Layout("go1.17", (1, 17), (1, 17), types=35, etypes=36, links=43),
)


class _Bad(Exception):
    """A candidate layout (or one itab in it) does not validate; the message says why."""


def read_itabs(path: str | os.PathLike[str]) -> ItabTable:
    """The itabs of a Go binary; BinaryFormatError if they cannot be read."""
    with BinFile.open(path) as bf:
        return itabs_from(bf)


def itabs_from(bf: BinFile, go_version: str | None = None) -> ItabTable:
    """The itabs of an opened Go binary. `go_version` ("go1.27.4"), if known,
    orders the candidate layouts; without it the build info is read for it."""
    tab = locate(bf)
    if go_version is None:
        go_version = _go_version(bf)
    hint = _release(go_version)
    if hint is not None and hint < (1, 17):
        raise bf.fail(f"itab tables are read for Go 1.17 and later; this binary was built with {go_version}")
    md = find_moduledata(bf, tab)
    if md is None:
        raise bf.fail("cannot find the Go module data (runtime.firstmoduledata), so the itab table cannot be read")
    words = md.words
    ordered = sorted(_LAYOUTS, key=lambda l: not (hint is not None and l.since <= hint <= l.until))
    reasons: list[str] = []
    for layout in ordered:
        hinted = hint is not None and layout.since <= hint <= layout.until
        try:
            itabs = _Reader(bf, tab, words, layout, hint).itabs(allow_empty=hinted)
        except _Bad as e:
            reasons.append(f"{layout.name} layout: {e}")
            continue
        except (struct.error, IndexError, ValueError, OverflowError, UnicodeDecodeError) as e:
            reasons.append(f"{layout.name} layout: corrupt data ({e})")
            continue
        return ItabTable(itabs, layout.name, md.addr)
    version = f" ({go_version})" if go_version else ""
    raise bf.fail(f"the itab table in the Go module data{version} does not validate: {'; '.join(reasons)}")


def _go_version(bf: BinFile) -> str:
    from fixproof.errors import BinaryFormatError
    from fixproof.goinfo.buildinfo import buildinfo_from

    try:
        return buildinfo_from(bf).go_version
    except BinaryFormatError:
        return ""


def _release(go_version: str | None) -> tuple[int, int] | None:
    m = re.search(r"go1\.(\d+)", go_version or "")
    return (1, int(m.group(1))) if m else None


class _Reader:
    """Reads one candidate layout's itabs; raises _Bad when anything does not hold."""

    def __init__(self, bf: BinFile, tab: PclnTable, words: tuple[int, ...], layout: _Layout,
                 release: tuple[int, int] | None) -> None:
        self.bf = bf
        self.layout = layout
        # Embedded struct fields: a name flag from Go 1.19, the low bit of the
        # field offset before. None: the release is unknown and it matters.
        self.offset_embed: bool | None = (False if layout.since >= (1, 20) else
                                          None if release is None else release < (1, 19))
        p = self.p = tab.ptr_size
        e = self.end = tab.end
        self.ptr: Callable[[bytes, int], tuple[int]] = struct.Struct(e + ("Q" if p == 8 else "I")).unpack_from
        self.u32: Callable[[bytes, int], tuple[int]] = struct.Struct(e + "I").unpack_from
        self.i32: Callable[[bytes, int], tuple[int]] = struct.Struct(e + "i").unpack_from
        self.u16x2: Callable[[bytes, int], tuple[int, int]] = struct.Struct(e + "HH").unpack_from
        self.type_size = 4 * p + 16  # abi.Type: Size_, PtrBytes, 8 bytes, Equal, GCData, Str, PtrToThis
        need = max(layout.etypes, layout.links + 2, layout.itabsize)
        if len(words) <= need:
            raise _Bad("module data cut short")
        self.words = words
        self.types, self.etypes = words[layout.types], words[layout.etypes]
        if not 0 < self.types < self.etypes or self.etypes - self.types > _MAX_TYPES_REGION:
            raise _Bad(f"no type data range (types {self.types:#x}, etypes {self.etypes:#x})")
        self.blob = bf.read_va(self.types, self.etypes - self.types)
        if len(self.blob) != self.etypes - self.types:
            raise _Bad("the type data is not in the file")
        self.names: dict[int, str] = {}
        self.qualified: dict[int, str] = {}

    # -- the table -------------------------------------------------------------

    def itabs(self, allow_empty: bool) -> tuple[Itab, ...]:
        addrs = self._walk() if self.layout.links < 0 else self._links()
        if not addrs and not allow_empty:
            raise _Bad("empty itab table")
        return tuple(sorted({Itab(self._name_of(typ), self._name_of(inter)) for inter, typ in addrs},
                            key=lambda i: (i.type, i.interface)))

    def _links(self) -> list[tuple[int, int]]:
        ptr, n, cap = self.words[self.layout.links : self.layout.links + 3]
        if n != cap or n > _MAX_ITABS or (n and not ptr):
            raise _Bad(f"no itablinks slice (len {n}, cap {cap})")
        if not n:
            return []
        raw = self.bf.read_va(ptr, n * self.p)
        if len(raw) != n * self.p:
            raise _Bad("the itablinks array is not in the file")
        out = []
        for k in range(n):
            (addr,) = self.ptr(raw, k * self.p)
            head = self.bf.read_va(addr, 2 * self.p + 4)
            if len(head) != 2 * self.p + 4:
                raise _Bad(f"itab {k} at {addr:#x} is not in the file")
            out.append(self._check(head, 0, f"itab {k} at {addr:#x}")[:2])
        return out

    def _walk(self) -> list[tuple[int, int]]:
        off, size = self.words[self.layout.itaboffset], self.words[self.layout.itabsize]
        if off + size > len(self.blob) or size % self.p:
            raise _Bad(f"itab range (offset {off:#x}, size {size:#x}) outside the type data")
        fun_offsets = (2 * self.p + 8,) if self.p == 8 else (12, 16)  # 32-bit: 16 before Go 1.22
        why = ""
        for fun in fun_offsets:
            try:
                return self._walk_with(off, off + size, fun)
            except _Bad as e:
                why = why or str(e)
        raise _Bad(why)

    def _walk_with(self, at: int, end: int, fun: int) -> list[tuple[int, int]]:
        blob, p = self.blob, self.p
        out = []
        while at < end:
            if at + fun + p > end:
                raise _Bad(f"itab at types+{at:#x} runs past the end of the itab range")
            inter, typ, methods = self._check(blob, at, f"itab at types+{at:#x}")
            (fun0,) = self.ptr(blob, at + fun)
            at += fun + (max(methods, 1) if fun0 else 1) * p
            out.append((inter, typ))
        if at != end:
            raise _Bad("the itabs do not end at itabsize")
        return out

    def _check(self, raw: bytes, at: int, what: str) -> tuple[int, int, int]:
        """(interface, type, interface method count) of the itab at raw[at:], validated."""
        p = self.p
        (inter,) = self.ptr(raw, at)
        (typ,) = self.ptr(raw, at + p)
        (h,) = self.u32(raw, at + 2 * p)
        for addr, role in ((inter, "interface"), (typ, "type")):
            if not self.types <= addr <= self.etypes - self.type_size:
                raise _Bad(f"{what}: {role} descriptor {addr:#x} outside the type data")
        ti, tt = inter - self.types, typ - self.types
        if self.u32(self.blob, tt + 2 * p)[0] != h:
            raise _Bad(f"{what}: hash {h:#x} is not its type's")
        if self.blob[ti + 2 * p + 7] & _KIND_MASK != _KIND_INTERFACE:
            raise _Bad(f"{what}: the interface descriptor is not an interface")
        # InterfaceType: Type, PkgPath (a name pointer), Methods (ptr, len, cap).
        base = ti + self.type_size + p
        if base + 3 * p > len(self.blob):
            raise _Bad(f"{what}: interface descriptor cut short")
        (n,) = self.ptr(self.blob, base + p)
        (cap,) = self.ptr(self.blob, base + 2 * p)
        if not 0 < n == cap < 1 << 16:
            raise _Bad(f"{what}: interface with {n} methods")
        return inter, typ, n

    # -- names -----------------------------------------------------------------

    def _name(self, off: int) -> str:
        """The name at types+off: flags byte, uvarint length, bytes."""
        got = self.names.get(off)
        if got is not None:
            return got
        blob = self.blob
        if not 0 <= off < len(blob) or blob[off] & 0xF0:
            raise _Bad(f"bad name offset {off:#x}")
        n, shift, i = 0, 0, off + 1
        while True:
            if i >= len(blob) or shift > 28:
                raise _Bad(f"bad name length at types+{off:#x}")
            b = blob[i]
            i += 1
            n |= (b & 0x7F) << shift
            if b < 0x80:
                break
            shift += 7
        if i + n > len(blob):
            raise _Bad(f"name at types+{off:#x} runs past the type data")
        name = blob[i : i + n].decode("utf-8")
        self.names[off] = name
        return name

    def _type_string(self, t: int) -> str:
        """The type's string as the binary spells it (package names)."""
        p = self.p
        tflag = self.blob[t + 2 * p + 4]
        (str_off,) = self.i32(self.blob, t + 4 * p + 8)
        s = self._name(str_off)
        if tflag & _TFLAG_EXTRA_STAR:
            s = s[1:]
        if not s:
            raise _Bad(f"type at types+{t:#x} has an empty name")
        return s

    def _name_of(self, addr: int, depth: int = 0) -> str:
        """The type at `addr` spelled like the linker spells it."""
        t = addr - self.types
        got = self.qualified.get(t)
        if got is not None:
            return got
        if not 0 <= t <= len(self.blob) - self.type_size or depth > _MAX_DEPTH:
            raise _Bad(f"type descriptor {addr:#x} outside the type data")
        p = self.p
        s = self._type_string(t)
        tflag = self.blob[t + 2 * p + 4]
        kind = self.blob[t + 2 * p + 7] & _KIND_MASK
        if tflag & _TFLAG_NAMED:
            path = self._pkg_path(t, kind, tflag)
            pkg, dot, _rest = s.partition(".")
            if path and dot and path != pkg and "[" not in pkg and " " not in pkg:
                s = path + s[len(pkg):]
        elif kind == _KIND_POINTER and s.startswith("*"):
            (elem,) = self.ptr(self.blob, t + self.type_size)
            s = "*" + self._name_of(elem, depth + 1)
        elif kind == _KIND_STRUCT and s.startswith("struct {"):
            s = self._struct_string(t, depth) or s
        self.qualified[t] = s
        return s

    def _struct_string(self, t: int, depth: int) -> str | None:
        """`struct { F T; E }` with each field type qualified, for a struct
        whose fields are embedded or exported and untagged; None otherwise
        (the binary's spelling stands)."""
        p, blob = self.p, self.blob
        (fields,) = self.ptr(blob, t + self.type_size + p)  # after PkgPath: Fields (ptr, len, cap)
        (n,) = self.ptr(blob, t + self.type_size + 2 * p)
        f = fields - self.types
        if not 0 < n <= 64 or not 0 <= f <= len(blob) - 3 * p * n or self.offset_embed is None:
            return None
        parts = []
        for k in range(n):
            at = f + 3 * p * k  # StructField: Name (name pointer), Typ, Offset
            (name_ptr,) = self.ptr(blob, at)
            (typ,) = self.ptr(blob, at + p)
            (offset,) = self.ptr(blob, at + 2 * p)
            name_off = name_ptr - self.types
            name = self._name(name_off)
            flags = blob[name_off]
            if flags & 0x2:  # a tag: not spelled here
                return None
            if flags & 0x8 or (self.offset_embed and offset & 1):
                parts.append(self._name_of(typ, depth + 1))
            elif flags & 0x1:
                parts.append(f"{name} {self._name_of(typ, depth + 1)}")
            else:  # unexported field names are qualified by the linker in ways not rebuilt here
                return None
        return "struct { " + "; ".join(parts) + " }"

    def _pkg_path(self, t: int, kind: int, tflag: int) -> str:
        """UncommonType.PkgPath of the type at types+t ("" if it has none)."""
        p, s = self.p, self.type_size
        if kind == _KIND_INTERFACE:
            (named,) = self.ptr(self.blob, t + s)  # InterfaceType.PkgPath: a pointer to a name
            if named and self.types <= named < self.etypes:
                path = self._name(named - self.types)
                if path:
                    return path
        if not tflag & _TFLAG_UNCOMMON:
            return ""
        # The kind's own struct comes first; UncommonType follows it.
        fixed = {_KIND_STRUCT: s + 4 * p, _KIND_INTERFACE: s + 4 * p, _KIND_POINTER: s + p, _KIND_SLICE: s + p,
                 _KIND_ARRAY: s + 3 * p, _KIND_CHAN: s + 2 * p, _KIND_FUNC: -(-(s + 4) // p) * p}
        if kind == _KIND_MAP:
            for at in self._map_sizes(t):
                path = self._uncommon_path(t + at, strict=True)
                if path is not None:
                    return path
        else:
            path = self._uncommon_path(t + fixed.get(kind, s), strict=False)
            if path is not None:
                return path
        raise _Bad(f"type {self._type_string(t)!r}: no valid uncommon type data")

    def _map_sizes(self, t: int) -> tuple[int, ...]:
        """Sizes MapType may have, the likeliest first. It changed shape across
        releases: Key, Elem, Bucket/Group, Hasher, then the hmap byte sizes
        and flags (up to 1.23, and 1.24-1.25 without swiss maps: 4 words + 8
        bytes), or GroupSize, SlotSize, ElemOff, Flags (1.24-1.26: 7 words +
        4 bytes), or GroupSize, four stride/offset words, ElemOff, Flags
        (1.27: 10 words + 4 bytes). GroupSize equals the group type's size;
        the hmap BucketSize (a uint16 2 bytes into the word) the bucket's."""
        p, s, blob = self.p, self.type_size, self.blob
        hmap, swiss, split = s + 4 * p + 8, -(-(s + 7 * p + 4) // p) * p, -(-(s + 10 * p + 4) // p) * p
        likely: tuple[int, ...] = ()
        (group,) = self.ptr(blob, t + s + 2 * p)
        g = group - self.types
        if 0 <= g <= len(blob) - p:
            (group_size,) = self.ptr(blob, g)  # Type.Size_
            (word,) = self.ptr(blob, t + s + 4 * p)
            (bucket_size,) = struct.unpack_from(self.end + "H", blob, t + s + 4 * p + 2)
            if word == group_size:
                likely = (split,) if self.layout.since >= (1, 27) else (swiss,)
            elif bucket_size == group_size:
                likely = (hmap,)
        return likely + tuple(x for x in (hmap, swiss, split) if x not in likely)

    def _uncommon_path(self, u: int, strict: bool) -> str | None:
        """PkgPath of a plausible UncommonType at types+u, else None. `strict`
        (the place is a guess): the path must look like an import path and
        the first method's name must read."""
        blob = self.blob
        if u + 16 > len(blob):
            return None
        (path_off,) = self.i32(blob, u)
        mcount, xcount = self.u16x2(blob, u + 4)
        (moff,) = self.u32(blob, u + 8)
        if xcount > mcount or (mcount and (moff < 16 or u + moff + 16 * mcount > len(blob))):
            return None
        if not path_off:
            return None if strict else ""
        try:
            path = self._name(path_off)
            if strict:
                if not _IMPORT_PATH.fullmatch(path):
                    return None
                if mcount:
                    (name_off,) = self.i32(blob, u + moff)
                    if not self._name(name_off):
                        return None
        except (_Bad, UnicodeDecodeError):
            return None
        return path
