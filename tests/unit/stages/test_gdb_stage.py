"""Stage gdb without gdb (the stage on the example with real gdb: tests/integration/test_gdb_stage.py)."""

from __future__ import annotations

from fixproof.kinds.gdb import GDB_KINDS
from fixproof.stages import gdb


def test_every_gdb_kind_has_a_runner():
    assert set(gdb._RUNNERS) == set(GDB_KINDS)
