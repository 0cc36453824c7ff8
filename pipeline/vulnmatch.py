"""Match a Go binary (build info + function names) against vulnerability entries.

Inputs are the BuildInfo from :mod:`fixproof.goinfo.buildinfo` and the raw
function names from :mod:`fixproof.goinfo.pclntab` (functab plus inline
tree); any objects with the same attributes work.

Which modules are checked
    every dependency, the main module and ``stdlib`` at the binary's Go
    version. ``toolchain`` advisories concern the go command that built the
    binary, not the program it built: they are never findings of a binary
    (as in govulncheck); the toolchain stage reports them as facts about the
    pinned image. A replaced dependency is checked as
    its replacement (path and version) when the replacement is a module
    version; a directory replacement has no version and, as in govulncheck,
    is not checked. A module whose version is empty or ``(devel)`` (the main
    module of a build from a checkout without a release tag) is not checked
    either, as in govulncheck 1.9: its version is unknown. A devel Go
    toolchain has no release version: stdlib entries are then skipped (the
    caller can tell the user).

Symbol identity (decided here; govulncheck differs where noted)
    A raw name ``pkg.(*T).M``, ``pkg.T.M`` or ``pkg.F`` becomes package
    ``pkg`` and symbol ``T.M`` / ``F``. Generic instantiations lose their
    brackets: ``pkg.(*List[go.shape.int]).Push`` -> ``List.Push`` and
    ``pkg.Map[go.shape.int]`` -> ``Map`` (govulncheck keeps the brackets and
    so never matches a vulnerable generic method). ``%xx`` escapes in the
    package path are decoded (``gopkg.in/yaml%2ev2`` -> ``gopkg.in/yaml.v2``).
    The package ``main`` is the binary's ``path``. Closures (``F.func1``,
    ``F.func1.2``), go/defer wrappers (``F.gowrap1``, ``F.deferwrap1``),
    method values (``T.M-fm``), range-over-func bodies (``F-range1``) and
    ``glob..func1`` initialisers count for the *package* being linked but
    are no symbol of their own: the function that encloses them is compiled
    in too, so it is found under its own name (in the functab or the inline
    tree), and attributing wrappers would only add names advisories never
    use. Compiler-generated ``type:``/``go:`` names belong to no package.

Levels (govulncheck's binary-mode semantics)
    ``symbol``: an affected package is linked and one of the listed symbols
    is present; an import listing *no* symbols means the whole package is
    vulnerable, so any function of it counts (reported as ``pkg.*``); an
    affected module with *no* imports means every package of the module is
    vulnerable (any package of the module linked counts, ``pkg.*``).
    ``package``: an affected package is linked, none of its listed symbols.
    ``module``: only the version matches. Imports restricted by ``goos`` /
    ``goarch`` that exclude the binary's platform are dropped first; an entry
    left with no imports for the module is then not reported at all.
    Without function names (``functions=None``) every match is ``module``.
    A linked package belongs to the standard library when its first path
    element has no dot, else to the module with the longest path that is a
    prefix of it at a ``/`` boundary (nested modules stay apart).

Differences from ``govulncheck -mode=binary`` (1.9), on purpose
    generic methods match (brackets stripped); stripped (``-s -w``) binaries
    are matched on their pclntab names like any other, where govulncheck,
    lacking the symbol table, treats every vulnerable symbol of an affected
    module as present.
"""

from __future__ import annotations

import enum
import re
import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping, Protocol, Sequence

from fixproof.goinfo import versions
from fixproof.osv import STDLIB, Affected, Entry


class Level(str, enum.Enum):
    SYMBOL = "symbol"
    PACKAGE = "package"
    MODULE = "module"


DEVEL = "(devel)"

_RANK = {Level.MODULE: 0, Level.PACKAGE: 1, Level.SYMBOL: 2}


