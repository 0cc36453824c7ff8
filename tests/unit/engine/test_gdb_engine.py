"""fixproof.engine.gdb without gdb: MI quoting. Real gdb in a probe container:
tests/integration/test_gdb_engine.py."""

from __future__ import annotations

from fixproof.engine.gdb import mi_quote


def test_mi_quote_escapes_quotes_and_backslashes():
    assert mi_quote('n == 7') == '"n == 7"'
    assert mi_quote('s == "a\\b"') == '"s == \\"a\\\\b\\""'

