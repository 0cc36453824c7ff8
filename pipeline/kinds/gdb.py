"""The kinds of [[gdb]] check (stage gdb runs them: fixproof.stages.gdb).

Every kind has ``name``, ``kind``, ``run`` and ``timeout``; the rest of its
keys are its own. ``EVIDENCE_KEYS`` are the keys of a check's evidence that
the kind's runner writes and that do not depend on the run (the stage adds
its own: kind, run, transcript, go_support, exit_code).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

from fixproof.errors import ConfigError
from fixproof.kinds import Kinds

_HITS_RE = re.compile(r"^\s*(>=|<=|==|>|<)?\s*(\d+)\s*$")


@dataclass(frozen=True)
class GdbCheck:
    """What every [[gdb]] check has."""

    KIND: ClassVar[str] = ""
    EVIDENCE_KEYS: ClassVar[tuple[str, ...]] = ()

    name: str = ""
    kind: str = ""
    run: tuple[str, ...] = ()  # arguments of the built binary while gdb watches
    timeout: int = 120  # seconds for this check, gdb and program included

    def go_functions(self) -> tuple[str, ...]:
        """The Go functions the check names, which the binary must have."""
        return ()

    def validate(self, where: str) -> None:
        """ConfigError (``where``: the file and the check) for a check that cannot prove anything."""

    def _needs_run(self, where: str) -> None:
        if not self.run:
            raise ConfigError(f"{where}: a {self.KIND} check needs run = [...], the arguments of the binary "
                              "while gdb watches.")

    def _needs_breakpoint(self, where: str, breakpoint: str) -> None:
        if not breakpoint:
            raise ConfigError(f"{where}: a {self.KIND} check needs breakpoint = \"<Go function>\".")


GDB_KINDS: Kinds[GdbCheck] = Kinds("gdb", "kind", default="path")


@GDB_KINDS.register
@dataclass(frozen=True)
class PathCheck(GdbCheck):
    """A breakpoint on the fixed function (optionally conditional) hit as often as ``expect_hits`` says."""

    KIND = "path"
    EVIDENCE_KEYS = ("breakpoint", "condition", "expect_hits")

    kind: str = "path"
    breakpoint: str = ""  # a Go function, e.g. "example.com/app/pkg.(*T).M"
    condition: str = ""  # stop only when this gdb expression holds
    expect_hits: str = ">=1"  # ">=N", "==N", "<=N", ">N", "<N" or "N"

    def go_functions(self) -> tuple[str, ...]:
        return (self.breakpoint,)

    def hits_bound(self) -> tuple[str, int]:
        m = _HITS_RE.match(self.expect_hits)
        assert m is not None  # validated at load
        return m.group(1) or "==", int(m.group(2))

    def validate(self, where: str) -> None:
        self._needs_breakpoint(where, self.breakpoint)
        self._needs_run(where)
        if not _HITS_RE.match(self.expect_hits):
            raise ConfigError(f"{where}: expect_hits must look like \">=1\", \"==3\" or \"0\", not {self.expect_hits!r}.")


@GDB_KINDS.register
@dataclass(frozen=True)
class PanicCheck(GdbCheck):
    """Breakpoints on runtime.gopanic, runtime.fatalpanic and runtime.throw: any hit fails."""

    KIND = "panic"
    EVIDENCE_KEYS = ("watched",)

    kind: str = "panic"

    def validate(self, where: str) -> None:
        self._needs_run(where)


@GDB_KINDS.register
@dataclass(frozen=True)
class MemoryCheck(GdbCheck):
    """An integer expression read at two moments; the growth between them stays within ``max_growth``."""

    KIND = "memory"
    EVIDENCE_KEYS = ("expression", "first_moment", "max_growth", "second_moment")

    kind: str = "memory"
    breakpoint: str = ""  # a Go function, e.g. "example.com/app/pkg.(*T).M"
    expression: str = ""  # an integer expression read at two moments
    first_hit: int = 1  # first moment = this hit of `breakpoint`
    last_hit: int = 0  # second moment = this hit of `breakpoint` ...
    end_breakpoint: str = ""  # ... or the first hit of this function
    max_growth: int = field(default=0, metadata={"min": 0})  # allowed second - first

    def go_functions(self) -> tuple[str, ...]:
        return tuple(f for f in (self.breakpoint, self.end_breakpoint) if f)

    def validate(self, where: str) -> None:
        self._needs_breakpoint(where, self.breakpoint)
        self._needs_run(where)
        if not self.expression:
            raise ConfigError(f"{where}: a memory check needs expression = \"<integer gdb expression>\".")
        if bool(self.last_hit) == bool(self.end_breakpoint):
            raise ConfigError(f"{where}: give exactly one of last_hit (a later hit of the same breakpoint) "
                              "or end_breakpoint (a second function) for the second moment.")
        if self.last_hit and self.last_hit <= self.first_hit:
            raise ConfigError(f"{where}: last_hit must be greater than first_hit.")


@GDB_KINDS.register
@dataclass(frozen=True)
class InterfaceCheck(GdbCheck):
    """The binary's itabs include ``require_itab`` and exclude ``forbid_itab``; with ``run``, no failed
    type assertion while it runs."""

    KIND = "interface"
    EVIDENCE_KEYS = ("watched", "require_itab", "forbid_itab", "found", "missing", "itabs_in_binary")

    kind: str = "interface"
    require_itab: tuple[str, ...] = ()  # "pkg.T,pkg.I" pairs that must be in the binary
    forbid_itab: tuple[str, ...] = ()  # pairs that must not

    def validate(self, where: str) -> None:
        if not (self.require_itab or self.forbid_itab or self.run):
            raise ConfigError(f"{where}: an interface check needs require_itab, forbid_itab or run.")
        for pair in (*self.require_itab, *self.forbid_itab):
            if pair.count(",") != 1 or not all(pair.split(",")):
                raise ConfigError(f"{where}: {pair!r} must be \"<concrete type>,<interface>\", "
                                  "e.g. \"*example.com/app/pkg.T,io.Closer\".")
