"""Errors a new user meets on a real app are configuration errors (exit 2) that say what to do."""

from __future__ import annotations

import pytest

from conftest import EXAMPLE, assert_no_traceback, check, verify, write_config

pytestmark = pytest.mark.docker


def test_package_path_without_go_files_is_a_config_error(tmp_path, golang_image):
    cfg = write_config(tmp_path, EXAMPLE)
    cfg.write_text(cfg.read_text().replace('packages = ["./cmd/fixdemo"]', 'packages = ["./cmd/nosuch"]'))
    p = verify(cfg, "--only", "build")
    assert_no_traceback(p)
    assert p.returncode == 2, p.stdout + p.stderr
    c = check(cfg, "build", "go build")
    assert c["status"] == "error" and "app.packages" in c["message"] and "./cmd/nosuch" in c["message"]


def test_go_release_without_patch_number_is_a_config_error_naming_releases(tmp_path, engine):
    cfg = write_config(tmp_path, EXAMPLE, go="1.25", image="golang:1.25-bookworm")
    p = verify(cfg, "--only", "toolchain")
    assert_no_traceback(p)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "choose one of: 1.25.0" in p.stdout + p.stderr
