"""Binary stage: --artifact compared with real binaries built by the host go (no engine); the checks on
constructed build info are in tests/unit/stages/test_binary.py."""

import os
import shutil
import subprocess

import pytest

from fixproof.results import Status
from fixproof.stages.binary import compare_artifact

from conftest import EXAMPLE


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    """The example built twice with go1.22.5 (bit-identical) and once with go1.22.4."""
    tmp = tmp_path_factory.mktemp("twins")
    out = {}
    for name, go in (("a", "go1.22.5"), ("b", "go1.22.5"), ("old", "go1.22.4")):
        env = {**os.environ, "GOTOOLCHAIN": go, "GOFLAGS": "-mod=readonly -buildvcs=false", "CGO_ENABLED": "0"}
        out[name] = tmp / name
        subprocess.run(["go", "build", "-trimpath", "-o", str(out[name]), "./cmd/fixdemo"], cwd=EXAMPLE,
                       env=env, check=True, capture_output=True, timeout=600)
    return out


def _by_name(checks):
    return {c.name: c for c in checks}


def test_artifact_identical_rebuild(twins):
    from fixproof.goinfo.buildinfo import read_buildinfo
    from fixproof.hashing import sha256_file

    clean = read_buildinfo(twins["a"])
    r = _by_name(compare_artifact(twins["b"], clean, sha256_file(twins["a"]), EXAMPLE))
    assert all(c.status in (Status.PASSED, Status.SKIPPED) for c in r.values())
    assert not r["shipped artifact: sha256"].warning


def test_artifact_from_old_go(twins):
    from fixproof.goinfo.buildinfo import read_buildinfo
    from fixproof.hashing import sha256_file

    clean = read_buildinfo(twins["a"])
    r = _by_name(compare_artifact(twins["old"], clean, sha256_file(twins["a"]), EXAMPLE))
    assert r["shipped artifact: Go version"].status is Status.FAILED
    assert r["shipped artifact: Go version"].message == "shipped binary built with go1.22.4, clean build go1.22.5"
    assert r["shipped artifact: sha256"].warning


def test_artifact_that_is_not_go(tmp_path, twins):
    from fixproof.goinfo.buildinfo import read_buildinfo

    junk = tmp_path / "junk"
    shutil.copy("/bin/ls", junk)
    r = compare_artifact(junk, read_buildinfo(twins["a"]), "0" * 64, EXAMPLE)
    assert r[0].status is Status.FAILED and "cannot be read as a Go binary" in r[0].message
