"""The package's layers hold: `lint-imports` (import-linter) checks the contracts in pyproject.toml
([tool.importlinter]: the layers of DESIGN.md "Layout", highest first, and what goinfo and the engine
must never import). A module imports only from layers below its own; lazy and TYPE_CHECKING imports count.

The second test shows the check is live: the same contracts on a copy of the package with one import
pointing up (the config reading the evidence bundle's writer, a leak fixed once) must fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

TIMEOUT = 120


def _lint_imports() -> str:
    """The lint-imports beside this Python (the venv's), else the one on PATH."""
    here = Path(sys.executable).with_name("lint-imports")
    found = str(here) if here.is_file() else shutil.which("lint-imports")
    assert found, "lint-imports is missing: install the test extra (pip install -e '.[test]')"
    return found


def _run(cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_lint_imports(), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)


def test_the_layers_hold():
    done = _run(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout, done.stdout
    assert "fixproof layers" in done.stdout, done.stdout  # the layers contract was among those checked


def test_an_import_up_the_layers_breaks_the_contract(tmp_path):
    shutil.copytree(ROOT / "pipeline", tmp_path / "fixproof", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    config = tmp_path / "fixproof" / "config.py"
    text = config.read_text()
    lower = "    from fixproof.signing import load_private_key\n"
    assert lower in text, "the config no longer loads the signing key through fixproof.signing: update this test"
    config.write_text(text.replace(lower, "    from fixproof.publish.evidence_writer import write_bundle as load_private_key\n"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}  # the copy, not the installed package
    done = _run(tmp_path, env)
    assert done.returncode != 0, done.stdout + done.stderr
    assert "fixproof.config is not allowed to import fixproof.publish" in done.stdout, done.stdout
