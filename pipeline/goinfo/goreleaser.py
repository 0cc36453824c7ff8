"""What an app's own release config (.goreleaser.yml/.yaml) says about how its binary is built.

GoReleaser builds each ``builds[]`` entry with ``go build``, its ``flags``,
``ldflags`` (one string, or a list joined by spaces), ``tags`` and ``env``
(``KEY=VALUE`` strings, after the top-level ``env``). Those values are Go
templates: ``{{ .Version }}`` and friends exist only inside a GoReleaser
run, so they cannot be evaluated here. A template is never guessed: the
piece holding it is left out (an ldflags ``-X name={{...}}`` pair as a
whole) and listed in :attr:`ReleaseBuild.dropped`, so the caller can say so.

A build without ``ldflags`` gets GoReleaser's default, ``-s -w -X
main.version={{.Version}} -X main.commit={{.Commit}} -X
main.date={{.Date}} -X main.builtBy=goreleaser`` (templates dropped as
above); a file without ``builds`` has GoReleaser's one default build of
``.``. Raises ReleaseConfigError for a file that is not YAML or not shaped
like a GoReleaser config.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from fixproof.errors import ReleaseConfigError

# Where GoReleaser looks for its config, in its own order.
NAMES = (".goreleaser.yml", ".goreleaser.yaml", "goreleaser.yml", "goreleaser.yaml")
DEFAULT_LDFLAGS = ("-s -w -X main.version={{.Version}} -X main.commit={{.Commit}} -X main.date={{.Date}} "
                   "-X main.builtBy=goreleaser")
TEMPLATE_RE = re.compile(r"\{\{.*?\}\}", re.S)
# Environment variables fixproof sets itself for a verified build: taken from a release config they
# would undo that (GOFLAGS=-mod=mod, GOPROXY=direct...), so they are left out and listed.
MANAGED_ENV = frozenset({"GOFLAGS", "GOPROXY", "GOSUMDB", "GONOSUMDB", "GONOPROXY", "GOPRIVATE", "GOTOOLCHAIN",
                         "GOMODCACHE", "GOCACHE", "GOPATH", "HOME", "GOOS", "GOARCH", "GOROOT", "GOWORK"})
# Link flags (go tool link) that take a value as the next argument.
_LINK_VALUE_FLAGS = frozenset({"X", "extldflags", "extld", "linkmode", "buildid", "buildmode", "B", "H", "I", "L",
                               "T", "E", "R", "r", "o", "k", "tmpdir", "installsuffix", "libgcc", "pluginpath",
                               "importcfg", "fipso", "strictdups", "capturehostobjs", "debugtramp", "benchmark",
                               "benchmarkprofile", "cpuprofile", "memprofile", "memprofilerate"})
_PLACEHOLDER = "\x00{}\x00"


@dataclass(frozen=True)
class Dropped:
    """A piece of the release config left out because it holds a template."""

    where: str  # "ldflags", "flags", "tags", "env CGO_ENABLED", "main", "binary"
    text: str  # the piece as written

    def describe(self) -> str:
        return f"{self.where}: {self.text}"


@dataclass(frozen=True)
class ReleaseBuild:
    """One GoReleaser build of the module, as ``go build`` arguments fixproof can use."""

    file: Path
    index: int  # position in builds[] (0 for the implicit default build)
    id: str  # builds[].id, "" when unset
    main: str  # the main package, "./cmd/app" or "." (relative to the module), "" when not given
    binary: str  # builds[].binary when it is a plain name, else ""
    flags: tuple[str, ...]
    ldflags: str
    tags: tuple[str, ...]
    env: Mapping[str, str]
    dropped: tuple[Dropped, ...] = ()
    left_out_env: tuple[str, ...] = ()  # MANAGED_ENV names the config sets
    default_ldflags: bool = False  # the build sets no ldflags: GoReleaser's default applies
    implicit: bool = False  # the file has no builds: GoReleaser's default build
    overrides: bool = False  # the build has per-target overrides, which are not applied

    @property
    def label(self) -> str:
        """``.goreleaser.yaml builds[1] (id "cli")``."""
        if self.implicit:
            return f"{self.file.name} (no builds: GoReleaser's default build)"
        return f"{self.file.name} builds[{self.index}]" + (f' (id "{self.id}")' if self.id else "")


def find(module_dir: Path, root: Path | None = None) -> Path | None:
    """The release config GoReleaser would use for the module: in ``module_dir``, else in a directory
    above it up to ``root`` (the repository root), whichever comes first."""
    module_dir = module_dir.resolve()
    stop = (root or module_dir).resolve()
    for d in (module_dir, *module_dir.parents):
        for name in NAMES:
            if (d / name).is_file():
                return d / name
        if d == stop or stop not in d.parents:
            return None
    return None


def read(path: Path, module_dir: Path) -> tuple[ReleaseBuild, ...]:
    """The Go builds of ``path`` that build the module at ``module_dir``, in file order."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ReleaseConfigError(f"cannot read {path}: {e}") from e
    rel = posixpath.normpath(module_dir.resolve().relative_to(path.parent.resolve()).as_posix())
    return parse(text, path, module_rel=rel)