@dataclass(frozen=True)
class Finding:
    """One advisory affecting one module of one binary (DESIGN.md JSON shape)."""

    file: str
    id: str
    aliases: tuple[str, ...]
    module: str
    version: str
    fixed: str
    symbols: tuple[str, ...]
    level: Level
    severity: tuple[tuple[str, str], ...] = ()  # the advisory's OSV severity entries: (type, CVSS vector)

    def to_json(self) -> dict[str, object]:
        d: dict[str, object] = {
            "file": self.file,
            "id": self.id,
            "aliases": list(self.aliases),
            "module": self.module,
            "version": self.version,
            "fixed": self.fixed,
            "symbols": list(self.symbols),
            "level": self.level.value,
        }
        if self.severity:  # (vuln.go.dev gives none: the JSON stays as it always was)
            d["severity"] = [{"type": t, "score": v} for t, v in self.severity]
        return d

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Finding":
        """A finding as :meth:`to_json` wrote it (ValueError for an unknown level)."""
        return cls(str(data.get("file") or ""), str(data["id"]), tuple(map(str, data.get("aliases") or ())),
                   str(data.get("module") or ""), str(data.get("version") or ""), str(data.get("fixed") or ""),
                   tuple(map(str, data.get("symbols") or ())), Level(str(data["level"])),
                   tuple((str(e.get("type", "")), str(e.get("score", ""))) for e in data.get("severity") or ()
                         if isinstance(e, Mapping)))


class ModuleLike(Protocol):
    path: str
    version: str

    @property
    def replace(self) -> "ModuleLike | None": ...


class BuildInfoLike(Protocol):
    file: str
    goos: str
    goarch: str
    go_version: str
    path: str

    @property
    def main(self) -> ModuleLike | None: ...

    @property
    def deps(self) -> Sequence[ModuleLike]: ...


# --- function names ----------------------------------------------------------------


@dataclass(frozen=True)
class FuncName:
    """A parsed pclntab name. ``symbol`` is "" for closures and wrappers."""

    package: str
    symbol: str


_WRAPPER_PART = re.compile(r"^(?:func\d+|gowrap\d+|deferwrap\d+|\d+|)$")


def _strip_brackets(name: str) -> str | None:
    """Remove every balanced ``[...]`` (type arguments); None if unbalanced."""
    if "[" not in name and "]" not in name:
        return name
    out: list[str] = []
    depth = 0
    for ch in name:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                return None
        elif depth == 0:
            out.append(ch)
    return "".join(out) if depth == 0 else None


def parse_func_name(raw: str) -> FuncName | None:
    """Split a raw pclntab name into package path and advisory-style symbol.

    Returns None for compiler-generated names that belong to no package.
    """
    if not raw or raw.startswith(("type:", "go:", "type..")):
        return None
    name = _strip_brackets(raw)
    if not name:
        return None
    slash = name.rfind("/")
    dot = name.find(".", slash + 1)
    if dot <= 0:
        return None
    pkg, rest = name[:dot], name[dot + 1:]
    if "%" in pkg:
        try:
            pkg = urllib.parse.unquote(pkg, errors="strict")
        except UnicodeDecodeError:
            return None
    if not rest:
        return None
    if rest.startswith("(*"):
        close = rest.find(")")
        if close < 0:
            return None
        recv = rest[2:close]
        after = rest[close + 1:]
        if not after.startswith("."):
            return None
        parts = [recv] + after[1:].split(".")
    else:
        parts = rest.split(".")
    # closures, go/defer wrappers, method values, range bodies, glob..funcN:
    # the package is linked, but this is no symbol of its own
    if len(parts) > 2 or not parts[0] or "-" in rest or (len(parts) == 2 and _WRAPPER_PART.match(parts[1])):
        return FuncName(pkg, "")
    return FuncName(pkg, ".".join(parts))


@dataclass(frozen=True)
class BinarySymbols:
    """package path -> advisory-style symbols present (possibly empty)."""

    packages: Mapping[str, frozenset[str]]

    @classmethod
    def from_functions(cls, functions: Iterable[str], main_path: str = "") -> "BinarySymbols":
        acc: dict[str, set[str]] = {}
        for raw in set(functions):  # the inline tree repeats names many times
            fn = parse_func_name(raw)
            if fn is None:
                continue
            pkg = main_path if fn.package == "main" and main_path else fn.package
            syms = acc.setdefault(pkg, set())
            if fn.symbol:
                syms.add(fn.symbol)
        return cls({p: frozenset(s) for p, s in acc.items()})

    def has_package(self, pkg: str) -> bool:
        return pkg in self.packages


def is_std_package(pkg: str) -> bool:
    """Standard-library import paths have no dot in their first element."""
    first = pkg.split("/", 1)[0]
    return bool(pkg) and "." not in first


# --- modules -------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedModule:
    """A module as checked: the DB path/version, and how binary paths map to it."""

    path: str  # path queried in the DB (the replacement's when replaced)
    version: str  # semver with "v"
    import_prefix: str  # package prefix in the binary ("" for stdlib/toolchain)


