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
    c = check(cfg, "modules", "build list")  # go list -deps meets the missing package first
    assert c["status"] == "error" and "app.packages" in c["message"] and "./cmd/nosuch" in c["message"]


def test_go_release_without_patch_number_is_a_config_error_naming_releases(tmp_path, engine):
    cfg = write_config(tmp_path, EXAMPLE, go="1.25", image="golang:1.25-bookworm")
    p = verify(cfg, "--only", "toolchain")
    assert_no_traceback(p)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "choose one of: 1.25.0" in p.stdout + p.stderr


def test_tests_that_write_into_their_own_tree_run_on_a_throwaway_copy(tmp_path, golang_image, app_copy):
    """Golden-file tests once failed with "read-only file system" against the read-only source mount."""
    pkg = app_copy / "internal" / "chunk"
    (pkg / "golden_test.go").write_text(
        'package chunk\n\nimport (\n\t"os"\n\t"testing"\n)\n\n'
        'func TestWritesAGoldenFile(t *testing.T) {\n'
        '\tif err := os.MkdirAll("testdata", 0o755); err != nil {\n\t\tt.Fatal(err)\n\t}\n'
        '\tif err := os.WriteFile("testdata/golden.txt", []byte("x"), 0o644); err != nil {\n\t\tt.Fatal(err)\n\t}\n}\n')
    cfg = write_config(tmp_path, app_copy)
    p = verify(cfg, "--only", "test")
    assert_no_traceback(p)
    c = check(cfg, "test", "TestWritesAGoldenFile")
    assert c["status"] == "passed", c
    assert not (pkg / "testdata").exists()  # the host's tree is never written
    from conftest import stage
    assert "writable copy" in stage(cfg, "test")["facts"]["sources"]


def test_extra_gosum_line_the_checksum_database_confirms_is_a_warning(tmp_path, golang_image, app_copy):
    gosum = app_copy / "go.sum"
    gosum.write_text(gosum.read_text() + "golang.org/x/sync v0.2.0/go.mod h1:RxMgew5VJxzue5/jJTE5uejpjVlOe/izrB70Jof72aM=\n")
    cfg = write_config(tmp_path, app_copy)
    p = verify(cfg, "--only", "modules")
    assert_no_traceback(p)
    c = check(cfg, "modules", "go.sum lines")
    assert c["status"] == "passed" and c["warning"] and "golang.org/x/sync v0.2.0/go.mod" in c["message"], c
    assert p.returncode == 0, p.stdout + p.stderr
    # the same line with another hash fails: no build needs it, and only tampering writes it
    gosum.write_text(gosum.read_text().replace("h1:RxMgew5VJxzue5", "h1:AAAAw5VJxzue5"))
    p = verify(cfg, "--only", "modules")
    c = check(cfg, "modules", "go.sum lines")
    assert p.returncode == 1 and c["status"] == "failed" and "tampering" in c["message"], c
