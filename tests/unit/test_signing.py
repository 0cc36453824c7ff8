"""Ed25519 keys of the evidence signature (fixproof.signing): loading, the errors for bad key files,
the passphrase, and the config's [evidence] signing_key."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from conftest import EXAMPLE, ROOT, write_config
from fixproof.errors import EvidenceKeyError
from fixproof.signing import load_private_key, load_public_key
from unit.publish.evidence_fixtures import make_key


def test_bad_key_files_are_usage_errors(tmp_path: Path) -> None:
    _, priv, pub = make_key(tmp_path)
    rsa_key = tmp_path / "rsa.pem"
    rsa_key.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello\n")
    cases = [
        (load_private_key, tmp_path / "absent.pem", "cannot read"),
        (load_private_key, garbage, "not a PEM private key"),
        (load_private_key, rsa_key, "RSA"),
        (load_private_key, pub, "not a PEM private key"),
        (load_public_key, garbage, "not a PEM public key"),
        (load_public_key, priv, "is a private key"),
        (load_public_key, tmp_path, "cannot read"),
    ]
    for loader, path, words in cases:
        with pytest.raises(EvidenceKeyError, match=words) as e:
            loader(path)
        assert e.value.exit_code == 2 and "\n" not in str(e.value), (loader, path)


def test_encrypted_signing_key_needs_the_passphrase(tmp_path: Path, monkeypatch) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / "enc.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(b"s3cret")))
    monkeypatch.delenv("FIXPROOF_SIGNING_KEY_PASSPHRASE", raising=False)
    with pytest.raises(EvidenceKeyError, match="FIXPROOF_SIGNING_KEY_PASSPHRASE"):
        load_private_key(path)
    monkeypatch.setenv("FIXPROOF_SIGNING_KEY_PASSPHRASE", "s3cret")
    assert load_private_key(path).public_key() == key.public_key()


def test_config_evidence_section(tmp_path: Path) -> None:
    from fixproof.config import ConfigError, load

    _, priv, _ = make_key(tmp_path)
    cfg = load(write_config(tmp_path, EXAMPLE, extra=f'[evidence]\nsigning_key = "{priv.name}"\n'))
    assert cfg.signing_key_path == priv.resolve()
    assert load(write_config(tmp_path, EXAMPLE)).signing_key_path is None
    (tmp_path / "bad.pem").write_text("not a key\n")
    for extra, words in (('signing_key = "bad.pem"', "not a PEM private key"),
                         ('signing_key = "absent.pem"', "does not exist"),
                         ("signing_key = 1", "must be a string"),
                         ('sign = "x"', "unknown key evidence.sign")):
        with pytest.raises(ConfigError, match=words):
            load(write_config(tmp_path, EXAMPLE, extra=f"[evidence]\n{extra}\n"))
    p = _fixproof("verify", "-c", str(write_config(tmp_path, EXAMPLE, extra='[evidence]\nsigning_key = "bad.pem"\n')))
    assert p.returncode == 2 and "evidence.signing_key" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def _fixproof(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fixproof.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=dict(os.environ))


def test_sign_and_check_a_signature_through_the_helpers() -> None:
    from fixproof.signing import fingerprint, parse_public_key_pem, public_key_pem, sign, signature_holds

    key = ed25519.Ed25519PrivateKey.generate()
    data = b"the exact bytes of manifest.json\n"
    line = sign(key, data)
    assert "\n" not in line
    raw = base64.b64decode(line, validate=True)
    key.public_key().verify(raw, data)  # a plain Ed25519 signature, base64
    pem = public_key_pem(key.public_key())
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    parsed = parse_public_key_pem(pem)
    assert parsed is not None and fingerprint(parsed) == fingerprint(key.public_key())
    assert signature_holds(parsed, raw, data)
    assert not signature_holds(parsed, raw, data + b" ")
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    assert not signature_holds(other, raw, data)


def test_a_pem_that_is_not_an_ed25519_public_key_parses_as_none() -> None:
    from fixproof.signing import parse_public_key_pem

    rsa_pub = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    for text in ("not a key", rsa_pub, "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n", "é"):
        assert parse_public_key_pem(text) is None
