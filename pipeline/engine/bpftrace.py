"""Real bpftrace inside a probe container, on a Go binary; its JSON output parsed.

``render_probe`` turns a probe file from ``probes/`` (packaged as
pipeline/data/probes) into bpftrace text for one binary; the alloc probe
also needs that binary's allocation entry points, which
``fixproof.engine.allocprobe.alloc_entry_points`` reads from it (Go 1.27
allocates small objects without entering runtime.mallocgc). ``run_probe``
starts a labelled container from the probe image with the binary mounted
read-only at ``/probe/<name>``, the network off and ``TRACE_PROFILE``'s
privileges, and runs ``bpftrace -f json -c "/bin/sh /probe/.fixproof/run.sh" probe.bt``
there, after printing the first line of ``bpftrace --version`` to stderr
(``TraceRun.bpftrace_version``). ``run.sh`` runs the binary with its
arguments (quoted by fixproof: bpftrace's ``-c`` splits on spaces and knows
no quoting), sends its output to a file and records its exit status. The
container is killed and removed at the deadline and on every other way out.

What was learnt doing it (bpftrace 0.17, Debian bookworm, kernel 6.x):

* ``--cap-add SYS_ADMIN`` is enough for uprobes; without it bpftrace fails
  to create its maps ("Operation not permitted"): ``TraceDenied``.
* the container must have tracefs for tracepoints (and for detaching
  cleanly). The host may not mount it; the container's shell mounts it at
  /sys/kernel/tracing when it is missing (that needs SYS_ADMIN too),
  read-only: bpftrace only reads it, and uprobes and tracepoints attach and
  detach cleanly so. Docker's default seccomp profile allows bpf,
  perf_event_open and mount once SYS_ADMIN is listed: no seccomp=unconfined;
* bpftrace must run as root; the traced program need not: run.sh starts it
  through ``setpriv`` as an unprivileged user with no capability (the
  container has SETUID and SETGID for that, and no-new-privileges);
* bpftrace's ``pid`` is the host's pid, while ``cpid`` is the container's:
  ``pid == cpid`` never holds in a container. Probes instead take the host
  pid from the first uprobe hit on the binary's Go entry (runtime.rt0_go)
  into ``@_tgid`` and filter on it, which also ignores other processes that
  run the same file (uprobes attach to the file, not the process);
* a quoted uprobe function the binary lacks is skipped silently ("attached
  3 probes" for 4), so run_probe checks every named function against the
  binary's ELF symbol table first (``UnknownFunction``);
* string literals are limited to 64 bytes, too short for Go names used as
  map keys; calls.bt keys by the ``probe`` builtin (resolved in user space)
  and the prefix ``uprobe:BINARY:`` is cut from such keys here;
* every run prints a harmless "couldn't set RLIMIT_MEMLOCK" error line
  (``--ulimit memlock=-1`` makes this kernel refuse the container); it is
  dropped.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from fixproof.engine.docker import TRACE_PROFILE, Mount, Profile, unprivileged_ids
from fixproof.errors import EXIT_USAGE, ToolError
from fixproof.goinfo.pclntab import close_names, read_functions

if TYPE_CHECKING:  # pragma: no cover
    from docker.models.containers import Container

    from fixproof.engine.allocprobe import AllocEntryPoints
    from fixproof.engine.docker import Engine
    from fixproof.progress import Progress

PROBE_DIR = "/probe"
WORK_DIR = "/probe/.fixproof"
STDERR_MARK = "fixproof-trace: "
VERSION_MARK = "bpftrace version: "

# Register of the first integer argument of Go's ABIInternal at function entry.
ARG0 = {
    ".bt": {"amd64": 'reg("ax")', "arm64": 'reg("r0")'},
    ".d": {"amd64": "uregs[R_RAX]", "arm64": "uregs[R_X0]"},
}

_PLACEHOLDER = re.compile(r"\{\{([a-z0-9_]+)\}\}")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._+-]+$")
_UPROBE = re.compile(r"\buprobe:(?P<path>[^:\s]+):(?:\"(?P<quoted>[^\"]+)\"|(?P<plain>[^\s/{,]+))")

# Harmless lines bpftrace prints on every run here.
_HARMLESS = (
    re.compile(r"couldn't set RLIMIT_MEMLOCK"),
)
# bpftrace stderr lines that mean the kernel or a policy refused BPF, not a bad probe.
_DENIED = (
    re.compile(r"Operation not permitted"),
    re.compile(r"Permission denied"),
    re.compile(r"only supports running as the root user"),
    re.compile(r"[Ll]ockdown"),
    re.compile(r"uprobe_events.*No such file or directory"),
    re.compile(r"(uprobe|kprobe|BPF|bpf).*not (supported|available)"),
    re.compile(r"[Kk]ernel does not support"),
)
# Denials only when tracefs is known to be missing in the container.
_DENIED_WITHOUT_TRACEFS = (re.compile(r"tracepoint not found"),)


# -- errors ---------------------------------------------------------------------------


class TraceError(ToolError):
    """bpftrace is missing, failed, or printed what cannot be read (exit code 3)."""


class TraceDenied(TraceError):
    """The kernel or a policy refused BPF; ``reason`` is bpftrace's own line.

    The caller reports the check as skipped with that reason (or as an
    error when the check is required).
    """

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or f"the kernel or a policy refused BPF in the probe container: {reason}")
        self.reason = reason


class TraceTimeout(TraceError):
    """bpftrace (or the program under it) ran past the deadline; the container was removed."""


class ProbeError(TraceError):
    """A probe file is missing or cannot be rendered with the given parameters (exit code 2)."""

    exit_code = EXIT_USAGE


class UnknownFunction(TraceError):
    """A probe names functions the binary has no symbol for (a typo, or inlined everywhere).

    ``names`` are the missing functions; ``close`` maps each to similar
    names from the binary's function table. The caller turns this into a
    configuration error.
    """

    def __init__(self, names: Sequence[str], close: Mapping[str, tuple[str, ...]], inlined: Sequence[str] = ()) -> None:
        parts = []
        for n in names:
            if n in inlined:
                parts.append(f"{n} (inlined at every call site: mark it //go:noinline or probe its caller)")
            elif close.get(n):
                parts.append(f"{n} (close names: {', '.join(close[n])})")
            else:
                parts.append(n)
        super().__init__(f"the binary has no symbol to probe for {'; '.join(parts)}.")
        self.names = tuple(names)
        self.close = dict(close)
        self.inlined = tuple(inlined)


# -- results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceRun:
    """What one bpftrace run printed, parsed.

    ``maps`` holds the JSON ``map``, ``hist``, ``lhist`` and ``stats``
    records by map name (e.g. ``{"@created": 100}``, ``{"@calls":
    {"main.work": 7}}``, ``{"@gc_interval_ns": {"count": 9, "average": ...,
    "total": ...}}``); keys of keyed maps are strings as bpftrace prints
    them; maps named ``@_*`` (probe bookkeeping) are left out. A count that
    stayed 0 is absent: use ``count()``.
    """

    maps: Mapping[str, Any]
    printed: tuple[str, ...]  # printf output, line by line
    program_output: str  # the traced program's stdout and stderr, interleaved
    bpftrace_stderr: str  # without the harmless lines
    duration_s: float
    raw: str  # bpftrace's stdout (JSON lines) as printed
    exit_code: int | None = None  # the traced program's exit status (None: it did not run)
    attached_probes: int = 0
    image: str = ""
    image_id: str = ""
    probe: str = ""  # the rendered probe text
    command: tuple[str, ...] = ()  # the binary (container path) and its arguments
    bpftrace_version: str = ""  # first line of `bpftrace --version` in the container ("" if unknown)

    def count(self, name: str) -> int:
        """A scalar count/sum map, 0 when bpftrace printed none."""
        v = self.maps.get(name, 0)
        if not isinstance(v, int):
            raise TraceError(f"map {name} is not a single number: {json.dumps(v)[:120]}")
        return v

    def keyed(self, name: str) -> dict[str, Any]:
        """A keyed map ({} when bpftrace printed none)."""
        v = self.maps.get(name, {})
        if not isinstance(v, dict):
            raise TraceError(f"map {name} has no keys: {json.dumps(v)[:120]}")
        return dict(v)

    def to_json(self) -> dict[str, Any]:
        return {
            "maps": dict(self.maps), "printed": list(self.printed), "program_output": self.program_output,
            "bpftrace_stderr": self.bpftrace_stderr, "duration_s": round(self.duration_s, 3),
            "exit_code": self.exit_code, "attached_probes": self.attached_probes, "image": self.image,
            "image_id": self.image_id, "command": list(self.command), "probe": self.probe, "raw": self.raw,
            "bpftrace_version": self.bpftrace_version,
        }


# -- probes --------------------------------------------------------------------------------


def probes_dir() -> Path:
    """The probe files shipped with fixproof (pipeline/data/probes; ``probes/`` links to it)."""
    return Path(str(resources.files("fixproof") / "data" / "probes"))


def probe_path(name_or_path: str) -> Path:
    """A shipped probe by name ("goroutines", "gc.bt", "probes/gc.bt") or any probe file by path."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    shipped = probes_dir()
    if len(p.parts) == 1 or (len(p.parts) == 2 and p.parts[0] == "probes"):
        base = p.name if p.suffix in (".bt", ".d") else p.name + ".bt"
        if (shipped / base).is_file():
            return shipped / base
    names = sorted(f.name for f in shipped.iterdir() if f.suffix in (".bt", ".d"))
    raise ProbeError(f"no probe file {name_or_path}; the shipped probes are {', '.join(names)} (or give a path).")


