"""What a stage declares about itself: ``SPEC = StageSpec(...)`` at the end of its module.

The task graph (fixproof.tasks), the progress display, ``--only`` and the
evidence bundle read these specs through fixproof.registry; none of them
lists stages. A spec is data: building it does no work, and its callables
(``inputs``, ``reports``, ``logs``) run only when a task graph or a bundle is
made, with the run's Config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:  # the config and the stage context are only named here
    from fixproof.config import Config
    from fixproof.results import StageResult
    from fixproof.stages.common import StageContext

_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Inputs:
    """Why a stage reruns, besides the results of the stages it needs and its config sections.

    ``file_dep``: files whose content is an input (doit's ``file_dep``).
    ``config``: more values for doit's ``config_changed`` (the source revision,
    the day, --artifact...), merged with the stage's config sections.
    ``uptodate``: callables that say False when something outside the files
    changed (the image, a volume, the built binary); each checks without
    starting a container.
    """

    file_dep: tuple[str, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)
    uptodate: tuple[Callable[[], bool], ...] = ()


def no_inputs(cfg: "Config") -> Inputs:
    return Inputs()


def no_files(cfg: "Config") -> tuple[Path, ...]:
    return ()


def no_logs(cfg: "Config") -> Mapping[str, Path]:
    return {}


@dataclass(frozen=True)
class StageSpec:
    """One stage of the pipeline, as the task graph and the reports see it.

    ``name``: the task name and reports/stages/<name>.json. ``doc``: one line,
    the help of ``doit list``. ``order``: where the stage sits in the pipeline
    (reports, progress and task order follow it; a stage comes after every
    stage it needs). ``needs``: upstream stages, whose results are inputs and
    which ``--only`` brings along. ``config``: the config sections whose
    values are inputs (on top of app, timeouts, docker, fix and the
    vulnerability DB, which every stage depends on). ``inputs(cfg)``: its
    other inputs. ``run(ctx)``: the stage itself, always returning a result.
    ``runtime``: it measures a running program, so its checks enter the
    evidence digest as verdicts, keeping only ``stable_evidence_keys`` of
    their evidence (fixproof.publish.evidence_digest). ``facts``: the frozen dataclass
    of what it hands downstream, when later stages read it (its ``of`` reads
    a stage result). ``reports(cfg)`` and ``logs(cfg)``: files it leaves
    besides its result, for the evidence bundle's reports/ (in the digest) and
    logs/ (raw tool output, pinned but not in the digest).
    """

    name: str
    doc: str
    order: int
    run: Callable[["StageContext"], "StageResult"]
    needs: tuple[str, ...] = ()
    config: tuple[str, ...] = ()
    inputs: Callable[["Config"], Inputs] = no_inputs
    runtime: bool = False
    stable_evidence_keys: tuple[str, ...] = ()
    facts: type | None = None
    reports: Callable[["Config"], tuple[Path, ...]] = no_files
    logs: Callable[["Config"], Mapping[str, Path]] = no_logs

    def __post_init__(self) -> None:
        if not _NAME_RE.fullmatch(self.name) or self.name in ("report", "verify"):
            raise ValueError(f"stage name {self.name!r}: lower-case letters, digits and _, and not report or verify")
        if not self.doc.strip() or "\n" in self.doc.strip():
            raise ValueError(f"stage {self.name}: doc must be one line (doit list shows it)")
        if self.name in self.needs:
            raise ValueError(f"stage {self.name} needs itself")
        if self.stable_evidence_keys and not self.runtime:
            raise ValueError(f"stage {self.name}: stable_evidence_keys only mean something for a runtime stage")
