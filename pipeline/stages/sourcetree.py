"""What of the host's source tree a container sees: the Go module, read-only, and little else.

A container gets the module directory (app.dir) read-only, plus what the go
command needs from outside it: the go.work it would use (looked for from the
module up to the repository root), that go.work's ``use`` directories, and
the directory targets of ``replace`` lines in the module's go.mod (or
app.modfile) and in the go.work. A directory outside the repository (outside
the module when there is no repository) is never mounted, whatever those
files say: the go command then names what it misses. Every path keeps its
place relative to the repository root, which is /src in the container.

A ``.git`` directory inside a mounted directory is hidden under an empty
read-only tmpfs: the app's tests never read the repository's history or its
config (which may hold CI credentials). So are fixproof's own directories
when a CI job puts them inside the app's tree (its report directory, cache,
temporary directory, virtualenv or checkout): they are not the app's
sources, and seen by git they would stamp the rebuild ``vcs.modified=true``.
A directory holding the module (fixproof run from its own checkout on an
example) is never hidden.

VCS stamping (the binary's vcs.revision and vcs.modified) needs git
metadata, so the build container alone gets a git directory made for it
(:func:`vcs_metadata`): HEAD, a config holding only the core settings that
change what ``git status`` reports (no hooks, no fsmonitor, no credentials,
no includes), and the repository's objects, refs, packed-refs, shallow and
info/ mounted read-only. Its index is a copy in the container's /tmp in
which every path outside the mounted directories is marked skip-worktree, so
``git status`` reports what changed in the module (and anything staged) and
not the rest of the repository, which the container does not have. The go
command finds a repository only where ``.git`` is a directory (not in a git
worktree or submodule, whose ``.git`` is a file): the same holds here.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from fixproof.engine.docker import Mount, Tmpfs

SRC = "/src"
GIT_INDEX = "/tmp/fixproof-git-index"
# What of the real .git the build container gets, read-only: (name, is a directory).
_GIT_PARTS = (("objects", True), ("refs", True), ("reftable", True), ("info", True),
              ("packed-refs", False), ("shallow", False), ("index", False))
# Config keys copied into the build's git config: those that change what `git status` reports.
_CORE_KEYS = ("repositoryformatversion", "filemode", "ignorecase", "symlinks", "autocrlf", "eol", "safecrlf",
              "checkstat", "trustctime", "precomposeunicode")
_EXTENSION_KEYS = ("objectformat", "refstorage")
_SIMPLE_VALUE = re.compile(r"^[A-Za-z0-9._-]+$")
_IGNORE_FILES = (".gitignore", ".gitattributes")


@dataclass(frozen=True)
class SourceTree:
    """The host directories a container sees, and where."""

    anchor: Path  # the repository root (the module when there is none): /src in the container
    module: Path  # the Go module: the working directory
    dirs: tuple[Path, ...]  # mounted read-only (the module, or a directory holding it, among them)
    files: tuple[Path, ...] = ()  # single files mounted read-only (go.work, go.work.sum)
    git_dir: Path | None = None  # anchor/.git when it is a directory: VCS stamping is possible
    hidden: tuple[Path, ...] = ()  # fixproof's own directories inside a mounted one (each under an empty tmpfs)

    def container_path(self, host: Path) -> str:
        rel = host.relative_to(self.anchor).as_posix()
        return SRC if rel == "." else f"{SRC}/{rel}"

    @property
    def workdir(self) -> str:
        return self.container_path(self.module)

    def mounts(self) -> list[Mount]:
        return [Mount(str(p), self.container_path(p), read_only=True) for p in (*self.dirs, *self.files)]

    def masked(self) -> tuple[Path, ...]:
        """The .git directories that a mounted directory holds, and fixproof's own directories in one
        (each hidden under an empty tmpfs)."""
        return (*(d / ".git" for d in self.dirs if (d / ".git").is_dir()), *self.hidden)

    def masks(self, *, keep: Path | None = None) -> tuple[Tmpfs, ...]:
        return tuple(Tmpfs(self.container_path(g), size=1 << 20, read_only=True)
                     for g in self.masked() if g != keep)


def source_tree(app_dir: Path, gomod: Path, vcs_root: Path, own: Iterable[Path] = ()) -> SourceTree:
    """The module, and the go.work and local replace directories the go command needs, inside ``vcs_root``;
    ``own``: fixproof's own directories, hidden where they lie inside a mounted directory."""
    anchor = vcs_root.resolve()
    module = app_dir.resolve()
    wanted: list[Path] = [module]
    files: list[Path] = []
    work = _find_gowork(module, anchor)
    if work is not None and _inside(work.resolve(), anchor):  # a go.work linked from outside is not read
        files += [f for f in (work, work.with_name("go.work.sum")) if f.is_file()]
        uses, replaces = _parse_gowork(work)
        wanted += [work.parent / u for u in uses] + [work.parent / r for r in replaces]
    wanted += [gomod.parent / r for r in _local_replaces(gomod)]
    dirs: list[Path] = []
    for d in wanted:
        d = d.resolve()
        if d != module and (not d.is_dir() or not _inside(d, anchor) or _in_git_dir(d, anchor)):
            continue
        if any(_inside(d, kept) for kept in dirs):
            continue
        dirs = [kept for kept in dirs if not _inside(kept, d)] + [d]
    # a file inside a mounted directory is there already; a symlink leading out is not followed
    files = [f for f in files if not any(_inside(f, d) for d in dirs) and _inside(f.resolve(), anchor)]
    git = anchor / ".git"
    return SourceTree(anchor, module, tuple(dirs), tuple(files), git if git.is_dir() else None,
                      _own_inside(own, dirs, module))


