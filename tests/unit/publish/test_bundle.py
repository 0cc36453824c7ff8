"""The run's evidence bundle (fixproof.publish.bundle): the source tree listing, and what is recorded
(and said) when the git state or the Docker Engine's version cannot be had."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
from pathlib import Path

from fixproof.engine import docker as engine_docker
from fixproof.engine import proc
from fixproof.errors import EngineError, ToolError
from fixproof.progress import Progress
from fixproof.publish import bundle
from fixproof.publish.bundle import source_tree


def test_source_tree_digest_is_the_sha256sum_listing(tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "sub").mkdir(parents=True)
    (app / "b.go").write_text("package b\n")
    (app / "sub" / "a.go").write_text("package a\n")
    digest, listing = source_tree(app, [app / "sub" / "a.go", app / "b.go"])
    assert [line.split("  ")[1] for line in listing.splitlines()] == ["b.go", "sub/a.go"]
    assert digest == hashlib.sha256(listing.encode()).hexdigest()
    if shutil.which("sha256sum"):
        (tmp_path / "listing").write_text(listing)
        assert subprocess.run(["sha256sum", "-c", str(tmp_path / "listing")], cwd=app, capture_output=True,
                              timeout=60).returncode == 0
    (app / "sub" / "a.go").write_text("package a // changed\n")
    assert source_tree(app, [app / "sub" / "a.go", app / "b.go"])[0] != digest
    (app / "sub" / "a.go").write_text("package a\n")
    (app / "sub" / "a.go").rename(app / "sub" / "c.go")  # same content, another name
    assert source_tree(app, [app / "sub" / "c.go", app / "b.go"])[0] != digest


class _Said:
    """A Progress whose messages are kept."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.progress = Progress("evidence", self.stream)

    @property
    def text(self) -> str:
        return self.stream.getvalue()


def test_git_state_outside_a_work_tree_is_none(tmp_path: Path) -> None:
    said = _Said()
    state = bundle._git_state(tmp_path, said.progress)
    assert state["head"] is None and state["dirty"] is None and "not in a git work tree" in state["note"]
    assert said.text == ""  # nothing unknown: there simply is no repository


def test_git_state_that_cannot_be_had_is_unknown_and_said(tmp_path: Path, monkeypatch) -> None:
    def slow(args, **kw):
        raise ToolError(f"`{' '.join(args)}` did not finish within {kw['timeout']:.0f} s and was stopped.")

    monkeypatch.setattr(proc, "call", slow)
    said = _Said()
    state = bundle._git_state(tmp_path, said.progress)
    assert state["head"] == state["dirty"] == bundle.UNKNOWN
    assert f"did not finish within {bundle.GIT_TIMEOUT_S} s" in state["note"]
    assert "git state is unknown" in said.text and "did not finish" in said.text

    def status_fails(args, **kw):
        if "rev-parse" in args:
            return proc.ProcResult(tuple(args), 0, "abc123\n", "")
        return proc.ProcResult(tuple(args), 128, "", "fatal: index file corrupt\n")

    monkeypatch.setattr(proc, "call", status_fails)
    said = _Said()
    state = bundle._git_state(tmp_path, said.progress)
    assert state["head"] == "abc123" and state["dirty"] == bundle.UNKNOWN
    assert "index file corrupt" in state["note"] and "index file corrupt" in said.text


def test_an_engine_that_does_not_answer_is_recorded_as_unknown_and_said(monkeypatch) -> None:
    asked = []

    def no_engine(timeout):
        asked.append(timeout)
        raise EngineError("no Docker Engine answers at unix:///nowhere (ConnectionError).")

    monkeypatch.setattr(engine_docker, "connect", no_engine)
    said = _Said()
    out = bundle._engine_version(said.progress)
    assert asked == [bundle.ENGINE_TIMEOUT_S]  # asked with a timeout
    assert out == {"Version": bundle.UNKNOWN, "error": "no Docker Engine answers at unix:///nowhere (ConnectionError)."}
    assert "Docker Engine's version is unknown" in said.text and "no Docker Engine answers" in said.text