def parse(text: str, file: Path, *, module_rel: str = ".") -> tuple[ReleaseBuild, ...]:
    """The Go builds in a GoReleaser config whose ``dir`` is ``module_rel`` (the module's directory
    relative to the config's); skipped and non-Go builds are left out."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ReleaseConfigError(f"{file} is not valid YAML: {_one_line(str(e))}") from e
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ReleaseConfigError(f"{file}: the top level is not a mapping, so it is no GoReleaser config")
    global_env = _list(data.get("env"), file, "env")
    builds = data.get("builds")
    if builds is None:
        if module_rel != ".":
            return ()
        return (_build({}, 0, file, global_env, implicit=True),)
    if not isinstance(builds, list):
        raise ReleaseConfigError(f"{file}: builds must be a list of build entries")
    out = []
    for i, entry in enumerate(builds):
        if not isinstance(entry, dict) or _skipped(entry):
            continue
        d = entry.get("dir")
        build_dir = posixpath.normpath(str(d)) if isinstance(d, str) and d.strip() else "."
        if build_dir != posixpath.normpath(module_rel):
            continue
        out.append(_build(entry, i, file, global_env))
    return tuple(out)


def _skipped(entry: Mapping[str, Any]) -> bool:
    """A build GoReleaser does not run with the go command: skip: true, a prebuilt or non-Go builder."""
    if entry.get("skip") is True:
        return True
    builder = entry.get("builder")
    return isinstance(builder, str) and builder not in ("", "go")


def _build(entry: Mapping[str, Any], index: int, file: Path, global_env: list[str], *,
           implicit: bool = False) -> ReleaseBuild:
    where = f"{file.name} builds[{index}]"
    dropped: list[Dropped] = []

    flags: list[str] = []
    for f in _list(entry.get("flags"), file, f"builds[{index}].flags"):
        if TEMPLATE_RE.search(f):
            dropped.append(Dropped("flags", f))
        else:
            flags.append(f)

    raw_ld = entry.get("ldflags")
    default_ld = raw_ld is None
    ld_text = DEFAULT_LDFLAGS if default_ld else " ".join(_list(raw_ld, file, f"builds[{index}].ldflags"))
    ldflags, ld_dropped = strip_ldflags(ld_text)
    dropped += [Dropped("ldflags", t) for t in ld_dropped]

    tags: list[str] = []
    for t in _list(entry.get("tags"), file, f"builds[{index}].tags"):
        if TEMPLATE_RE.search(t):
            dropped.append(Dropped("tags", t))
        else:
            tags += [x for x in re.split(r"[,\s]+", t) if x]

    env: dict[str, str] = {}
    left_out: list[str] = []
    for item in [*global_env, *_list(entry.get("env"), file, f"builds[{index}].env")]:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ReleaseConfigError(f"{where}: env entry {item!r} is not KEY=VALUE")
        if TEMPLATE_RE.search(item):
            dropped.append(Dropped(f"env {key}", item))
            env.pop(key, None)
        elif key in MANAGED_ENV:
            if key not in left_out:
                left_out.append(key)
        else:
            env[key] = value

    main = ""
    m = entry.get("main")
    if isinstance(m, str) and m.strip():
        if TEMPLATE_RE.search(m):
            dropped.append(Dropped("main", m))
        else:
            main = package_of(m)
    binary = ""
    b = entry.get("binary")
    if isinstance(b, str) and b.strip():
        if TEMPLATE_RE.search(b):
            dropped.append(Dropped("binary", b))
        elif re.fullmatch(r"[A-Za-z0-9._+-]+", b) and b not in (".", ".."):
            binary = b
    bid = entry.get("id")
    return ReleaseBuild(file=file, index=index, id=bid if isinstance(bid, str) else "", main=main, binary=binary,
                        flags=tuple(flags), ldflags=ldflags, tags=tuple(tags), env=env, dropped=tuple(dropped),
                        left_out_env=tuple(left_out), default_ldflags=default_ld, implicit=implicit,
                        overrides=bool(entry.get("overrides")))


def package_of(main: str) -> str:
    """A GoReleaser ``main`` (a package directory or a .go file in it) as a package path the go
    command takes: ``./cmd/app``, or ``.`` for the module root."""
    p = main.strip()
    if p.endswith(".go"):
        p = posixpath.dirname(p) or "."
    p = posixpath.normpath(p)
    if p == ".":
        return "."
    return p if p.startswith(("./", "../", "/")) else "./" + p


def strip_ldflags(text: str) -> tuple[str, list[str]]:
    """``text`` without the arguments that hold a template (with the flag a dropped value belongs
    to, e.g. the ``-X`` of ``-X main.version={{.Version}}``), and the pieces left out, as written."""
    spans: list[str] = []

    def hide(m: re.Match[str]) -> str:
        spans.append(m.group(0))
        return _PLACEHOLDER.format(len(spans) - 1)

    hidden = TEMPLATE_RE.sub(hide, text)
    tokens = split_args(hidden)
    kept: list[str] = []
    dropped: list[str] = []

    def show(tok: str) -> str:
        return re.sub(r"\x00(\d+)\x00", lambda m: spans[int(m.group(1))], tok)

    for tok in tokens:
        if "\x00" not in tok:
            kept.append(tok)
            continue
        if kept and _takes_value(kept[-1]) and not tok.lstrip("'\"").startswith("-"):
            dropped.append(f"{kept.pop()} {show(tok)}")
        else:
            dropped.append(show(tok))
    return " ".join(kept), dropped


def _takes_value(tok: str) -> bool:
    name = tok.lstrip("-")
    return tok.startswith("-") and "=" not in tok and name in _LINK_VALUE_FLAGS


def split_args(text: str) -> list[str]:
    """Split as the go command splits -ldflags (cmd/internal/quoted): on spaces outside single or
    double quotes; each argument keeps its quotes as written."""
    out: list[str] = []
    cur: list[str] = []
    quote = ""
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            cur.append(ch)
        elif ch.isspace():
            if cur:
                out.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return out


def _list(value: Any, file: Path, key: str) -> list[str]:
    """A GoReleaser string list (a single string is a list of one); numbers and booleans as text."""
    if value is None:
        return []
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return [str(value)]
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        return [str(v) for v in value]
    raise ReleaseConfigError(f"{file}: {key} must be a string or a list of strings, not {value!r}")


def _one_line(text: str) -> str:
    return " ".join(text.split())
