"""Writing an evidence bundle: copies of the inputs and reports, versions.json, both manifests and
the optional signature (the layout: :mod:`fixproof.publish.evidence_layout`; the evidence digest:
:mod:`fixproof.publish.evidence_digest`).

The bundle is assembled in a temporary sibling directory and renamed into
place, so ``dest`` is either the old bundle or the complete new one. An
existing ``dest`` is only replaced when it is empty or is itself a bundle
(has a ``MANIFEST.sha256``); anything else is refused rather than deleted.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from fixproof.errors import EvidenceError
from fixproof.publish.evidence_digest import covers, digest_of, in_digest, normalise_as
from fixproof.publish.evidence_layout import (FORMAT, MANIFEST, MANIFEST_JSON, SIGNATURE, VERSIONS, bundle_files,
                                              is_safe_relpath, manifest_text)
from fixproof.signing import fingerprint, public_key_pem, sign

if TYPE_CHECKING:  # cryptography is imported when a key is loaded, not at import time
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass(frozen=True)
class WrittenBundle:
    path: Path
    evidence_digest: str  # hex
    files: int  # entries in manifest.json
    signer: str  # "" when unsigned, else the public key's fingerprint "sha256:<hex>"


def write_bundle(
    dest: Path,
    *,
    inputs: Mapping[str, Path],
    reports: Sequence[Path],
    tools: Mapping[str, str],
    images: Mapping[str, Mapping[str, str]],
    logs: Mapping[str, Path] | None = None,
    documents: Mapping[str, Any] | None = None,
    environment: Mapping[str, Any] | None = None,
    roots: Mapping[str, Path | str] | None = None,
    signing_key: "Ed25519PrivateKey | None" = None,
    reports_root: Path | None = None,
) -> WrittenBundle:
    """Write the bundle to ``dest``.

    ``inputs`` maps a bundle-relative name (``fixproof.toml``, ``go.mod``,
    ``bin/fixdemo``) to the file to copy under ``inputs/``; ``documents``
    maps such a name to JSON data written there. ``reports`` are copied
    under ``reports/``: those inside ``reports_root`` at their path below it
    (``stages/gdb.json``, ``gdb/<check>.mi.log``, so the HTML page's links
    work inside the bundle), others by file name; names must be unique; ``logs`` under
    ``logs/<key>``. ``tools`` (name -> version), ``images`` (image name ->
    facts such as id and digest) and ``environment`` (more sections) are
    recorded in ``versions.json``. ``roots`` (``"$REPORTS"`` -> directory,
    or -> a plain ``str`` name such as a volume's) are the run's own
    directories and names, replaced by their keys before the evidence digest
    is taken. With ``signing_key`` the manifest is signed.
    """
    dest = Path(dest)
    plan = _plan(inputs, reports, logs or {}, documents or {}, reports_root)
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
        for key, data in (documents or {}).items():
            target = staging / "inputs" / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        versions = {
            **{str(k): v for k, v in (environment or {}).items()},
            "format": FORMAT,
            "tools": {str(k): str(v) for k, v in tools.items()},
            "images": {str(k): {str(a): str(b) for a, b in v.items()} for k, v in images.items()},
            "sources": sources,
        }
        (staging / VERSIONS).write_text(json.dumps(versions, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        (staging / MANIFEST).write_text(manifest_text(staging), encoding="utf-8")
        root_map = {name: str(Path(p).resolve()) if isinstance(p, Path) or str(p).startswith("/") else str(p)
                    for name, p in (roots or {}).items()}
        root_map.setdefault("$EVIDENCE", str(dest.resolve()))
        manifest, digest = _manifest_json(staging, root_map, signing_key)
        (staging / MANIFEST_JSON).write_bytes(manifest)
        signer = ""
        if signing_key is not None:
            (staging / SIGNATURE).write_text(sign(signing_key, manifest) + "\n", encoding="ascii")
            signer = fingerprint(signing_key.public_key())
        staging.chmod(0o755)  # mkdtemp makes it 0700
        _swap_into_place(staging, dest)
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise EvidenceError(f"Could not write the evidence bundle {dest}: {e.strerror or e} "
                            f"({e.filename or 'unknown file'}).") from e
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return WrittenBundle(dest, digest, len(json.loads(manifest)["files"]), signer)


def _manifest_json(staging: Path, roots: Mapping[str, str],
                   signing_key: "Ed25519PrivateKey | None") -> tuple[bytes, str]:
    files: dict[str, dict[str, Any]] = {}
    normalised: dict[str, str] = {}
    for rel in bundle_files(staging):
        if rel in (MANIFEST_JSON, SIGNATURE):
            continue
        data = (staging / rel).read_bytes()
        files[rel] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        if in_digest(rel):
            clean, view = normalise_as(rel, data, roots)
            normalised[rel] = hashlib.sha256(clean).hexdigest()
            files[rel].update(normalised_sha256=normalised[rel], normalised_as=view)
    digest = digest_of(normalised)
    doc: dict[str, Any] = {
        "format": FORMAT,
        "files": files,
        "evidence_digest": {
            "sha256": digest,
            "computed": "sha256 of the lines \"<normalised_sha256>  <path>\\n\" of the files in covers.files "
                        "(each listed in files with its normalised_sha256), sorted by path",
            "covers": covers(sorted(normalised)),
            "roots": dict(roots),
        },
        "signature": None,
    }
    if signing_key is not None:
        pub = signing_key.public_key()
        doc["signature"] = {
            "file": SIGNATURE, "algorithm": "Ed25519", "encoding": "base64",
            "signed": f"the exact bytes of {MANIFEST_JSON}",
            "public_key": public_key_pem(pub),
            "public_key_sha256": fingerprint(pub),
        }
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8"), digest


def _plan(inputs: Mapping[str, Path], reports: Sequence[Path], logs: Mapping[str, Path],
          documents: Mapping[str, Any], reports_root: Path | None = None) -> list[tuple[str, Path]]:
    plan: list[tuple[str, Path]] = []
    for key, src in inputs.items():
        if not is_safe_relpath(key):
            raise ValueError(f"input name {key!r} must be a plain relative path")
        plan.append((f"inputs/{key}", Path(src)))
    for key in documents:
        if not is_safe_relpath(key) or key in inputs:
            raise ValueError(f"document name {key!r} must be a plain relative path not used by an input")
    for key, src in logs.items():
        if not is_safe_relpath(key):
            raise ValueError(f"log name {key!r} must be a plain relative path")
        plan.append((f"logs/{key}", Path(src)))
    names: set[str] = set()
    root = Path(reports_root).resolve() if reports_root is not None else None
    for src in reports:
        src = Path(src)
        rel = src.name
        if root is not None:
            try:
                rel = src.resolve().relative_to(root).as_posix()
            except ValueError:
                pass  # outside the reports directory (e.g. --junit elsewhere): by its name
        if rel in names or not is_safe_relpath(rel):
            raise ValueError(f"two reports would be bundled as {rel!r}; report names must be unique")
        names.add(rel)
        plan.append((f"reports/{rel}", src))
    for rel, src in plan:
        if not src.is_file():
            raise EvidenceError(f"Cannot bundle {src}: it is not a readable file. "
                                "Run the stage that produces it first.")
    return plan


def _check_replaceable(dest: Path) -> None:
    if not dest.exists():
        return
    if not dest.is_dir():
        raise EvidenceError(f"{dest} exists and is not a directory; choose another --evidence path.")
    marks = (MANIFEST, MANIFEST_JSON, f"{MANIFEST_JSON}.superseded")
    if any(dest.iterdir()) and not any((dest / n).is_file() for n in marks):
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
