"""Check results: what every stage produces and the report consumes."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, TypeVar

_F = TypeVar("_F", bound="StageFacts")


class Status(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class CheckResult:
    """One check of one stage.

    A check that could not gather positive evidence is ERROR or SKIPPED with
    the reason, never PASSED. ``classname`` defaults to the stage name in
    JUnit; Go tests set it to their package. ``details`` is the long text
    (compiler output, test output) that goes in the JUnit element body.
    ``warning`` marks a passed check that carries a finding policy let
    through; it is shown, never dropped. ``blocks`` is False for policy
    checks (a listed advisory still affects a module): their failure fails
    the run but does not stop later stages from gathering evidence, unlike
    an integrity failure (wrong Go, tampered go.sum).
    """

    name: str
    status: Status
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    classname: str = ""
    details: str = ""
    warning: bool = False
    blocks: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "message": self.message,
            "evidence": dict(self.evidence),
            "duration_s": round(self.duration_s, 3),
            "classname": self.classname,
            "details": self.details,
            "warning": self.warning,
            "blocks": self.blocks,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "CheckResult":
        return cls(
            name=str(data["name"]),
            status=Status(data["status"]),
            message=str(data["message"]),
            evidence=dict(data.get("evidence") or {}),
            duration_s=float(data.get("duration_s") or 0.0),
            classname=str(data.get("classname") or ""),
            details=str(data.get("details") or ""),
            warning=bool(data.get("warning", False)),
            blocks=bool(data.get("blocks", True)),
        )


def passed(name: str, message: str, **kw: Any) -> CheckResult:
    return CheckResult(name, Status.PASSED, message, **kw)


def failed(name: str, message: str, **kw: Any) -> CheckResult:
    return CheckResult(name, Status.FAILED, message, **kw)


def error(name: str, message: str, **kw: Any) -> CheckResult:
    return CheckResult(name, Status.ERROR, message, **kw)


def skipped(name: str, message: str, **kw: Any) -> CheckResult:
    return CheckResult(name, Status.SKIPPED, message, **kw)


@dataclass(frozen=True)
class StageResult:
    """The JSON target of one doit task: reports/stages/<stage>.json.

    ``facts`` carries what later stages need (image id, build list, binary
    path and hash), as the JSON of the stage's :class:`StageFacts` (read it
    with that class's ``of``, never by key); ``checks`` is the list of check
    results.
    """

    stage: str
    checks: tuple[CheckResult, ...]
    facts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(
            c.status in (Status.PASSED, Status.SKIPPED) for c in self.checks
        ) and any(c.status is Status.PASSED for c in self.checks)

    @property
    def usable_downstream(self) -> bool:
        """Later stages may build on this one: it passed, or failed only policy checks."""
        return any(c.status is Status.PASSED for c in self.checks) and not any(
            c.blocks and c.status in (Status.FAILED, Status.ERROR) for c in self.checks)

    @property
    def has_error(self) -> bool:
        return any(c.status is Status.ERROR for c in self.checks)

    @property
    def has_failure(self) -> bool:
        return any(c.status is Status.FAILED for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "checks": [c.to_json() for c in self.checks],
            "facts": dict(self.facts),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "StageResult":
        return cls(
            stage=str(data["stage"]),
            checks=tuple(CheckResult.from_json(c) for c in data["checks"]),
            facts=dict(data.get("facts") or {}),
        )

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> "StageResult":
        return cls.from_json(json.loads(path.read_text()))


class StageFacts:
    """What a stage hands downstream, as a frozen dataclass: its spec names the class (``facts``).

    A subclass writes itself as the ``facts`` of its stage result with
    ``to_json()`` (the JSON of reports/stages/<stage>.json, which the evidence
    digest covers: a subclass keeps the keys and values the stage always
    wrote) and reads it back with ``from_json(facts)``, None when the stage
    handed nothing on (it stopped before making what the class describes).
    Readers call :meth:`of` on a stage result, never index its facts.
    """

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_json(cls: type[_F], facts: Mapping[str, Any]) -> _F | None:
        raise NotImplementedError

    @classmethod
    def of(cls: type[_F], result: StageResult | None) -> _F | None:
        """The facts of a stage result (None: no result, or nothing handed on). Facts that are not
        what the stage writes (a hand-edited result) raise ValueError, as an unreadable result does."""
        if result is None:
            return None
        try:
            return cls.from_json(result.facts)
        except (AttributeError, KeyError, TypeError) as e:
            raise ValueError(f"the facts of the {result.stage} stage's result are malformed ({type(e).__name__}: "
                             f"{e}); rerun the stage") from e