def _is_comment(line: str) -> bool:
    s = line.lstrip()
    return s.startswith(("//", "/*", "*"))


ALLOC_PLACEHOLDERS = frozenset({"alloc_entry", "mallocgc_above"})
_KNOWN_PLACEHOLDERS = "{{binary}}, {{arg0}}, {{function}}, {{alloc_entry}}, {{mallocgc_above}}"


def _read_probe(name_or_path: str) -> tuple[Path, str]:
    path = probe_path(name_or_path)
    try:
        return path, path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ProbeError(f"cannot read probe file {path}: {e}") from e


def probe_placeholders(name_or_path: str) -> frozenset[str]:
    """The placeholder names a probe file uses outside comments (e.g. whether it needs ``alloc``)."""
    _, text = _read_probe(name_or_path)
    return frozenset(k for line in text.splitlines() if not _is_comment(line) for k in _PLACEHOLDER.findall(line))


def render_probe(name_or_path: str, *, binary: str, functions: Sequence[str] = (), goarch: str = "amd64",
                 alloc: "AllocEntryPoints | None" = None) -> str:
    """The probe's text with its placeholders filled in, for bpftrace (.bt) or DTrace (.d).

    Placeholders, substituted outside comment lines only:

    * ``{{binary}}``: ``binary``, the target's path inside the container;
    * ``{{arg0}}``: the first integer argument register of Go's ABI for
      ``goarch`` (bpftrace ``reg("ax")``/``reg("r0")``);
    * ``{{function}}``: a line holding it is emitted once per name in
      ``functions`` (Go symbol names, e.g. ``example.com/x/pkg.(*T).M``).
      Such a probe needs at least one function, and ``functions`` needs
      such a probe;
    * ``{{alloc_entry}}``: a line holding it is emitted once per
      size-specialised allocation entry in ``alloc.entries`` (none at all
      for a binary without them);
    * ``{{mallocgc_above}}``: ``alloc.mallocgc_above``, the size above which
      a runtime.mallocgc call is an allocation no specialised entry counts.

    ``alloc`` comes from :func:`fixproof.engine.allocprobe.alloc_entry_points`
    on the binary to trace; a probe using either alloc placeholder needs it,
    and it needs such a probe (the alloc probe must never fall back to
    counting runtime.mallocgc alone). ProbeError when the file is missing, a
    name cannot be quoted, or a placeholder is unknown or left without a
    value.
    """
    path, text = _read_probe(name_or_path)
    alloc_entries: Sequence[str] = alloc.entries if alloc is not None else ()
    for f in (*functions, *alloc_entries):
        if not f or any(c in f for c in '"\\\n\r\t') or f != f.strip():
            raise ProbeError(f"function name {f!r} cannot be put in a probe (empty, or with a quote, backslash "
                             "or control character; Go escapes those in symbol names as %xx).")
    if any(c in binary for c in '"\n:') or " " in binary:
        raise ProbeError(f"binary path {binary!r} cannot be put in a probe (space, colon or quote).")
    arg0 = ARG0.get(path.suffix, ARG0[".bt"]).get(goarch)
    values = {"binary": binary}
    if arg0 is not None:
        values["arg0"] = arg0
    if alloc is not None:
        if alloc.mallocgc_above < 0:
            raise ProbeError(f"mallocgc_above {alloc.mallocgc_above} is not a size.")
        values["mallocgc_above"] = str(int(alloc.mallocgc_above))

    out: list[str] = []
    has_function_line = uses_alloc = False
    for lineno, line in enumerate(text.splitlines(), 1):
        if _is_comment(line):
            out.append(line)
            continue
        keys = _PLACEHOLDER.findall(line)
        for k in keys:
            if k in ALLOC_PLACEHOLDERS:
                uses_alloc = True
                if alloc is None:
                    raise ProbeError(f"{path.name} counts heap allocations: render it with the traced binary's "
                                     "allocation entry points (alloc=alloc_entry_points(HOST_BINARY) from "
                                     "fixproof.engine.allocprobe), or it would miss the size-specialised ones.")
            elif k not in values and k != "function":
                if k == "arg0":
                    raise ProbeError(f"{path.name} reads Go function arguments, which fixproof knows only for "
                                     f"amd64 and arm64, not {goarch}.")
                raise ProbeError(f"{path.name}:{lineno}: unknown placeholder {{{{{k}}}}}; known: "
                                 f"{_KNOWN_PLACEHOLDERS}.")
        if "function" in keys and "alloc_entry" in keys:
            raise ProbeError(f"{path.name}:{lineno}: {{{{function}}}} and {{{{alloc_entry}}}} on one line.")
        line = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), line)
        if "function" in keys:
            has_function_line = True
            out.extend(line.replace("{{function}}", f) for f in functions)
        elif "alloc_entry" in keys:
            out.extend(line.replace("{{alloc_entry}}", f) for f in alloc_entries)
        else:
            out.append(line)
    if has_function_line and not functions:
        raise ProbeError(f"{path.name} probes configured functions; give at least one.")
    if functions and not has_function_line:
        raise ProbeError(f"{path.name} has no {{{{function}}}} line; functions {', '.join(functions)} would be ignored.")
    if alloc is not None and not uses_alloc:
        raise ProbeError(f"{path.name} has no {{{{alloc_entry}}}} or {{{{mallocgc_above}}}} placeholder; the "
                         "allocation entry points would be ignored.")
    return "\n".join(out) + "\n"


