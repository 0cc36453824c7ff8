"""The evidence bundle's layout (fixproof.publish.evidence_layout): which names a bundle may hold, and
MANIFEST.sha256 in sha256sum's format."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from fixproof.publish.evidence_layout import MANIFEST, MANIFEST_JSON, SIGNATURE, bundle_files, is_safe_relpath, \
    manifest_text


@pytest.mark.parametrize("rel", ["a", "inputs/bin/app", "reports/stages/gdb.json", "logs/trace/x y.json"])
def test_plain_relative_paths_are_safe(rel: str) -> None:
    assert is_safe_relpath(rel)


@pytest.mark.parametrize("rel", ["", "/abs", "../up", "a/../b", "a//b", "./a", "a/", "back\\slash", "new\nline",
                                 "cr\rname"])
def test_paths_that_escape_or_that_sha256sum_would_escape_are_not(rel: str) -> None:
    assert not is_safe_relpath(rel)


def test_manifest_text_lists_every_file_but_the_manifests_and_the_signature(tmp_path: Path) -> None:
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "go.mod").write_text("module m\n")
    (tmp_path / "versions.json").write_text("{}\n")
    for name in (MANIFEST, MANIFEST_JSON, SIGNATURE):
        (tmp_path / name).write_text("x")
    assert bundle_files(tmp_path) == sorted(["inputs/go.mod", "versions.json", MANIFEST, MANIFEST_JSON, SIGNATURE])
    gomod, versions = (hashlib.sha256(data).hexdigest() for data in (b"module m\n", b"{}\n"))
    assert manifest_text(tmp_path) == f"{gomod}  inputs/go.mod\n{versions}  versions.json\n"
