"""go.mod and go.sum, read as the go command reads them (the parts fixproof needs).

Raises GoModError for unreadable or malformed files.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from fixproof.errors import GoModError
from fixproof.goinfo import versions

@dataclass(frozen=True)
class Requirement:
    path: str
    version: str
    indirect: bool = False


@dataclass(frozen=True)
class Replacement:
    old_path: str
    old_version: str  # "" means every version
    new_path: str
    new_version: str  # "" for a directory replacement


@dataclass(frozen=True)
class GoMod:
    file: Path
    module: str
    go: str  # "" when the file has no go line
    toolchain: str  # e.g. "go1.22.5", "" when absent
    requires: tuple[Requirement, ...]
    replaces: tuple[Replacement, ...]


@dataclass(frozen=True)
class SumLine:
    path: str
    version: str  # "v1.2.3" or "v1.2.3/go.mod"
    hash: str
    line: int

    @property
    def is_gomod(self) -> bool:
        return self.version.endswith("/go.mod")

    @property
    def module_version(self) -> str:
        return self.version.removesuffix("/go.mod")


def _tokens(line: str, file: Path, lineno: int) -> list[str]:
    """Split a go.mod line into tokens, dropping a // comment."""
    if '"' not in line and "`" not in line:
        return line.split("//", 1)[0].split()
    try:
        lex = shlex.shlex(line, posix=True)
        lex.whitespace_split = True
        lex.commenters = ""
        toks = list(lex)
    except ValueError as e:
        raise GoModError(f"{file}:{lineno}: cannot parse line ({e})") from e
    for i, tok in enumerate(toks):
        if tok.startswith("//"):
            return toks[:i]
    return toks


def directives(text: str, file: Path, *, strict: bool = True) -> Iterator[tuple[int, str, str, list[str]]]:
    """(line number, raw line, verb, arguments) of each directive of a go.mod or go.work,
    blocks unrolled. ``strict``: a malformed line or block is a GoModError; else it is skipped
    (for callers that only look, and leave the verdict on the file to the go command)."""
    block: str | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        try:
            toks = _tokens(raw, file, lineno)
        except GoModError:
            if strict:
                raise
            continue
        if not toks:
            continue
        if block is not None:
            if toks == [")"]:
                block = None
                continue
            yield lineno, raw, block, toks
        elif len(toks) >= 2 and toks[-1] == "(":
            if len(toks) != 2:
                if strict:
                    raise GoModError(f"{file}:{lineno}: malformed block start")
                continue
            block = toks[0]
        else:
            yield lineno, raw, toks[0], toks[1:]
    if block is not None and strict:
        raise GoModError(f"{file}: unterminated {block} ( block")


def parse_gomod(text: str, file: Path) -> GoMod:
    module = go = toolchain = ""
    requires: list[Requirement] = []
    replaces: list[Replacement] = []
    for lineno, raw, verb, args in directives(text, file):
        indirect = "// indirect" in raw
        if verb == "module" and args:
            module = args[0]
        elif verb == "go" and len(args) == 1:
            go = args[0]
        elif verb == "toolchain" and len(args) == 1:
            toolchain = args[0]
        elif verb == "require" and len(args) == 2:
            requires.append(Requirement(args[0], args[1], indirect))
        elif verb == "replace":
            if "=>" not in args:
                raise GoModError(f"{file}:{lineno}: replace without =>")
            i = args.index("=>")
            old, new = args[:i], args[i + 1:]
            if len(old) not in (1, 2) or len(new) not in (1, 2):
                raise GoModError(f"{file}:{lineno}: malformed replace")
            replaces.append(Replacement(old[0], old[1] if len(old) == 2 else "",
                                        new[0], new[1] if len(new) == 2 else ""))
        elif verb in ("exclude", "retract", "godebug", "tool", "ignore", "require", "go", "toolchain", "module"):
            if verb in ("require", "go", "toolchain", "module"):
                raise GoModError(f"{file}:{lineno}: malformed {verb} line")
        else:
            raise GoModError(f"{file}:{lineno}: unknown directive {verb!r}")
    if not module:
        raise GoModError(f"{file}: no module line; is this a go.mod file?")
    if go and versions.parse_go(go) is None:
        raise GoModError(f"{file}: go line {go!r} is not a Go release version such as 1.22.5")
    if toolchain and not toolchain.startswith("go"):
        raise GoModError(f"{file}: toolchain {toolchain!r} must look like go1.22.5")
    return GoMod(file, module, go, toolchain, tuple(requires), tuple(replaces))


def read_gomod(path: Path) -> GoMod:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise GoModError(f"cannot read {path}: {e}") from e
    return parse_gomod(text, path)


def parse_gosum(text: str, file: Path) -> tuple[SumLine, ...]:
    lines: list[SumLine] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        parts = raw.split()
        if len(parts) != 3 or not parts[2].startswith("h1:"):
            raise GoModError(f"{file}:{lineno}: malformed go.sum line {raw!r}")
        lines.append(SumLine(parts[0], parts[1], parts[2], lineno))
    return tuple(lines)


def read_gosum(path: Path) -> tuple[SumLine, ...]:
    if not path.exists():
        return ()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise GoModError(f"cannot read {path}: {e}") from e
    return parse_gosum(text, path)
