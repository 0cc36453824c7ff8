"""Fuzz the binary readers with a magic number followed by noise: any input either parses or raises
BinaryFormatError, quickly. Never another exception, never a hang. Damaged real binaries of the corpus:
tests/integration/fuzz/test_fuzz_parsers.py, which shares FUZZ and _parse from here.

    FIXPROOF_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/unit/goinfo/test_fuzz_parsers.py -q
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixproof.errors import BinaryFormatError
from fixproof.goinfo import buildinfo, pclntab
from fixproof.goinfo.binfile import BinFile

EXAMPLES = int(os.environ.get("FIXPROOF_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=2000, derandomize=not os.environ.get("FIXPROOF_FUZZ_EXAMPLES"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _parse(data: bytes) -> None:
    """Both readers over one image; only BinaryFormatError may escape."""
    try:
        with BinFile.from_bytes(data, "fuzz") as bf:
            buildinfo.buildinfo_from(bf)
    except BinaryFormatError:
        pass
    try:
        with BinFile.from_bytes(data, "fuzz") as bf:
            pclntab.functions_from(bf)
    except BinaryFormatError:
        pass


@FUZZ
@given(st.sampled_from([b"\x7fELF", b"MZ", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"\xfe\xed\xfa\xcf", b""]),
       st.binary(max_size=2048))
def test_magic_then_noise(magic: bytes, rest: bytes) -> None:
    if magic or rest:
        _parse(magic + rest)
