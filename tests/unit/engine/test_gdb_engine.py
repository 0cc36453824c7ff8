"""fixproof.engine.gdb without gdb: MI quoting and the packaged scripts. Real gdb in a probe container:
tests/integration/test_gdb_engine.py."""

from __future__ import annotations

from fixproof.engine.gdb import mi_quote, scripts_dir

from conftest import ROOT


def test_mi_quote_escapes_quotes_and_backslashes():
    assert mi_quote('n == 7') == '"n == 7"'
    assert mi_quote('s == "a\\b"') == '"s == \\"a\\\\b\\""'


def test_scripts_are_packaged_and_linked_from_the_top_level():
    assert (scripts_dir() / "fixproof.py").is_file()
    link = ROOT / "gdb_scripts"
    assert link.is_symlink() and link.resolve() == scripts_dir().resolve()
