"""The evidence index of a merged fleet: every app's bundle, its digest, and a manifest over them all.

``fixproof merge`` copies each app's evidence bundle into ``OUT/evidence/<app>/``
and writes, next to them::

    index.json        format, the fleet config and its sha256, and per app: the
                      bundle directory, its evidence digest, the sha256 of its
                      manifest.json, its file count and signer, the shard it came from
    MANIFEST.sha256   "<sha256>  <path>" (sha256sum format) of index.json and of
                      every file of every copied bundle, sorted

:func:`check_index` is what ``fixproof evidence verify OUT/evidence`` runs on
such a directory: each listed bundle must verify on its own (``check_bundle``)
with the digest and manifest the index records, and every file of the
directory must match MANIFEST.sha256, which lists every file there is.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from fixproof.publish.evidence_check import check_bundle
from fixproof.hashing import sha256_file
from fixproof.publish.evidence_layout import MANIFEST, MANIFEST_JSON

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

INDEX = "index.json"
INDEX_FORMAT = "fixproof-evidence-index/1"
_LINE_RE = re.compile(r"^([0-9a-f]{64})  (.+)$")
_APP_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class IndexedBundle:
    """One app's bundle as the index lists it."""

    app: str
    evidence_digest: str  # hex
    manifest_sha256: str  # hex, of the bundle's manifest.json
    files: int
    signer: str
    shard: int


@dataclass(frozen=True)
class IndexCheck:
    """What :func:`check_index` found. ``problems`` empty = every bundle and the index intact."""

    problems: tuple[str, ...]
    bundles: tuple[IndexedBundle, ...]
    files: int  # lines of MANIFEST.sha256


def is_index(root: Path) -> bool:
    """A directory written as an evidence index (not a single bundle)."""
    return (root / INDEX).is_file() and not (root / MANIFEST_JSON).exists()


def safe_app_name(name: str) -> bool:
    """An app name usable as a directory of the index."""
    return bool(_APP_RE.match(name)) and name not in (".", "..")


def write_index(root: Path, bundles: list[IndexedBundle], fleet: Mapping[str, Any]) -> None:
    """index.json and MANIFEST.sha256 in ``root``, which already holds ``<app>/`` for every bundle."""
    doc = {
        "format": INDEX_FORMAT,
        "fleet": dict(fleet),
        "apps": {b.app: {"bundle": f"{b.app}/", "evidence_digest": b.evidence_digest,
                         "manifest_sha256": b.manifest_sha256, "files": b.files, "signer": b.signer,
                         "shard": b.shard} for b in bundles},
        "check": "fixproof evidence verify <this directory>",
    }
    (root / INDEX).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    lines = [f"{sha256_file(root / rel)}  {rel}\n" for rel in _files(root) if rel != MANIFEST]
    (root / MANIFEST).write_text("".join(lines), encoding="utf-8")


def check_index(root: Path, public_key: "Ed25519PublicKey | None" = None) -> IndexCheck:
    """Check every bundle the index lists and the index's own MANIFEST.sha256 (see the module doc)."""
    problems: list[str] = []
    try:
        doc = json.loads((root / INDEX).read_text(encoding="utf-8"))
        apps = doc["apps"] if doc.get("format") == INDEX_FORMAT else None
        if not isinstance(apps, dict):
            raise ValueError(f"not a {INDEX_FORMAT} document")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        return IndexCheck((f"{INDEX}: unreadable ({e})",), (), 0)
    bundles: list[IndexedBundle] = []
    for app, entry in sorted(apps.items()):
        if not safe_app_name(str(app)) or not isinstance(entry, dict):
            problems.append(f"{INDEX}: app entry {app!r} is malformed")
            continue
        bundle = root / app
        if not bundle.is_dir():
            problems.append(f"{app}/: missing (the index lists it)")
            continue
        result = check_bundle(bundle, public_key)
        problems += [f"{app}/{p}" for p in result.problems]
        if result.evidence_digest != entry.get("evidence_digest"):
            problems.append(f"{app}/: evidence digest {result.evidence_digest} is not the "
                            f"{entry.get('evidence_digest')} the index records")
        manifest = bundle / MANIFEST_JSON
        actual = sha256_file(manifest) if manifest.is_file() else ""
        if actual != entry.get("manifest_sha256"):
            problems.append(f"{app}/{MANIFEST_JSON}: sha256 {actual or '(missing)'} is not the "
                            f"{entry.get('manifest_sha256')} the index records")
        bundles.append(IndexedBundle(app, result.evidence_digest, actual, result.files, result.signer,
                                     int(entry.get("shard") or 0)))
    for d in sorted(p.name for p in root.iterdir() if p.is_dir()):
        if d not in apps:
            problems.append(f"{d}/: not listed in {INDEX} (added after the index was written)")
    listed = _manifest(root, problems)
    for rel, expected in listed.items():
        path = root / rel
        if path.is_symlink() or not path.is_file():
            problems.append(f"{rel}: missing (listed in {MANIFEST})")
        elif sha256_file(path) != expected:
            problems.append(f"{rel}: sha256 mismatch ({MANIFEST} says {expected})")
    for rel in _files(root):
        if rel != MANIFEST and rel not in listed:
            problems.append(f"{rel}: not in {MANIFEST} (added after the index was written)")
    if INDEX not in listed:
        problems.append(f"{INDEX}: not pinned by {MANIFEST}")
    return IndexCheck(tuple(dict.fromkeys(problems)), tuple(bundles), len(listed))


def _manifest(root: Path, problems: list[str]) -> dict[str, str]:
    try:
        text = (root / MANIFEST).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        problems.append(f"{MANIFEST}: unreadable ({e})")
        return {}
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        m = _LINE_RE.match(line)
        if not m or ".." in Path(m.group(2)).parts or m.group(2).startswith("/"):
            problems.append(f"{MANIFEST}: line {n} is not \"<sha256>  <relative path>\"")
            continue
        out[m.group(2)] = m.group(1)
    return out


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink())
