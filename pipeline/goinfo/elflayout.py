"""pyelftools' ELF header layouts, compiled to `struct` and kept in the cache directory.

The ELF reader (goinfo/elf.py) parses headers with pyelftools' structs: its
`ELFStructs` definitions of the file header, section header and program
header, compiled once per byte order and class into one `struct.Struct`
each (see `_flat_spec`; construct's own field-by-field parse costs ~10 us a
header, the compiled one well under 1 us), with pyelftools' field names and
enum names.

Importing those structs costs ~15 ms (construct, and with it pdb, inspect,
pprint...), a seventh of reading a fleet of 1,200 binaries
(bench/RESULTS.md). So the compiled layout is kept as JSON in the cache
directory per pyelftools version (`elf_layout`) and pyelftools' structs are
imported only when that file is missing, damaged or from another version.
At module level this imports the standard library only: it is on the
inspect path.
"""

from __future__ import annotations

import os
import struct
from functools import lru_cache
from typing import Any, Callable, Iterable, NamedTuple


class Flat(NamedTuple):
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


def _flat(spec: dict[str, Any]) -> Flat:
    from collections import namedtuple

    packer = struct.Struct(spec["format"])
    if packer.size != spec["size"] or len(spec["names"]) != len(packer.unpack(bytes(packer.size))):
        raise ValueError(f"{spec['name']}: layout does not add up")
    enums = tuple((int(i), _decoder(table, unknown)) for i, table, unknown in spec["enums"])
    return Flat(packer, namedtuple(spec["name"], spec["names"])._make, enums)


class ElfLayout(NamedTuple):
    """pyelftools' headers for one byte order and class, compiled. Records in
    this module are NamedTuples: they cost a tenth of a dataclass to define,
    which counts in a command's start-up."""

    ehdr: Flat
    shdr: Flat
    phdr: Flat
    sym_size: int
    word: struct.Struct  # one sh_name word, for searching the raw section table
    errors: tuple[type[Exception], ...]  # what a bad header raises


# Bump when the spec's shape changes; the pyelftools version is in the file name too.
_LAYOUT_CACHE_FORMAT = 1


@lru_cache(maxsize=None)
def elf_layout(little_endian: bool, elfclass: int) -> ElfLayout:
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


def _layout(spec: dict[str, Any], little_endian: bool) -> ElfLayout | None:
    """The layout a spec describes, or None when it does not hold together."""
    try:
        flats = [_flat(spec[k]) for k in ("ehdr", "shdr", "phdr")]
        sym_size = int(spec["sym_size"])
    except (KeyError, TypeError, ValueError, struct.error):
        return None
    return ElfLayout(*flats, sym_size, struct.Struct("<I" if little_endian else ">I"), (struct.error,))


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
