"""Where fixproof keeps what it may recompute: $FIXPROOF_CACHE_DIR, else $XDG_CACHE_HOME/fixproof."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("FIXPROOF_CACHE_DIR"):
        return Path(env["FIXPROOF_CACHE_DIR"])
    return Path(env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")) / "fixproof"
