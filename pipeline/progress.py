"""How progress is shown: the one place that decides it.

A run chooses one reporter (``choose``) and makes it current for its extent
(``use``, a context variable set by the CLI layer); ``Progress(stage).say()``
and the doit adapter in fixproof.doit_reporter feed whatever reporter is current.

- On a terminal (stdout and stderr are TTYs, CI unset, TERM not dumb): a live
  rich display on stderr, one line per stage with a spinner, the elapsed time
  and the latest message; finished stages show their counts.
- Otherwise (CI logs, pipes): plain lines on stderr, each prefixed with an
  ISO-8601 UTC timestamp: ``2026-12-01T18:00:05Z fixproof: build: go build ... [3s]``.

Verbosity: QUIET shows only errors (the final summary is printed by the
verify task, not through here, so it always appears); NORMAL adds stage
start/finish and ``say()`` messages (heartbeats among them); VERBOSE adds
``detail()`` messages and doit's own task lines.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import os
import sys
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Protocol, Sequence, TextIO

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console


class Verbosity(enum.IntEnum):
    QUIET = 0
    NORMAL = 1
    VERBOSE = 2


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a finished stage came out: its check counts, and whether it was rerun."""

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    up_to_date: bool = False

    @classmethod
    def from_statuses(cls, statuses: Iterable[str], *, up_to_date: bool = False) -> "Outcome":
        s = [str(getattr(x, "value", x)) for x in statuses]
        return cls(passed=s.count("passed"), failed=s.count("failed"), errors=s.count("error"),
                   skipped=s.count("skipped"), up_to_date=up_to_date)

    @property
    def status(self) -> str:
        if self.errors:
            return "error"
        if self.failed:
            return "failed"
        if self.passed:
            return "passed"
        return "skipped" if self.skipped else "done"

    @property
    def counts(self) -> str:
        parts = [(self.passed, "passed"), (self.failed, "failed"), (self.errors, "error" if self.errors == 1 else "errors"),
                 (self.skipped, "skipped")]
        return ", ".join(f"{n} {word}" for n, word in parts if n)

    def describe(self) -> str:
        text = self.status if self.status == "done" else f"{self.status} ({self.counts})"
        return f"up to date, not rerun: {text}" if self.up_to_date else text


class Reporter(Protocol):
    """Receives progress events of one run."""

    level: Verbosity

    def plan(self, stages: Sequence[str]) -> None: ...
    def started(self, stage: str) -> None: ...
    def finished(self, stage: str, outcome: Outcome) -> None: ...
    def message(self, stage: str, text: str, *, level: Verbosity = Verbosity.NORMAL,
                elapsed: float | None = None) -> None: ...
    def error(self, stage: str, text: str, *, elapsed: float | None = None) -> None: ...
    def close(self) -> None:
        """Stop any live display; later events still print, as lines."""


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _suffix(elapsed: float | None) -> str:
    return "" if elapsed is None else f" [{elapsed:.0f}s]"


