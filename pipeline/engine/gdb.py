"""Real gdb inside a probe container, driven through its MI interpreter.

``probe_container`` starts a labelled container from the probe image with the
binary mounted read-only at ``/probe/<name>`` and the network off;
``box_session`` then runs
``docker exec -i CID gdb --nx --quiet --interpreter=mi3 /probe/<name>``
through pygdbmi's ``GdbController``. The checks of one stage share the
container, each with a fresh gdb and program, the container reset between
them (``ProbeBox.reset``); ``probe_session`` is both in one. Whatever
happens (an error, the session deadline, Ctrl-C) gdb is stopped and the
container removed.

``GdbSession.mi`` is the one helper: it sends one MI command with a numeric
token and reads MI records until the result record carrying that token
arrives, or raises ``GdbTimeout`` at the deadline. Every line sent and
received goes to ``session.transcript`` (evidence). The domain methods
(``break_insert``, ``run``, ``continue_until_stop``, ``evaluate``...) are
built on it and read MI records only; console text is never parsed, except
the one JSON line that gdb_scripts/fixproof.py prints on purpose.

Go specifics learnt on optimised (default) builds with gdb 13:

* locations need no quoting beyond MI's own: ``-break-insert main.work``,
  ``-break-insert main.(*T).Add`` and
  ``-break-insert example.com/x/pkg.(*Counter).Inc`` all resolve; this module
  sends every location as an MI C string, which also works;
* a condition on an integer argument works at function entry:
  ``-break-insert -c "n == 7" main.work``;
* argument values come from DWARF location lists; where DWARF has none
  (``-ldflags=-w``, ``<optimized out>``) the Go register ABI still holds
  integer and pointer arguments at function entry (amd64: RAX, RBX, RCX,
  RDI, RSI, R8, R9, R10, R11; arm64: X0-X15). gdb still finds functions of
  such a binary through the ELF symbol table, but a condition must then name
  registers: ``-break-insert -c "$rbx == 5" main.unusedArg``;
* ``run`` sets GODEBUG=asyncpreemptoff=1: otherwise a goroutine preempted
  (SIGURG) while stepping off a breakpoint resumes at the breakpoint address
  and counts a second hit.
"""

from __future__ import annotations

import json
import os
import select
import shlex
import subprocess
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal, Mapping, Sequence

from fixproof.engine.docker import GDB_PROFILE, Mount, Profile
from fixproof.errors import EngineError, ToolError
from fixproof.goinfo.pclntab import close_names, read_functions

if TYPE_CHECKING:  # pragma: no cover
    from docker.models.containers import Container
    from pygdbmi.gdbcontroller import GdbController

    from fixproof.engine.docker import Engine
    from fixproof.progress import Progress

PROBE_DIR = "/probe"
SCRIPTS_DIR = "/probe/.fixproof/gdb_scripts"
GO_HELPER = "/probe/.fixproof/runtime-gdb.py"
SNAPSHOT_SCRIPT = "fixproof.py"
INFERIOR_STDOUT = "/tmp/fixproof-inferior.stdout"
INFERIOR_STDERR = "/tmp/fixproof-inferior.stderr"
GODEBUG_DEFAULT = "asyncpreemptoff=1"
EXIT_GRACE_S = 3.0
START_TIMEOUT_S = 60.0

# Integer/pointer argument registers of Go's internal ABI (ABIInternal), in order.
ABI_INT_REGISTERS: Mapping[str, tuple[str, ...]] = {
    "amd64": ("rax", "rbx", "rcx", "rdi", "rsi", "r8", "r9", "r10", "r11"),
    "arm64": tuple(f"x{i}" for i in range(16)),
}

MiClass = Literal["done", "running", "connected", "error", "exit"]
ArgSource = Literal["dwarf", "register"]


# -- errors ---------------------------------------------------------------------


class GdbError(ToolError):
    """gdb is missing, died, or refused a command (exit code 3)."""


class GdbTimeout(GdbError):
    """gdb (or the program under it) did not answer before the deadline."""


class MiError(GdbError):
    """gdb answered an MI command with ^error; ``msg`` is its message."""

    def __init__(self, command: str, msg: str) -> None:
        super().__init__(f"gdb refused `{command}`: {msg}")
        self.command = command
        self.msg = msg