def _own_inside(own: Iterable[Path], dirs: list[Path], module: Path) -> tuple[Path, ...]:
    """Those of fixproof's directories that lie strictly inside a mounted directory and hold no mounted one."""
    hidden: list[Path] = []
    for p in own:
        p = Path(os.path.abspath(p))  # not resolved: a symlink inside the tree is where git would look
        if p.is_symlink() or not p.is_dir() or p in hidden:
            continue
        if any(_inside(p, d) and p != d for d in dirs) and not any(_inside(d, p) for d in (*dirs, module)):
            hidden.append(p)
    return tuple(sorted(hidden))


def _inside(p: Path, root: Path) -> bool:
    return p == root or root in p.parents


def _in_git_dir(d: Path, anchor: Path) -> bool:
    rel = d.relative_to(anchor)
    return ".git" in rel.parts


def _find_gowork(module: Path, anchor: Path) -> Path | None:
    """The go.work the go command would pick up in the container (from the module up to /src)."""
    for d in (module, *module.parents):
        if (d / "go.work").is_file():
            return d / "go.work"
        if d == anchor:
            return None
    return None


def _directives(path: Path) -> Iterator[tuple[str, list[str]]]:
    """(verb, arguments) of each line of a go.mod or go.work, blocks unrolled; malformed lines
    are skipped (the go command reports them in the container)."""
    from fixproof.goinfo.gomod import directives

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    for _lineno, _raw, verb, args in directives(text, path, strict=False):
        yield verb, args


def _is_local(path: str) -> bool:
    """A directory path in a replace or use line (as modfile.IsDirectoryPath says)."""
    return path in (".", "..") or path.startswith(("./", "../", "/"))


def _replace_targets(directives: Iterator[tuple[str, list[str]]]) -> list[str]:
    out = []
    for verb, args in directives:
        if verb == "replace" and "=>" in args:
            new = args[args.index("=>") + 1:]
            if len(new) == 1 and _is_local(new[0]):
                out.append(new[0])
    return out


def _local_replaces(gomod: Path) -> list[str]:
    return _replace_targets(_directives(gomod))


def _parse_gowork(work: Path) -> tuple[list[str], list[str]]:
    items = list(_directives(work))
    uses = [args[0] for verb, args in items if verb == "use" and len(args) == 1]
    return uses, _replace_targets(iter(items))


# -- VCS metadata for the build ---------------------------------------------------------------


@dataclass(frozen=True)
class VcsView:
    """What the build container needs for VCS stamping."""

    mounts: tuple[Mount, ...]
    env: Mapping[str, str]
    prepare: str  # shell commands to run before go build ("" for none)