def uprobe_functions(probe: str, binary: str) -> tuple[str, ...]:
    """Function names that the probe text attaches uprobes to in ``binary``.

    Unquoted names with ``*`` are wildcards and left out. A quoted name is
    a Go name that must exist as it is, even though bpftrace also expands a
    ``*`` in it (``"pkg.(*T).M"`` matches ``pkg.(*ST).M`` too).
    """
    names: dict[str, None] = {}
    for line in probe.splitlines():
        if _is_comment(line):
            continue
        for m in _UPROBE.finditer(line):
            quoted, plain = m.group("quoted"), m.group("plain")
            if m.group("path") != binary or (plain and "*" in plain):
                continue
            names[quoted or plain] = None
    return tuple(names)


def check_functions(host_binary: str, functions: Sequence[str]) -> None:
    """UnknownFunction unless every function has an ELF symbol (what bpftrace resolves)."""
    from fixproof.errors import BinaryFormatError
    from fixproof.goinfo.binfile import BinFile

    if not functions:
        return
    try:
        with BinFile.open(host_binary) as bf:
            if bf.format != "elf":
                raise TraceError(f"{host_binary} is a {bf.format} binary; bpftrace traces Linux ELF binaries only.")
            if bf.section(".symtab") is None:
                raise TraceError(f"{host_binary} has no ELF symbol table (built with -ldflags=-s, or stripped), "
                                 "so uprobes cannot name its functions; build it without -s to trace it.")
            found = bf.symbols(frozenset(functions))
    except BinaryFormatError as e:
        raise TraceError(f"cannot read the symbols of {host_binary}: {e}") from e
    missing = [f for f in functions if f not in found]
    if not missing:
        return
    try:
        known = read_functions(host_binary)
    except BinaryFormatError:
        known = ()
    known_set = set(known)
    close: dict[str, tuple[str, ...]] = {}
    for name in missing:
        close[name] = close_names(name, known)
    raise UnknownFunction(missing, close, inlined=[n for n in missing if n in known_set])


