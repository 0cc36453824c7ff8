"""What a Go binary says about itself: the `go:buildinfo` blob, read like `go version -m`.

The reader follows Go's debug/buildinfo (1.21-1.26 behaviour):

* the blob lives in `.go.buildinfo` (ELF), `__go_buildinfo` (Mach-O) or the
  first initialised read-write data section (PE); ELF without section headers
  and Mach-O without that section fall back to the first writable,
  non-executable segment, as Go up to 1.26 does (Go 1.27 dropped this);
* the 14-byte magic counts only at a 16-byte-aligned virtual address;
* inline strings (1.18+, flags bit 2) or pointers to string headers (older);
* modinfo is framed by 16-byte sentinels and parsed like
  `runtime/debug.ParseBuildInfo`, including quoted keys and values and the
  blank line after a replacement.

Every failure is a `BinaryFormatError` whose one-line message names the file.
"""

from __future__ import annotations

import os
import re
import struct
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, cast

from fixproof.goinfo.binfile import BinFile, Section

if TYPE_CHECKING:  # pragma: no cover
    from fixproof.goinfo.macho import MachOFile
    from fixproof.goinfo.pe import PeFile

MAGIC = b"\xff Go buildinf:"
HEADER_SIZE = 32
ALIGN = 16
SEARCH_CHUNK = 1 << 20  # Go scans the data region in 1 MiB chunks
BLOB_WINDOW = 4096  # first read at the blob; a typical blob is under 2 KiB
_FLAG_BIG_ENDIAN = 0x1
_FLAG_INLINE = 0x2


@dataclass(frozen=True)
class Module:
    """A module of the build list (path, version, go.sum hash) and its replacement."""

    path: str
    version: str
    sum: str
    replace: "Module | None" = None

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "version": self.version,
            "sum": self.sum,
            "replace": None if self.replace is None else self.replace.to_json(),
        }


@dataclass(frozen=True)
class BuildInfo:
    """A binary's build information (what `go version -m` prints) and where it was read from."""

    file: str
    format: str  # "elf" | "pe" | "macho"
    goos: str
    goarch: str
    go_version: str  # exactly as stored, e.g. "go1.22.5", "go1.26.1-X:nodwarf5"
    path: str
    main: Module | None
    deps: tuple[Module, ...]
    settings: tuple[tuple[str, str], ...]  # in file order

    def setting(self, key: str) -> str | None:
        for k, v in self.settings:
            if k == key:
                return v
        return None

    def to_json(self) -> dict:
        return {
            "file": self.file,
            "format": self.format,
            "goos": self.goos,
            "goarch": self.goarch,
            "go_version": self.go_version,
            "path": self.path,
            "main": None if self.main is None else self.main.to_json(),
            "deps": [d.to_json() for d in self.deps],
            "settings": dict(self.settings),
        }


_CORRUPT = (struct.error, IndexError, ValueError, OverflowError)


class _NotGo(Exception):
    """Internal: the reason a file is not a Go executable (becomes BinaryFormatError)."""


# -- public entry points -----------------------------------------------------


def read_buildinfo(path: str | os.PathLike[str]) -> BuildInfo:
    """The build info of one Go binary; BinaryFormatError for anything else."""
    with BinFile.open(path) as bf:
        return buildinfo_from(bf)


def buildinfo_from(bf: BinFile) -> BuildInfo:
    """The build info of an already opened file (lets callers count bytes read)."""
    try:
        version, modinfo = _read_raw(bf)
    except _NotGo as e:
        raise bf.fail(f"not a Go binary ({e})") from None
    except _CORRUPT as e:  # offsets or sizes no real binary has
        raise bf.fail(f"corrupt Go build info: {e}") from e
    try:
        path, main, deps, settings = parse_modinfo(modinfo)
    except ValueError as e:
        raise bf.fail(f"could not parse Go build info: {e}") from e
    kv = dict(settings)
    return BuildInfo(
        file=bf.path,
        format=bf.format,
        goos=kv.get("GOOS") or bf.goos,
        goarch=kv.get("GOARCH") or bf.goarch,
        go_version=_text(version),
        path=path,
        main=main,
        deps=deps,
        settings=settings,
    )


