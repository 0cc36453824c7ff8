"""Checking an evidence bundle: every file against manifest.json, files added since, the evidence
digest recomputed, and the signature (the layout: :mod:`fixproof.publish.evidence_layout`)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from fixproof.publish.evidence_digest import digest_of, in_digest, normalise
from fixproof.publish.evidence_layout import FORMAT, MANIFEST, MANIFEST_JSON, SIGNATURE, bundle_files, is_safe_relpath
from fixproof.signing import fingerprint, parse_public_key_pem, signature_holds

if TYPE_CHECKING:  # cryptography is imported when a key is loaded, not at import time
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class BundleCheck:
    """What :func:`check_bundle` found. ``problems`` empty = intact (and, if signed, the signature holds)."""

    problems: tuple[str, ...]
    files: int
    evidence_digest: str  # recorded in manifest.json ("" if unreadable)
    signature: str  # "unsigned", "checked" (--public-key), "embedded" (key in the bundle only), "bad"
    signer: str  # fingerprint of the key the bundle names, "" if none


def verify_bundle(bundle: Path, public_key: "Ed25519PublicKey | None" = None) -> list[str]:
    """Check a bundle; return the problems (empty = intact)."""
    return list(check_bundle(bundle, public_key).problems)


def check_bundle(bundle: Path, public_key: "Ed25519PublicKey | None" = None) -> BundleCheck:
    """Re-hash every file against manifest.json, list files added, missing or changed, recompute the
    evidence digest and check the signature (against ``public_key`` if given, else the key the bundle
    names, which proves integrity but not who signed)."""
    bundle = Path(bundle)
    try:
        raw = (bundle / MANIFEST_JSON).read_bytes()
    except FileNotFoundError:
        return BundleCheck((f"{MANIFEST_JSON}: missing",), 0, "", "unsigned", "")
    except OSError as e:
        return BundleCheck((f"{MANIFEST_JSON}: unreadable ({e.strerror or e})",), 0, "", "unsigned", "")
    manifest, problems = _parse_manifest(raw)
    if manifest is None:
        if public_key is None:
            return BundleCheck(tuple(problems), 0, "", "unsigned", "")
        status, signer, sig_problems = _check_signature(bundle, raw, None, public_key)  # signs the raw bytes
        return BundleCheck(tuple(problems + sig_problems), 0, "", status, signer)
    files: Mapping[str, Mapping[str, Any]] = manifest["files"]
    normalised: dict[str, str] = {}
    roots = manifest["evidence_digest"].get("roots") or {}
    for rel in sorted(files):
        expected = files[rel]["sha256"]
        if not is_safe_relpath(rel):
            problems.append(f"{rel}: path escapes the bundle")
            continue
        path = bundle / rel
        if path.is_symlink() or not path.is_file():
            problems.append(f"{rel}: missing")
            continue
        try:
            data = path.read_bytes()
        except OSError as e:
            problems.append(f"{rel}: unreadable ({e.strerror or e})")
            continue
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            problems.append(f"{rel}: sha256 mismatch (manifest {expected}, file {actual})")
        elif files[rel].get("size") != len(data):
            problems.append(f"{rel}: size {len(data)} is not the {files[rel].get('size')} bytes manifest.json says")
        if in_digest(rel):
            normalised[rel] = hashlib.sha256(normalise(rel, data, roots)).hexdigest()
    signed = manifest.get("signature")
    for rel in bundle_files(bundle):
        if rel == MANIFEST_JSON or rel in files or (rel == SIGNATURE and (signed or public_key is not None)):
            continue
        problems.append(f"{rel}: not in {MANIFEST} or {MANIFEST_JSON} (added after the bundle was written)")
    problems.extend(_strays(bundle, files))
    recorded = manifest["evidence_digest"]["sha256"]
    if not problems:  # every file as listed: a different digest means manifest.json itself was edited
        recomputed = digest_of(normalised)
        if recomputed != recorded:
            problems.append(f"{MANIFEST_JSON}: evidence digest {recorded} does not match the files ({recomputed})")
    status, signer, sig_problems = _check_signature(bundle, raw, signed, public_key)
    problems.extend(sig_problems)
    return BundleCheck(tuple(problems), len(files), recorded, status, signer)


def _parse_manifest(raw: bytes) -> tuple[dict[str, Any] | None, list[str]]:
    bad = lambda why: (None, [f"{MANIFEST_JSON}: {why}"])  # noqa: E731
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return bad(f"not valid JSON ({e})")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        other = doc.get("format") if isinstance(doc, dict) else None
        if isinstance(other, str) and other.startswith("fixproof-evidence/"):
            return bad(f"format {other}, not {FORMAT}: written by another fixproof version, whose evidence "
                       "digest is defined differently; check it with that version")
        return bad(f"not a {FORMAT} manifest")
    files = doc.get("files")
    digest = doc.get("evidence_digest")
    if not isinstance(files, dict) or not isinstance(digest, dict) or not isinstance(digest.get("sha256"), str) \
            or not isinstance(digest.get("roots", {}), dict):
        return bad("no files or evidence_digest")
    problems = []
    if raw != (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8"):
        problems.append(f"{MANIFEST_JSON}: not byte for byte what fixproof writes (edited after it was written)")
    for rel, entry in list(files.items()):
        if not isinstance(entry, dict) or not _HEX64_RE.match(str(entry.get("sha256", ""))):
            problems.append(f"{MANIFEST_JSON}: entry {rel!r} has no sha256")
            del files[rel]
    sig = doc.get("signature")
    if sig is not None and (not isinstance(sig, dict) or not isinstance(sig.get("public_key"), str)):
        return bad("the signature entry names no public key")
    return doc, problems


def _check_signature(bundle: Path, manifest: bytes, signed: Mapping[str, Any] | None,
                     public_key: "Ed25519PublicKey | None") -> tuple[str, str, list[str]]:
    """(status, the signer's fingerprint, problems): the signature file against ``public_key`` if given,
    else against the key manifest.json names."""
    named = ""
    embedded = None
    if signed:
        embedded = parse_public_key_pem(str(signed["public_key"]))
        if embedded is None:
            return "bad", "", [f"{MANIFEST_JSON}: the public key it names is not an Ed25519 PEM key"]
        named = fingerprint(embedded)
    if public_key is None and embedded is None:
        return "unsigned", "", []
    key = public_key if public_key is not None else embedded
    assert key is not None
    try:
        text = (bundle / SIGNATURE).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        why = "the bundle is not signed" if not signed else f"{MANIFEST_JSON} says it is signed"
        return "bad", named, [f"{SIGNATURE}: missing ({why})"]
    except (OSError, UnicodeDecodeError) as e:
        return "bad", named, [f"{SIGNATURE}: unreadable ({e})"]
    try:
        sig = base64.b64decode(text, validate=True)
    except ValueError:
        return "bad", named, [f"{SIGNATURE}: not base64"]
    if not signature_holds(key, sig, manifest):
        if public_key is not None:
            who = f" (the bundle names the key {named})" if named else ""
            return "bad", named, [f"{SIGNATURE}: the signature does not verify with the given public key "
                                  f"{fingerprint(public_key)}{who}"]
        return "bad", named, [f"{SIGNATURE}: the signature does not verify with the public key in "
                              f"{MANIFEST_JSON} ({named}): the manifest or signature was changed"]
    return ("checked" if public_key is not None else "embedded"), fingerprint(key), []


def _strays(root: Path, listed: Iterable[str]) -> list[str]:
    """What a bundle never holds: entries that are neither regular files, symlinks nor
    directories (FIFOs, sockets, devices), and empty directories no listed file was in."""
    parents = {parent for rel in listed for parent in PurePosixPath(rel).parents}
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink() or p.is_file():
            continue
        if p.is_dir():
            if not any(p.iterdir()) and PurePosixPath(rel) not in parents:
                out.append(f"{rel}/: an empty directory (added after the bundle was written)")
            continue
        out.append(f"{rel}: not a regular file (a FIFO, socket or device added after the bundle was written)")
    return out