class UnknownFunction(GdbError):
    """A breakpoint names a function the binary does not have.

    ``close`` holds similar names from the binary's function table; the
    caller turns this into a configuration error.
    """

    def __init__(self, name: str, close: tuple[str, ...]) -> None:
        hint = f"; close names: {', '.join(close)}" if close else ""
        super().__init__(f"the binary has no function {name}{hint}.")
        self.name = name
        self.close = close


# -- results ----------------------------------------------------------------------


@dataclass(frozen=True)
class MiResult:
    """The result record of one MI command and the records read while waiting for it."""

    klass: MiClass
    payload: Mapping[str, Any]
    records: tuple[Mapping[str, Any], ...] = ()
    token: int | None = None

    def console(self) -> str:
        """The console stream output (``~"..."`` records) that came with the command."""
        return "".join(r["payload"] for r in self.records if r.get("type") == "console" and r.get("payload"))


@dataclass(frozen=True)
class Stop:
    """Why the program stopped (an MI ``*stopped`` record)."""

    reason: str  # breakpoint-hit, exited, exited-normally, exited-signalled, signal-received, ...
    bkptno: int | None = None
    func: str | None = None
    args: tuple[tuple[str, str], ...] = ()
    exit_code: int | None = None  # set when the program exited (0 for exited-normally)
    signal: str | None = None
    addr: int | None = None

    @property
    def exited(self) -> bool:
        return self.reason.startswith("exited")

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "bkptno": self.bkptno, "func": self.func,
                "args": [list(a) for a in self.args], "exit_code": self.exit_code, "signal": self.signal,
                "addr": None if self.addr is None else hex(self.addr)}


@dataclass(frozen=True)
class Frame:
    level: int
    func: str
    file: str | None
    line: int | None
    addr: int

    def to_json(self) -> dict[str, Any]:
        return {"level": self.level, "func": self.func, "file": self.file, "line": self.line, "addr": hex(self.addr)}


@dataclass(frozen=True)
class ArgValue:
    value: str
    source: ArgSource


# -- MI quoting ---------------------------------------------------------------------


