"""Which functions the alloc probe must watch to see every heap allocation of one binary.

Before Go 1.26 every heap allocation enters ``runtime.mallocgc(size, typ,
needzero)``. Size-specialised malloc (GOEXPERIMENT=sizespecializedmalloc,
off by default in Go 1.26, on by default from Go 1.27) adds entry points
that allocate without entering mallocgc:

* the compiler calls ``runtime.mallocgcTinySC2``,
  ``runtime.mallocgcSmallNoScanSC<N>`` and
  ``runtime.mallocgcSmallScanNoHeaderSC<N>`` (Go 1.26's experiment:
  ``runtime.mallocgcTinySize<N>`` and more size classes) directly for
  ``new(T)`` and merged allocations of small fixed size
  (cmd/compile/internal/ssagen/ssa.go, ``specializedMallocSym``);
* mallocgc itself hands every request of 1..LIMIT bytes to one of them
  through ``runtime.mallocNoScanTable`` / ``runtime.mallocScanTable``
  (runtime/malloc.go), LIMIT being the tables' length minus one (80 in Go
  1.27, 512 in Go 1.26's experiment). The runtime side is off with -race,
  -msan, -asan and the ``valgrind`` build tag; the compiler side is off with
  -race, -msan and -asan only.

All of them take ``(size, typ, needzero)``: the first integer argument
register holds the requested size at entry. A complete, non-overlapping
count is therefore: every call of every specialised entry the binary has,
plus the mallocgc calls with a size above LIMIT when the dispatch tables
are linked in (above 0 otherwise: a size-0 request returns
``&runtime.zerobase`` in every release and is not an allocation).

:func:`alloc_entry_points` finds that set in the binary itself (its function
table for the names, its ELF symbol table for what a uprobe can attach to
and for the tables' sizes, its build info for the release and the build
settings that switch the feature off) and refuses (``AllocCoverageError``)
whenever a probe could miss allocations: a non-ELF or stripped binary, an
entry without an ELF symbol or inlined into its callers, a ``mallocgc*``
function of a layout not known here, tables and build settings that
disagree, or an incomplete set of size classes.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Any, Collection, Iterable, Mapping

from fixproof.engine.bpftrace import TraceError
from fixproof.errors import BinaryFormatError

MALLOCGC = "runtime.mallocgc"
NOSCAN_TABLE = "runtime.mallocNoScanTable"
SCAN_TABLE = "runtime.mallocScanTable"
KNOWN_RELEASE = (1, 27)  # the newest Go release whose malloc layout was read for this module

# Specialised entry points: (kind, N). SC<N> is a size class, TinySize<N> a size in bytes.
_ENTRY = re.compile(r"^runtime\.mallocgc(?P<kind>TinySC|SmallNoScanSC|SmallScanNoHeaderSC|TinySize)(?P<n>[1-9][0-9]*)$")
# mallocgc* functions that only run inside an allocation already counted at its entry.
_INTERNAL = frozenset({
    "runtime.mallocgcTiny", "runtime.mallocgcSmallNoscan", "runtime.mallocgcSmallNoscanReuse",
    "runtime.mallocgcSmallScanNoHeader", "runtime.mallocgcSmallScanHeader", "runtime.mallocgcLarge",
    "runtime.mallocgcTinySlowPath", "runtime.mallocgcSmallScanSlowPath", "runtime.mallocgcSmallNoScanSlowPath",
    "runtime.mallocgcSlowPathStub",
})
_CLOSURE = re.compile(r"^runtime\.mallocgc[A-Za-z0-9]*\.func\d+(?:\.\d+)*$")  # closures run inside their function
# Bytes per object of Go's small size classes 1..26 (internal/runtime/gc/sizeclasses.go, the
# same in every release with size-specialised malloc); class 2 (16 B) is also the tiny block.
_CLASS_BYTES = (0, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
                288, 320, 352, 384, 416, 448, 480, 512)
_TINY_MAX = 15  # sizes below the 16-byte tiny block
_GO_RELEASE = re.compile(r"^go(\d+)\.(\d+)")


class AllocCoverageError(TraceError):
    """The alloc probe cannot see every allocation of this binary; counting would under-report."""


@dataclass(frozen=True)
class AllocEntryPoints:
    """What the alloc probe watches in one binary.

    ``entries``: the specialised entry points, every call of which is an
    allocation of its first argument's size; ``mallocgc_above``: runtime.mallocgc
    calls count only with a size above it (0 without size-specialised dispatch:
    every non-empty request); ``reason``: the evidence, in one sentence.
    """

    entries: tuple[str, ...]
    mallocgc_above: int
    reason: str
    go_version: str = ""
    goarch: str = ""

    @property
    def functions(self) -> tuple[str, ...]:
        """Every function the probe attaches to: runtime.mallocgc, then the entries."""
        return (MALLOCGC, *self.entries)

    def to_json(self) -> dict[str, Any]:
        return {"functions": list(self.functions), "mallocgc_above": self.mallocgc_above, "reason": self.reason,
                "go_version": self.go_version, "goarch": self.goarch}


# -- the decision (pure) ---------------------------------------------------------------------------


def _release(go_version: str) -> tuple[int, int] | None:
    m = _GO_RELEASE.match(go_version)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _experiment_on(release: tuple[int, int] | None, goexperiment: str) -> bool | None:
    """Whether GOEXPERIMENT sizespecializedmalloc was on for the build (None: unknown release)."""
    on = None if release is None else release >= (1, 27)
    for token in goexperiment.split(","):
        token = token.strip()
        if token == "none":  # cmd/go: every experiment off, baseline ones included
            on = False
        elif token == "sizespecializedmalloc":
            on = True
        elif token == "nosizespecializedmalloc":
            on = False
    return on


def plan_entry_points(*, functions: Iterable[str], symbols: Mapping[str, tuple[int, int]] | None, ptr_size: int,
                      go_version: str, settings: Mapping[str, str], inlined: Collection[str] = (),
                      goarch: str = "", binary: str = "the binary") -> AllocEntryPoints:
    """The entry points and mallocgc threshold from what was read of a binary.

    ``functions``: its function table (pclntab) names; ``symbols``: ELF
    symbol name -> (value, size) for at least runtime.mallocgc, the tables
    and every specialised name (None: the binary has no symbol table);
    ``inlined``: names found in inline trees; ``settings``: build settings
    (``-race``, ``-tags``, ``GOEXPERIMENT``...).
    AllocCoverageError when some allocation could escape the count.
    """
    def refuse(why: str) -> AllocCoverageError:
        return AllocCoverageError(f"the alloc probe cannot see every allocation of {binary} "
                                  f"({go_version or 'Go release unknown'}): {why}. It refuses to count rather "
                                  "than report a low number.")

    names = [n for n in dict.fromkeys(functions) if n.startswith(MALLOCGC)]
    entries: list[tuple[str, str, int]] = []
    unknown: list[str] = []
    for n in names:
        m = _ENTRY.match(n)
        if m:
            entries.append((n, m.group("kind"), int(m.group("n"))))
        elif n != MALLOCGC and n not in _INTERNAL and not _CLOSURE.match(n):
            unknown.append(n)
    release = _release(go_version)
    newer = release is not None and release > KNOWN_RELEASE
    for n, kind, k in entries:
        if (kind == "TinySize" and k > _TINY_MAX) or (kind != "TinySize" and k >= len(_CLASS_BYTES)):
            unknown.append(n)
    if unknown:
        unknown = sorted(set(unknown))
        where = f"Go {release[0]}.{release[1]} is newer than Go 1.27, the last malloc layout read here, and has" \
            if newer and release else "it has"
        raise refuse(f"{where} allocation functions of a layout not known to fixproof ({', '.join(unknown)}), "
                     "which may allocate without entering the probed functions")
    if MALLOCGC not in names:
        raise refuse("its function table has no runtime.mallocgc")
    entries.sort(key=lambda e: (e[1], e[2]))
    entry_names = tuple(n for n, _, _ in entries)

    attach = (MALLOCGC, *entry_names)
    if symbols is None:
        also = f" or its {len(entry_names)} size-specialised entries" if entry_names else ""
        raise refuse("it has no ELF symbol table (built with -ldflags=-s, or stripped), so no uprobe can attach "
                     f"to runtime.mallocgc{also}")
    missing = [n for n in attach if n not in symbols]
    if missing:
        raise refuse(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} in the function table but "
                     "without an ELF symbol, so no uprobe can attach there and allocations through "
                     f"{'it' if len(missing) == 1 else 'them'} would be missed")
    inl = sorted(n for n in attach if n in inlined)
    if inl:
        raise refuse(f"{', '.join(inl)} {'is' if len(inl) == 1 else 'are'} inlined into callers, "
                     "where no uprobe sees the call")

    # Does mallocgc hand small requests to the entries? The dispatch tables say so, and their
    # length says up to which size; the build settings must agree.
    tables = {t: symbols[t][1] for t in (NOSCAN_TABLE, SCAN_TABLE) if t in symbols}
    dispatch = bool(tables)
    limit = 0
    if dispatch:
        lengths = {size // ptr_size if ptr_size else 0 for size in tables.values()}
        if len(tables) != 2 or len(lengths) != 1 or min(lengths) < 2 or any(s % ptr_size for s in tables.values()):
            raise refuse("its size-specialised dispatch tables are not a matching pair "
                         f"({', '.join(f'{t} {s} bytes' for t, s in sorted(tables.items())) or 'none'})")
        limit = lengths.pop() - 1

    experiment = _experiment_on(release, settings.get("GOEXPERIMENT", ""))
    instrumented = sorted(f for f in ("-race", "-msan", "-asan") if settings.get(f) == "true")
    valgrind = "valgrind" in [t.strip() for t in settings.get("-tags", "").split(",")]
    off_by = instrumented + (["-tags valgrind"] if valgrind else [])
    if experiment is None:
        if dispatch or entry_names:
            raise refuse("its Go release cannot be read from its build info, so whether runtime.mallocgc hands "
                         "small requests to the size-specialised entries cannot be checked")
        expect_dispatch = False
    else:
        expect_dispatch = experiment and not off_by
    if expect_dispatch != dispatch:
        if expect_dispatch:
            why = (f"its build settings say size-specialised malloc is on, but the dispatch tables "
                   f"{NOSCAN_TABLE}/{SCAN_TABLE} are missing, so the sizes runtime.mallocgc hands on are unknown")
        else:
            why = (f"it has dispatch tables ({NOSCAN_TABLE}, {limit + 1} entries) although its build settings "
                   f"say size-specialised malloc is off" + (f" ({', '.join(off_by)})" if off_by else ""))
        raise refuse(why)

    if dispatch:
        # mallocgc hands every size 1..limit to an entry: all of the size classes up to limit must be here.
        scan = {k for _, kind, k in entries if kind == "SmallScanNoHeaderSC"}
        noscan = {k for _, kind, k in entries if kind == "SmallNoScanSC"}
        tiny = {(kind, k) for _, kind, k in entries if kind in ("TinySC", "TinySize")}
        top = max(scan | noscan, default=0)
        gaps = [f"runtime.mallocgcSmallScanNoHeaderSC{k}" for k in range(1, top + 1) if k not in scan]
        gaps += [f"runtime.mallocgcSmallNoScanSC{k}" for k in range(2, top + 1) if k not in noscan]
        if tiny != {("TinySC", 2)} and tiny != {("TinySize", k) for k in range(1, _TINY_MAX + 1)}:
            gaps.append("runtime.mallocgcTinySC2 (or mallocgcTinySize1..15)")
        if top == 0 or _CLASS_BYTES[top] != limit or gaps:
            raise refuse(f"runtime.mallocgc hands sizes 1..{limit} to specialised entries, but the entries found "
                         f"cover {_CLASS_BYTES[top]} bytes" + (f" and lack {', '.join(gaps)}" if gaps else ""))

    version = go_version or "Go release unknown"
    if dispatch:
        reason = (f"{version}: size-specialised malloc is on ({NOSCAN_TABLE} has {limit + 1} entries): "
                  f"{len(entry_names)} specialised entries are counted on every call, runtime.mallocgc only for "
                  f"sizes above {limit} (smaller ones it hands to those entries)")
    elif entry_names:
        reason = (f"{version}: compiled code calls {len(entry_names)} size-specialised entries directly, but "
                  f"runtime.mallocgc does not hand requests on ({', '.join(off_by) or 'no dispatch tables'}): "
                  "both are counted for every non-empty request")
    else:
        why = (f"off by {', '.join(off_by)}" if experiment and off_by
               else "off" if experiment is False and release is not None and release >= (1, 26) else "absent")
        reason = (f"{version}: size-specialised malloc is {why}; every heap allocation enters runtime.mallocgc, "
                  "counted for every non-empty request")
    if newer:
        reason += "; this release is newer than Go 1.27, and its malloc functions match Go 1.27's"
    return AllocEntryPoints(entry_names, limit, reason, go_version, goarch)


# -- reading a binary ------------------------------------------------------------------------------


def _elf_symbols(bf: Any, wanted: frozenset[str]) -> dict[str, tuple[int, int]]:
    """name -> (st_value, st_size) for the wanted names in .symtab ({} without one)."""
    symtab, strtab = bf.section(".symtab"), bf.section(".strtab")
    if symtab is None or strtab is None or not symtab.filesize or not strtab.filesize:
        return {}
    strings = bf.read(strtab.offset, strtab.filesize)
    offs: dict[int, str] = {}
    for name in wanted:
        raw = b"\0" + name.encode() + b"\0"
        i = strings.find(raw)
        while i >= 0:
            offs[i + 1] = name
            i = strings.find(raw, i + 1)
    if not offs:
        return {}
    e = "<" if bf.little_endian else ">"
    # Elf64_Sym: name, info, other, shndx, value, size; Elf32_Sym: name, value, size, info, other, shndx.
    fmt, entsize = (f"{e}I4xQQ", 24) if bf.ptr_size == 8 else (f"{e}III4x", 16)
    data = bf.read(symtab.offset, symtab.filesize - symtab.filesize % entsize)
    out: dict[str, tuple[int, int]] = {}
    for st_name, value, size in struct.iter_unpack(fmt, data):
        name = offs.get(st_name)
        if name is not None and name not in out:
            out[name] = (value, size)
    return out


def alloc_entry_points(host_binary: str) -> AllocEntryPoints:
    """What the alloc probe must watch in ``host_binary`` (see the module docstring).

    AllocCoverageError when no probe can see every allocation, TraceError
    when the file cannot be read as a Go ELF binary.
    """
    from fixproof.goinfo import pclntab
    from fixproof.goinfo.binfile import BinFile
    from fixproof.goinfo.buildinfo import buildinfo_from

    try:
        with BinFile.open(host_binary) as bf:
            if bf.format != "elf":
                raise TraceError(f"{host_binary} is a {bf.format} binary; bpftrace traces Linux ELF binaries only.")
            functions = pclntab.functions_from(bf)
            try:
                inlined = frozenset(pclntab._inline_names(bf, pclntab.locate(bf)))  # names in inline trees only
            except (struct.error, IndexError, ValueError, OverflowError) as e:
                raise bf.fail(f"corrupt inline trees in the Go function table: {e}") from e
            try:
                info = buildinfo_from(bf)
                go_version, settings = info.go_version, dict(info.settings)
            except BinaryFormatError:
                go_version, settings = "", {}
            wanted = frozenset({MALLOCGC, NOSCAN_TABLE, SCAN_TABLE,
                                *(n for n in functions if n.startswith(MALLOCGC))})
            symbols = _elf_symbols(bf, wanted) if bf.section(".symtab") is not None else None
            return plan_entry_points(functions=functions, symbols=symbols, ptr_size=bf.ptr_size,
                                     go_version=go_version, settings=settings, inlined=inlined,
                                     goarch=bf.goarch, binary=host_binary)
    except BinaryFormatError as e:
        raise TraceError(f"cannot read the allocation functions of {host_binary}: {e}") from e


__all__ = ["AllocCoverageError", "AllocEntryPoints", "KNOWN_RELEASE", "MALLOCGC", "alloc_entry_points",
           "plan_entry_points"]
