"""Build info pieces that need no Go binary: modinfo parsing, Go's quoting, errors, walking directories
like `go version`. read_buildinfo against `go version -m` on real binaries:
tests/integration/test_buildinfo.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fixproof.errors import BinaryFormatError
from fixproof.goinfo.buildinfo import go_quote, go_unquote_prefix, iter_binaries, parse_modinfo, read_buildinfo, walk_inputs


# -- pieces ---------------------------------------------------------------------------


def test_parse_modinfo_pieces() -> None:
    path, main, deps, settings = parse_modinfo(b"path\tp\n\nmystery\nbuild\ta=b\nbuild\tc=d")
    assert (path, main, deps, settings) == ("p", None, (), (("a", "b"),))
    with pytest.raises(ValueError, match="line 3"):
        parse_modinfo(b"path\tp\n\nbuild\tx y=1\n")


@pytest.mark.parametrize("s", ["plain", "a b", 'q"uote', "tab\tnl\n", "é ✓", "\x00\x7f", "back`tick"])
def test_quote_round_trip(s: str) -> None:
    q = go_quote(s)
    assert q.startswith('"') and "\n" not in q
    assert go_unquote_prefix(q + "rest") == (s, "rest")


def test_quote_matches_go_spelling() -> None:
    assert go_quote('-X "main.v=a b"') == '"-X \\"main.v=a b\\""'
    assert go_quote("\x01\t\u00e9\u2028") == '"\\x01\\té\\u2028"'
    assert go_unquote_prefix("`raw \\n`=x") == ("raw \\n", "=x")
    with pytest.raises(ValueError):
        go_unquote_prefix('"bad \\q"')
    with pytest.raises(ValueError):
        go_unquote_prefix('"single \\\' quote"')


def test_read_buildinfo_errors_only_binaryformaterror(tmp_path: Path) -> None:
    for p in (tmp_path / "missing", tmp_path):
        with pytest.raises(BinaryFormatError):
            read_buildinfo(p)
    with pytest.raises(BinaryFormatError, match="not a Go binary"):
        read_buildinfo("/bin/ls")


# -- walking ----------------------------------------------------------------------------


def test_iter_binaries_walks_like_go(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "b" / "sub").mkdir(parents=True)
    (root / "a").write_text("x")
    (root / "b" / "sub" / "z").write_text("x")
    (root / "b" / "c").write_text("x")
    (root / "link-to-file").symlink_to(root / "a")
    (root / "link-to-dir").symlink_to(root / "b")  # not followed, not a file: skipped
    (root / "dangling").symlink_to(root / "nowhere")  # skipped
    os.mkfifo(root / "fifo")  # skipped
    explicit = tmp_path / "explicit-missing"
    got = [str(p) for p in iter_binaries([str(root), str(explicit)])]
    assert got == [str(root / "a"), str(root / "b" / "c"), str(root / "b" / "sub" / "z"),
                   str(root / "link-to-file"), str(explicit)]
    assert [e for _, e in walk_inputs([str(root / "a"), str(root)])][:2] == [True, False]
    # Like Go's filepath.Join, the root is cleaned.
    assert next(iter_binaries([str(root) + "/"])) == root / "a"
