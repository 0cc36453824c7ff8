"""Where fixproof keeps what it may recompute: $FIXPROOF_CACHE_DIR, else $XDG_CACHE_HOME/fixproof."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("FIXPROOF_CACHE_DIR"):
        return Path(env["FIXPROOF_CACHE_DIR"])
    return Path(env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")) / "fixproof"


def vulndb_cache_root(env: Mapping[str, str] | None = None) -> Path:
    """Where vulnerability databases are cached (and a local one's compact index kept)."""
    return cache_root(env) / "vulndb"


def url_key(url: str) -> str:
    """The cache directory name of a database URL: 16 hex digits of its sha256."""
    return _sha256(url.encode()).hexdigest()[:16]


def _sha256(data: bytes) -> Any:
    """hashlib.sha256, without hashlib's start-up (it loads OpenSSL: milliseconds on every run)."""
    try:
        from _sha2 import sha256  # type: ignore[import-not-found]  # Python 3.12+
    except ImportError:
        try:
            from _sha256 import sha256  # type: ignore[import-not-found,no-redef]  # Python 3.11
        except ImportError:  # pragma: no cover - a build without the builtin modules
            from hashlib import sha256  # type: ignore[no-redef]
    return sha256(data)
