"""What of the source tree containers would see (fixproof.stages.sourcetree), computed without an engine:
the module, the go.work and replace directories inside the repository, never the rest; a build's git config
without hooks or credentials. Seen from inside real containers: tests/integration/hostile/test_source_view.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fixproof.stages.sourcetree import SRC, _minimal_config, source_tree


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=fixproof", "-c", "user.email=f@example.invalid",
                           *args], check=True, capture_output=True, text=True, timeout=60).stdout.strip()


def gomod(d: Path, module: str, extra: str = "") -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "go.mod").write_text(f"module {module}\n\ngo 1.22\n{extra}")


@pytest.fixture
def monorepo(tmp_path) -> Path:
    """repo/{app,lib,xdir,zlib,unrelated} with a go.work; outside/ and escape/ beside the repository."""
    repo = tmp_path / "repo"
    gomod(repo / "app", "example.com/app", "replace example.com/z => ../zlib\nreplace example.com/w => ../../escape\n"
          "replace example.com/g => ../.git\nreplace example.com/v => example.com/v2 v2.0.0\n")
    for name in ("lib", "xdir", "zlib"):
        gomod(repo / name, f"example.com/{name}")
    (repo / "unrelated").mkdir()
    (repo / "unrelated" / "secret.txt").write_text("not for the app\n")
    for name in ("outside", "escape"):
        gomod(tmp_path / name, f"example.com/{name}")
    (repo / "go.work").write_text("go 1.22\n\nuse (\n\t./app\n\t./lib\n)\n\nreplace example.com/x => ./xdir\n"
                                  "replace example.com/y => ../outside\n")
    git(repo, "init", "-q")
    return repo


def test_the_module_and_what_go_needs_inside_the_repository(monorepo):
    tree = source_tree(monorepo / "app", monorepo / "app" / "go.mod", monorepo)
    assert tree.anchor == monorepo and tree.workdir == f"{SRC}/app"
    assert sorted(p.name for p in tree.dirs) == ["app", "lib", "xdir", "zlib"]  # not outside/, escape/, .git
    assert tree.files == (monorepo / "go.work",)
    assert tree.git_dir == monorepo / ".git"
    assert {m.target: m.read_only for m in tree.mounts()} == {
        f"{SRC}/app": True, f"{SRC}/lib": True, f"{SRC}/xdir": True, f"{SRC}/zlib": True, f"{SRC}/go.work": True}
    assert tree.masks() == ()  # no mounted directory holds a .git


def test_links_out_of_the_repository_are_not_followed(monorepo, tmp_path):
    outside = tmp_path / "outside"
    (outside / "go.work").write_text("go 1.22\n\nuse ./\n")
    (monorepo / "go.work").unlink()
    (monorepo / "go.work").symlink_to(outside / "go.work")
    (monorepo / "link").symlink_to(outside)
    gomod(monorepo / "app", "example.com/app", "replace example.com/l => ../link\n")
    tree = source_tree(monorepo / "app", monorepo / "app" / "go.mod", monorepo)
    assert tree.dirs == (monorepo / "app",) and tree.files == ()


def test_a_module_at_the_repository_root_has_its_git_directory_hidden(tmp_path):
    gomod(tmp_path / "r", "example.com/r")
    git(tmp_path / "r", "init", "-q")
    tree = source_tree(tmp_path / "r", tmp_path / "r" / "go.mod", tmp_path / "r")
    assert tree.dirs == (tmp_path / "r",) and tree.workdir == SRC
    (mask,) = tree.masks()
    assert mask.target == f"{SRC}/.git" and mask.read_only
    assert tree.masks(keep=tmp_path / "r" / ".git") == ()  # the build puts its own git directory there


def test_the_builds_git_config_keeps_no_hook_command_or_credential(tmp_path):
    cfg = tmp_path / "config"
    cfg.write_text('[core]\n\trepositoryformatversion = 1\n\tfilemode = false\n\tfsmonitor = /tmp/evil.sh\n'
                   '\thooksPath = /tmp/hooks\n\tsshCommand = evil\n[extensions]\n\tobjectformat = sha256\n'
                   '[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic c2VjcmV0\n'
                   '[include]\n\tpath = /etc/evil\n[filter "x"]\n\tclean = evil\n')
    text = _minimal_config(cfg)
    assert text == ("[core]\n\trepositoryformatversion = 1\n\tfilemode = false\n\tbare = false\n"
                    "[extensions]\n\tobjectformat = sha256\n[diff]\n\tignoreSubmodules = all\n")


def test_fixproofs_own_directories_inside_the_module_are_hidden(tmp_path):
    """#15.6: a CI job with fixproof's venv, caches or checkout inside the app's tree stamped the rebuild
    vcs.modified=true; containers now see those directories empty. One holding the module never is."""
    repo = tmp_path / "repo"
    gomod(repo, "example.com/app")
    for d in (".fixproof-venv/bin", ".fixproof-cache", "reports", "src"):
        (repo / d).mkdir(parents=True)
    (repo / "linked").symlink_to(repo / "src")
    git(repo, "init", "-q")
    own = [repo / ".fixproof-venv", repo / ".fixproof-cache", repo / "reports", tmp_path, repo, repo / "gone",
           repo / "linked", tmp_path / "elsewhere"]
    tree = source_tree(repo, repo / "go.mod", repo, own)
    assert tree.hidden == (repo / ".fixproof-cache", repo / ".fixproof-venv", repo / "reports")
    targets = {t.target for t in tree.masks()}
    assert targets == {f"{SRC}/.git", f"{SRC}/.fixproof-cache", f"{SRC}/.fixproof-venv", f"{SRC}/reports"}
    assert source_tree(repo, repo / "go.mod", repo).hidden == ()


def test_the_stage_context_names_fixproofs_own_directories(tmp_path, monkeypatch):
    import sys
    import tempfile

    from conftest import EXAMPLE, write_config
    from fixproof.config import load
    from fixproof.stages.common import own_dirs

    monkeypatch.setenv("FIXPROOF_CACHE_DIR", str(tmp_path / "cache"))
    cfg = load(write_config(tmp_path, EXAMPLE))
    dirs = own_dirs(cfg)
    for d in (cfg.reports_dir, tmp_path / "cache", Path(tempfile.gettempdir()), Path(sys.prefix)):
        assert d in dirs
