"""The evidence bundle's layout: its file names, its format, and the paths it may hold.

Layout of a bundle directory::

    inputs/<key>          copies of the inputs (config, go.mod, go.sum, the
                          built binary...), under the key the caller chose,
                          and documents the caller made (the source tree
                          digest, git state)
    reports/<file name>   stage JSONs, JUnit XML and other reports
    logs/<key>            raw tool output (bpftrace measurements...)
    versions.json         the environment: tool and Python dependency
                          versions, Docker Engine, image ids, and where each
                          copied file came from
    MANIFEST.sha256       "<sha256 hex>  <relative path>" for every file
                          except the manifests and the signature, sorted
    manifest.json         every file's sha256 and size (MANIFEST.sha256
                          included), the evidence digest, the signer's key
    manifest.json.sig     optional: Ed25519 signature of manifest.json's
                          exact bytes, base64 on one line

``MANIFEST.sha256`` is in the format ``sha256sum`` writes, so inside the
bundle ``sha256sum -c MANIFEST.sha256`` checks it. Who does what:
:mod:`fixproof.publish.evidence_writer` writes a bundle,
:mod:`fixproof.publish.evidence_check` checks one,
:mod:`fixproof.publish.evidence_digest` defines the evidence digest, and
:mod:`fixproof.publish.bundle` gathers a run's files into one.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from fixproof.hashing import sha256_file

MANIFEST = "MANIFEST.sha256"
MANIFEST_JSON = "manifest.json"
SIGNATURE = "manifest.json.sig"
VERSIONS = "versions.json"
# /3: runtime checks reduced to their verdict, raw logs out of the digest; /4: in XML text, "key: value" lines
# of the keys JSON drops (JUnit's "obtained: built" on a fresh machine, "present" later) are dropped too.
FORMAT = "fixproof-evidence/4"


def is_safe_relpath(rel: str) -> bool:
    """A plain relative path inside the bundle: no ``..``, no absolute path, nothing ``sha256sum`` escapes."""
    if not rel or "\\" in rel or "\n" in rel or "\r" in rel:
        return False  # sha256sum escapes such names; keep the manifest plain
    parts = PurePosixPath(rel).parts
    return not PurePosixPath(rel).is_absolute() and all(p not in ("", ".", "..") for p in parts) \
        and rel == str(PurePosixPath(*parts))


def bundle_files(root: Path) -> list[str]:
    """Every file (and symlink) below ``root``, as sorted relative POSIX paths."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink())


def manifest_text(root: Path) -> str:
    """``MANIFEST.sha256``: ``sha256sum``'s lines for every file but the manifests and the signature."""
    return "".join(f"{sha256_file(root / rel)}  {rel}\n" for rel in bundle_files(root)
                   if rel not in (MANIFEST, MANIFEST_JSON, SIGNATURE))
