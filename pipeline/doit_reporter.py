"""doit's task events fed to the run's progress reporter (fixproof.progress).

doit's own lines (``.  build`` when a task runs, ``-- build`` when it is up
to date) are written only with -v; otherwise the progress reporter says the
same in its own form: started, finished with counts, up to date.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from doit.reporter import ConsoleReporter

from fixproof.progress import Outcome, Verbosity, adopt, current

VERDICT_TASK = "verify"  # prints the summary on stdout: the live display ends when it starts


class DoitReporter(ConsoleReporter):
    """A doit reporter class (DOIT_CONFIG["reporter"]); doit makes one per run."""

    desc = "fixproof progress"

    def __init__(self, outstream: Any, options: dict) -> None:
        super().__init__(outstream, options)
        self.progress = current()
        self.verbose = self.progress.level >= Verbosity.VERBOSE

    def write(self, text: str) -> None:
        sys.stdout.write(text)  # looked up now: a live display may be redirecting it

    def initialize(self, tasks: dict, selected_tasks: list) -> None:
        names = [n for n, t in tasks.items() if t.actions and not n.startswith("_") and n != VERDICT_TASK]
        self.progress.plan(sorted(names, key=_pipeline_order))

    def execute_task(self, task: Any) -> None:
        adopt(self.progress)  # with -n N doit runs the task's actions in this (worker) thread
        if self.verbose:
            super().execute_task(task)
        if task.name == VERDICT_TASK:
            self.progress.close()
        elif task.actions and not task.name.startswith("_"):
            self.progress.started(task.name)

    def add_success(self, task: Any) -> None:
        if task.name != VERDICT_TASK and task.actions:
            self.progress.finished(task.name, _outcome(task))

    def skip_uptodate(self, task: Any) -> None:
        if self.verbose:
            super().skip_uptodate(task)
        if not task.name.startswith("_") and task.actions:
            self.progress.finished(task.name, _outcome(task, up_to_date=True))

    def skip_ignore(self, task: Any) -> None:
        if self.verbose:
            super().skip_ignore(task)

    def add_failure(self, task: Any, fail: Any) -> None:
        msg = (fail.get_msg() or fail.get_name()).strip()
        if task.name == VERDICT_TASK:  # a failed or errored check: the summary just printed says which
            self.progress.message(task.name, msg.removeprefix("fixproof: "), level=Verbosity.VERBOSE)
            return
        # an action that raised (a bug): its last line normally, the whole traceback with -v
        lines = msg.splitlines() or [fail.get_name()]
        self.progress.error(task.name, msg if self.verbose else lines[-1])
        self.progress.finished(task.name, Outcome(errors=1))

    def runtime_error(self, msg: str) -> None:
        self.progress.error("doit", msg.strip())

    def complete_run(self) -> None:
        self.progress.close()


def _pipeline_order(name: str) -> int:
    from fixproof import registry

    order = [*registry.names(), "report"]
    base = name.split(":", 1)[0]
    return order.index(base) if base in order else len(order)


def _outcome(task: Any, *, up_to_date: bool = False) -> Outcome:
    """Counts from the stage's result file (its first target), when it is one."""
    from fixproof import registry
    from fixproof.results import StageResult

    if task.name.split(":", 1)[0] not in registry.names() or not task.targets:
        return Outcome(up_to_date=up_to_date)
    try:
        result = StageResult.read(Path(task.targets[0]))
    except (OSError, ValueError, KeyError):
        return Outcome(up_to_date=up_to_date)
    return Outcome.from_statuses((c.status for c in result.checks), up_to_date=up_to_date)
