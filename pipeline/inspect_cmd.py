"""`fixproof inspect BIN... [--json] [--symbols]`: what Go binaries say about themselves.

Text output matches `go version -m` (the file and its Go version, then the
module and build lines indented by a tab); `--symbols` adds one
`\\tfunc\\t<name>` line per function. `--json` prints the DESIGN.md list, one
object per file (one per line); a file that is not a Go binary gets
`{file, error}`.

Directories are walked like `go version -m DIR`: files that are not Go
binaries are skipped silently unless they look like executables (as
`go version -v` reports them). Every bad file gets one line on `err`, the
others are still processed, and the exit status is 1 if any file failed.

Many files are read by forked worker processes (one per CPU, up to four),
each on a contiguous slice of the list; their output is merged in order. A
worker that dies is replaced by doing its slice in this process.
"""

from __future__ import annotations

import json
import os
from typing import Callable, NamedTuple, Sequence, TextIO, TypeVar

from pipeline.errors import EXIT_FAILED, EXIT_OK, BinaryFormatError
from pipeline.goinfo.binfile import BinFile
from pipeline.goinfo.buildinfo import BuildInfo, buildinfo_from, format_modinfo, is_candidate, walk_inputs

PARALLEL_MIN_FILES = 64  # below this, forking costs more than it saves
MAX_WORKERS = 4

T = TypeVar("T")
R = TypeVar("R")


class _Outcome(NamedTuple):
    """What one file produced: output text, or an error line (or nothing)."""

    out: str = ""
    error: str = ""  # one-line message for `err`, without the "fixproof: " prefix
    json_error: str = ""  # {file, error} object for --json


def run(paths: list[str], as_json: bool, symbols: bool, out: TextIO, err: TextIO) -> int:
    inputs = list(walk_inputs(paths))

    def one(item: tuple[str, bool]) -> _Outcome:
        return _inspect_one(item[0], item[1], as_json, symbols)

    status = EXIT_OK
    objects: list[str] = []
    for outcome in _parallel_map(one, inputs):
        if outcome.error:
            status = EXIT_FAILED
            err.write(f"fixproof: {outcome.error}\n")
        if as_json:
            if outcome.out or outcome.json_error:
                objects.append(outcome.out or outcome.json_error)
        elif outcome.out:
            out.write(outcome.out)
    if as_json:
        out.write("[\n" + ",\n".join(objects) + "\n]\n" if objects else "[]\n")
    return status


def _inspect_one(name: str, explicit: bool, as_json: bool, symbols: bool) -> _Outcome:
    try:
        bi, funcs = _read(name, symbols)
    except BinaryFormatError as e:
        if not explicit and not is_candidate(name):
            return _Outcome()  # a data file in a directory: not something to report
        message = str(e)
        return _Outcome(error=message,
                        json_error=json.dumps({"file": name, "error": _reason(message, name)}) if as_json else "")
    if as_json:
        obj = bi.to_json()
        if funcs is not None:
            obj["functions"] = list(funcs)
        # One compact object per line: json's C encoder (indent= is pure Python).
        return _Outcome(out=json.dumps(obj))
    return _Outcome(out=render_text(bi, funcs))


def _read(name: str, symbols: bool) -> tuple[BuildInfo, tuple[str, ...] | None]:
    with BinFile.open(name) as bf:
        bi = buildinfo_from(bf)
        if not symbols:
            return bi, None
        from pipeline.goinfo.pclntab import functions_from

        return bi, functions_from(bf)


def _reason(message: str, name: str) -> str:
    prefix = f"{name}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def render_text(bi: BuildInfo, funcs: tuple[str, ...] | None = None) -> str:
    """`go version -m` text for one binary, plus function lines if given."""
    lines = format_modinfo(bi).splitlines()
    if funcs is not None:
        lines.extend(f"func\t{f}" for f in funcs)
    body = "".join(f"\t{line}\n" for line in lines)
    return f"{bi.file}: {bi.go_version}\n{body}"


# -- parallelism ---------------------------------------------------------------


def _parallel_map(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """[fn(x) for x in items], spread over forked workers when it pays.

    fn must not raise (callers turn expected errors into values) and its
    results must pickle. Order is preserved.
    """
    workers = min(MAX_WORKERS, os.cpu_count() or 1)
    if workers < 2 or len(items) < PARALLEL_MIN_FILES or not hasattr(os, "fork"):
        return [fn(x) for x in items]
    # The first item runs here before forking, so the workers inherit the
    # lazy imports it triggers (pyelftools) instead of each paying for them.
    results = [fn(items[0])]
    rest = items[1:]
    size = -(-len(rest) // workers)
    slices = [rest[i : i + size] for i in range(0, len(rest), size)]
    children = [_fork_worker(fn, s) for s in slices[1:]]
    results.extend(fn(x) for x in slices[0])
    for child, part in zip(children, slices[1:]):
        got = _collect(child)
        results.extend(got if got is not None and len(got) == len(part) else [fn(x) for x in part])
    return results


def _fork_worker(fn: Callable[[T], R], part: Sequence[T]) -> tuple[int, int]:
    """Start a child computing fn over part; (pid, read end of its pipe)."""
    import pickle

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: compute, send, and leave without running any cleanup
        code = 1
        try:
            os.close(r)
            data = pickle.dumps([fn(x) for x in part], protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(w, "wb") as f:
                f.write(data)
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    return pid, r


def _collect(child: tuple[int, int]) -> list | None:
    """The child's results, or None if it failed (the caller redoes its part)."""
    import pickle

    pid, r = child
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        return None
    return pickle.loads(data)