def mi_quote(s: str) -> str:
    """``s`` as an MI C string (backslashes, quotes and newlines escaped)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def scripts_dir() -> Path:
    """The gdb scripts shipped with fixproof (pipeline/data/gdb_scripts)."""
    return Path(str(resources.files("fixproof") / "data" / "gdb_scripts"))


# -- the session ------------------------------------------------------------------------


class GdbSession:
    """One gdb process under MI, attached to pipes from ``docker exec``.

    Not thread-safe. After a timeout or an interrupt the session is broken:
    further commands raise GdbError and the owner must tear everything down
    (``probe_session`` does).
    """

    def __init__(self, controller: "GdbController", *, container: "Container", binary: str,
                 host_binary: str, deadline: float, progress: "Progress | None" = None,
                 go_helper: bool = False) -> None:
        self._ctl = controller
        self._proc: "subprocess.Popen[bytes]" = controller.gdb_process  # type: ignore[assignment]
        self.container = container
        self.binary = binary  # path inside the container
        self.host_binary = host_binary
        self.deadline = deadline
        self.progress = progress
        self.transcript: list[str] = []
        self.go_support: str = "not attempted"
        self.gdb_version: str = ""  # first line of `gdb --version` in the container
        self._go_helper_mounted = go_helper
        self._token = 0
        self._buf = {"stdout": b"", "stderr": b""}
        self._pending: deque[dict[str, Any]] = deque()
        self._stops: deque[dict[str, Any]] = deque()
        self._running = False
        self._broken = False
        self._exited = False
        self._reg_numbers: dict[str, int] | None = None
        self._scripts_loaded = False
        self._functions: tuple[str, ...] | None = None
        self._prompts = 0
        self._stderr_eof = False

    # -- the one MI helper ----------------------------------------------------------------

    def mi(self, command: str, timeout: float | None = None) -> MiResult:
        """Send one MI command and wait for its result record.

        ``timeout`` bounds this command; the session deadline always applies.
        Async and stream records read meanwhile are returned in ``records``
        (``*stopped`` records are also kept for ``continue_until_stop``).
        """
        if self._broken:
            raise GdbError("the gdb session is no longer usable after an earlier timeout or error.")
        if self._exited:
            raise GdbError(f"gdb has exited; cannot send `{command}`.")
        self._token += 1
        token = self._token
        deadline = self._deadline(timeout)
        self._send(f"{token}{command}")
        records: list[dict[str, Any]] = []
        try:
            while True:
                rec = self._next_record(deadline, lambda: f"gdb did not answer `{command}`")
                if rec.get("type") == "result" and rec.get("token") == token:
                    klass = rec.get("message") or ""
                    if klass == "running":
                        self._running = True
                    elif klass == "exit":
                        self._exited = True
                    return MiResult(klass, rec.get("payload") or {}, tuple(records), token)  # type: ignore[arg-type]
                records.append(rec)
        except BaseException:
            self._broken = True
            raise

    def _deadline(self, timeout: float | None) -> float:
        if timeout is None:
            return self.deadline
        return min(self.deadline, time.monotonic() + timeout)

    def _send(self, line: str) -> None:
        self.transcript.append("-> " + line)
        stdin = self._proc.stdin
        assert stdin is not None
        try:
            stdin.write(line.encode() + b"\n")
            stdin.flush()
        except (BrokenPipeError, OSError) as e:
            self._broken = True
            raise GdbError(f"gdb is gone (writing `{line}` failed: {e}){self._stderr_hint()}") from e

    def _next_record(self, deadline: float, what: Callable[[], str]) -> dict[str, Any]:
        """The next parsed MI record, reading gdb's pipes until ``deadline``."""
        while not self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                if deadline >= self.deadline:
                    raise GdbTimeout(f"{what()} before the session deadline; gdb was stopped and the probe "
                                     "container removed. Raise the check's timeout if the program is legitimately slow.")
                raise GdbTimeout(f"{what()} within its timeout; gdb was stopped and the probe container removed.")
            self._read_some(left)
        rec = self._pending.popleft()
        if rec.get("type") == "notify" and rec.get("message") == "stopped":
            self._running = False
            self._stops.append(rec)
        return rec

    def _read_some(self, left: float) -> None:
        """Wait up to ``left`` seconds (at most 1) for output from gdb and parse what came."""
        stdout, stderr = self._proc.stdout, self._proc.stderr
        assert stdout is not None
        fds = {stdout.fileno(): "stdout"}
        if stderr is not None and not self._stderr_eof:
            fds[stderr.fileno()] = "stderr"
        ready, _, _ = select.select(list(fds), [], [], min(left, 1.0))
        for fd in ready:
            stream = fds[fd]
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if chunk:
                self._feed(stream, chunk)
            elif stream == "stderr":
                self._stderr_eof = True
            else:
                self._exited = True
                raise GdbError(f"gdb exited unexpectedly{self._stderr_hint()}")

    def _feed(self, stream: str, chunk: bytes) -> None:
        from pygdbmi import gdbmiparser

        data = self._buf[stream] + chunk
        *lines, self._buf[stream] = data.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace").rstrip("\r")
            if not line:
                continue
            if stream == "stderr":
                self.transcript.append("<! " + line)
                self._pending.append({"type": "stderr", "message": None, "payload": line, "token": None})
                continue
            self.transcript.append("<- " + line)
            if gdbmiparser.response_is_finished(line):
                self._prompts += 1
                continue
            self._pending.append(gdbmiparser.parse_response(line))

    def _stderr_hint(self) -> str:
        errs = [t[3:] for t in self.transcript if t.startswith("<! ")]
        if self._proc.stderr is not None:
            try:
                rest = os.read(self._proc.stderr.fileno(), 65536)
            except (BlockingIOError, OSError, ValueError):
                rest = b""
            errs += rest.decode("utf-8", "replace").splitlines()
        return f": {' / '.join(errs[-3:])}" if errs else ""

    def _check(self, command: str, timeout: float | None = None) -> MiResult:
        """mi() that raises MiError on ^error."""
        res = self.mi(command, timeout)
        if res.klass == "error":
            raise MiError(command, str(res.payload.get("msg", "")))
        return res

    # -- set-up ---------------------------------------------------------------------------------

    def _wait_ready(self) -> None:
        """Read gdb's banner up to its first prompt (the banner stays in the transcript)."""
        deadline = self._deadline(START_TIMEOUT_S)
        while not self._prompts:
            left = deadline - time.monotonic()
            if left <= 0:
                raise GdbTimeout("gdb did not show its first prompt within its timeout.")
            self._read_some(left)
        self._pending.clear()

    def _setup(self) -> None:
        for cmd in ("-gdb-set confirm off", "-gdb-set breakpoint pending off",
                    "-gdb-set disable-randomization off", "-gdb-set print pretty off"):
            self._check(cmd)

    # -- domain methods ----------------------------------------------------------------------------

    def console(self, cli: str, timeout: float | None = None) -> MiResult:
        """Run one gdb CLI command through ``-interpreter-exec console`` (MiError on failure)."""
        return self._check(f"-interpreter-exec console {mi_quote(cli)}", timeout)

    def load_go_support(self) -> bool:
        """Source the Go runtime's gdb helper (runtime-gdb.py) if it can be found.

        The helper comes from the mount made with ``go_helper=`` or from the
        absolute path the binary names in .debug_gdb_scripts, if that exists
        in the container. A -trimpath build names only a relative path, and
        the probe image has no GOROOT: then False, with the reason in
        ``go_support`` (and on the progress line).
        """
        if self._go_helper_mounted:
            path = GO_HELPER
        else:
            named = _gdb_script_path(self.host_binary)
            if named is None:
                return self._no_go_support("the binary names no runtime-gdb.py (.debug_gdb_scripts missing)")
            if not named.startswith("/"):
                return self._no_go_support(f"the binary names a relative {named} (built with -trimpath), "
                                           "so gdb's Go helpers cannot be loaded")
            path = named
        try:
            self.console(f"source {path}")
        except MiError as e:
            return self._no_go_support(f"cannot source {path} in the probe container ({e.msg}); "
                                       "the GOROOT that built the binary is not there")
        self.go_support = f"sourced {path}"
        return True

    def _no_go_support(self, why: str) -> bool:
        self.go_support = why  # in the check's evidence; not worth a progress line per check
        self.transcript.append("## go support: " + why)
        return False

    def break_insert(self, location: str, condition: str | None = None, *, ignore_count: int = 0,
                     temporary: bool = False) -> int:
        """Insert a breakpoint and return its number.

        ``location`` is a function name as Go spells it (``main.(*T).M``,
        ``example.com/x/pkg.F``) or any gdb location (``*0x401000``,
        ``file.go:12``). Never pending: a function that does not exist raises
        UnknownFunction with close names from the binary's function table.
        """
        parts = ["-break-insert"]
        if temporary:
            parts.append("-t")
        if condition:
            parts += ["-c", mi_quote(condition)]
        if ignore_count:
            parts += ["-i", str(int(ignore_count))]
        parts.append(mi_quote(location))
        cmd = " ".join(parts)
        res = self.mi(cmd)
        if res.klass == "error":
            msg = str(res.payload.get("msg", ""))
            if msg.startswith("Function \"") and msg.endswith("\" not defined."):
                raise UnknownFunction(location, self._close_names(location))
            raise MiError(cmd, msg)
        bkpt = res.payload.get("bkpt") or {}
        return int(bkpt["number"])

    def _close_names(self, name: str) -> tuple[str, ...]:
        if self._functions is None:
            from fixproof.errors import BinaryFormatError

            try:
                self._functions = read_functions(self.host_binary)
            except BinaryFormatError as e:
                self.transcript.append(f"## cannot read the function table for close names: {e}")
                self._functions = ()
        return close_names(name, self._functions)

    def run(self, args: Sequence[str] = (), env: Mapping[str, str] | None = None) -> MiResult:
        """Start the program with ``args`` (argv[1:]) and ``env``; returns once it runs.

        GODEBUG always gets ``asyncpreemptoff=1``: a goroutine preempted by
        SIGURG while stopped at a breakpoint resumes at the breakpoint address
        and hits it a second time, which would inflate hit counts.
        The program's stdout/stderr go to files in the container (see
        ``inferior_output``) so they cannot interleave with MI records.
        """
        variables = dict(env or {})
        godebug = variables.get("GODEBUG", "")
        variables["GODEBUG"] = ",".join(p for p in (godebug, GODEBUG_DEFAULT) if p)
        for name, value in variables.items():
            if not name or "=" in name or any(ch.isspace() for ch in name):
                raise GdbError(f"invalid environment variable name {name!r} for the program under gdb.")
            self.console(f"set environment {name}={value}")
        words = [shlex.quote(a) for a in args] + [f">{INFERIOR_STDOUT}", f"2>{INFERIOR_STDERR}", "</dev/null"]
        self._check("-exec-arguments " + " ".join(words))
        return self._check("-exec-run")

    def continue_until_stop(self, timeout: float | None = None, *, started: bool = False) -> Stop:
        """Continue (unless already running) and wait for the next stop.

        A stop already received (e.g. right after ``run``) is returned first.
        GdbTimeout when nothing stops within ``timeout``.
        """
        if not self._stops and not self._running and not started:
            self._check("-exec-continue", timeout)
        deadline = self._deadline(timeout)
        try:
            while not self._stops:
                self._next_record(deadline, lambda: "the program did not stop (breakpoint not reached?)")
        except BaseException:
            self._broken = True
            raise
        return _stop(self._stops.popleft().get("payload") or {})

    def evaluate(self, expr: str) -> str:
        """The value of ``expr`` as gdb prints it (MiError if gdb cannot evaluate it)."""
        res = self._check(f"-data-evaluate-expression {mi_quote(expr)}")
        return str(res.payload.get("value", ""))

    def frame_args(self) -> tuple[tuple[str, str], ...]:
        """(name, value) of the current frame's arguments, from DWARF."""
        res = self._check("-stack-list-arguments --all-values 0 0")
        frames = res.payload.get("stack-args") or []
        if not frames:
            return ()
        frame = frames[0].get("frame", frames[0]) if isinstance(frames[0], dict) else {}
        return tuple((str(a.get("name", "")), str(a.get("value", ""))) for a in frame.get("args") or ())

    def backtrace(self, limit: int = 20) -> tuple[Frame, ...]:
        res = self._check(f"-stack-list-frames 0 {max(0, limit - 1)}")
        out = []
        for item in res.payload.get("stack") or []:
            f = item.get("frame", item) if isinstance(item, dict) else {}
            out.append(Frame(int(f.get("level", 0)), str(f.get("func", "??")), f.get("fullname") or f.get("file"),
                             int(f["line"]) if f.get("line") else None, int(str(f.get("addr", "0")), 16)))
        return tuple(out)

    def registers(self, names: Sequence[str]) -> dict[str, int]:
        """Integer registers of the selected frame by gdb name (``rax``, ``x0``)."""
        if self._reg_numbers is None:
            res = self._check("-data-list-register-names")
            self._reg_numbers = {n: i for i, n in enumerate(res.payload.get("register-names") or []) if n}
        try:
            nums = {self._reg_numbers[n.lower()]: n for n in names}
        except KeyError as e:
            raise GdbError(f"gdb knows no register {e.args[0]} for this binary's architecture.") from e
        res = self._check("-data-list-register-values --skip-unavailable x " + " ".join(str(i) for i in nums))
        values = {}
        for rv in res.payload.get("register-values") or []:
            values[nums[int(rv["number"])]] = int(str(rv["value"]), 16)
        missing = [n for n in names if n not in values]
        if missing:
            raise GdbError(f"gdb could not read register(s) {', '.join(missing)}.")
        return values

    def entry_args_from_registers(self, n: int, goarch: str = "amd64") -> tuple[int, ...]:
        """The first ``n`` integer/pointer arguments from Go's register ABI.

        Only meaningful when stopped at a function's entry, and only for
        word-sized integer or pointer arguments (a string or slice takes two
        or three registers; floats use other registers).
        """
        regs = ABI_INT_REGISTERS.get(goarch)
        if regs is None:
            raise GdbError(f"no register ABI table for GOARCH={goarch} (known: {', '.join(ABI_INT_REGISTERS)}).")
        if n > len(regs):
            raise GdbError(f"Go passes at most {len(regs)} integer arguments in registers on {goarch}.")
        values = self.registers(regs[:n])
        return tuple(values[r] for r in regs[:n])

    def read_arg(self, name_or_index: str | int, goarch: str = "amd64") -> ArgValue:
        """An argument of the current frame: DWARF first, else the ABI register.

        A name is evaluated; if gdb cannot (no DWARF, ``<optimized out>``) its
        position among the frame's arguments picks the register. An index
        reads DWARF by position when available, else register number index.
        """
        index: int | None = name_or_index if isinstance(name_or_index, int) else None
        if isinstance(name_or_index, str):
            try:
                value = self.evaluate(name_or_index)
                if not _unavailable(value):
                    return ArgValue(value, "dwarf")
            except MiError:
                pass
        try:
            args = self.frame_args()
        except MiError:
            args = ()
        if isinstance(name_or_index, str):
            names = [a[0] for a in args]
            if name_or_index not in names:
                raise GdbError(f"argument {name_or_index} has no readable value and gdb lists no argument by "
                               "that name (no DWARF?); read it by position instead.")
            index = names.index(name_or_index)
        elif index is not None and index < len(args) and not _unavailable(args[index][1]):
            return ArgValue(args[index][1], "dwarf")
        assert index is not None
        return ArgValue(str(self.entry_args_from_registers(index + 1, goarch)[index]), "register")

    def hit_count(self, bkptno: int) -> int:
        res = self._check(f"-break-info {int(bkptno)}")
        table = res.payload.get("BreakpointTable") or {}
        for row in table.get("body") or []:
            bkpt = row.get("bkpt", row) if isinstance(row, dict) else {}
            if str(bkpt.get("number")) == str(bkptno):
                return int(bkpt.get("times", 0))
        raise GdbError(f"gdb lists no breakpoint {bkptno}.")

    def kill(self) -> None:
        """Kill the program being debugged (gdb stays)."""
        self.console("kill")
        self._running = False
        self._stops.clear()

    def snapshot(self, exprs: Sequence[str]) -> dict[str, str]:
        """Values of several expressions in one round trip (gdb_scripts/fixproof.py).

        A value gdb cannot compute comes back as ``<error: message>``.
        """
        self.load_scripts()
        res = self.console("fixproof-snapshot " + json.dumps(list(exprs)))
        data = _last_json_line(res.console(), "fixproof-snapshot")
        out: dict[str, str] = {}
        for e in exprs:
            item = data.get(e) or {}
            out[e] = str(item["value"]) if "value" in item else f"<error: {item.get('error', 'no value')}>"
        return out

    def goroutines(self) -> list[dict[str, Any]]:
        """Live goroutines from runtime.allgs (gdb_scripts/fixproof.py, no runtime-gdb.py needed)."""
        self.load_scripts()
        res = self.console("fixproof-goroutines")
        return list(_last_json_line(res.console(), "fixproof-goroutines"))

    def load_scripts(self) -> None:
        if not self._scripts_loaded:
            self.console(f"source {SCRIPTS_DIR}/{SNAPSHOT_SCRIPT}")
            self._scripts_loaded = True

    def inferior_output(self) -> tuple[str, str]:
        """What the program wrote to stdout and stderr so far."""
        out = []
        for path in (INFERIOR_STDOUT, INFERIOR_STDERR):
            r = self.container.exec_run(["cat", path])
            out.append(r.output.decode("utf-8", "replace") if r.exit_code == 0 else "")
        return out[0], out[1]

    # -- teardown ----------------------------------------------------------------------------------

    def _close(self, graceful: bool) -> None:
        """Exit gdb (politely if the session is healthy), then end the docker exec client."""
        if graceful and not self._broken and not self._exited and not self._running:
            try:
                self.mi("-gdb-exit", timeout=EXIT_GRACE_S)
            except GdbError as e:
                self.transcript.append(f"## -gdb-exit failed: {e}")
        proc = self._proc
        if proc.stdin is not None:
            try:
                proc.stdin.close()
            except BrokenPipeError:  # gdb already gone; nothing left to flush
                pass
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=EXIT_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=EXIT_GRACE_S)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