def walk_inputs(paths: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[str, bool]]:
    """(path, explicit) for each file to try, like `go version DIR...`.

    Explicit non-directory arguments are always tried, spelled as given
    (explicit=True). A directory is walked in lexical order without following
    symlinked subdirectories; regular files and symlinks to regular files are
    yielded with explicit=False, joined to the cleaned root as Go's
    filepath.WalkDir does. Unreadable subdirectories are skipped, as in Go.
    (Unlike Go, an argument that is a symlink to a directory is walked too.)
    """
    for p in paths:
        name = os.fspath(p)
        if os.path.isdir(name):
            yield from ((f, False) for f in _walk_dir(os.path.normpath(name)))
        else:
            yield name, True


def iter_binaries(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """The files `go version -m PATH...` would look at, in its order."""
    for name, _explicit in walk_inputs(paths):
        yield Path(name)


def is_candidate(path: str | os.PathLike[str]) -> bool:
    """Go's isGoBinaryCandidate: executable, or named like a binary/library.

    `go version -v DIR` reports errors only for these; others are skipped.
    """
    try:
        st = os.stat(path)
    except OSError:
        return False
    if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
        return True
    name = os.path.basename(os.fspath(path)).lower()
    return name.endswith((".so", ".exe", ".dll")) or ".so." in name


def _walk_dir(root: str) -> Iterator[str]:
    try:
        with os.scandir(root) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return
    for e in entries:
        try:
            if e.is_dir(follow_symlinks=False):
                yield from _walk_dir(e.path)
            elif e.is_file(follow_symlinks=False):
                yield e.path
            elif e.is_symlink() and e.is_file(follow_symlinks=True):
                yield e.path
        except OSError:
            continue


# -- the blob ---------------------------------------------------------------


def _data_region(bf: BinFile) -> tuple[int, int, Section | None]:
    """(start VA, size, section) of the region Go searches for the blob."""
    if bf.format == "elf":
        s = bf.section(".go.buildinfo")
        if s is not None:
            return s.addr, s.size, s
        for seg in bf.segments:
            if seg.loadable and seg.writable and not seg.executable:
                return seg.addr, seg.memsize, None
        return 0, 0, None
    if bf.format == "pe":
        s = cast("PeFile", bf).pe_data_section()
        return (s.addr, s.size, s) if s is not None else (0, 0, None)
    s = bf.section("__go_buildinfo")
    if s is not None:
        return s.addr, s.size, s
    seg = cast("MachOFile", bf).macho_rw_segment()
    return (seg.addr, seg.memsize, None) if seg is not None else (0, 0, None)


def _search_magic(bf: BinFile, start: int, size: int, hint: Section | None) -> int:
    end = start + size
    start = (start + ALIGN - 1) & ~(ALIGN - 1)
    if start >= end:
        raise _NotGo("no Go build info")
    while start < end:
        remaining = end - start
        chunk = min(SEARCH_CHUNK, remaining)
        if hint is not None and hint.addr <= start < hint.addr + hint.filesize:
            # The region's own section maps these bytes (as the segment would).
            off, avail = hint.offset + start - hint.addr, hint.addr + hint.filesize - start
        else:
            loc = bf.va_to_offset(start)
            if loc is None:
                raise _NotGo("Go build info region is not in the file")
            off, avail = loc
        n = min(chunk, avail)
        # Go 1.22+ re-slices its buffer past a misaligned hit but then uses
        # the index into the re-sliced buffer as if it were the offset into
        # the chunk (debug/buildinfo searchMagic). `go version -m` is the
        # reference, so the same arithmetic is kept: `skipped` is where the
        # re-sliced data starts, `i` the index Go computes.
        skipped = 0
        while skipped < n:
            j = bf.find(MAGIC, off + skipped, off + n)
            if j < 0:
                break
            i = j - off - skipped
            if remaining - i < HEADER_SIZE:
                raise _NotGo("truncated Go build info header")
            if i % ALIGN == 0:
                return start + i
            nxt = (i + ALIGN - 1) & ~(ALIGN - 1)
            if nxt > n - skipped:
                raise _NotGo("no Go build info")
            skipped += nxt
        start += chunk
    raise _NotGo("no Go build info")


def _uvarint(b: bytes) -> tuple[int, int]:
    """Go's binary.Uvarint: (value, n); n == 0 too short, n < 0 overflow."""
    if b and b[0] < 0x80:
        return b[0], 1  # the usual one-byte length
    x = s = 0
    for i, c in enumerate(b[:10]):
        if c < 0x80:
            if i == 9 and c > 1:
                return 0, -(i + 1)
            return x | c << s, i + 1
        x |= (c & 0x7F) << s
        s += 7
    return 0, 0 if len(b) < 10 else -11


def _blob_reader(bf: BinFile, addr: int, hint: Section | None) -> Callable[[int, int], bytes]:
    """read(addr, n) for the blob: one read of the window that usually holds
    all of it, then reads through the segments (as Go does) past that."""
    n = BLOB_WINDOW
    if hint is not None and hint.addr <= addr < hint.addr + hint.filesize:
        n = min(n, hint.addr + hint.filesize - addr)
    window = bf.read_va(addr, n, hint)

    def read(a: int, k: int) -> bytes:
        rel = a - addr
        if 0 <= rel and rel + k <= len(window):
            return window[rel : rel + k]
        return bf.read_va(a, k, hint)

    return read


def _decode_string(read: Callable[[int, int], bytes], addr: int) -> tuple[bytes, int]:
    b = read(addr, 10)
    if not b:
        raise _NotGo("truncated Go build info")
    length, n = _uvarint(b)
    if n <= 0:
        raise _NotGo("bad string length in Go build info")
    addr += n
    data = read(addr, length) if length else b""
    if len(data) < length:
        raise _NotGo("Go build info string runs past the end of its section")
    return data, addr + length


def _read_pointer_string(bf: BinFile, ptr_size: int, big: bool, addr: int) -> bytes:
    hdr = bf.read_va(addr, 2 * ptr_size)
    if len(hdr) < 2 * ptr_size:
        return b""
    order = "big" if big else "little"
    data_addr = int.from_bytes(hdr[:ptr_size], order)
    length = int.from_bytes(hdr[ptr_size:], order)
    data = bf.read_va(data_addr, length) if length else b""
    return data if len(data) >= length else b""


def _read_raw(bf: BinFile) -> tuple[bytes, bytes]:
    """(go version, modinfo text without sentinels) as stored."""
    start, size, hint = _data_region(bf)
    if size == 0:
        raise _NotGo("no data section")
    addr = _search_magic(bf, start, size, hint)
    read = _blob_reader(bf, addr, hint)
    header = read(addr, HEADER_SIZE)
    if len(header) < HEADER_SIZE:
        raise _NotGo("truncated Go build info header")
    flags = header[15]
    if flags & _FLAG_INLINE:
        version, nxt = _decode_string(read, addr + HEADER_SIZE)
        mod, _ = _decode_string(read, nxt)
    else:
        ptr_size = header[14]
        if ptr_size not in (4, 8):
            raise _NotGo(f"bad pointer size {ptr_size} in Go build info")
        big = bool(flags & _FLAG_BIG_ENDIAN)
        order = "big" if big else "little"
        vptr = int.from_bytes(header[16 : 16 + ptr_size], order)
        mptr = int.from_bytes(header[16 + ptr_size : 16 + 2 * ptr_size], order)
        version = _read_pointer_string(bf, ptr_size, big, vptr)
        mod = _read_pointer_string(bf, ptr_size, big, mptr)
    if not version:
        raise _NotGo("empty Go version")
    if len(mod) >= 33 and mod[-17] == 0x0A:
        mod = mod[16:-16]
    else:
        mod = b""
    return version, mod


# -- modinfo text -------------------------------------------------------------


def _text(b: bytes | str) -> str:
    """Bytes as Go strings would print in JSON: invalid UTF-8 becomes U+FFFD."""
    if isinstance(b, str):
        b = b.encode("utf-8", "surrogateescape")
    return b.decode("utf-8", "replace")


_KEY_NEEDS_QUOTES = re.compile('[= \t\r\n"`]|^$').search
_VALUE_NEEDS_QUOTES = re.compile('[ \t\r\n"`]').search


def _needs_quoted_key(key: str) -> bool:
    return _KEY_NEEDS_QUOTES(key) is not None


def _needs_quoted_value(value: str) -> bool:
    return _VALUE_NEEDS_QUOTES(value) is not None


def parse_modinfo(
    data: bytes,
) -> tuple[str, Module | None, tuple[Module, ...], tuple[tuple[str, str], ...]]:
    """(path, main, deps, settings) from modinfo text, like debug.ParseBuildInfo.

    Raises ValueError("line N: ...") where Go would fail. Unknown lines (the
    blank line after a replacement) are ignored; a last line without "\\n"
    is dropped, as in Go.
    """
    text = data.decode("utf-8", "surrogateescape")
    ascii_text = text.isascii()
    # ASCII text needs no clean-up of raw bytes (quoted \x escapes are
    # cleaned in _parse_setting), and when it has no quote, space or CR at
    # all, a build line is plain key=value unless it has a tab. Four `in`
    # scans of the text (memchr speed) cost a fraction of one regex search
    # over it, and spare one per build line.
    clean = None if ascii_text else _text
    plain = ascii_text and " " not in text and '"' not in text and "`" not in text and "\r" not in text
    path = ""
    main: Module | None = None
    deps: list[Module] = []
    settings: list[tuple[str, str]] = []
    # `last` is where a following "=>" line attaches: -1 for main, else a dep index.
    last: int | None = None
    num = 0
    try:
        for num, line in enumerate(text.split("\n")[:-1], start=1):
            word, tab, rest = line.partition("\t")
            if not tab:
                continue
            if word == "build":
                key, eq, value = rest.partition("=")
                if key and eq and ("\t" not in rest if plain else
                                   _VALUE_NEEDS_QUOTES(rest) is None and rest.isascii()):
                    settings.append((key, value))  # the common case: nothing quoted
                else:
                    settings.append(_parse_setting(rest))
            elif word == "dep":
                deps.append(_module(rest, clean))
                last = len(deps) - 1
            elif word == "=>":
                rep = _module(rest, clean, replacement=True)
                if last is None:
                    raise ValueError("replacement with no module on previous line")
                old = main if last < 0 else deps[last]
                assert old is not None  # last == -1 only right after a mod line
                new = Module(old.path, old.version, old.sum, rep)
                if last < 0:
                    main = new
                else:
                    deps[last] = new
                last = None
            elif word == "path":
                path = rest if clean is None else clean(rest)
            elif word == "mod":
                main = _module(rest, clean)
                last = -1
    except ValueError as e:
        raise ValueError(f"line {num}: {e}") from e
    if main is not None and not (main.path or main.version or main.sum or main.replace):
        main = None  # Go drops an all-empty main module
    return path, main, tuple(deps), tuple(settings)


def _module(columns: str, clean: Callable[[str], str] | None, replacement: bool = False) -> Module:
    """A module line's tab-separated columns: path, version and (optional) sum."""
    elem = columns.split("\t")
    if clean is not None:
        elem = [clean(e) for e in elem]
    if len(elem) == 3:
        return Module(*elem)
    if replacement:
        raise ValueError(f"expected 3 columns for replacement; got {len(elem)}")
    if len(elem) == 2:
        return Module(elem[0], elem[1], "")
    raise ValueError(f"expected 2 or 3 columns; got {len(elem)}")


def _parse_setting(kv: str) -> tuple[str, str]:
    if not kv:
        raise ValueError("build line missing '='")
    if kv[0] == "=":
        raise ValueError("build line with missing key")
    if kv[0] in '`"':
        try:
            key, rest = go_unquote_prefix(kv)
        except ValueError:
            raise ValueError("invalid quoted key in build line") from None
        if not rest:
            raise ValueError("build line missing '=' after quoted key")
        if rest[0] != "=":
            raise ValueError(f"unexpected character after quoted key: {rest[0]!r}")
        raw = rest[1:]
    else:
        key, sep, raw = kv.partition("=")
        if not sep:
            raise ValueError("build line missing '=' after key")
        if _needs_quoted_key(key):
            raise ValueError(f"unquoted key {go_quote(_text(key))} must be quoted")
    value = raw
    if raw and raw[0] in '`"':
        try:
            value, rest = go_unquote_prefix(raw)
        except ValueError:
            raise ValueError("invalid quoted value in build line") from None
        if rest:
            raise ValueError("invalid quoted value in build line")
    elif _needs_quoted_value(raw):
        raise ValueError(f"unquoted value {go_quote(_text(raw))} must be quoted")
    if key.isascii() and value.isascii():
        return key, value
    return _text(key), _text(value)


# -- Go string literals -------------------------------------------------------

_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def go_unquote_prefix(s: str) -> tuple[str, str]:
    """Go's strconv.QuotedPrefix + Unquote for a "..." or `...` literal at the
    start of s: (value, rest). Raw bytes travel as surrogate escapes."""
    if len(s) < 2:
        raise ValueError("invalid syntax")
    q = s[0]
    if q == "`":
        end = s.find("`", 1)
        if end < 0:
            raise ValueError("invalid syntax")
        return s[1:end].replace("\r", ""), s[end + 1 :]
    if q != '"':
        raise ValueError("invalid syntax")
    out: list[str] = []
    i, n = 1, len(s)
    while i < n and s[i] != '"':
        c = s[i]
        if c == "\n":
            raise ValueError("invalid syntax")
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            raise ValueError("invalid syntax")
        e = s[i + 1]
        i += 2
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
        elif e == '"':
            out.append('"')
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = s[i : i + width]
            if len(digits) < width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError("invalid syntax")
            v = int(digits, 16)
            i += width
            if e == "x":
                out.append(chr(v) if v < 0x80 else chr(0xDC00 + v))  # one raw byte
            else:
                if v > 0x10FFFF or 0xD800 <= v < 0xE000:
                    raise ValueError("invalid syntax")
                out.append(chr(v))
        elif e in "01234567":
            digits = s[i - 1 : i + 2]
            if len(digits) < 3 or any(d not in "01234567" for d in digits):
                raise ValueError("invalid syntax")
            v = int(digits, 8)
            if v > 255:
                raise ValueError("invalid syntax")
            i += 2
            out.append(chr(v) if v < 0x80 else chr(0xDC00 + v))
        else:
            raise ValueError("invalid syntax")
    if i >= n:
        raise ValueError("invalid syntax")
    return "".join(out), s[i + 1 :]


def go_quote(s: str) -> str:
    """Go's strconv.Quote for a (valid UTF-8) string."""
    out = ['"']
    for c in s:
        o = ord(c)
        if c in '"\\':
            out.append("\\" + c)
        elif c.isprintable() and not 0xDC80 <= o <= 0xDCFF:
            out.append(c)
        elif c in "\a\b\f\n\r\t\v":
            out.append({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}[c])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def format_modinfo(bi: BuildInfo) -> str:
    """debug.BuildInfo.String() without the go line: what `go version -m` prints."""
    lines: list[str] = []
    if bi.path:
        lines.append(f"path\t{bi.path}")

    def mod(word: str, m: Module) -> None:
        if m.replace is None:
            lines.append(f"{word}\t{m.path}\t{m.version}\t{m.sum}")
        else:
            lines.append(f"{word}\t{m.path}\t{m.version}")
            mod("=>", m.replace)
            lines.append("")  # String() ends a replaced module with a blank line

    if bi.main is not None:
        mod("mod", bi.main)
    for d in bi.deps:
        mod("dep", d)
    for k, v in bi.settings:
        key = go_quote(k) if _needs_quoted_key(k) else k
        value = go_quote(v) if _needs_quoted_value(v) else v
        lines.append(f"build\t{key}={value}")
    return "".join(line + "\n" for line in lines)
