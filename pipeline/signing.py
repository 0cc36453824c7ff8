"""Ed25519 keys of the evidence bundle's signature: loading, signing, checking, fingerprints.

Below the config (which checks ``[evidence] signing_key`` when it loads) and
the evidence bundle (which signs and checks with these keys).
cryptography is imported when a key is loaded, not at import time.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from fixproof.errors import EvidenceKeyError

if TYPE_CHECKING:  # cryptography is imported when a key is loaded, not at import time
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PASSPHRASE_ENV = "FIXPROOF_SIGNING_KEY_PASSPHRASE"


def load_private_key(path: Path) -> "Ed25519PrivateKey":
    """An Ed25519 private key from a PEM file (passphrase from $FIXPROOF_SIGNING_KEY_PASSPHRASE)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    data = _read_key(path, "signing key")
    passphrase = os.environ.get(PASSPHRASE_ENV)
    try:
        key = load_pem_private_key(data, password=passphrase.encode() if passphrase else None)
    except TypeError as e:  # encrypted without a passphrase, or a passphrase for a plain key
        raise EvidenceKeyError(f"signing key {path}: {e}; set {PASSPHRASE_ENV} for an encrypted key.") from e
    except ValueError as e:
        raise EvidenceKeyError(f"signing key {path} is not a PEM private key (or the passphrase is wrong); "
                               "make one with `openssl genpkey -algorithm ed25519 -out key.pem`.") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise EvidenceKeyError(f"signing key {path} is a {type(key).__name__.removesuffix('PrivateKey') or 'other'} "
                               "key; evidence is signed with Ed25519 (`openssl genpkey -algorithm ed25519`).")
    return key


def load_public_key(path: Path) -> "Ed25519PublicKey":
    """An Ed25519 public key from a PEM file (``openssl pkey -in key.pem -pubout``)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    data = _read_key(path, "public key")
    if b"PRIVATE KEY" in data:
        raise EvidenceKeyError(f"{path} is a private key; pass its public half "
                               f"(`openssl pkey -in {path} -pubout -out key.pub.pem`).")
    try:
        key = load_pem_public_key(data)
    except ValueError as e:
        raise EvidenceKeyError(f"{path} is not a PEM public key (expected -----BEGIN PUBLIC KEY-----).") from e
    if not isinstance(key, Ed25519PublicKey):
        raise EvidenceKeyError(f"{path} is not an Ed25519 public key; evidence is signed with Ed25519.")
    return key


def sign(key: "Ed25519PrivateKey", data: bytes) -> str:
    """The Ed25519 signature of ``data``, base64 on one line (what ``manifest.json.sig`` holds)."""
    return base64.b64encode(key.sign(data)).decode("ascii")


def public_key_pem(key: "Ed25519PublicKey") -> str:
    """``key`` as a PEM SubjectPublicKeyInfo block (what ``openssl pkey -pubout`` writes)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def parse_public_key_pem(text: str) -> "Ed25519PublicKey | None":
    """The Ed25519 public key in a PEM text, None when it is not one (another algorithm, not PEM)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None
    return key if isinstance(key, Ed25519PublicKey) else None


def signature_holds(key: "Ed25519PublicKey", signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` (raw bytes) is ``key``'s Ed25519 signature of ``data``."""
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def fingerprint(key: "Ed25519PublicKey") -> str:
    """sha256 of the raw 32-byte public key, as "sha256:<hex>"."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return "sha256:" + hashlib.sha256(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()


def _read_key(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise EvidenceKeyError(f"cannot read the {what} {path}: {e.strerror or e}.") from e
