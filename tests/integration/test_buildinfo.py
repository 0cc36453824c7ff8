"""read_buildinfo against `go version -m` (host go), field for field.

Real binaries come from tests/goinfo_corpus.py; synthetic blobs are written
into the .go.buildinfo section of a copy of a real binary, so the host go can
read them too and stays the judge. The pieces that need no binary (modinfo
parsing, Go quoting, walking directories): tests/unit/goinfo/test_buildinfo.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

import goinfo_corpus as gc
from fixproof.errors import BinaryFormatError
from fixproof.goinfo.buildinfo import (
    BuildInfo,
    Module,
    format_modinfo,
    read_buildinfo,
)

MAGIC = b"\xff Go buildinf:"
START = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
END = bytes.fromhex("f932433186182072008242104116d8f2")
BASE = "go1.26.8-linux-amd64"


@pytest.fixture(scope="module")
def corpus() -> gc.Corpus:
    return gc.corpus()


# -- the corpus against go version -m -------------------------------------------


@pytest.mark.parametrize("name", gc.recipe_names())
def test_every_field_matches_go_version_m(corpus: gc.Corpus, name: str) -> None:
    got = read_buildinfo(corpus[name]).to_json()
    assert got == corpus.expected(name)
    assert json.loads(json.dumps(got)) == got  # JSON-ready


@pytest.mark.parametrize("name", gc.recipe_names())
def test_modinfo_text_matches_go_version_m(corpus: gc.Corpus, name: str) -> None:
    bi = read_buildinfo(corpus[name])
    lines = gc.go_version_m_text(corpus[name]).splitlines(keepends=True)
    assert lines[0] == f"{corpus[name]}: {bi.go_version}\n"
    assert "".join(line[1:] for line in lines[1:]) == format_modinfo(bi)


def test_edge_cases_read_as_expected(corpus: gc.Corpus) -> None:
    bi = read_buildinfo(corpus["go1.26.8-linux-amd64-xflag"])
    assert bi.setting("-ldflags") == '-X "main.v=a b"'
    assert 'build\t-ldflags="-X \\"main.v=a b\\""\n' in format_modinfo(bi)

    bi = read_buildinfo(corpus["go1.24.13-linux-amd64-vcs-dirty"])
    assert bi.main is not None and bi.main.version.endswith("+dirty")
    assert bi.setting("vcs") == "git" and bi.setting("vcs.modified") == "true"
    assert read_buildinfo(corpus["go1.26.8-linux-amd64-vcs-clean"]).main == Module(
        "example.com/fixprobe", "v1.2.3", "")

    dep = {d.path: d for d in read_buildinfo(corpus[BASE]).deps}
    assert dep["example.com/fixlib"].replace == Module("../fixlib", "(devel)", "")
    assert dep["golang.org/x/sync"].sum == ""
    assert dep["golang.org/x/sync"].replace is not None and dep["golang.org/x/sync"].replace.version == "v0.2.0"
    assert dep["golang.org/x/text"] == Module("golang.org/x/text", "v0.3.8",
                                              "h1:nAL+RVCQ9uMn3vJZbV+MRnydTJFPf8qqY42YiA6MrqY=")

    bi = read_buildinfo(corpus["go1.26.8-linux-amd64-gopath"])
    assert (bi.path, bi.main, bi.deps) == ("example.com/gp", None, ())
    bi = read_buildinfo(corpus["go1.26.8-linux-amd64-file"])
    assert (bi.path, bi.main) == ("command-line-arguments", None)

    bi = read_buildinfo(corpus["go1.26.8-linux-amd64-trimpath"])
    assert bi.setting("-trimpath") == "true" and bi.setting("-ldflags") is None

    bi = read_buildinfo(corpus["go1.26.8-linux-amd64-cgo"])
    assert bi.setting("CGO_ENABLED") == "1" and bi.setting("CGO_CFLAGS") == ""

    assert read_buildinfo(corpus["go1.24.13-linux-amd64-noswissmap"]).go_version == "go1.24.13 X:noswissmap"
    assert read_buildinfo(corpus["go1.26.8-linux-amd64-nogreenteagc"]).go_version == "go1.26.8-X:nogreenteagc"

    # Go 1.17 and older: pointer-format blob, no build settings; GOOS/GOARCH from the header.
    bi = read_buildinfo(corpus["go1.17.13-linux-amd64"])
    assert (bi.settings, bi.goos, bi.goarch, bi.format) == ((), "linux", "amd64", "elf")
    assert read_buildinfo(corpus["go1.15.15-linux-amd64-file"]).go_version == "go1.15.15"

    bi = read_buildinfo(corpus["go1.26.8-linux-s390x"])
    assert (bi.goarch, bi.setting("GOARCH")) == ("s390x", "s390x")
    bi = read_buildinfo(corpus["go1.26.8-windows-amd64-stripped"])
    assert (bi.format, bi.goos) == ("pe", "windows")


def test_setting_and_to_json_shape(corpus: gc.Corpus) -> None:
    bi = read_buildinfo(corpus[BASE])
    assert isinstance(bi, BuildInfo)
    assert bi.setting("GOOS") == "linux" and bi.setting("no-such-key") is None
    j = bi.to_json()
    assert list(j) == ["file", "format", "goos", "goarch", "go_version", "path", "main", "deps", "settings"]
    assert list(j["settings"]) == [k for k, _ in bi.settings]
    assert set(j["deps"][0]) == {"path", "version", "sum", "replace"}


# -- ELF without section headers, fat Mach-O ----------------------------------------


@pytest.mark.parametrize("name", ["go1.26.8-linux-amd64", "go1.21.13-linux-amd64-cgo", "go1.18.10-linux-386",
                                  "go1.26.8-linux-s390x", "go1.17.13-linux-amd64",
                                  "go1.21.13-linux-amd64-pie-stripped"])
def test_elf_without_section_headers_like_go_1_26(corpus: gc.Corpus, name: str, tmp_path: Path) -> None:
    """Go 1.21-1.26 readers fall back to the first writable, non-executable
    PT_LOAD (Go 1.27 dropped this and fails). We behave like the host 1.26:
    same answer when it succeeds, an error when it fails (PIE: the RELRO
    segment comes first and holds no blob)."""
    out = gc.drop_elf_section_headers(corpus[name], tmp_path / name)
    if gc.go_version_fails(out):
        with pytest.raises(BinaryFormatError, match="not a Go binary"):
            read_buildinfo(out)
    else:
        assert read_buildinfo(out).to_json() == corpus.expected(name, out)


def test_fat_macho_is_read_like_go(corpus: gc.Corpus, tmp_path: Path) -> None:
    fat = gc.make_fat_macho([corpus["go1.27.4-darwin-amd64"], corpus["go1.26.8-darwin-arm64"]], tmp_path / "fat")
    got = read_buildinfo(fat).to_json()
    assert got == gc.expected_json(fat, "macho")
    assert got["go_version"] == "go1.27.4"  # Arches[0]


# -- synthetic blobs -----------------------------------------------------------------


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def inline_blob(version: bytes, text: bytes, *, framed: bool = True, flags: int = 2) -> bytes:
    mod = START + text + END if framed else text
    return MAGIC + bytes([8, flags]) + bytes(16) + _uvarint(len(version)) + version + _uvarint(len(mod)) + mod


def pointer_blob(addr: int, version: bytes, text: bytes, ptr: int, big: bool) -> bytes:
    order = "big" if big else "little"

    def p(v: int) -> bytes:
        return v.to_bytes(ptr, order)

    mod = START + text + END
    vhdr_at, mhdr_at = 32, 32 + 2 * ptr
    vdata_at = 32 + 4 * ptr
    mdata_at = vdata_at + len(version)
    header = (MAGIC + bytes([ptr, 1 if big else 0]) + p(addr + vhdr_at) + p(addr + mhdr_at)).ljust(32, b"\0")
    body = p(addr + vdata_at) + p(len(version)) + p(addr + mdata_at) + p(len(mod))
    return header + body + version + mod


class Patched:
    """A copy of a real ELF whose .go.buildinfo section we rewrite."""

    def __init__(self, src: Path, dst: Path) -> None:
        shutil.copyfile(src, dst)
        dst.chmod(0o755)
        self.path = dst
        with open(src, "rb") as f:
            s = ELFFile(f).get_section_by_name(".go.buildinfo")
            self.addr, self.offset, self.size = s["sh_addr"], s["sh_offset"], s["sh_size"]

    def write(self, payload: bytes) -> Path:
        assert len(payload) <= self.size, (len(payload), self.size)
        with open(self.path, "r+b") as f:
            f.seek(self.offset)
            f.write(payload.ljust(self.size, b"\0"))
        return self.path


@pytest.fixture()
def patched(corpus: gc.Corpus, tmp_path: Path) -> Patched:
    return Patched(corpus[BASE], tmp_path / "synthetic")


def _same_as_go(path: Path) -> None:
    if gc.go_version_fails(path):
        with pytest.raises(BinaryFormatError):
            read_buildinfo(path)
        return
    assert read_buildinfo(path).to_json() == gc.expected_json(path, "elf", "linux", "amd64")
    bi = read_buildinfo(path)
    lines = gc.go_version_m_text(path).splitlines(keepends=True)
    assert "".join(line[1:] for line in lines[1:]) == format_modinfo(bi)


QUOTING = (
    b"path\texample.com/q\n"
    b"mod\texample.com/q\t(devel)\t\n"
    b"=>\t../q\t(devel)\t\n"
    b"\n"
    b"dep\texample.com/d\tv1.0.0\th1:abc=\n"
    b"junk line that Go ignores\n"
    b'build\t"key with space"=plain\n'
    b"build\tbq=`back quoted value`\n"
    b'build\tesc="tab\\there \\"q\\" \\u00e9 \\x41 \\101"\n'
    b"build\tempty=\n"
    b'build\t"k=ey"="v"\n'
    b"build\t-ldflags=\"-X \\\"main.v=a b\\\"\"\n"
)


@pytest.mark.parametrize("version,text", [
    (b"go1.22.5", QUOTING),
    (b"devel go1.27-1a2b3c4d Tue Jan 6 10:00:00 2026 +0000", b"path\tcommand-line-arguments\n"),
    (b"go1.24.3 X:noswissmap", b"path\tx\nbuild\tGOOS=plan9\nbuild\tGOARCH=arm\n"),
    (b"go1.26.1-X:nogreenteagc", b"path\tx\nlast line without a newline is dropped"),
])
def test_synthetic_inline_blobs(patched: Patched, version: bytes, text: bytes) -> None:
    _same_as_go(patched.write(inline_blob(version, text)))


def test_quoting_decoded(patched: Patched) -> None:
    bi = read_buildinfo(patched.write(inline_blob(b"go1.22.5", QUOTING)))
    assert dict(bi.settings) == {
        "key with space": "plain", "bq": "back quoted value", "esc": 'tab\there "q" é A A', "empty": "",
        "k=ey": "v", "-ldflags": '-X "main.v=a b"'}
    assert bi.main == Module("example.com/q", "(devel)", "", Module("../q", "(devel)", ""))
    assert bi.goos == "linux"  # no GOOS setting: from the ELF header


@pytest.mark.parametrize("ptr,big", [(8, False), (8, True), (4, False), (4, True)])
def test_synthetic_pointer_format(patched: Patched, ptr: int, big: bool) -> None:
    blob = pointer_blob(patched.addr, b"go1.16.15", b"path\tp\nmod\tp\t(devel)\t\ndep\td\tv1.0.0\th1:x=\n", ptr, big)
    path = patched.write(blob)
    _same_as_go(path)
    assert read_buildinfo(path).go_version == "go1.16.15"


def test_misaligned_magic_like_go_1_26(patched: Patched) -> None:
    """A misaligned magic is skipped, but Go 1.22+ then computes the blob's
    address from the re-sliced buffer (the skip is not added back), so a blob
    after a decoy is read from the wrong place. We do what `go version -m`
    does: here both fail."""
    blob = bytes(8) + MAGIC + bytes(10) + inline_blob(b"go1.21.0", b"path\taligned\n")
    assert blob.index(MAGIC, 16) == 32
    path = patched.write(blob)
    assert gc.go_version_fails(path)
    _same_as_go(path)


def test_aligned_magic_after_unaligned_text(patched: Patched) -> None:
    # No decoy: only the aligned magic exists, whatever precedes it.
    path = patched.write(b"\x01" * 48 + inline_blob(b"go1.21.0", b"path\taligned\n"))
    _same_as_go(path)
    assert read_buildinfo(path).path == "aligned"


@pytest.mark.parametrize("case", ["magic-near-end", "varint-past-end", "empty-version", "bad-ptr-size",
                                  "bad-varint", "no-magic"])
def test_synthetic_not_go(patched: Patched, case: str) -> None:
    if case == "magic-near-end":
        payload = bytes(patched.size - 16) + MAGIC
    elif case == "varint-past-end":
        payload = MAGIC + bytes([8, 2]) + bytes(16) + _uvarint(1 << 20) + b"go1.22"
    elif case == "empty-version":
        payload = inline_blob(b"", b"path\tx\n")
    elif case == "bad-ptr-size":
        payload = MAGIC + bytes([5, 0]) + bytes(16)
    elif case == "bad-varint":
        payload = MAGIC + bytes([8, 2]) + bytes(16) + b"\xff" * 11
    else:
        payload = b""
    path = patched.write(payload)
    assert gc.go_version_fails(path)
    with pytest.raises(BinaryFormatError, match="not a Go binary") as ei:
        read_buildinfo(path)
    assert str(ei.value).startswith(f"{path}: ")


@pytest.mark.parametrize("text", [
    b"path\tx\nmod\tx\t(devel)\t\n",  # not framed by sentinels: modinfo is empty
])
def test_unframed_modinfo_is_empty(patched: Patched, text: bytes) -> None:
    path = patched.write(inline_blob(b"go1.22.5", text, framed=False))
    _same_as_go(path)
    bi = read_buildinfo(path)
    assert (bi.path, bi.main, bi.deps, bi.settings) == ("", None, (), ())


def test_framed_without_trailing_newline_is_empty(patched: Patched) -> None:
    path = patched.write(inline_blob(b"go1.22.5", b"path\tx"))
    _same_as_go(path)
    assert read_buildinfo(path).path == ""


@pytest.mark.parametrize("text,message", [
    (b"build\tkey with space=v\n", 'line 1: unquoted key "key with space" must be quoted'),
    (b"path\tx\nbuild\tk=has space\n", 'line 2: unquoted value "has space" must be quoted'),
    (b"path\tx\nbuild\tk=a\tb\n", 'line 2: unquoted value "a\\tb" must be quoted'),  # no quote or space anywhere
    (b"=>\ta\tb\tc\n", "line 1: replacement with no module on previous line"),
    (b"mod\ta\tb\tc\td\n", "line 1: expected 2 or 3 columns; got 4"),
    (b"dep\ta\tb\n=>\ta\tb\n", "line 2: expected 3 columns for replacement; got 2"),
    (b"build\t=v\n", "line 1: build line with missing key"),
    (b"build\tnoequals\n", "line 1: build line missing '=' after key"),
    (b'build\t"unterminated=v\n', "line 1: invalid quoted key in build line"),
    (b'build\t"k"v\n', "line 1: unexpected character after quoted key: 'v'"),
    (b'build\tk="v"x\n', "line 1: invalid quoted value in build line"),
])
def test_parse_errors_like_go(patched: Patched, text: bytes, message: str) -> None:
    path = patched.write(inline_blob(b"go1.22.5", text))
    assert gc.go_version_fails(path)
    with pytest.raises(BinaryFormatError) as ei:
        read_buildinfo(path)
    assert str(ei.value) == f"{path}: could not parse Go build info: {message}"