# -- the context manager ----------------------------------------------------------------------------


@dataclass
class ProbeBox:
    """A running probe container holding one binary, for gdb sessions one after another
    (:func:`box_session`): each check gets a fresh gdb and a fresh program; between two sessions
    every process but the container's own is killed and its writable /tmp emptied, and a box
    that is not clean then is refused (the check errs; it never runs on a used container)."""

    container: "Container"
    image: str
    target: str  # the binary's path in the container
    host: str  # and on the host
    docker_cli: str
    gdb_version: str
    go_helper: bool
    sessions: int = 0

    def reset(self) -> None:
        """Back to the state of a new container (no other process, empty /tmp), or GdbError."""
        # a zombie (state Z: an orphan the container's `sleep` never reaps) holds no memory, file or
        # socket, only its pid: it is not counted
        script = ("kill -KILL -1 2>/dev/null; i=0; while [ $i -lt 50 ]; do n=0; for p in /proc/[0-9]*; do "
                  "q=${p#/proc/}; [ \"$q\" = 1 ] || [ \"$q\" = $$ ] && continue; "
                  "st=$(sed -n 's/^.*) \\(.\\).*$/\\1/p' $p/stat 2>/dev/null); "
                  "[ -z \"$st\" ] || [ \"$st\" = Z ] || n=$((n+1)); done; [ $n = 0 ] && break; "
                  "kill -KILL -1 2>/dev/null; sleep 0.1; i=$((i+1)); done; "
                  "find /tmp -mindepth 1 -delete 2>/dev/null; echo procs=$n; ls -A /tmp | wc -l")
        r = self.container.exec_run(["sh", "-c", script])
        out = (r.output or b"").decode("utf-8", "replace").split()
        if r.exit_code != 0 or out[:1] != ["procs=0"] or out[1:2] != ["0"]:
            raise GdbError(f"the probe container could not be reset between two checks ({' '.join(out)[:160]}); "
                           "nothing from an earlier check may remain, so this check did not run.")


