import os
from pathlib import Path

import pytest

from pipeline import config
from pipeline.errors import ConfigError

from conftest import EXAMPLE, ROOT


def parse(tmp_path: Path, text: str) -> config.Config:
    p = tmp_path / "fixproof.toml"
    p.write_text(text)
    return config.load(p)


BASE = f"""
[app]
dir = "{EXAMPLE}"
packages = ["./cmd/fixdemo"]
[toolchain]
go = "1.22.5"
image = "golang:1.22.5-bookworm"
"""


def test_repository_default_config_loads():
    cfg = config.load(ROOT / "fixproof.toml")
    assert cfg.toolchain.go == "1.22.5"
    assert cfg.app_dir == EXAMPLE
    assert cfg.binary_name == "fixdemo"
    assert cfg.gosum_path == EXAMPLE / "go.sum"


def test_unfixed_variants_load():
    img = config.load(ROOT / "examples/configs/unfixed-image.toml")
    assert img.toolchain.image == "golang:1.22.4-bookworm"
    xt = config.load(ROOT / "examples/configs/unfixed-xtext.toml")
    assert xt.gomod_path.name == "go.xtext037.mod" and xt.gosum_path.name == "go.xtext037.sum"


def test_defaults(tmp_path):
    cfg = parse(tmp_path, BASE)
    assert cfg.build.flags == ("-trimpath",)
    assert cfg.test.packages == ("./...",)
    assert cfg.reports_dir == tmp_path / "reports"
    assert cfg.junit_path == tmp_path / "reports" / "junit.xml"


@pytest.mark.parametrize("extra, needle", [
    ("[app2]\nx = 1\n", "unknown section [app2]"),
    ("[build]\nflagz = []\n", "unknown key build.flagz"),
    ("[build]\nflags = \"-trimpath\"\n", "build.flags must be a list of strings"),
    ("[timeouts]\nbuild = -1\n", "timeouts.build must be a positive"),
    ("[docker]\nprivileged = \"yes\"\n", "docker.privileged must be true or false"),
    ("[fix]\nadvisories = [\"CVE-2024-1\"]\n", "is not a Go advisory id"),
    ("[fix]\nfail_on = \"never\"\n", "fix.fail_on must be"),
    ("[modules]\nca_bundle = \"/nonexistent/ca.pem\"\n", "is not a file"),
])
def test_invalid_values_name_the_key(tmp_path, extra, needle):
    with pytest.raises(ConfigError) as e:
        parse(tmp_path, BASE + extra)
    assert needle in str(e.value)
    assert e.value.exit_code == 2


def test_malformed_toml(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse(tmp_path, "[app\n")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        config.load(tmp_path / "nope.toml")


def test_required_keys(tmp_path):
    with pytest.raises(ConfigError, match=r"\[toolchain\] section is required"):
        parse(tmp_path, f'[app]\ndir = "{EXAMPLE}"\n')
    with pytest.raises(ConfigError, match="toolchain.go is required"):
        parse(tmp_path, BASE.replace('go = "1.22.5"', ""))
    with pytest.raises(ConfigError, match="not a Go release version"):
        parse(tmp_path, BASE.replace('go = "1.22.5"', 'go = "latest"'))


def test_app_dir_and_gomod_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        parse(tmp_path, BASE.replace(str(EXAMPLE), str(tmp_path / "missing")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="go.mod does not exist"):
        parse(tmp_path, BASE.replace(str(EXAMPLE), str(tmp_path / "empty")))


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    sub = tmp_path / "conf"
    sub.mkdir()
    p = sub / "f.toml"
    p.write_text(BASE.replace(f'"{EXAMPLE}"', f'"{os.path.relpath(EXAMPLE, sub)}"'))
    cfg = config.load(p)
    assert cfg.app_dir == EXAMPLE
    assert cfg.reports_dir == sub / "reports"


def test_ca_bundle_modes(tmp_path):
    assert parse(tmp_path, BASE + '[modules]\nca_bundle = ""\n').ca_bundle_path is None
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert parse(tmp_path, BASE + f'[modules]\nca_bundle = "{ca}"\n').ca_bundle_path == ca
