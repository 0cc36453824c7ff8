"""Shared fixtures and helpers of both tiers, and the rules of the tiers.

tests/unit: no Docker, no Go toolchain, no network, no gdb/bpftrace; a guard makes a unit test that tries
fail. tests/integration: everything else. The tier markers `unit` and `integration` come from the path;
`docker` marks what needs the engine. In CI (CI=true) any skipped test fails the run, unless it is marked
`allow_skip_in_ci(reason=...)`.

Test modules import from here with `from conftest import ...`; the tier directories are packages
(tests/unit/..., tests/integration/...), so a test module may import helpers of another as
`from unit.publish.test_html import Page`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
DATA = TESTS / "data"
EXAMPLE = ROOT / "examples" / "fixdemo"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
VULNDB = (ROOT.parent / "shared" / "vulndb").resolve()
TIERS = ("unit", "integration")
NEEDS_ROOT = "dropping privileges needs root and setpriv; an unprivileged CI runner cannot run it"


def pytest_configure(config):
    # Tests never use the internet: the pipeline reads the DB snapshot.
    if (VULNDB / "index" / "db.json").is_file():
        os.environ["FIXPROOF_VULNDB"] = VULNDB.as_uri()
    config.pluginmanager.register(SkipPolicy(), "fixproof-skip-policy")


def pytest_sessionstart(session):
    strays = sorted(str(p.relative_to(TESTS)) for p in TESTS.rglob("test_*.py")
                    if p.relative_to(TESTS).parts[0] not in TIERS)
    if strays:
        raise pytest.UsageError(f"test files outside tests/unit and tests/integration: {', '.join(strays)}")


# -- tiers ---------------------------------------------------------------------------------------------------


def tier(item: pytest.Item) -> str | None:
    """The tier of a test ("unit" or "integration"), from where it lives; None outside tests/."""
    try:
        parts = Path(str(item.path)).resolve().relative_to(TESTS).parts
    except ValueError:
        return None
    return parts[0] if len(parts) > 1 and parts[0] in TIERS else None


def pytest_collection_modifyitems(config, items):
    wrong = []
    for item in items:
        t = tier(item)
        if t is None:
            continue
        item.add_marker(t)
        if "engine" in item.fixturenames:  # directly or through golang_image, container_events, ...
            item.add_marker("docker")
        if t == "unit" and item.get_closest_marker("docker"):
            wrong.append(f"{item.nodeid}: needs the Docker Engine, so it belongs in tests/integration")
        allow = item.get_closest_marker("allow_skip_in_ci")
        if allow is not None and not str(allow.kwargs.get("reason", "")).strip():
            wrong.append(f"{item.nodeid}: allow_skip_in_ci needs reason=\"why a skip in CI is legitimate\"")
    if wrong:
        raise pytest.UsageError("\n".join(wrong))


# The unit tier's guard: no Docker (neither the SDK in this process nor a daemon from a subprocess) and no
# go, gdb or bpftrace on PATH. A unit test that tries fails, whatever the machine has installed.
DEAD_DOCKER_HOST = "unix:///nonexistent/fixproof-unit-tests-have-no-docker.sock"
FORBIDDEN_IN_UNIT = ("go", "gofmt", "docker", "gdb", "bpftrace")
_SHIM = """#!/bin/sh
echo "fixproof unit tier: '$(basename "$0") $*' is not allowed in tests/unit; move the test to tests/integration" >&2
exit 97
"""


_GUARD_BIN = pytest.StashKey[Path]()


def _guard_bin(config: pytest.Config) -> Path:
    """A directory of stand-ins for FORBIDDEN_IN_UNIT that fail loudly, made once per session."""
    if _GUARD_BIN not in config.stash:
        d = Path(tempfile.mkdtemp(prefix="fixproof-unit-guard-"))
        for name in FORBIDDEN_IN_UNIT:
            (d / name).write_text(_SHIM)
            (d / name).chmod(0o755)
        config.stash[_GUARD_BIN] = d
    return config.stash[_GUARD_BIN]


def pytest_unconfigure(config):
    if _GUARD_BIN in config.stash:
        shutil.rmtree(config.stash[_GUARD_BIN], ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Set up, run and tear down a unit test (and the fixtures it is first to need) under the guard."""
    if tier(item) != "unit":
        return (yield)
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("DOCKER_HOST", DEAD_DOCKER_HOST)
        mp.setenv("PATH", f"{_guard_bin(item.config)}{os.pathsep}{os.environ.get('PATH', '')}")
        mp.setitem(sys.modules, "docker", None)  # `import docker` raises ImportError here
        return (yield)
    finally:
        mp.undo()


