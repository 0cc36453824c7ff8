"""`fixproof init` on a copy of the bundled example, then `fixproof verify` with the file it wrote.

The README's promise: from a checkout to a first verdict in two commands, with no hand edit beyond naming
the advisory the fix is about.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLE, ROOT, assert_no_traceback, verify
from fixproof.config import load

pytestmark = pytest.mark.docker


def init(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fixproof.cli", "init", str(directory), *args],
                          capture_output=True, text=True, timeout=1800, cwd=ROOT)


def summary(app: Path) -> dict:
    return json.loads((app / "reports" / "summary.json").read_text())


@pytest.fixture(scope="module")
def initialised(tmp_path_factory, golang_image, vulndb_snapshot):
    """A copy of the example and `fixproof init` run in it, once."""
    app = tmp_path_factory.mktemp("init") / "fixdemo"
    shutil.copytree(EXAMPLE, app)
    return app, init(app)


def test_init_writes_a_config_that_loads_with_the_exact_release_and_the_main_package(initialised, engine):
    app, p = initialised
    assert_no_traceback(p)
    assert p.returncode == 0, p.stderr
    assert f"wrote {app / 'fixproof.toml'}" in p.stdout
    cfg = load(app / "fixproof.toml")
    assert cfg.app_dir == app and cfg.app.packages == ("./cmd/fixdemo",)
    # go.mod: `go 1.22` + `toolchain go1.22.5` -> the toolchain's release, with the reason in a comment
    assert (cfg.toolchain.go, cfg.toolchain.image) == ("1.22.5", "golang:1.22.5-bookworm")
    text = (app / "fixproof.toml").read_text()
    assert "`toolchain go1.22.5`" in text
    # the first build's reachable advisories, each with its aliases: go1.22.5 has stdlib advisories fixed later
    assert cfg.fix.advisories and all(re.fullmatch(r"GO-\d{4}-\d{4,}", a) for a in cfg.fix.advisories)
    assert re.search(r'"GO-\d{4}-\d+",\s+# CVE-\d{4}-\d+.*; stdlib go1\.22\.5, fixed in go1\.', text)
    assert "GO-2024-2963" not in cfg.fix.advisories  # fixed in go1.22.5: not reachable in this build
    # nothing of the scan is left: no scratch directory, no module cache volume of it
    assert [x.name for x in app.iterdir() if x.name.startswith(".")] == []
    vols = engine.client.volumes.list(filters={"label": "fixproof.owner"})
    assert not [v.name for v in vols if str(app) in (v.attrs.get("Labels") or {}).get("fixproof.owner", "")]


def test_then_verify_gives_a_verdict_and_naming_the_advisory_gives_a_pass(initialised):
    app, p = initialised
    assert p.returncode == 0, p.stderr
    cfg_path = app / "fixproof.toml"
    # as written: every reachable advisory is listed, so the verdict is FAIL, naming them
    v = verify(cfg_path, timeout=1800)
    assert_no_traceback(v)
    assert v.returncode == 1, v.stdout + v.stderr
    s = summary(app)
    assert s["status"] == "failed"
    first = load(cfg_path).fix.advisories[0]
    assert first in v.stdout + v.stderr + json.dumps(s)
    # the one hand edit: name the advisory this fix is about (the example's net/http fix, in go1.22.5)
    text = cfg_path.read_text()
    edited = re.sub(r"(?ms)^advisories = \[.*?^\]", 'advisories = ["GO-2024-2963"]', text)
    assert edited != text
    cfg_path.write_text(edited)
    v = verify(cfg_path, timeout=1800)
    assert_no_traceback(v)
    assert v.returncode == 0, v.stdout + v.stderr
    assert summary(app)["status"] == "passed"


def test_init_refuses_to_overwrite_then_force_and_no_scan(initialised):
    app, _ = initialised
    before = (app / "fixproof.toml").read_text()
    p = init(app, "--no-scan")
    assert p.returncode == 2 and "already exists" in p.stderr and "--force" in p.stderr
    assert (app / "fixproof.toml").read_text() == before
    p = init(app, "--no-scan", "--force")
    assert_no_traceback(p)
    assert p.returncode == 0, p.stderr
    text = (app / "fixproof.toml").read_text()
    assert "\n# [fix]\n" in text and "--no-scan" in text
    assert load(app / "fixproof.toml").fix.advisories == ()


def test_release_config_and_several_main_packages(tmp_path, golang_image):
    """A module whose .goreleaser.yaml builds ./cmd/app with its own flags; a second main package."""
    app = tmp_path / "app"
    (app / "cmd" / "app").mkdir(parents=True)
    (app / "tools" / "gen").mkdir(parents=True)
    (app / "go.mod").write_text("module example.com/app\n\ngo 1.22.5\n")
    main = 'package main\n\nimport "fmt"\n\nvar version = "dev"\n\nfunc main() { fmt.Println(version) }\n'
    (app / "cmd" / "app" / "main.go").write_text(main)
    (app / "tools" / "gen" / "main.go").write_text("package main\n\nfunc main() {}\n")
    (app / "lib.go").write_text("package app\n")
    (app / ".goreleaser.yaml").write_text("""
version: 2
builds:
  - id: app
    main: ./cmd/app
    env: [CGO_ENABLED=0]
    flags: [-trimpath]
    ldflags:
      - -s -w -X main.version={{.Version}}
    tags: [netgo]
""")
    p = init(app, "--no-scan")
    assert_no_traceback(p)
    assert p.returncode == 0, p.stderr
    cfg = load(app / "fixproof.toml")
    assert cfg.app.packages == ("./cmd/app",)
    assert cfg.build.flags == ("-trimpath",) and cfg.build.ldflags == "-s -w" and cfg.build.tags == ("netgo",)
    assert dict(cfg.build.env) == {"CGO_ENABLED": "0"}
    text = (app / "fixproof.toml").read_text()
    assert "#   ./tools/gen" in text and "-X main.version={{.Version}}" in text


def test_a_module_without_a_main_package_is_exit_2(tmp_path, golang_image):
    app = tmp_path / "lib"
    app.mkdir()
    (app / "go.mod").write_text("module example.com/lib\n\ngo 1.22.5\n")
    (app / "lib.go").write_text("package lib\n")
    p = init(app, "--no-scan")
    assert_no_traceback(p)
    assert p.returncode == 2 and "no main package" in p.stderr
    assert not (app / "fixproof.toml").exists()


def test_a_first_build_that_fails_still_writes_the_config_and_exits_1(tmp_path, golang_image, vulndb_snapshot):
    """A go.sum hash that the checksum database contradicts: the modules stage fails, so the scan proposes
    nothing; the config is written (verify will say the same) with the reason, and init exits 1."""
    app = tmp_path / "fixdemo"
    shutil.copytree(EXAMPLE, app)
    gosum = app / "go.sum"
    lines = gosum.read_text().splitlines()
    i = next(n for n, ln in enumerate(lines) if ln.startswith("golang.org/x/text v0.3.8 h1:"))
    lines[i] = "golang.org/x/text v0.3.8 h1:" + "A" * 43 + "="
    gosum.write_text("\n".join(lines) + "\n")
    p = init(app)
    assert_no_traceback(p)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "the first build did not pass (modules: go.sum lines:" in p.stderr
    text = (app / "fixproof.toml").read_text()
    assert "did not get through (modules: go.sum lines:" in text and "\n# [fix]\n" in text
    assert load(app / "fixproof.toml").fix.advisories == ()