def checked_modules(info: BuildInfoLike) -> tuple[list[CheckedModule], list[str]]:
    """The modules to check and notices about the ones that cannot be."""
    notes: list[str] = []
    mods: list[CheckedModule] = []
    go_semver = versions.go_to_semver(info.go_version or "")
    if go_semver:
        mods.append(CheckedModule(STDLIB, go_semver, ""))
    else:
        notes.append(f"Go version {info.go_version!r} is not a release; standard library "
                     f"advisories were not checked")
    listed = ([info.main] if info.main is not None else []) + list(info.deps)
    for m in listed:
        path, version = m.path, m.version
        if m.replace is not None:
            if not m.replace.version:
                notes.append(f"{m.path} is replaced by the directory {m.replace.path}; not checked")
                continue
            path, version = m.replace.path, m.replace.version
        if not version or version == DEVEL:
            continue
        mods.append(CheckedModule(path, version, m.path))
    return mods, notes


# --- matching --------------------------------------------------------------------


def _map_package(pkg: str, mod: CheckedModule) -> str:
    """Binary package path -> the path the DB uses (replacement prefix)."""
    if mod.import_prefix and mod.import_prefix != mod.path:
        return mod.path + pkg[len(mod.import_prefix):]
    return pkg


def _owner(pkg: str, mods: Sequence[CheckedModule]) -> CheckedModule | None:
    """The module a linked package belongs to: stdlib, or the longest prefix."""
    if is_std_package(pkg):
        return next((m for m in mods if m.path == STDLIB), None)
    best: CheckedModule | None = None
    for m in mods:
        pre = m.import_prefix
        if pre and (pkg == pre or pkg.startswith(pre + "/")) and (best is None or len(pre) > len(best.import_prefix)):
            best = m
    return best


def packages_by_module(syms: BinarySymbols, mods: Sequence[CheckedModule]) -> dict[str, dict[str, frozenset[str]]]:
    """DB module path -> {DB package path: symbols} for every linked package."""
    out: dict[str, dict[str, frozenset[str]]] = {}
    for pkg, names in syms.packages.items():
        m = _owner(pkg, mods)
        if m is None:
            continue
        out.setdefault(m.path, {})[_map_package(pkg, m)] = names
    return out


def _match_affected(a: Affected, mod: CheckedModule, present: Mapping[str, frozenset[str]] | None,
                    goos: str, goarch: str) -> tuple[Level, list[str]] | None:
    """Level and symbols for one affected block; None when it does not apply.

    ``present`` is this module's linked packages (DB paths) and their
    symbols, or None when the binary's functions are unknown.
    """
    if a.module != mod.path or not versions.affected(mod.version, a.ranges):
        return None
    imports = [i for i in a.imports if i.matches_platform(goos, goarch)]
    if a.imports and not imports:
        return None  # platform-specific and not this platform
    if present is None:
        return Level.MODULE, []
    if not imports:
        if present:
            return Level.SYMBOL, [f"{p}.*" for p in sorted(present)]
        return Level.MODULE, []
    level, found = Level.MODULE, []
    for imp in imports:
        if imp.path not in present:
            continue
        if not imp.symbols:
            level = Level.SYMBOL
            found.append(f"{imp.path}.*")
            continue
        hit = sorted(set(imp.symbols) & present[imp.path])
        if hit:
            level = Level.SYMBOL
            found.extend(f"{imp.path}.{s}" for s in hit)
        elif level is Level.MODULE:
            level = Level.PACKAGE
    return level, found


def match(info: BuildInfoLike, functions: Sequence[str] | None,
          entries: Mapping[str, Sequence[Entry]], *, file: str | None = None,
          now: datetime | None = None) -> tuple[Finding, ...]:
    """Findings for one binary; ``entries`` maps DB module path -> entries.

    ``functions`` are raw pclntab names; None when they could not be read
    (every match is then module level). Withdrawn entries are skipped.
    """
    fname = file if file is not None else info.file
    mods, _notes = checked_modules(info)
    by_module = None
    if functions is not None:
        by_module = packages_by_module(BinarySymbols.from_functions(functions, info.path), mods)
    out: dict[tuple[str, str], Finding] = {}
    for mod in mods:
        present = None if by_module is None else by_module.get(mod.path, {})
        for entry in entries.get(mod.path, ()):
            if entry.is_withdrawn(now):
                continue
            best: tuple[Level, list[str]] | None = None
            fixed = ""
            for a in entry.affected:
                r = _match_affected(a, mod, present, info.goos, info.goarch)
                if r is None:
                    continue
                fx = versions.fixed_version(mod.version, a.ranges)
                if fx and (not fixed or versions.less(fx, fixed)):
                    fixed = fx
                if best is None or _RANK[r[0]] > _RANK[best[0]]:
                    best = (r[0], list(r[1]))
                elif r[0] is best[0]:
                    best[1].extend(r[1])
            if best is None:
                continue
            out[(entry.id, mod.path)] = Finding(
                file=fname,
                id=entry.id,
                aliases=entry.aliases,
                module=mod.path,
                version=mod.version,
                fixed=fixed,
                symbols=tuple(sorted(set(best[1]))),
                level=best[0],
            )
    return tuple(sorted(out.values(), key=lambda f: (f.file, f.id, f.module)))


