"""read_functions on what is not a Go binary, and close names (the function tables of real binaries:
tests/integration/test_pclntab.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fixproof.errors import BinaryFormatError
from fixproof.goinfo import pclntab
from fixproof.goinfo.pclntab import read_functions


def test_not_go(tmp_path: Path) -> None:
    with pytest.raises(BinaryFormatError, match="no Go function table"):
        read_functions("/bin/ls")
    p = tmp_path / "garbage"
    p.write_bytes(b"MZ" + os.urandom(4000))
    with pytest.raises(BinaryFormatError):
        read_functions(p)


def test_close_names():
    funcs = ["example.com/app/chunk.limit", "example.com/app/chunk.Read", "main.main", "other/pkg.(*T).M"]
    assert pclntab.close_names("example.com/app/chunk.limmit", funcs)[0] == "example.com/app/chunk.limit"
    assert pclntab.close_names("example.com/x/pkg.(*T).M", ["a.b", "zz/pkg.(*T).M"]) == ("zz/pkg.(*T).M",)
    assert pclntab.close_names("nothing.like.it", funcs) == ()