@contextmanager
def probe_container(engine: "Engine", image: str, binary: str, *, profile: Profile = GDB_PROFILE,
                    progress: "Progress | None" = None, go_helper: str | None = None) -> Iterator[ProbeBox]:
    """A labelled container from ``image`` with ``binary`` (a host path) mounted read-only at
    ``/probe/<name>`` and the network off; removed on every way out. ``go_helper`` is an
    optional host path of runtime-gdb.py (or of a GOROOT holding it) for ``load_go_support``."""
    from docker.errors import APIError

    from fixproof.engine.proc import require_tool

    host = Path(binary).resolve()
    if not host.is_file():
        raise GdbError(f"{binary} does not exist or is not a file; build it first.")
    docker_cli = require_tool("docker", "the docker command line is needed to run gdb in a container "
                                        "(apt-get install docker.io).")
    target = f"{PROBE_DIR}/{host.name}"
    mounts = [Mount(str(host), target, read_only=True), Mount(str(scripts_dir()), SCRIPTS_DIR, read_only=True)]
    if go_helper:
        helper = Path(go_helper)
        if helper.is_dir():
            helper = helper / "src" / "runtime" / "runtime-gdb.py"
        if not helper.is_file():
            raise GdbError(f"no runtime-gdb.py at {helper}; give the GOROOT that built the binary.")
        mounts.append(Mount(str(helper.resolve()), GO_HELPER, read_only=True))
    # HOME on the tmpfs: the root filesystem is read-only and the user (see GDB_PROFILE) has no home
    with engine.container(image, ["sleep", "infinity"], env={"HOME": "/tmp"}, mounts=mounts, network=False,
                          profile=profile) as c:
        try:
            c.start()
        except APIError as e:
            raise EngineError(f"the Docker Engine could not start a probe container from {image}: "
                              f"{e.explanation or e}") from e
        version = _require_gdb(c, image)
        if progress is not None:
            progress.detail(f"gdb on {host.name} in {image} (container {c.short_id})")
        yield ProbeBox(c, image, target, str(host), docker_cli, version, bool(go_helper))


