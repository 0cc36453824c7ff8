"""The run's report directory: one run at a time, and no verdict but this run's.

A verdict (summary.json, the JUnit file, the HTML page, SARIF, OpenVEX, an
intact evidence bundle) left by an earlier run must never be mistaken for
this run's: before the task graph starts, every verdict file the run will
write is removed and every evidence bundle it will replace loses its
manifest (so `fixproof evidence verify` rejects it). A run that stops before
its verdict (interrupt, crash, full disk) therefore leaves no PASS anywhere.

Two runs on one report directory at once would mix their results, so a run
holds an exclusive lock (flock on ``.fixproof.lock``) for its whole life; a
second run waits, saying so, or fails at once with ``--no-wait``. The lock
is the kernel's: it goes away with the process, however that ends.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from typing import Callable, Iterable, Iterator

from fixproof.errors import FixproofError

LOCK_NAME = ".fixproof.lock"
VERDICT_FILES = ("summary.json", "index.html", "fixproof.sarif", "fixproof.openvex.json")
BUNDLE_SEALS = ("manifest.json.sig", "MANIFEST.sha256")
SUPERSEDED = "manifest.json.superseded"  # an unsealed bundle: replaceable, never "intact"


class RunDirError(FixproofError):
    """The report directory cannot be written, or another run holds it."""


def writable_dir(d: Path) -> None:
    """``d`` exists (created if need be) and can be written, else RunDirError."""
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunDirError(f"cannot create the report directory {d}: {e.strerror or e}; "
                          "set [report] dir to a writable directory.") from e
    if not os.access(d, os.W_OK | os.X_OK):
        raise RunDirError(f"the report directory {d} is not writable; "
                          "make it writable or set [report] dir to another directory.")


@contextlib.contextmanager
def locked(run_dir: Path, *, wait: bool = True, say: Callable[[str], None] = lambda _m: None) -> Iterator[None]:
    """Hold the report directory's lock for the body; RunDirError if it cannot be had."""
    writable_dir(run_dir)
    path = run_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise RunDirError(f"cannot create the lock file {path}: {e.strerror or e}; "
                          "make the report directory writable.") from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunDirError(f"cannot lock {path}: {e.strerror or e}.") from e
            holder = _holder(fd)
            if not wait:
                raise RunDirError(f"another fixproof run{holder} is using the report directory {run_dir}; "
                                  "wait for it, drop --no-wait to queue behind it, or use another [report] dir.") from e
            say(f"another fixproof run{holder} is using {run_dir}; waiting for it to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""


def clear_verdicts(report_dirs: Iterable[Path], junit_files: Iterable[Path], bundles: Iterable[Path]) -> None:
    """Remove the verdict files an earlier run left, and unseal the bundles this run replaces."""
    files = [d / n for d in report_dirs for n in VERDICT_FILES] + list(junit_files)
    try:
        for b in bundles:
            if (b / "manifest.json").is_file():  # only ever touch what is a fixproof bundle
                (b / "manifest.json").replace(b / SUPERSEDED)
                files += [b / n for n in BUNDLE_SEALS]
    except OSError as e:
        raise RunDirError(f"cannot unseal the previous run's evidence bundle {b}: {e.strerror or e}.") from e
    for f in files:
        try:
            if f.is_file() or f.is_symlink():
                f.unlink()
        except OSError as e:
            raise RunDirError(f"cannot remove the previous run's {f}: {e.strerror or e}; an old verdict must not "
                              "outlive a new run, so fix the permissions or choose another report directory.") from e
