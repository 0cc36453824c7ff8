"""The action's inspect branch end to end: the real fixproof on the example built by the host go
(the checks of the CI configurations themselves: tests/unit/test_ci_configs.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLE, IN_CI
from unit.test_ci_configs import action, runner  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def shipped_binary(tmp_path_factory) -> Path:
    """The example app built with the host's Go, as a release job would."""
    out = tmp_path_factory.mktemp("shipped") / "fixdemo"
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly -buildvcs=false", "CGO_ENABLED": "0"}
    subprocess.run(["go", "build", "-trimpath", "-o", str(out), "./cmd/fixdemo"], cwd=EXAMPLE, env=env,
                   check=True, capture_output=True, timeout=600)
    return out


def test_run_without_docker_with_the_real_fixproof(runner, shipped_binary):
    """The inspect branch end to end: the real CLI, the real binary, the DB snapshot."""
    if not os.environ.get("FIXPROOF_VULNDB"):
        if IN_CI:
            pytest.fail("CI needs the vulnerability DB snapshot (../shared/vulndb)")
        pytest.skip("no vulnerability DB snapshot and no internet")
    p, out = runner.run("run", inputs={"artifact": str(shipped_binary), "vulndb": os.environ["FIXPROOF_VULNDB"]},
                        outputs={"docker": "no", "bin": str(Path(sys.executable).parent)})
    assert p.returncode == 0, p.stderr
    assert runner.calls() == [], "the real fixproof, not the fake, must have run"
    assert out["mode"] == "inspect" and out["exit-code"] in ("0", "1"), (out, p.stdout, p.stderr)
    files = {Path(f).name: Path(f) for f in out["paths"].splitlines()}
    inspected = json.loads(files["inspect.json"].read_text())
    assert inspected[0]["path"] == "example.com/fixdemo/cmd/fixdemo" and inspected[0]["go_version"].startswith("go1.")
    findings = json.loads(files["vulns.json"].read_text())
    assert isinstance(findings, list) and (out["exit-code"] == "1") == any(not f["waived"] for f in findings)
    assert str(shipped_binary) in files["vulns.txt"].read_text() or not findings
    assert "Not proven here" in (runner.tmp / "summary.md").read_text()