# -- running ------------------------------------------------------------------------------------


def _container_name(host: Path) -> str:
    return host.name if _SAFE_NAME.match(host.name) and not host.name.startswith(".") else "target"


def _run_script(target: str, args: Sequence[str], env: Mapping[str, str],
                user: tuple[int, int] | None = None) -> str:
    """run.sh: the program with its arguments and environment; as ``user`` (uid, gid), with no
    capability left, when given (bpftrace itself must stay root)."""
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
    cmd = " ".join(shlex.quote(a) for a in (target, *args))
    if user is not None:
        cmd = f"setpriv --reuid={int(user[0])} --regid={int(user[1])} --clear-groups -- {cmd}"
    return (f"{exports}{cmd} </dev/null >{WORK_DIR}/program.out 2>&1\n"
            f"echo $? >{WORK_DIR}/exit_code\n")


# The container's entry: mount tracefs (read-only: bpftrace only reads it) when the host did not
# provide it, then bpftrace.
_TRACE_SCRIPT = f"""\
if [ ! -e /sys/kernel/tracing/uprobe_events ] && [ ! -e /sys/kernel/debug/tracing/uprobe_events ]; then
  if ! err=$(mount -t tracefs -o ro tracefs /sys/kernel/tracing 2>&1); then
    echo "{STDERR_MARK}tracefs unavailable: $err" >&2
  fi
fi
command -v bpftrace >/dev/null 2>&1 || {{ echo "{STDERR_MARK}bpftrace not installed" >&2; exit 127; }}
echo "{STDERR_MARK}{VERSION_MARK}$(bpftrace --version 2>&1 | head -n 1)" >&2
exec bpftrace -f json -c "/bin/sh {WORK_DIR}/run.sh" {WORK_DIR}/probe.bt
"""


