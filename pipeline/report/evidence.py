"""The evidence bundle: everything an auditor needs, pinned by a sha256 manifest.

Layout of a bundle directory::

    inputs/<key>          copies of the inputs (config, go.mod, go.sum, the
                          built binary...), under the key the caller chose
    reports/<file name>   stage JSONs, JUnit XML and other reports
    versions.json         tool versions, image ids, and where each copied
                          file came from
    MANIFEST.sha256       "<sha256 hex>  <relative path>" for every other
                          file, sorted by path

``MANIFEST.sha256`` is in the format ``sha256sum`` writes, so inside the
bundle ``sha256sum -c MANIFEST.sha256`` checks it; :func:`verify_bundle` does
the same in Python and also flags files the manifest does not list.

The bundle is assembled in a temporary sibling directory and renamed into
place, so ``dest`` is either the old bundle or the complete new one. An
existing ``dest`` is only replaced when it is empty or is itself a bundle
(has a ``MANIFEST.sha256``); anything else is refused rather than deleted.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Mapping, Sequence

from pipeline.errors import FixproofError

MANIFEST = "MANIFEST.sha256"
VERSIONS = "versions.json"
FORMAT = "fixproof-evidence/1"

_MANIFEST_LINE_RE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")
_CHUNK = 1 << 20


class EvidenceError(FixproofError):
    """The evidence bundle could not be written (missing input, unwritable destination)."""


def write_bundle(
    dest: Path,
    *,
    inputs: Mapping[str, Path],
    reports: Sequence[Path],
    tools: Mapping[str, str],
    images: Mapping[str, Mapping[str, str]],
) -> Path:
    """Write the bundle to ``dest`` and return ``dest``.

    ``inputs`` maps a bundle-relative name (``fixproof.toml``, ``go.mod``,
    ``bin/fixdemo``) to the file to copy under ``inputs/``. ``reports`` are
    copied under ``reports/`` by file name, which must be unique. ``tools``
    (name -> version) and ``images`` (image name -> facts such as id and
    digest) are recorded in ``versions.json``.
    """
    dest = Path(dest)
    plan = _plan(inputs, reports)
    _check_replaceable(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    except OSError as e:
        raise EvidenceError(f"Could not create the evidence directory next to {dest}: "
                            f"{e.strerror or e}.") from e
    try:
        sources: dict[str, str] = {}
        for rel, src in plan:
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
            sources[rel] = str(src.resolve())
        versions = {
            "format": FORMAT,
            "tools": {str(k): str(v) for k, v in tools.items()},
            "images": {str(k): {str(a): str(b) for a, b in v.items()} for k, v in images.items()},
            "sources": sources,
        }
        (staging / VERSIONS).write_text(json.dumps(versions, indent=2, sort_keys=True) + "\n",
                                        encoding="utf-8")
        (staging / MANIFEST).write_text(_manifest_text(staging), encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it 0700
        _swap_into_place(staging, dest)
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise EvidenceError(f"Could not write the evidence bundle {dest}: {e.strerror or e} "
                            f"({e.filename or 'unknown file'}).") from e
    return dest


def verify_bundle(bundle: Path) -> list[str]:
    """Check a bundle against its manifest; return the problems (empty = intact)."""
    bundle = Path(bundle)
    manifest = bundle / MANIFEST
    try:
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return [f"{MANIFEST}: missing"]
    except (OSError, UnicodeDecodeError) as e:
        return [f"{MANIFEST}: unreadable ({e})"]
    problems: list[str] = []
    listed: set[str] = set()
    for number, line in enumerate(lines, start=1):
        match = _MANIFEST_LINE_RE.match(line)
        if not match:
            problems.append(f"{MANIFEST}:{number}: not a sha256sum line")
            continue
        expected, rel = match.group(1).lower(), match.group(2)
        listed.add(rel)
        if not _is_safe_relpath(rel):
            problems.append(f"{rel}: path escapes the bundle")
            continue
        path = bundle / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
            continue
        try:
            actual = _sha256(path)
        except OSError as e:
            problems.append(f"{rel}: unreadable ({e.strerror or e})")
            continue
        if actual != expected:
            problems.append(f"{rel}: sha256 mismatch (manifest {expected}, file {actual})")
    for rel in _files(bundle):
        if rel != MANIFEST and rel not in listed:
            problems.append(f"{rel}: not in {MANIFEST}")
    return problems


# --- internals --------------------------------------------------------------


def _plan(inputs: Mapping[str, Path], reports: Sequence[Path]) -> list[tuple[str, Path]]:
    plan: list[tuple[str, Path]] = []
    for key, src in inputs.items():
        if not _is_safe_relpath(key):
            raise ValueError(f"input name {key!r} must be a plain relative path")
        plan.append((f"inputs/{key}", Path(src)))
    names: set[str] = set()
    for src in reports:
        src = Path(src)
        if src.name in names:
            raise ValueError(f"two reports are named {src.name!r}; report file names must be unique")
        names.add(src.name)
        plan.append((f"reports/{src.name}", src))
    for rel, src in plan:
        if not src.is_file():
            raise EvidenceError(f"Cannot bundle {src}: it is not a readable file. "
                                "Run the stage that produces it first.")
    return plan


def _is_safe_relpath(rel: str) -> bool:
    if not rel or "\\" in rel or "\n" in rel or "\r" in rel:
        return False  # sha256sum escapes such names; keep the manifest plain
    parts = PurePosixPath(rel).parts
    return not PurePosixPath(rel).is_absolute() and all(p not in ("", ".", "..") for p in parts) \
        and rel == str(PurePosixPath(*parts))


def _check_replaceable(dest: Path) -> None:
    if not dest.exists():
        return
    if not dest.is_dir():
        raise EvidenceError(f"{dest} exists and is not a directory; choose another --evidence path.")
    if any(dest.iterdir()) and not (dest / MANIFEST).is_file():
        raise EvidenceError(f"{dest} is not empty and is not an evidence bundle; "
                            "refusing to replace it. Choose an empty or new directory.")


def _swap_into_place(staging: Path, dest: Path) -> None:
    if not dest.exists():
        staging.rename(dest)
        return
    old = dest.with_name(f".{dest.name}.old")
    if old.exists():
        shutil.rmtree(old)
    dest.rename(old)
    staging.rename(dest)
    shutil.rmtree(old)


def _manifest_text(root: Path) -> str:
    return "".join(f"{_sha256(root / rel)}  {rel}\n" for rel in _files(root) if rel != MANIFEST)


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
