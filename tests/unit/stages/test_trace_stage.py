"""Stage trace's assessment of what bpftrace measured, without bpftrace (the stage on the example with real
bpftrace: tests/integration/test_trace_stage.py)."""

from __future__ import annotations

import pytest

from fixproof.kinds.trace import AllocProbe
from fixproof.stages import trace


def test_alloc_assessment_refuses_an_incomplete_run():
    from fixproof.engine.allocprobe import AllocEntryPoints
    from fixproof.engine.bpftrace import TraceError, TraceRun

    c = AllocProbe(name="a", probe="alloc", max_alloc_bytes=10)
    entries = AllocEntryPoints(("runtime.mallocgcTinySC2", "runtime.mallocgcSmallNoScanSC2"), 80, "test")

    def run(maps: dict, attached: int) -> TraceRun:
        return TraceRun(maps, (), "", "", 0.0, "", 0, attached)

    full = {"@allocs": 7, "@alloc_bytes": 70, "@alloc_max": 16}
    problems, seen = trace._assess(c, run(full, 4), entries)
    assert seen == {"allocations": 7, "bytes": 70, "largest allocation bytes": 16}
    assert problems == ["largest allocation bytes 16 (max 10)"]
    with pytest.raises(TraceError, match="attached 3 probes, fewer than the 4 that the binary's allocation entry "
                                         "points need"):
        trace._assess(c, run(full, 3), entries)
    with pytest.raises(TraceError, match="no heap allocation was seen at all"):
        trace._assess(c, run({}, 4), entries)


def test_every_probe_kind_has_a_runner():
    from fixproof.kinds.trace import TRACE_KINDS

    assert set(trace._RUNNERS) == set(TRACE_KINDS)
