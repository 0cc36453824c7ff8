"""The check kinds: one class per [[gdb]] kind and [[trace]] probe, registered once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from fixproof import registry
from fixproof.errors import ConfigError
from fixproof.kinds import Kinds, keys_of
from fixproof.kinds.gdb import GDB_KINDS, GdbCheck, MemoryCheck, PathCheck
from fixproof.kinds.trace import TRACE_KINDS, CustomProbe, SyscallsProbe


def test_the_registered_kinds_are_the_documented_ones():
    assert GDB_KINDS.names() == ("path", "panic", "memory", "interface")
    assert TRACE_KINDS.names() == ("goroutines", "gc", "panics", "calls", "alloc", "syscalls", ".bt")
    assert TRACE_KINDS.choices() == "goroutines, gc, panics, calls, alloc, syscalls or a path to a .bt file"
    assert TRACE_KINDS.get("probes/mine.bt") is CustomProbe and TRACE_KINDS.get("syscalls") is SyscallsProbe
    assert TRACE_KINDS.get("magic") is None and TRACE_KINDS.get(".bt") is CustomProbe
    assert GDB_KINDS.phrase("interface") == "an interface check" and TRACE_KINDS.phrase(".bt") == "a .bt probe"
    assert TRACE_KINDS.phrase("gc", "panics", ".bt") == "the gc, panics or .bt probe"


def test_every_kind_has_the_common_keys_and_its_own():
    for cls in GDB_KINDS:
        assert {"name", "kind", "run", "timeout"} <= set(keys_of(cls))
        assert cls().kind == cls.KIND
    for cls in TRACE_KINDS:
        assert {"name", "probe", "run", "required", "timeout"} <= set(keys_of(cls))
    assert "condition" in keys_of(PathCheck) and "condition" not in keys_of(MemoryCheck)


@pytest.mark.parametrize("kinds, stage", [(GDB_KINDS, "gdb"), (TRACE_KINDS, "trace")])
def test_the_stage_keeps_every_kinds_evidence_keys(kinds, stage):
    """A kind's stable evidence keys enter the digest through its stage's spec, with nothing to list by hand."""
    stable = set(registry.spec(stage).stable_evidence_keys)
    for cls in kinds:
        assert set(cls.EVIDENCE_KEYS) <= stable, cls
    assert set(kinds.evidence_keys()) <= stable


def test_a_new_kind_brings_its_evidence_keys_and_cannot_be_registered_twice():
    kinds: Kinds[GdbCheck] = Kinds("gdb", "kind")

    @kinds.register
    @dataclass(frozen=True)
    class Watch(GdbCheck):
        KIND: ClassVar[str] = "watch"
        EVIDENCE_KEYS: ClassVar[tuple[str, ...]] = ("watchpoint",)

        kind: str = "watch"
        watchpoint: str = ""

    assert kinds.names() == ("watch",) and kinds.evidence_keys() == ("watchpoint",)
    with pytest.raises(ValueError, match="registered twice"):
        kinds.register(Watch)


def test_validation_is_the_kinds_own():
    PathCheck(name="x", breakpoint="main.f", run=("a",)).validate("f: [[gdb]] 'x'")
    with pytest.raises(ConfigError, match="f: \\[\\[gdb\\]\\] 'x': a memory check needs expression"):
        MemoryCheck(name="x", breakpoint="main.f", run=("a",)).validate("f: [[gdb]] 'x'")
    with pytest.raises(ConfigError, match="asserts nothing: set at least one of forbid_syscalls or allow_syscalls"):
        SyscallsProbe(name="x", probe="syscalls", run=("a",)).validate("f: [[trace]] 'x'")