@contextmanager
def box_session(box: ProbeBox, *, timeout: float, progress: "Progress | None" = None) -> Iterator[GdbSession]:
    """A fresh gdb session in ``box`` (reset first when an earlier session used it); ``timeout`` is
    the deadline of the whole session. gdb is exited on every way out."""
    deadline = time.monotonic() + timeout
    if box.sessions:
        box.reset()
    box.sessions += 1
    session = _start_gdb(box.docker_cli, box.container, box.target, box.host, deadline, progress,
                         go_helper=box.go_helper)
    session.gdb_version = box.gdb_version
    graceful = True
    try:
        session._wait_ready()
        session._setup()
        yield session
    except KeyboardInterrupt:
        graceful = False
        raise
    finally:
        session._close(graceful)


@contextmanager
def probe_session(engine: "Engine", image: str, binary: str, *, timeout: float, profile: Profile = GDB_PROFILE,
                  progress: "Progress | None" = None, go_helper: str | None = None) -> Iterator[GdbSession]:
    """A gdb session on ``binary`` (a host path) in a new container from ``image``
    (:func:`probe_container` and :func:`box_session` in one). ``timeout`` is the deadline of the
    whole session, container start included. gdb is exited and the container removed on every way out.
    """
    deadline = time.monotonic() + timeout
    with probe_container(engine, image, binary, profile=profile, progress=progress, go_helper=go_helper) as box:
        with box_session(box, timeout=max(deadline - time.monotonic(), 0.0), progress=progress) as session:
            yield session


