"""Real Go apps nobody here wrote, each at a vulnerable and a fixed tagged version (tests/realapps/apps.txt):
the vulnerable one fails naming the advisory at the stages that can see it, the fixed one passes.

The sources come from `go mod download` in scripts/fetch-realapps.sh (make test runs it first), never at test
time; the configs are tests/realapps/<app>/{vulnerable,fixed}.toml, run once each from a private copy whose
[report] dir is the test's own.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import IN_CI, ROOT, assert_no_traceback

pytestmark = [pytest.mark.realapps, pytest.mark.docker]

CONFIGS = ROOT / "tests" / "realapps"
FETCH = "bash scripts/fetch-realapps.sh"

# app -> (advisory, stages whose check names it on the vulnerable version besides vulns)
APPS = {
    # a CLI with two main packages (a fleet config, one [[app]] each) whose own module has the advisory:
    # the binary's main module version comes from the git tag (Go >= 1.24 stamps it), so only the
    # binary can show it: at symbol level in ./cmd/age, which links the plugin package, at module level
    # in ./cmd/age-keygen
    "age": ("GO-2024-3344", ()),
    # a CLI whose dependency has it (golang.org/x/text): the build list shows it before the binary does
    "yq": ("GO-2026-5970", ("modules",)),
    # a server (an MQTT broker) reaching a standard library advisory: the pinned Go shows it
    "mochi": ("GO-2025-3563", ("toolchain",)),
}

# apps whose config is a fleet: [[app]] name -> the level of the vulnerable version's finding. A listed
# advisory fails at any level: age-keygen is built from the affected module version too, but does not
# link the plugin package, so its finding is module level (OpenVEX: vulnerable_code_not_present)
FLEETS = {"age": {"age": "symbol", "age-keygen": "module"}}


def _private_config(src: Path, tmp: Path) -> Path:
    """``src`` with every app's dir made absolute and [report] dir moved into ``tmp``."""
    lines, section = [], ""
    for line in src.read_text().splitlines():
        if line.startswith("["):
            section = line.strip()
        m = re.fullmatch(r'dir = "([^"]+)"', line)
        if m and section == "[report]":
            line = f'dir = "{tmp / "reports"}"'
        elif m:
            app_dir = (src.parent / m.group(1)).resolve()
            if not (app_dir / "go.mod").is_file():
                msg = f"{app_dir} is missing: run `{FETCH}` (make test does)"
                if IN_CI:
                    pytest.fail(msg)
                pytest.skip(msg)
            line = f'dir = "{app_dir}"'
        lines.append(line)
    cfg = tmp / src.name
    cfg.write_text("\n".join(lines) + "\n")
    assert f'"{tmp / "reports"}"' in cfg.read_text(), "the config has no [report] dir to move"
    return cfg


class Run:
    def __init__(self, cfg: Path, proc: subprocess.CompletedProcess):
        self.cfg, self.proc = cfg, proc
        self.out = proc.stdout + proc.stderr

    def stage(self, name: str, app: str = "") -> dict:
        reports = self.cfg.parent / "reports" / ("apps/" + app if app else "")
        return json.loads((reports / "stages" / f"{name}.json").read_text())

    def check(self, stage: str, name: str, app: str = "") -> dict:
        checks = self.stage(stage, app)["checks"]
        found = [c for c in checks if c["name"] == name]
        assert found, f"{stage} has no check {name!r}: {[c['name'] for c in checks]}"
        return found[0]


_RUNS: dict[tuple[str, str], Run] = {}


def run(app: str, variant: str, tmp_path_factory) -> Run:
    """One `fixproof verify` per app and variant for the whole session (each is a full pipeline)."""
    key = (app, variant)
    if key not in _RUNS:
        tmp = tmp_path_factory.mktemp(f"{app}-{variant}")
        cfg = _private_config(CONFIGS / app / f"{variant}.toml", tmp)
        proc = subprocess.run([sys.executable, "-m", "fixproof.cli", "verify", "-c", str(cfg)],
                              capture_output=True, text=True, timeout=1800, cwd=ROOT)
        _RUNS[key] = Run(cfg, proc)
    return _RUNS[key]


@pytest.mark.parametrize("app", sorted(APPS))
def test_vulnerable_version_fails_naming_the_advisory(app, engine, vulndb_snapshot, tmp_path_factory):
    advisory, early = APPS[app]
    r = run(app, "vulnerable", tmp_path_factory)
    assert_no_traceback(r.proc)
    assert r.proc.returncode == 1, r.out
    for name, level in FLEETS.get(app, {"": "symbol"}).items():
        c = r.check("vulns", f"advisory {advisory}", name)
        assert c["status"] == "failed" and advisory in c["message"] and f"[{level}]" in c["message"], c
        for stage in early:
            named = [c for c in r.stage(stage, name)["checks"] if advisory in c["name"]]
            assert named and all(c["status"] == "failed" for c in named), (stage, named)
        for stage in ("modules", "build", "test", "binary"):  # the app itself builds and its tests pass
            bad = [c for c in r.stage(stage, name)["checks"]
                   if c["status"] in ("failed", "error") and advisory not in c["name"]]
            assert not bad, (stage, bad)
    assert advisory in r.out  # the CLI's own lines name it


@pytest.mark.parametrize("app", sorted(APPS))
def test_fixed_version_passes(app, engine, vulndb_snapshot, tmp_path_factory):
    advisory, early = APPS[app]
    r = run(app, "fixed", tmp_path_factory)
    assert_no_traceback(r.proc)
    assert r.proc.returncode == 0, r.out
    for name in FLEETS.get(app, {"": "symbol"}):
        c = r.check("vulns", f"advisory {advisory}", name)
        assert c["status"] == "passed", c
        for stage in early:
            assert all(c["status"] == "passed" for c in r.stage(stage, name)["checks"] if advisory in c["name"])
        assert any(c["status"] == "passed" for c in r.stage("test", name)["checks"]), "the app's own tests ran"
