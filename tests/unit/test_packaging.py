"""The import package is "fixproof", never "pipeline": django-pipeline installs a top-level
"pipeline", and the two once merged silently (fixproof --version printed django-pipeline's)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from conftest import ROOT


def test_the_wheel_installs_beside_django_pipeline(tmp_path):
    wheels, site, src = tmp_path / "wheels", tmp_path / "site", tmp_path / "src"
    # built from a clean copy: setuptools' build/ directory in a checkout can hold modules since removed
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "pipeline", src / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(src)], check=True, timeout=600, capture_output=True)
    wheel = next(wheels.glob("fixproof-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(site),
                    str(wheel)], check=True, timeout=600, capture_output=True)
    assert sorted(p.name for p in site.iterdir() if not p.name.endswith(".dist-info")) == ["bin", "fixproof"]
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import fixproof, pipeline; print(fixproof.__file__); "
                            "print(pipeline.__file__)"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    ours, theirs = where.stdout.split()
    assert ours.startswith(str(site)), ours
    assert "site-packages" in theirs and not theirs.startswith(str(site)), theirs  # django-pipeline's own
    version = subprocess.run([sys.executable, "-m", "fixproof", "--version"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60)
    assert version.stdout.strip() == "fixproof 0.1.0", version.stdout + version.stderr
    data = site / "fixproof" / "data"
    assert (data / "probes" / "alloc.bt").is_file() and (data / "images" / "probe" / "Dockerfile").is_file()
    assert (data / "gdb_scripts" / "fixproof.py").is_file()
