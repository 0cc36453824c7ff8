"""The kinds of [[trace]] check: one per standard probe, and a custom .bt file
(stage trace runs them: fixproof.stages.trace).

Every kind has ``name``, ``probe``, ``run``, ``required`` and ``timeout``;
the rest of its keys are its own, mostly bounds: a bound left at -1 is not
checked, and a check must set at least one thing to assert. ``EVIDENCE_KEYS``
are the keys of a check's evidence that its runner adds and that do not depend
on the run (the stage adds its own: probe, run, raw, exit_code, attached_probes).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar

from fixproof.errors import ConfigError
from fixproof.kinds import Kinds

UNSET = -1


def _bound() -> int:
    return field(default=UNSET, metadata={"min": 0})


@dataclass(frozen=True)
class TraceCheck:
    """What every [[trace]] check has."""

    KIND: ClassVar[str] = ""
    EVIDENCE_KEYS: ClassVar[tuple[str, ...]] = ()

    name: str = ""
    probe: str = ""  # the standard probe's name, or a path to a .bt file
    run: tuple[str, ...] = ()  # arguments of the built binary while the probe watches
    required: bool = False  # BPF denied: error instead of skipped
    timeout: int = 120

    def bounds(self) -> dict[str, int]:
        """The bounds the check sets (max_* and min_* keys not left at -1)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.type in ("int", int) and f.name.startswith(("max_", "min_")) and getattr(self, f.name) != UNSET}

    def bound_keys(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self) if f.name.startswith(("max_", "min_")))

    def probe_functions(self) -> tuple[str, ...]:
        """The Go functions the probe is rendered with ({{functions}} in a .bt file)."""
        return ()

    def asserts_something(self) -> bool:
        return bool(self.bounds())

    def validate(self, where: str) -> None:
        """ConfigError (``where``: the file and the check) for a check that cannot prove anything."""
        if not self.run:
            raise ConfigError(f"{where} needs run = [...], the arguments of the binary while the probe watches.")
        if not self.asserts_something():
            raise ConfigError(f"{where} asserts nothing: set {_one_of(self.assertion_keys())}.")

    def assertion_keys(self) -> tuple[str, ...]:
        return self.bound_keys()


def _one_of(keys: tuple[str, ...]) -> str:
    return keys[0] if len(keys) == 1 else f"at least one of {', '.join(keys[:-1])} or {keys[-1]}"


TRACE_KINDS: Kinds[TraceCheck] = Kinds("trace", "probe", noun="probe")


@TRACE_KINDS.register
@dataclass(frozen=True)
class GoroutinesProbe(TraceCheck):
    """Goroutines created (runtime.newproc1) and exited (runtime.goexit1)."""

    KIND = "goroutines"

    max_leaked: int = _bound()  # created - exited


@TRACE_KINDS.register
@dataclass(frozen=True)
class GcProbe(TraceCheck):
    """GC cycles started (runtime.gcStart) and the spread of their intervals."""

    KIND = "gc"

    max_gc: int = _bound()  # cycles started
    max_gc_jitter_ms: int = _bound()  # max - min interval between cycles


@TRACE_KINDS.register
@dataclass(frozen=True)
class PanicsProbe(TraceCheck):
    """runtime.gopanic calls, recovered or not, and the defers registered in the run."""

    KIND = "panics"

    max_panics: int = _bound()  # runtime.gopanic calls
    max_defers_before_panic: int = _bound()  # defers registered in the run


@TRACE_KINDS.register
@dataclass(frozen=True)
class CallsProbe(TraceCheck):
    """Hits of named Go functions."""

    KIND = "calls"

    functions: tuple[str, ...] = ()  # the Go functions to count
    min_hits: int = _bound()  # each function at least
    max_hits: int = _bound()  # each function at most

    def probe_functions(self) -> tuple[str, ...]:
        return self.functions

    def validate(self, where: str) -> None:
        if self.run and not self.functions:
            raise ConfigError(f"{where}: the calls probe needs functions = [\"<Go function>\", ...].")
        super().validate(where)


@TRACE_KINDS.register
@dataclass(frozen=True)
class AllocProbe(TraceCheck):
    """Heap allocations at every allocation entry point of the binary's Go release."""

    KIND = "alloc"
    EVIDENCE_KEYS = ("alloc_entry_points",)

    max_alloc_bytes: int = _bound()  # largest single allocation
    max_allocs: int = _bound()  # heap allocations in the run


@TRACE_KINDS.register
@dataclass(frozen=True)
class SyscallsProbe(TraceCheck):
    """The set of syscalls the process makes (the raw_syscalls tracepoint)."""

    KIND = "syscalls"

    forbid_syscalls: tuple[str, ...] = ()  # names that must not appear (e.g. "connect", "execve")
    allow_syscalls: tuple[str, ...] = ()  # if set, any other syscall fails

    def asserts_something(self) -> bool:
        return bool(self.forbid_syscalls or self.allow_syscalls)

    def assertion_keys(self) -> tuple[str, ...]:
        return ("forbid_syscalls", "allow_syscalls")


@TRACE_KINDS.register
@dataclass(frozen=True)
class CustomProbe(TraceCheck):
    """A .bt file of one's own (relative to the config file): each bound names a scalar map of the same
    name without the max_/min_ prefix (max_leaked bounds @leaked); ``functions`` fill {{functions}}."""

    KIND = ".bt"  # any probe ending in .bt
    EVIDENCE_KEYS = ("alloc_entry_points",)  # a .bt file may count allocations too ({{alloc_entry}})

    functions: tuple[str, ...] = ()
    max_leaked: int = _bound()
    max_gc: int = _bound()
    max_gc_jitter_ms: int = _bound()
    max_panics: int = _bound()
    max_defers_before_panic: int = _bound()
    min_hits: int = _bound()
    max_hits: int = _bound()
    max_alloc_bytes: int = _bound()
    max_allocs: int = _bound()

    def probe_functions(self) -> tuple[str, ...]:
        return self.functions