# -- skips: never silent, and in CI a failure unless allowed ------------------------------------------------


class SkipPolicy:
    """Collects every skip (of a test or of a whole module) with its reason. In CI (CI=true) a skip fails
    the run unless the test is marked allow_skip_in_ci(reason=...); the summary lists them either way."""

    def __init__(self) -> None:
        self.skips: list[tuple[str, str]] = []  # (node id, reason) that fail the run in CI
        self.allowed: list[tuple[str, str, str]] = []  # (node id, reason, why that is legitimate)
        self.allow: dict[str, str] = {}

    def pytest_collection_modifyitems(self, items):
        for item in items:
            m = item.get_closest_marker("allow_skip_in_ci")
            if m is not None:
                self.allow[item.nodeid] = str(m.kwargs.get("reason", ""))

    @staticmethod
    def _reason(report) -> str:
        lr = report.longrepr
        reason = lr[2] if isinstance(lr, tuple) and len(lr) == 3 else str(lr)
        return reason.removeprefix("Skipped: ")

    def _record(self, report) -> None:
        if not report.skipped or hasattr(report, "wasxfail"):
            return
        if report.nodeid in self.allow:
            self.allowed.append((report.nodeid, self._reason(report), self.allow[report.nodeid]))
        else:
            self.skips.append((report.nodeid, self._reason(report)))

    def pytest_collectreport(self, report):
        self._record(report)

    def pytest_runtest_logreport(self, report):
        self._record(report)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if IN_CI and self.skips and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter):
        tr = terminalreporter
        if self.skips:
            title = "skipped tests fail the run in CI" if IN_CI else "skipped tests (these fail the run in CI)"
            tr.section(title, sep="=", red=IN_CI, yellow=not IN_CI, bold=True)
            for nodeid, reason in self.skips:
                tr.line(f"SKIPPED {nodeid}: {reason}")
            tr.line("A skip that is legitimate in CI needs @pytest.mark.allow_skip_in_ci(reason=...).")
        if self.allowed and IN_CI:
            tr.section("skips allowed in CI", sep="-")
            for nodeid, reason, why in self.allowed:
                tr.line(f"SKIPPED {nodeid}: {reason} (allowed: {why})")


# -- shared fixtures ---------------------------------------------------------------------------------------


def require_vulndb() -> Path:
    """The Go vulnerability DB snapshot beside the checkout (../shared/vulndb): in CI its absence fails."""
    if not (VULNDB / "index" / "db.json").is_file():
        msg = f"no Go vulnerability DB snapshot at {VULNDB} (../shared/vulndb beside the checkout)"
        if IN_CI:
            pytest.fail(f"CI needs the DB snapshot: {msg}")
        pytest.skip(msg)
    return VULNDB


@pytest.fixture(scope="session")
def vulndb_snapshot() -> Path:
    return require_vulndb()


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


def with_test_network(extra: str, network: str | None) -> str:
    """``extra`` (dedented) with ``[test] network`` set, in its [test] table when it has one, unless it
    sets a network itself. The example's tests serve on 127.0.0.1 (httptest): they need "loopback"."""
    extra = textwrap.dedent(extra)
    if network is None or re.search(r"^\s*network\s*=", extra, re.M):
        return extra
    line = f'network = "{network}"\n'
    if re.search(r"^\[test\][ \t]*(#.*)?$", extra, re.M):
        return re.sub(r"^(\[test\][ \t]*(#.*)?\n)", lambda m: m.group(1) + line, extra, count=1, flags=re.M)
    return extra + "\n[test]\n" + line


def write_config(tmp_path: Path, app_dir: Path, *, image: str = "golang:1.22.5-bookworm", go: str = "1.22.5",
                 extra: str = "", name: str = "fixproof.toml", test_network: str | None = "loopback") -> Path:
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
        """) + with_test_network(extra, test_network))
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
        """) + with_test_network(extra, "loopback") + textwrap.dedent(f"""
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