@contextmanager
def vcs_metadata(tree: SourceTree) -> Iterator[VcsView | None]:
    """The build's git directory (see the module doc), alive while the context is; None without a repository."""
    git = tree.git_dir
    if git is None or not (git / "HEAD").is_file():
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="fixproof-vcs-") as tmp:
        made = Path(tmp)
        os.chmod(made, 0o755)  # the container's unprivileged user reads it; it holds no secret
        shutil.copyfile(git / "HEAD", made / "HEAD")
        (made / "config").write_text(_minimal_config(git / "config"), encoding="utf-8")
        target = tree.container_path(git)
        mounts = [Mount(str(made), target, read_only=True)]
        for name, is_dir in _GIT_PARTS:
            src = git / name
            if (src.is_dir() if is_dir else src.is_file()):
                (made / name).mkdir() if is_dir else (made / name).touch()  # the mount point
                mounts.append(Mount(str(src), f"{target}/{name}", read_only=True))
        mounts += [Mount(str(d), str(d), read_only=True) for d in _alternates(git)]
        for shared in sorted(git.glob("sharedindex.*")):  # core.splitIndex keeps part of the index there
            (made / shared.name).touch()
            mounts.append(Mount(str(shared), f"{target}/{shared.name}", read_only=True))
        mounts += [Mount(str(f), tree.container_path(f), read_only=True) for f in _ignore_files(tree)]
        env = {"GIT_OPTIONAL_LOCKS": "0", "GIT_CONFIG_NOSYSTEM": "1"}
        prepare = ""
        if (git / "index").is_file():
            env["GIT_INDEX_FILE"] = GIT_INDEX
            prepare = _skip_worktree_script(tree, target)
        yield VcsView(tuple(mounts), env, prepare)


def _alternates(git: Path) -> list[Path]:
    """Object directories outside .git that objects/info/alternates borrows from (git clone --shared,
    --reference): mounted read-only at the same path, so the build's git finds HEAD's objects."""
    try:
        lines = (git / "objects" / "info" / "alternates").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    out = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        d = Path(line) if line.startswith("/") else (git / "objects" / line)
        d = d.resolve()
        top = d.parts[1] if len(d.parts) > 1 else ""
        if d.is_dir() and not _inside(d, git / "objects") and top not in ("proc", "sys", "dev", SRC.strip("/")):
            out.append(d)
    return out


def _minimal_config(path: Path) -> str:
    """A git config with only the status-relevant core keys and the format extensions of ``path``."""
    keep: dict[str, dict[str, str]] = {"core": {}, "extensions": {}}
    sections = tuple(keep)
    section = ""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    for raw in lines:
        line = raw.strip()
        if line.startswith("["):
            section = line[1:].split("]", 1)[0].strip().lower()
            continue
        if "=" not in line or section not in sections:
            continue
        key, value = (x.strip() for x in line.split("=", 1))
        key = key.lower()
        allowed = _CORE_KEYS if section == "core" else _EXTENSION_KEYS
        if key in allowed and _SIMPLE_VALUE.match(value):
            keep[section][key] = value
    keep["core"]["bare"] = "false"
    keep["core"].setdefault("repositoryformatversion", "0")
    # submodules' own git directories (and their configs) are not in the container: status skips them
    keep["diff"] = {"ignoreSubmodules": "all"}
    out = []
    for section, values in keep.items():
        if values:
            out.append(f"[{section}]")
            out += [f"\t{k} = {v}" for k, v in values.items()]
    return "\n".join(out) + "\n"


def _ignore_files(tree: SourceTree) -> list[Path]:
    """.gitignore and .gitattributes of the directories between the repository root and each mounted
    directory: they decide what git status calls untracked or changed inside the module."""
    found: list[Path] = []
    for d in tree.dirs:
        for a in d.parents:
            if not _inside(a, tree.anchor):
                break
            for name in _IGNORE_FILES:
                f = a / name
                if (f.is_file() and f not in found and not any(_inside(f, m) for m in tree.dirs)
                        and _inside(f.resolve(), tree.anchor)):
                    found.append(f)
    return found


def _skip_worktree_script(tree: SourceTree, gitdir: str) -> str:
    """Copy the index to /tmp and mark every path the container does not have skip-worktree."""
    root = tree.container_path(tree.anchor)
    have = [*tree.dirs, *tree.files, *_ignore_files(tree)]
    specs = []
    for p in have:
        rel = p.relative_to(tree.anchor).as_posix()
        if rel == ".":
            specs = []  # the whole repository is mounted: nothing to hide
            break
        specs.append(shlex.quote(f":(exclude,literal){rel}/" if p.is_dir() else f":(exclude,literal){rel}"))
    copy = f'cp {shlex.quote(gitdir + "/index")} "$GIT_INDEX_FILE"'
    if not specs and any(p == tree.anchor for p in tree.dirs):
        return copy
    return (f"{copy} && git -C {shlex.quote(root)} ls-files -z -- {' '.join(specs)} "
            f"| git -C {shlex.quote(root)} update-index -z --skip-worktree --stdin")