def run_probe(
    engine: "Engine",
    image: str,
    binary: str,
    probe: str,
    args: Sequence[str] = (),
    *,
    timeout: float,
    profile: Profile = TRACE_PROFILE,
    progress: "Progress | None" = None,
    env: Mapping[str, str] | None = None,
    program_user: tuple[int, int] | None = None,
) -> TraceRun:
    """Run ``binary`` (a host path) with ``args`` under bpftrace with ``probe`` (rendered text).

    The binary is at ``/probe/<name>`` in the container (render the probe
    with ``container_path(binary)``). ``env`` is added to the program's
    environment. bpftrace runs as root with the profile's capabilities; the
    program runs as ``program_user`` (default: the unprivileged user of
    fixproof.engine.docker) with none. Raises UnknownFunction before starting anything when the
    probe names a function the binary lacks, TraceDenied when BPF is
    refused, TraceTimeout at ``timeout`` (whole run), TraceError when
    bpftrace fails otherwise.
    """
    host = Path(binary).resolve()
    if not host.is_file():
        raise TraceError(f"{binary} does not exist or is not a file; build it first.")
    target = container_path(binary)
    check_functions(str(host), uprobe_functions(probe, target))
    for k in env or {}:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
            raise ProbeError(f"environment variable name {k!r} is not valid.")
    user = program_user if program_user is not None else unprivileged_ids()
    with tempfile.TemporaryDirectory(prefix="fixproof-trace-") as work:
        wd = Path(work)
        (wd / "probe.bt").write_text(probe, encoding="utf-8")
        (wd / "run.sh").write_text(_run_script(target, args, env or {}, user), encoding="utf-8")
        (wd / "trace.sh").write_text(_TRACE_SCRIPT, encoding="utf-8")
        # The container's root has no DAC_OVERRIDE: it gets into the work directory through
        # this process's group (files it writes there stay readable and removable here).
        os.chmod(work, 0o770)
        mounts = [Mount(str(host), target, read_only=True), Mount(work, WORK_DIR)]
        start = time.monotonic()
        with engine.container(image, ["/bin/sh", f"{WORK_DIR}/trace.sh"], mounts=mounts, network=False,
                              profile=profile, user=f"0:{os.getgid()}") as c:
            out, err, code = _run_to_end(engine, c, image, host.name, start + timeout, timeout, progress)
            duration = time.monotonic() - start
            c.reload()
            image_id = c.attrs.get("Image", "")
        program_output = _read(wd / "program.out")
        exit_text = _read(wd / "exit_code").strip()
    exit_code = int(exit_text) if exit_text.lstrip("-").isdigit() else None
    return _result(out, err, code, exit_code, program_output, duration, image, image_id, probe,
                   (target, *args))


