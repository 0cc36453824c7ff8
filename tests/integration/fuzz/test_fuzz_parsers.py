"""Fuzz the binary readers: any input either parses or raises
BinaryFormatError, quickly. Never another exception, never a hang.

Random bytes rarely get past a magic number, so most cases start from real
binaries of the corpus (ELF, PE, Mach-O, fat Mach-O) and damage them where the
readers look: the file header, the section/segment/load-command tables, the
build info blob and the pclntab. Magic numbers followed by noise need no
corpus: tests/unit/goinfo/test_fuzz_parsers.py. A short run is part of
`make test`; for a long one:

    FIXPROOF_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/integration/fuzz tests/unit/goinfo/test_fuzz_parsers.py -q
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixproof.errors import BinaryFormatError
from fixproof.goinfo import buildinfo, pclntab
from fixproof.goinfo.binfile import BinFile
import goinfo_corpus as gc
from unit.goinfo.test_fuzz_parsers import FUZZ, _parse

SEEDS = ("go1.26.8-linux-amd64", "go1.18.10-linux-386", "go1.21.13-windows-amd64-stripped",
         "go1.26.8-darwin-arm64", "go1.15.15-linux-amd64-file", "go1.26.8-linux-amd64-stripped")


@functools.cache
def _seed(name: str) -> tuple[bytes, tuple[tuple[int, int], ...]]:
    """A corpus binary's bytes and the (offset, length) regions the readers use."""
    data = gc.corpus()[name].read_bytes()
    regions = [(0, 512)]
    with BinFile.from_bytes(data, name) as bf:
        for sec in bf.sections:
            if sec.filesize and any(k in sec.name for k in ("buildinfo", "pclntab", "data", "symtab", "strtab")):
                regions.append((sec.offset, min(sec.filesize, 4096)))
    return data, tuple(regions)


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    data, regions = _seed(draw(st.sampled_from(SEEDS)))
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        start, length = draw(st.sampled_from(regions))
        at = start + draw(st.integers(0, max(length - 1, 0)))
        patch = draw(st.one_of(
            st.binary(min_size=1, max_size=8),
            st.sampled_from([b"\xff" * 4, b"\x00" * 8, b"\xff" * 8, b"\x7f\xff\xff\xff", b"\x01\x00\x00\x80"]),
        ))
        buf[at : at + len(patch)] = patch
    if draw(st.booleans()):
        del buf[draw(st.integers(1, len(buf))):]
    return bytes(buf)


@pytest.fixture(scope="module", autouse=True)
def _corpus() -> None:
    gc.corpus()  # build (or find) the seeds once, outside hypothesis' deadline


@FUZZ
@given(damaged())
def test_damaged_binaries(data: bytes) -> None:
    _parse(data)


@FUZZ
@given(st.sampled_from(SEEDS), st.floats(0.0, 1.0))
def test_truncated_anywhere(name: str, frac: float) -> None:
    data, _ = _seed(name)
    cut = max(1, int(len(data) * frac))
    _parse(data[:cut])


def test_files_on_disk_error_per_file(tmp_path: Path) -> None:
    """The path-based entry points keep their contract too."""
    data, _ = _seed(SEEDS[0])
    p = tmp_path / "half"
    p.write_bytes(data[: len(data) // 2])
    for fn in (buildinfo.read_buildinfo, pclntab.read_functions):
        try:
            fn(p)
        except BinaryFormatError as e:
            assert str(e).startswith(str(p))