class PlainReporter:
    """Timestamped lines for logs: ``<UTC time> fixproof: <stage>: <text> [Ns]``."""

    def __init__(self, stream: TextIO | None = None, level: Verbosity = Verbosity.NORMAL, *,
                 clock: Callable[[], dt.datetime] = _utcnow, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self.level = Verbosity(level)
        self._clock = clock
        self._monotonic = monotonic
        self._starts: dict[str, float] = {}
        self._lock = threading.Lock()  # doit's thread runner reports from several threads

    def _write(self, stage: str, text: str, elapsed: float | None) -> None:
        stream = self._stream or sys.stderr  # looked up now, so redirections made after construction count
        stamp = self._clock().astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self._lock:
            stream.write(f"{stamp} fixproof: {stage}: {text}{_suffix(elapsed)}\n")
            stream.flush()

    def plan(self, stages: Sequence[str]) -> None:
        pass

    def started(self, stage: str) -> None:
        self._starts[stage] = self._monotonic()
        if self.level >= Verbosity.NORMAL:
            self._write(stage, "started", None)

    def finished(self, stage: str, outcome: Outcome) -> None:
        start = self._starts.pop(stage, None)
        elapsed = None if outcome.up_to_date or start is None else self._monotonic() - start
        if self.level >= Verbosity.NORMAL:
            self._write(stage, outcome.describe(), elapsed)

    def message(self, stage: str, text: str, *, level: Verbosity = Verbosity.NORMAL,
                elapsed: float | None = None) -> None:
        if self.level >= level:
            self._write(stage, text, elapsed)

    def error(self, stage: str, text: str, *, elapsed: float | None = None) -> None:
        self._write(stage, f"error: {text}", elapsed)

    def close(self) -> None:
        pass


@dataclasses.dataclass(frozen=True)
class _Row:
    name: str
    state: str = "waiting"  # waiting, running, finished
    started: float | None = None
    ended: float | None = None
    message: str = ""
    outcome: Outcome | None = None
    spinner: Any = dataclasses.field(default=None, compare=False)


class RichReporter:
    """A live display on a rich Console: one line per stage, redrawn in place.

    Errors (and, with VERBOSE, every message) also print above the display, so
    they stay in the terminal's scrollback. After ``close()`` the last frame
    stays on screen and later events print as plain lines.
    """

    def __init__(self, console: "Console", level: Verbosity = Verbosity.NORMAL, *,
                 monotonic: Callable[[], float] = time.monotonic, refresh_per_second: float = 8) -> None:
        self.console = console
        self.level = Verbosity(level)
        self._monotonic = monotonic
        self._refresh = refresh_per_second
        self._rows: dict[str, _Row] = {}
        self._lock = threading.Lock()  # rows are read by rich's refresh thread
        self._live_lock = threading.Lock()  # start/stop, perhaps from doit's worker threads
        self._live: Any = None
        self._closed = False
        utf = (console.encoding or "").lower().replace("-", "").startswith("utf")
        self._icons = {"passed": "✓", "done": "✓", "skipped": "–", "failed": "✗", "error": "✗", "waiting": "·"} if utf \
            else {"passed": "+", "done": "+", "skipped": "-", "failed": "x", "error": "x", "waiting": "."}
        self._sep = " · " if utf else " - "
        self._spinner = "dots" if utf else "line"

    # events ------------------------------------------------------------
    def plan(self, stages: Sequence[str]) -> None:
        with self._lock:
            for s in stages:
                self._rows.setdefault(s, _Row(s))
        self._ensure_live()

    def started(self, stage: str) -> None:
        from rich.spinner import Spinner

        with self._lock:
            self._rows[stage] = _Row(stage, "running", started=self._monotonic(), spinner=Spinner(self._spinner))
        self._ensure_live()

    def finished(self, stage: str, outcome: Outcome) -> None:
        with self._lock:
            row = self._rows.get(stage, _Row(stage))
            self._rows[stage] = dataclasses.replace(row, state="finished", ended=self._monotonic(), outcome=outcome,
                                                    spinner=None)
        if self._live is None:  # display closed (or never opened): say it as a line
            self._print(stage, outcome.describe(), None)
        else:
            self._live.refresh()

    def message(self, stage: str, text: str, *, level: Verbosity = Verbosity.NORMAL,
                elapsed: float | None = None) -> None:
        if self.level < level:
            return
        shown = self._set_message(stage, text)
        if not shown or self.level >= Verbosity.VERBOSE:
            self._print(stage, text, elapsed, style="dim" if shown else None)

    def error(self, stage: str, text: str, *, elapsed: float | None = None) -> None:
        self._set_message(stage, f"error: {text}")
        self._print(stage, f"error: {text}", elapsed, style="bold red")

    def close(self) -> None:
        with self._live_lock:
            self._closed = True
            live, self._live = self._live, None
            if live is not None:
                live.stop()

    # display -----------------------------------------------------------
    def _ensure_live(self) -> None:
        from rich.live import Live

        with self._live_lock:
            if self._live is None and not self._closed:
                live = Live(get_renderable=self._render, console=self.console,
                            refresh_per_second=self._refresh, transient=False)
                live.start()
                self._live = live

    def _set_message(self, stage: str, text: str) -> bool:
        """Put text on the stage's line; False when no live line shows it."""
        if self._live is None:
            return False
        with self._lock:
            row = self._rows.get(stage)
            if row is None:
                return False
            self._rows[stage] = dataclasses.replace(row, message=text)
        return True

    def _print(self, stage: str, text: str, elapsed: float | None, style: str | None = None) -> None:
        from rich.text import Text

        self.console.print(Text(f"fixproof: {stage}: {text}{_suffix(elapsed)}", style=style or ""),
                           markup=False, highlight=False, soft_wrap=True)

    def _render(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        now = self._monotonic()
        with self._lock:
            rows = list(self._rows.values())
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(width=1, no_wrap=True)
        grid.add_column(no_wrap=True, min_width=max((len(r.name) for r in rows), default=1))
        grid.add_column(justify="right", no_wrap=True, min_width=4)
        grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        for r in rows:
            if r.state == "running":
                grid.add_row(r.spinner, Text(r.name, "bold"), Text(f"{now - (r.started or now):.0f}s"),
                             Text(r.message or "running"))
            elif r.state == "finished" and r.outcome is not None:
                o = r.outcome
                bad = o.status in ("failed", "error")
                style = "red" if bad else ("yellow" if o.status == "skipped" else "green")
                took = "" if o.up_to_date or r.started is None else f"{(r.ended or now) - r.started:.0f}s"
                text = Text(o.counts or o.status, style="red" if bad else "")
                if o.up_to_date:
                    text.append(f"{self._sep}up to date", style="dim")
                if o.status == "error" and r.message:
                    text.append(f"{self._sep}{r.message.removeprefix('error: ')}", style="red")
                grid.add_row(Text(self._icons[o.status], style), Text(r.name), Text(took, "dim"), text)
            else:
                grid.add_row(Text(self._icons["waiting"], "dim"), Text(r.name, "dim"), Text(""), Text("waiting", "dim"))
        return grid


# choosing and using a reporter ------------------------------------------

def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False


def interactive(stdout: object, stderr: object, env: Mapping[str, str]) -> bool:
    """A person is watching: both streams are terminals, not CI, not TERM=dumb."""
    ci = env.get("CI", "").strip().lower()
    if ci not in ("", "0", "false", "no"):
        return False
    if env.get("TERM", "") == "dumb":
        return False
    return _isatty(stdout) and _isatty(stderr)


def choose(level: Verbosity = Verbosity.NORMAL, *, stdout: TextIO | None = None, stderr: TextIO | None = None,
           env: Mapping[str, str] | None = None) -> Reporter:
    """The reporter for one run: live on a terminal, timestamped lines otherwise (and always with QUIET)."""
    level = Verbosity(level)
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    if level > Verbosity.QUIET and interactive(out, err, os.environ if env is None else env):
        from rich.console import Console

        return RichReporter(Console(file=err, force_terminal=True), level)
    return PlainReporter(err, level)


_CURRENT: ContextVar[Reporter | None] = ContextVar("fixproof_progress_reporter", default=None)


@contextmanager
def use(reporter: Reporter) -> Iterator[Reporter]:
    """Make ``reporter`` current for the block; closed and unset on the way out (also on Ctrl-C)."""
    token = _CURRENT.set(reporter)
    try:
        yield reporter
    finally:
        try:
            reporter.close()
        finally:
            _CURRENT.reset(token)


def adopt(reporter: Reporter) -> None:
    """Make the run's reporter current in this thread too (doit's worker threads start with an empty context).

    Called by the doit adapter in the thread that runs a task; a no-op in the main thread, where
    ``use`` set and will reset it.
    """
    if threading.current_thread() is not threading.main_thread() and _CURRENT.get() is not reporter:
        _CURRENT.set(reporter)


def current() -> Reporter:
    """The run's reporter, or plain NORMAL lines on stderr outside a run (doit verify, tests)."""
    return _CURRENT.get() or PlainReporter()


class Progress:
    """One stage's messages, with the time elapsed since it was created.

    ``Progress(stage).say(msg)`` goes to the current reporter; an explicit
    ``stream`` (or ``reporter``) pins plain lines to it instead.
    """

    def __init__(self, stage: str, stream: TextIO | None = None, *, reporter: Reporter | None = None) -> None:
        self.stage = stage
        self._reporter = reporter if reporter is not None else (PlainReporter(stream) if stream is not None else None)
        self.start = time.monotonic()

    @property
    def reporter(self) -> Reporter:
        return self._reporter or current()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def say(self, message: str) -> None:
        """A progress message (shown by default; heartbeats use this)."""
        self.reporter.message(self.stage, message, elapsed=self.elapsed())

    def detail(self, message: str) -> None:
        """A message only -v shows (commands, tool output)."""
        self.reporter.message(self.stage, message, level=Verbosity.VERBOSE, elapsed=self.elapsed())

    def error(self, message: str) -> None:
        """Shown in every mode, also with -q."""
        self.reporter.error(self.stage, message, elapsed=self.elapsed())
