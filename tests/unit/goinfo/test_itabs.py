"""The itab reader on what is not a Go binary (real binaries: tests/integration/test_itabs.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fixproof.errors import BinaryFormatError
from fixproof.goinfo.itabs import read_itabs


def test_not_go_and_garbage(tmp_path: Path) -> None:
    with pytest.raises(BinaryFormatError, match="not a Go binary"):
        read_itabs("/bin/ls")
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"MZ" + os.urandom(4000))
    with pytest.raises(BinaryFormatError):
        read_itabs(garbage)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(BinaryFormatError):
        read_itabs(empty)
