"""What of the source tree containers see (fixproof.stages.sourcetree): the module, the go.work and
replace directories inside the repository, never the rest; git metadata for the build alone."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fixproof.stages.sourcetree import SRC, _minimal_config, source_tree, vcs_metadata

pytestmark = pytest.mark.docker  # the suite's marker; the first three tests need no engine
GO_IMAGE = "golang:1.22.5-bookworm"


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


def test_containers_see_only_the_mounted_tree_and_no_git(engine, golang_image, monorepo):
    from fixproof.engine.docker import Profile, Tmpfs

    tree = source_tree(monorepo / "app", monorepo / "app" / "go.mod", monorepo)
    script = "ls -A /src; echo --; ls -A /src/app; echo --; ls -A /src/.git 2>&1 | wc -l"
    res = engine.run(GO_IMAGE, ["sh", "-c", script], mounts=tree.mounts(),
                     profile=Profile(tmpfs=(Tmpfs("/tmp"), *tree.masks())), timeout=60)
    top, app, git_entries = res.stdout.split("--\n")
    assert top.split() == ["app", "go.work", "lib", "xdir", "zlib"]
    assert app.split() == ["go.mod"]
    assert git_entries.strip() == "1"  # "No such file or directory": never the repository's .git

    # a go.mod whose replace names the whole repository: mounted, but its .git stays hidden
    gomod(monorepo, "example.com/root", "replace example.com/all => ./\n")
    wide = source_tree(monorepo / "app", monorepo / "go.mod", monorepo)
    assert wide.dirs == (monorepo,)
    res = engine.run(GO_IMAGE, ["sh", "-c", "ls -A /src/.git | wc -l; ls /src/unrelated"], mounts=wide.mounts(),
                     profile=Profile(tmpfs=(Tmpfs("/tmp"), *wide.masks())), workdir=wide.workdir, timeout=60)
    assert res.stdout.split() == ["0", "secret.txt"]  # .git hidden under an empty tmpfs


def test_git_status_in_the_build_sees_the_module_only(engine, golang_image, monorepo):
    """The build's git metadata: HEAD is the repository's, and what changed outside the module is not
    reported (the container does not have it), what changed inside is."""
    from fixproof.engine.docker import DEFAULT_PROFILE, NONROOT

    git(monorepo, "add", "-A")
    git(monorepo, "commit", "-q", "-m", "c1")
    (monorepo / "unrelated" / "secret.txt").write_text("changed outside the module\n")
    (monorepo / "untracked-outside").write_text("x\n")
    tree = source_tree(monorepo / "app", monorepo / "app" / "go.mod", monorepo)
    env = {"HOME": "/tmp", "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": "*"}

    def status() -> list[str]:
        with vcs_metadata(tree) as vcs:
            script = f"{vcs.prepare} && git -C /src log -1 --format=%H && git -C /src status --porcelain"
            res = engine.run(GO_IMAGE, ["sh", "-c", script], env={**env, **vcs.env},
                             mounts=[*tree.mounts(), *vcs.mounts], profile=DEFAULT_PROFILE,
                             user=f"{NONROOT[0]}:{NONROOT[1]}", timeout=60)
        assert res.exit_code == 0, res
        return res.stdout.splitlines()

    head, *changes = status()
    assert head == git(monorepo, "rev-parse", "HEAD") and changes == []
    (monorepo / "app" / "go.mod").write_text((monorepo / "app" / "go.mod").read_text() + "// changed\n")
    assert status()[1:] == [" M app/go.mod"]
