"""Check kinds: one class per kind of [[gdb]] check and per [[trace]] probe.

A kind is a frozen dataclass whose fields are exactly the keys a check of
that kind may set (the config refuses any other), with a ``validate`` that
raises ConfigError naming what to write, and ``EVIDENCE_KEYS``: the keys of
its evidence that do not depend on the run, which the evidence digest keeps
(fixproof.publish.evidence_digest). Each kind is registered once, in its section's
:class:`Kinds`, by ``KIND``; the stage that runs the checks keeps one runner
per registered class (tests/unit/stages/test_gdb_stage.py and
test_trace_stage.py check that none is missing; a check without one is an
error, never a pass) and derives its ``stable_evidence_keys`` from the
registry, so a kind cannot be added without its keys.

This package sits just below fixproof.config: it knows nothing of stages,
engines or tools.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Generic, Iterator, TypeVar

T = TypeVar("T")


class Kinds(Generic[T]):
    """The registered kinds of one config section ([[gdb]] or [[trace]]), by name."""

    def __init__(self, section: str, key: str, default: str = "", noun: str = "check") -> None:
        self.section = section  # "gdb": the [[gdb]] tables
        self.key = key  # the key that names a check's kind in its table ("kind", "probe")
        self.default = default  # the kind of a table without the key ("": the key is required)
        self.noun = noun  # what a kind is called in messages ("a calls probe", "a path check")
        self._by_name: dict[str, type[T]] = {}

    def register(self, cls: type[T]) -> type[T]:
        """Class decorator: register ``cls`` under its ``KIND``."""
        name = getattr(cls, "KIND")
        if name in self._by_name:
            raise ValueError(f"[[{self.section}]] kind {name!r} is registered twice")
        self._by_name[name] = cls
        return cls

    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def get(self, name: str) -> type[T] | None:
        """The kind named ``name``; a kind registered as ".bt" is every name ending in .bt (a file)."""
        if name in self._by_name:
            return self._by_name[name]
        return next((cls for kind, cls in self._by_name.items()
                     if kind.startswith(".") and name.endswith(kind) and name != kind), None)

    def choices(self) -> str:
        """The values the kind key takes, as a message lists them."""
        named = [n for n in self._by_name if not n.startswith(".")]
        files = [f"a path to a {n} file" for n in self._by_name if n.startswith(".")]
        return f"{', '.join(named)} or {files[0]}" if files else ", ".join(named)

    def phrase(self, *names: str) -> str:
        """'a calls probe', 'an interface check', 'the gc or .bt probe'."""
        if len(names) == 1:
            return f"{'an' if names[0][:1] in 'aeiou' else 'a'} {names[0]} {self.noun}"
        return f"the {', '.join(names[:-1])} or {names[-1]} {self.noun}"

    def __iter__(self) -> Iterator[type[T]]:
        return iter(self._by_name.values())

    def evidence_keys(self) -> tuple[str, ...]:
        """Every registered kind's EVIDENCE_KEYS, sorted (a stage's stable_evidence_keys include them)."""
        return tuple(sorted({k for cls in self for k in getattr(cls, "EVIDENCE_KEYS")}))


def keys_of(cls: type) -> tuple[str, ...]:
    """The keys a check of this kind may set: its dataclass fields."""
    return tuple(f.name for f in fields(cls))