def link_prefix(path: str, last: bool = True) -> str:
    """How the Go linker writes an import path in symbol names (cmd/internal/objabi.PathToPrefix):
    ``%``, ``"``, control, space and non-ASCII bytes, and dots of the last element, as ``%xx``
    (``gopkg.in/yaml.v2`` -> ``gopkg.in/yaml%2ev2``). ``last=False``: the path is followed by more
    elements, so its dots stay."""
    raw = path.encode("utf-8")
    slash = raw.rfind(b"/") if last else len(raw)
    if not any(c <= 0x20 or c >= 0x7F or c in b'%"' or (c == 0x2E and i > slash) for i, c in enumerate(raw)):
        return path
    out = []
    for i, c in enumerate(raw):
        if c <= 0x20 or c >= 0x7F or c in b'%"' or (c == 0x2E and i > slash):
            out.append(f"%{c:02x}")
        else:
            out.append(chr(c))
    return "".join(out)


class NameSource(Protocol):
    """Where function names come from (fixproof.goinfo.pclntab.FuncNames)."""

    def select(self, prefixes: Iterable[str] | None) -> Sequence[str]: ...

    def iter_prefixed(self, prefix: str) -> Iterable[str]: ...


def _symbol_prefixes(pkg: str, symbol: str) -> list[str]:
    """Raw-name prefixes of the names that :func:`parse_func_name` turns into (pkg, symbol):
    ``pkg.F`` (also ``F[...]``), ``pkg.(*T).M``, ``pkg.T.M`` and the generic ``(*T[...]).M`` /
    ``T[...].M``. A symbol with more than one dot is never parsed from a name: none."""
    raw = link_prefix(pkg)
    if "." not in symbol:
        return [f"{raw}.{symbol}"]
    t, _, m = symbol.partition(".")
    if "." in m:
        return []
    return [f"{raw}.(*{t}).{m}", f"{raw}.(*{t}[", f"{raw}.{t}.{m}", f"{raw}.{t}["]


def select_functions(info: BuildInfoLike, entries: Mapping[str, Sequence[Entry]], names: NameSource) -> list[str]:
    """The function names :func:`match` looks at for these entries, from ``names``.

    :func:`match` given these finds what it finds given every name of the binary:
    for a module with entries, every name of every package of the module (the
    module's import path as the linker writes it, then ``.`` or ``/``; ``main.`` when
    it is the binary's own module); for the standard library, the names that can be
    the advisories' symbols in the packages they list, and one name of each such
    package (whether it is linked at all). Every name when a standard-library
    advisory lists no packages: then every linked package of the library counts.
    """
    prefixes: dict[str, None] = {}
    std_packages: dict[str, None] = {}
    for mod in checked_modules(info)[0]:
        ents = entries.get(mod.path)
        if not ents:
            continue
        if not mod.import_prefix:  # the standard library
            for e in ents:
                for a in e.affected:
                    if a.module != mod.path:
                        continue
                    if not a.imports:
                        return list(names.select(None))
                    for imp in a.imports:
                        std_packages[imp.path] = None
                        for sym in imp.symbols:
                            prefixes.update(dict.fromkeys(_symbol_prefixes(imp.path, sym)))
            continue
        x = mod.import_prefix
        prefixes.update(dict.fromkeys((link_prefix(x) + ".", link_prefix(x, last=False) + "/", x + ".", x + "/")))
        if x == info.path or info.path.startswith(x + "/"):
            prefixes["main."] = None
    out = list(names.select(prefixes))
    for pkg in std_packages:
        for n in names.iter_prefixed(link_prefix(pkg) + "."):
            fn = parse_func_name(n)
            if fn is not None and fn.package == pkg:
                out.append(n)
                break
    return out


def module_paths(info: BuildInfoLike) -> list[str]:
    """The DB module paths to fetch entries for."""
    return [m.path for m in checked_modules(info)[0]]