def container_path(binary: str) -> str:
    """Where run_probe mounts the host binary ``binary`` in the container (for render_probe)."""
    return f"{PROBE_DIR}/{_container_name(Path(binary))}"


def _read(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _run_to_end(engine: "Engine", c: "Container", image: str, name: str, deadline: float, timeout: float,
                progress: "Progress | None") -> tuple[str, str, int]:
    def timed_out() -> TraceTimeout:
        tail = _clean_stderr(c.logs(stdout=False, stderr=True).decode("utf-8", "replace")).strip().splitlines()
        hint = f" (bpftrace's last words: {tail[-1]})" if tail else ""
        return TraceTimeout(f"bpftrace on {name} ran past its {timeout:.0f} s timeout; the probe container was "
                            f"killed and removed{hint}. Raise the check's timeout if the program is "
                            "legitimately slow, or make it exit by itself.")

    if progress is not None:
        progress.detail(f"bpftrace on {name} in {image} (container {c.short_id})")
    code = engine.wait_for_exit(c, timeout=max(0.0, deadline - time.monotonic()), label=f"bpftrace on {name}",
                                on_timeout=timed_out, progress=progress)
    out = c.logs(stdout=True, stderr=False).decode("utf-8", "replace")
    err = c.logs(stdout=False, stderr=True).decode("utf-8", "replace")
    return out, err, code


def _clean_stderr(err: str) -> str:
    lines = [ln for ln in err.splitlines() if not any(p.search(ln) for p in _HARMLESS)]
    return "\n".join(lines) + ("\n" if lines else "")


def _result(out: str, err: str, code: int, exit_code: int | None, program_output: str, duration: float,
            image: str, image_id: str, probe: str, command: tuple[str, ...]) -> TraceRun:
    clean = _clean_stderr(err)
    ours = [ln[len(STDERR_MARK):] for ln in clean.splitlines() if ln.startswith(STDERR_MARK)]
    theirs = "\n".join(ln for ln in clean.splitlines() if not ln.startswith(STDERR_MARK))
    if "bpftrace not installed" in ours or code == 127:
        from fixproof.engine.images import PROBE_REF

        raise TraceError(f"bpftrace is not installed in image {image}; use the probe image {PROBE_REF} "
                         "(fixproof builds it when missing).")
    no_tracefs = next((o for o in ours if o.startswith("tracefs unavailable")), None)
    if code != 0:
        lines = [ln.strip() for ln in theirs.splitlines() if ln.strip()]
        denied = _denial(lines, no_tracefs)
        if denied is not None:
            raise TraceDenied(denied)
        detail = " / ".join(lines[:4]) or f"exit code {code}, nothing on stderr"
        if "No probes to attach" in theirs:
            detail += " (none of the probe's functions exist in the binary)"
        raise TraceError(f"bpftrace failed (exit code {code}): {detail}")
    maps, printed, attached = parse_output(out, command[0])
    if exit_code is None:
        raise TraceError(f"bpftrace exited without running {command[0]} (stderr: {theirs.strip()[:200] or 'empty'}).")
    version = next((o[len(VERSION_MARK):].strip() for o in ours if o.startswith(VERSION_MARK)), "")
    return TraceRun(maps, printed, program_output, theirs, duration, out, exit_code, attached, image, image_id,
                    probe, command, version)


def _denial(lines: Sequence[str], no_tracefs: str | None) -> str | None:
    """bpftrace's own line saying BPF was refused, or None if the failure is something else."""
    for ln in lines:
        if any(p.search(ln) for p in _DENIED):
            return ln
    if no_tracefs is not None:
        for ln in lines:
            if any(p.search(ln) for p in _DENIED_WITHOUT_TRACEFS):
                return f"{ln} ({no_tracefs})"
    return None


def parse_output(raw: str, binary: str = "") -> tuple[dict[str, Any], tuple[str, ...], int]:
    """Maps, printf lines and the attached-probe count from ``bpftrace -f json`` output.

    Keys made by the ``probe`` builtin (``uprobe:BINARY:FUNC``) become
    ``FUNC``. Lines that are not JSON (bpftrace prints blank lines at exit)
    are skipped; a JSON record that cannot be read raises TraceError.
    """
    maps: dict[str, Any] = {}
    printed: list[str] = []
    attached = 0
    prefix = f"uprobe:{binary}:" if binary else None
    for line in raw.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise TraceError(f"bpftrace printed a line that is not JSON: {line[:160]!r}") from e
        kind, data = rec.get("type"), rec.get("data")
        if kind == "attached_probes":
            attached = int((data or {}).get("probes", 0))
        elif kind == "printf":
            printed.append(str(data))
        elif kind in ("map", "hist", "lhist", "stats") and isinstance(data, dict):
            for name, value in data.items():
                if name.startswith("@_"):
                    continue
                if prefix and isinstance(value, dict):
                    value = {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in value.items()}
                maps[name] = value
    lines = tuple("".join(printed).splitlines())
    return maps, lines, attached


# -- system call numbers ---------------------------------------------------------------------

# Common Linux system calls of Go programs, by number. Unknown numbers stay numbers.
_SYSCALLS_AMD64 = {
    0: "read", 1: "write", 2: "open", 3: "close", 4: "stat", 5: "fstat", 6: "lstat", 7: "poll", 8: "lseek",
    9: "mmap", 10: "mprotect", 11: "munmap", 12: "brk", 13: "rt_sigaction", 14: "rt_sigprocmask",
    15: "rt_sigreturn", 16: "ioctl", 17: "pread64", 18: "pwrite64", 19: "readv", 20: "writev", 21: "access",
    22: "pipe", 23: "select", 24: "sched_yield", 25: "mremap", 28: "madvise", 32: "dup", 33: "dup2",
    35: "nanosleep", 39: "getpid", 41: "socket", 42: "connect", 43: "accept", 44: "sendto", 45: "recvfrom",
    46: "sendmsg", 47: "recvmsg", 48: "shutdown", 49: "bind", 50: "listen", 51: "getsockname",
    52: "getpeername", 53: "socketpair", 54: "setsockopt", 55: "getsockopt", 56: "clone", 57: "fork",
    58: "vfork", 59: "execve", 60: "exit", 61: "wait4", 62: "kill", 63: "uname", 72: "fcntl", 78: "getdents",
    79: "getcwd", 80: "chdir", 82: "rename", 83: "mkdir", 84: "rmdir", 87: "unlink", 89: "readlink",
    90: "chmod", 92: "chown", 96: "gettimeofday", 97: "getrlimit", 102: "getuid", 104: "getgid",
    107: "geteuid", 108: "getegid", 110: "getppid", 131: "sigaltstack", 137: "statfs", 138: "fstatfs",
    157: "prctl", 158: "arch_prctl", 160: "setrlimit", 186: "gettid", 200: "tkill", 201: "time",
    202: "futex", 203: "sched_setaffinity", 204: "sched_getaffinity", 213: "epoll_create", 217: "getdents64",
    218: "set_tid_address", 228: "clock_gettime", 230: "clock_nanosleep", 231: "exit_group",
    232: "epoll_wait", 233: "epoll_ctl", 234: "tgkill", 257: "openat", 262: "newfstatat", 270: "pselect6",
    271: "ppoll", 273: "set_robust_list", 281: "epoll_pwait", 288: "accept4", 290: "eventfd2",
    291: "epoll_create1", 292: "dup3", 293: "pipe2", 302: "prlimit64", 318: "getrandom", 319: "memfd_create",
    322: "execveat", 332: "statx", 334: "rseq", 435: "clone3", 439: "faccessat2", 441: "epoll_pwait2",
}
# arm64 uses the generic table (asm-generic/unistd.h).
_SYSCALLS_ARM64 = {
    17: "getcwd", 19: "eventfd2", 20: "epoll_create1", 21: "epoll_ctl", 22: "epoll_pwait", 23: "dup",
    24: "dup3", 25: "fcntl", 29: "ioctl", 34: "mkdirat", 35: "unlinkat", 38: "renameat", 43: "statfs",
    44: "fstatfs", 48: "faccessat", 49: "chdir", 56: "openat", 57: "close", 59: "pipe2", 61: "getdents64",
    62: "lseek", 63: "read", 64: "write", 65: "readv", 66: "writev", 67: "pread64", 68: "pwrite64",
    72: "pselect6", 73: "ppoll", 78: "readlinkat", 79: "newfstatat", 80: "fstat", 93: "exit",
    94: "exit_group", 96: "set_tid_address", 98: "futex", 99: "set_robust_list", 101: "nanosleep",
    113: "clock_gettime", 115: "clock_nanosleep", 122: "sched_setaffinity", 123: "sched_getaffinity",
    124: "sched_yield", 129: "kill", 130: "tkill", 131: "tgkill", 132: "sigaltstack", 134: "rt_sigaction",
    135: "rt_sigprocmask", 139: "rt_sigreturn", 160: "uname", 163: "getrlimit", 164: "setrlimit",
    167: "prctl", 172: "getpid", 173: "getppid", 174: "getuid", 175: "geteuid", 176: "getgid",
    177: "getegid", 178: "gettid", 198: "socket", 199: "socketpair", 200: "bind", 201: "listen",
    202: "accept", 203: "connect", 204: "getsockname", 205: "getpeername", 206: "sendto", 207: "recvfrom",
    208: "setsockopt", 209: "getsockopt", 210: "shutdown", 211: "sendmsg", 212: "recvmsg", 214: "brk",
    215: "munmap", 216: "mremap", 220: "clone", 221: "execve", 222: "mmap", 226: "mprotect", 233: "madvise",
    242: "accept4", 260: "wait4", 261: "prlimit64", 278: "getrandom", 279: "memfd_create", 281: "execveat",
    291: "statx", 293: "rseq", 435: "clone3", 439: "faccessat2", 441: "epoll_pwait2",
}
SYSCALL_NAMES: Mapping[str, Mapping[int, str]] = {"amd64": _SYSCALLS_AMD64, "arm64": _SYSCALLS_ARM64}


def syscall_name(number: int | str, goarch: str = "amd64") -> str:
    """The name of a Linux system call number on ``goarch``; the number itself when unknown."""
    n = int(number)
    return SYSCALL_NAMES.get(goarch, {}).get(n, str(n))


def syscall_names(counts: Mapping[str, int], goarch: str = "amd64") -> dict[str, int]:
    """``@syscalls`` ({"41": 1, ...}) keyed by name ({"socket": 1, ...})."""
    out: dict[str, int] = {}
    for k, v in counts.items():
        name = syscall_name(k, goarch) if str(k).lstrip("-").isdigit() else str(k)
        out[name] = out.get(name, 0) + int(v)
    return out


__all__ = [
    "ALLOC_PLACEHOLDERS", "ARG0", "ProbeError", "SYSCALL_NAMES", "TraceDenied", "TraceError", "TraceRun",
    "TraceTimeout", "UnknownFunction", "check_functions", "container_path", "parse_output", "probe_path",
    "probe_placeholders", "probes_dir", "render_probe", "run_probe", "syscall_name", "syscall_names",
    "uprobe_functions",
]
