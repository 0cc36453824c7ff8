"""Shared fixtures: the real Docker Engine, copies of the example app, configs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "fixdemo"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
VULNDB = (ROOT.parent / "shared" / "vulndb").resolve()


def pytest_configure(config):
    # Tests never use the internet: the pipeline reads the DB snapshot.
    if (VULNDB / "index" / "db.json").is_file():
        os.environ["FIXPROOF_VULNDB"] = VULNDB.as_uri()


@pytest.fixture(scope="session")
def engine():
    """The real engine; in CI its absence is an error, never a silent skip."""
    from fixproof.engine.docker import Engine
    from fixproof.errors import EngineError

    try:
        eng = Engine.connect()
    except EngineError as e:
        if IN_CI:
            pytest.fail(f"CI needs a Docker Engine: {e}")
        pytest.skip(f"no Docker Engine: {e}")
    eng.reap_orphans()
    yield eng
    left = eng.leftover_containers()
    assert not left, f"containers labelled fixproof left behind: {left}"


@pytest.fixture(scope="session")
def golang_image(engine):
    """Make sure the default pinned image exists (built locally when no registry answers)."""
    from fixproof.engine.images import ensure_image
    from fixproof.progress import Progress

    return ensure_image(engine, "golang:1.22.5-bookworm", timeout=1800, progress=Progress("test-setup"))


# The OASIS SARIF 2.1.0 schema (final, "rtm.5"), as Microsoft's SARIF jest
# matchers ship it on the npm registry; fetched once into the test cache.
SCHEMA_PACKAGE = "@microsoft/jest-sarif@1.0.0-beta.0"
SCHEMA_MEMBER = "package/lib/schemas/sarif-2.1.0-rtm.5.json"
SCHEMA_CACHE = ROOT / ".fixproof-cache" / "sarif" / "sarif-2.1.0-rtm.5.json"


@pytest.fixture(scope="session")
def sarif_validator():
    """A validator for the SARIF 2.1.0 JSON schema."""
    import jsonschema
    import tarfile

    if not SCHEMA_CACHE.is_file():
        npm = shutil.which("npm")
        if npm is None:
            if IN_CI:
                pytest.fail("CI needs npm to fetch the SARIF 2.1.0 schema")
            pytest.skip("npm not found: cannot fetch the SARIF 2.1.0 schema")
        SCHEMA_CACHE.parent.mkdir(parents=True, exist_ok=True)
        out = subprocess.run([npm, "pack", SCHEMA_PACKAGE, "--pack-destination", str(SCHEMA_CACHE.parent)],
                             capture_output=True, text=True, timeout=300, check=True)
        tgz = SCHEMA_CACHE.parent / out.stdout.strip().splitlines()[-1]
        with tarfile.open(tgz) as tar:
            member = tar.extractfile(SCHEMA_MEMBER)
            assert member is not None, f"{SCHEMA_PACKAGE} has no {SCHEMA_MEMBER}"
            SCHEMA_CACHE.write_bytes(member.read())
        tgz.unlink()
    schema = json.loads(SCHEMA_CACHE.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture
def app_copy(tmp_path) -> Path:
    """A private copy of the example Go module that a test may break."""
    dst = tmp_path / "fixdemo"
    shutil.copytree(EXAMPLE, dst)
    return dst


def write_config(tmp_path: Path, app_dir: Path, *, image: str = "golang:1.22.5-bookworm", go: str = "1.22.5",
                 extra: str = "", name: str = "fixproof.toml") -> Path:
    cfg = tmp_path / name
    cfg.write_text(textwrap.dedent(f"""\
        [app]
        dir = "{app_dir}"
        packages = ["./cmd/fixdemo"]

        [toolchain]
        go = "{go}"
        image = "{image}"

        [report]
        dir = "{tmp_path / 'reports'}"
        """) + textwrap.dedent(extra))
    return cfg


@pytest.fixture
def container_events(engine):
    """Count fixproof-labelled container creations between two points in time."""
    def count(since: float, until: float) -> int:
        events = engine.client.events(since=int(since), until=int(until) + 1, decode=True,
                                      filters={"type": "container", "event": "create", "label": "fixproof"})
        return sum(1 for _ in events)
    return count


def now() -> float:
    return time.time()


# The [[gdb]] and [[trace]] checks of the repository's default config, for configs written by tests
# (in fixproof.toml the [[trace]] tables come first, then the [[gdb]] ones to the end of the file).
_DEFAULT = (ROOT / "fixproof.toml").read_text()
GDB_CHECKS = "\n[[gdb]]" + _DEFAULT.split("\n[[gdb]]", 1)[1]
TRACE_CHECKS = "\n[[trace]]" + _DEFAULT.split("\n[[trace]]", 1)[1].split("\n[[gdb]]", 1)[0]
RACE_CHECKS = '\n[race]\nrun = ["-count", "8"]\ntest_packages = ["./internal/counter/"]\n'  # as in fixproof.toml


def write_fleet_config(tmp_path: Path, *, reports: str = "reports", extra: str = "") -> Path:
    """A two-app fleet of the example: "edge" (fixed) and "legacy" (x/text v0.3.7)."""
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(textwrap.dedent(f"""\
        [toolchain]
        go = "1.22.5"
        image = "golang:1.22.5-bookworm"
        [report]
        dir = "{tmp_path / reports}"
        """) + textwrap.dedent(extra) + textwrap.dedent(f"""
        [[app]]
        name = "edge"
        dir = "{EXAMPLE}"
        packages = ["./cmd/fixdemo"]
        [[app]]
        name = "legacy"
        dir = "{EXAMPLE}"
        packages = ["./cmd/fixdemo"]
        modfile = "go.xtext037.mod"
        """))
    return cfg


def verify(cfg: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fixproof.cli", "verify", "-c", str(cfg), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def stage(cfg: Path, name: str) -> dict:
    return json.loads((cfg.parent / "reports" / "stages" / f"{name}.json").read_text())


def check(cfg: Path, stage_name: str, check_name: str) -> dict:
    return next(c for c in stage(cfg, stage_name)["checks"] if c["name"] == check_name)


def assert_no_traceback(p):
    assert "Traceback" not in p.stdout + p.stderr, p.stdout + p.stderr
