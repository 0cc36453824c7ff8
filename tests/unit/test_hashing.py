"""The one file-sha256 helper (fixproof.hashing) the stages and the evidence bundle share."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from fixproof import hashing
from fixproof.hashing import sha256_file


@pytest.mark.parametrize("size", [0, 1, 1 << 20, (1 << 20) + 7, 3 << 20])
def test_sha256_file_is_hashlib_over_the_whole_file(tmp_path: Path, size: int) -> None:
    data = bytes(i % 251 for i in range(size))  # crosses the 1 MiB read chunks
    path = tmp_path / "f"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_the_stages_and_the_bundle_use_the_one_helper() -> None:
    from fixproof.publish import bundle, evidence_layout
    from fixproof.stages import binary, build, common

    assert binary.sha256_file is build.sha256_file is bundle.sha256_file is evidence_layout.sha256_file \
        is hashing.sha256_file
    assert not hasattr(common, "sha256_file")  # the old twin is gone
