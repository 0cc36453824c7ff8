"""What of the source tree containers see (fixproof.stages.sourcetree), seen from inside real containers:
the module, the go.work and replace directories inside the repository, never the rest; git metadata for the
build alone. What is mounted, computed without an engine: tests/unit/stages/test_source_view.py."""

from __future__ import annotations

import pytest

from fixproof.stages.sourcetree import source_tree, vcs_metadata
from unit.stages.test_source_view import git, gomod, monorepo  # noqa: F401 (monorepo: a fixture)

pytestmark = pytest.mark.docker
GO_IMAGE = "golang:1.22.5-bookworm"


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


def test_fixproofs_own_directories_in_the_tree_do_not_make_the_build_modified(engine, golang_image, tmp_path):
    """#15.6: CI templates put fixproof's venv, caches and checkout inside the app's tree, so the rebuild was
    stamped vcs.modified=true. Hidden under empty tmpfs, they are invisible to git status; the app's own
    untracked file still counts."""
    from fixproof.engine.docker import DEFAULT_PROFILE, NONROOT, Profile

    repo = tmp_path / "repo"
    gomod(repo, "example.com/app")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "c1")
    own = [repo / ".fixproof-venv", repo / ".fixproof-cache", repo / "reports"]
    for d in own:
        (d / "sub").mkdir(parents=True)
        (d / "sub" / "file").write_text("fixproof's, not the app's\n")
    env = {"HOME": "/tmp", "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": "*"}

    def status(tree) -> list[str]:
        with vcs_metadata(tree) as vcs:
            res = engine.run(GO_IMAGE, ["sh", "-c", f"{vcs.prepare} && git -C /src status --porcelain"],
                             env={**env, **vcs.env}, mounts=[*tree.mounts(), *vcs.mounts],
                             profile=Profile(tmpfs=(*DEFAULT_PROFILE.tmpfs, *tree.masks(keep=tree.git_dir))),
                             user=f"{NONROOT[0]}:{NONROOT[1]}", timeout=60)
        assert res.exit_code == 0, res
        return res.stdout.splitlines()

    assert sorted(status(source_tree(repo, repo / "go.mod", repo))) == [
        "?? .fixproof-cache/", "?? .fixproof-venv/", "?? reports/"]  # what the old code stamped as modified
    assert status(source_tree(repo, repo / "go.mod", repo, own)) == []
    (repo / "untracked.go").write_text("package main\n")
    assert status(source_tree(repo, repo / "go.mod", repo, own)) == ["?? untracked.go"]