def _require_gdb(c: "Container", image: str) -> str:
    """The first line of `gdb --version` in the container (e.g. "GNU gdb (Debian 13.1-3) 13.1")."""
    from fixproof.engine.images import PROBE_REF

    r = c.exec_run(["gdb", "--version"])
    text = (r.output or b"").decode("utf-8", "replace").strip().splitlines()
    if r.exit_code != 0:
        raise GdbError(f"gdb is not installed in image {image} (`gdb --version` failed: "
                       f"{text[0][:160] if text else f'exit code {r.exit_code}'}); use the probe image {PROBE_REF}, "
                       "which fixproof builds with gdb.")
    return text[0].strip() if text else ""


def _start_gdb(docker_cli: str, c: "Container", target: str, host: str, deadline: float,
               progress: "Progress | None", go_helper: bool) -> GdbSession:
    from pygdbmi.gdbcontroller import GdbController

    cmd = [docker_cli, "exec", "-i", c.id, "gdb", "--nx", "--quiet", "--interpreter=mi3", target]
    try:
        ctl = GdbController(command=cmd)
    except (OSError, ValueError) as e:
        raise GdbError(f"cannot start `{' '.join(cmd)}`: {e}") from e
    session = GdbSession(ctl, container=c, binary=target, host_binary=host, deadline=deadline,
                         progress=progress, go_helper=go_helper)
    session.transcript.append("## " + " ".join(cmd))
    return session


