"""`fixproof inspect BIN... [--json] [--symbols] [--itabs]`: what Go binaries say about themselves.

Text output matches `go version -m` (the file and its Go version, then the
module and build lines indented by a tab); `--symbols` adds one
`\\tfunc\\t<name>` line per function, `--itabs` one `\\titab\\t<type>,<interface>`
line per itab (pipeline/goinfo/itabs.py, the linker's go:itab spelling).
`--json` prints the DESIGN.md list, one object per file (one per line); a
file that is not a Go binary gets `{file, error}`. With `--symbols` an object
also has "functions" (a list of names), with `--itabs` "itabs": a list of
`[type, interface]` pairs (pairs, not "type,interface" strings, since type
names may hold commas: `main.Pair[int,string]`). Without the flags neither
key is there and neither table is read.

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
from json.encoder import encode_basestring_ascii as _json_str
from typing import Callable, NamedTuple, Sequence, TextIO, TypeVar

from fixproof.errors import EXIT_FAILED, EXIT_OK, BinaryFormatError
from fixproof.goinfo.binfile import BinFile
from fixproof.goinfo.buildinfo import BuildInfo, Module, buildinfo_from, format_modinfo, is_candidate, walk_inputs
from fixproof.goinfo.elf import preload_elf

PARALLEL_MIN_FILES = 64  # below this, forking costs more than it saves
MAX_WORKERS = 4

T = TypeVar("T")
R = TypeVar("R")


class _Outcome(NamedTuple):
    """What one file produced: output text, or an error line (or nothing)."""

    out: str = ""
    error: str = ""  # one-line message for `err`, without the "fixproof: " prefix
    json_error: str = ""  # {file, error} object for --json


def run(paths: list[str], as_json: bool, symbols: bool, out: TextIO, err: TextIO, itabs: bool = False) -> int:
    inputs = list(walk_inputs(paths))

    def one(item: tuple[str, bool]) -> _Outcome:
        return _inspect_one(item[0], item[1], as_json, symbols, itabs)

    status = EXIT_OK
    objects: list[str] = []
    for outcome in _parallel_map(one, inputs, prepare=preload_elf):
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


def _inspect_one(name: str, explicit: bool, as_json: bool, symbols: bool, itabs: bool = False) -> _Outcome:
    try:
        bi, funcs, pairs = _read(name, symbols, itabs)
    except BinaryFormatError as e:
        if not explicit and not is_candidate(name):
            return _Outcome()  # a data file in a directory: not something to report
        message = str(e)
        return _Outcome(error=message,
                        json_error=json.dumps({"file": name, "error": _reason(message, name)}) if as_json else "")
    if as_json:
        return _Outcome(out=json_object(bi, funcs, pairs))
    return _Outcome(out=render_text(bi, funcs, pairs))


Pairs = tuple[tuple[str, str], ...]  # (concrete type, interface) of each itab


def _read(name: str, symbols: bool, itabs: bool = False) -> tuple[BuildInfo, tuple[str, ...] | None, Pairs | None]:
    with BinFile.open(name) as bf:
        bi = buildinfo_from(bf)
        funcs = pairs = None
        if symbols:
            from fixproof.goinfo.pclntab import functions_from

            funcs = functions_from(bf)
        if itabs:
            from fixproof.goinfo.itabs import itabs_from

            pairs = tuple((i.type, i.interface) for i in itabs_from(bf, bi.go_version).itabs)
        return bi, funcs, pairs


def _reason(message: str, name: str) -> str:
    prefix = f"{name}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def json_object(bi: BuildInfo, funcs: tuple[str, ...] | None = None, itabs: Pairs | None = None) -> str:
    """json.dumps(bi.to_json()), plus "functions" and "itabs" if given: one compact line.

    Spelled out with json's own string encoder (the C function json.dumps
    uses for str with ensure_ascii): half the cost of building the dicts and
    running json.dumps over them. tests/integration/test_inspect_cmd.py
    checks that the text equals json.dumps of the same object."""
    settings = ", ".join(f"{_json_str(k)}: {_json_str(v)}" for k, v in dict(bi.settings).items())
    text = (f'{{"file": {_json_str(bi.file)}, "format": {_json_str(bi.format)}, "goos": {_json_str(bi.goos)}, '
            f'"goarch": {_json_str(bi.goarch)}, "go_version": {_json_str(bi.go_version)}, '
            f'"path": {_json_str(bi.path)}, "main": {_json_module(bi.main)}, '
            f'"deps": [{", ".join(map(_json_module, bi.deps))}], "settings": {{{settings}}}')
    if funcs is not None:
        text += f', "functions": [{", ".join(map(_json_str, funcs))}]'
    if itabs is not None:
        text += f', "itabs": [{", ".join(f"[{_json_str(t)}, {_json_str(i)}]" for t, i in itabs)}]'
    return text + "}"


def _json_module(m: Module | None) -> str:
    if m is None:
        return "null"
    replace = "null" if m.replace is None else _json_module(m.replace)
    return (f'{{"path": {_json_str(m.path)}, "version": {_json_str(m.version)}, "sum": {_json_str(m.sum)}, '
            f'"replace": {replace}}}')


def render_text(bi: BuildInfo, funcs: tuple[str, ...] | None = None, itabs: Pairs | None = None) -> str:
    """`go version -m` text for one binary, plus function and itab lines if given."""
    # split on "\n" only, as go version -m does: str.splitlines would also break at U+2028 and friends
    lines = format_modinfo(bi).split("\n")[:-1]
    if funcs is not None:
        lines.extend(f"func\t{f}" for f in funcs)
    if itabs is not None:
        lines.extend(f"itab\t{t},{i}" for t, i in itabs)
    body = "".join(f"\t{line}\n" for line in lines)
    return f"{bi.file}: {bi.go_version}\n{body}"


# -- parallelism ---------------------------------------------------------------


def _parallel_map(fn: Callable[[T], R], items: Sequence[T], prepare: Callable[[], None] | None = None) -> list[R]:
    """[fn(x) for x in items], spread over forked workers when it pays.

    fn must not raise (callers turn expected errors into values) and its
    results must pickle. Order is preserved. `prepare` runs once before
    forking, so the workers inherit what it loads (pyelftools) instead of
    each paying for it.
    """
    workers = min(MAX_WORKERS, os.cpu_count() or 1)
    if workers < 2 or len(items) < PARALLEL_MIN_FILES or not hasattr(os, "fork"):
        return [fn(x) for x in items]
    if prepare is not None:
        prepare()
    size = -(-len(items) // workers)
    slices = [items[i : i + size] for i in range(0, len(items), size)]
    children = [_fork_worker(fn, s) for s in slices[1:]]
    results = [fn(x) for x in slices[0]]
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