# -- helpers --------------------------------------------------------------------------------------------


def _stop(p: Mapping[str, Any]) -> Stop:
    reason = str(p.get("reason", "unknown"))
    frame = p.get("frame") or {}
    args = tuple((str(a.get("name", "")), str(a.get("value", ""))) for a in frame.get("args") or ())
    exit_code = None
    if reason == "exited-normally":
        exit_code = 0
    elif reason == "exited" and p.get("exit-code") is not None:
        exit_code = int(str(p["exit-code"]), 8)  # gdb prints it in octal ("01", "02")
    bkptno = int(p["bkptno"]) if p.get("bkptno") else None
    addr = int(str(frame["addr"]), 16) if frame.get("addr") else None
    return Stop(reason, bkptno, frame.get("func"), args, exit_code, p.get("signal-name"), addr)


def _unavailable(value: str) -> bool:
    return value in ("<optimized out>", "<unavailable>") or value.startswith("<error")


def _last_json_line(console: str, command: str) -> Any:
    for line in reversed(console.splitlines()):
        line = line.strip()
        if line.startswith(("{", "[")):
            try:
                return json.loads(line)
            except json.JSONDecodeError as e:
                raise GdbError(f"{command} printed a line that is not JSON: {line[:160]!r}") from e
    raise GdbError(f"{command} printed no JSON line (output: {console.strip()[:160]!r}).")


def _gdb_script_path(host_binary: str) -> str | None:
    """The runtime-gdb.py path a Go ELF binary names in .debug_gdb_scripts, or None."""
    from fixproof.errors import BinaryFormatError
    from fixproof.goinfo.binfile import BinFile

    try:
        with BinFile.open(host_binary) as bf:
            sec = bf.section(".debug_gdb_scripts")
            if sec is None or not sec.filesize:
                return None
            raw = bf.read(sec.offset, sec.filesize)
    except BinaryFormatError:
        return None
    # Entries: one kind byte (1 = python file), a NUL-terminated path.
    for entry in raw.split(b"\0"):
        if len(entry) > 1 and entry[0] == 1:
            return entry[1:].decode("utf-8", "replace")
    return None


__all__ = [
    "ArgValue", "Frame", "GdbError", "GdbSession", "GdbTimeout", "MiError", "MiResult", "Stop", "UnknownFunction",
    "mi_quote", "probe_session", "scripts_dir",
]
