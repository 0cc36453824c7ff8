"""A stand-in for fixproof.engine.docker.Engine in stage unit tests (no Docker).

A stage gets its engine through ``StageContext.engine_factory``; give it
``lambda: fake`` and the stage's containers become canned replies:

    fake = FakeEngine().with_image("golang:1.22.5-bookworm")
    fake.on("go version", Reply(stdout="go version go1.22.5 linux/amd64\\n"))
    result = toolchain.run(StageContext(cfg, "toolchain", engine_factory=lambda: fake))

A container is matched by the ``what`` label the stage gives ``Engine.run``
(the same label its progress lines show), and each expectation answers as
many times as it was registered for. Every call is recorded (``fake.calls``,
``fake.runs``). The fake refuses what it was not told to expect: a container
with no expectation left, an image it does not have, a method of the real
engine it does not stand in for. A refusal raises :class:`UnexpectedCall`
and is kept in ``fake.refused`` too, so a stage that swallowed the exception
still fails the test: the ``fake_engine`` fixture checks at teardown that
nothing was refused and every expectation was used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Mapping, Sequence

import pytest

from fixproof.engine.docker import DEFAULT_PROFILE, Mount, Profile, RunResult, VolumeOwner

DEFAULT_IMAGE_ID = "sha256:" + "5" * 64


class UnexpectedCall(AssertionError):
    """The stage did something the test did not expect of the engine."""


@dataclass(frozen=True)
class Reply:
    """What one container "does": its exit code and output, the files it writes through a
    writable bind mount (container path -> content), or an engine failure raised instead."""

    exit_code: int = 0
    stdout: str = ""
    stderr: str = ""
    files: Mapping[str, bytes | str] = field(default_factory=dict)
    raises: BaseException | None = None
    image_id: str | None = None  # default: the id of the image the container ran


@dataclass(frozen=True)
class Run:
    """One container the stage ran, as it asked for it."""

    image: str
    command: tuple[str, ...]
    what: str
    env: Mapping[str, str]
    mounts: tuple[Mount, ...]
    network: bool
    workdir: str | None
    user: str | None
    profile: Profile
    timeout: float

    def mount(self, target: str) -> Mount:
        return next(m for m in self.mounts if m.target == target)


@dataclass
class _Expectation:
    what: str
    reply: Reply
    times: int
    used: int = 0


class FakeEngine:
    """The Engine methods stages call, answered from what the test set up."""

    def __init__(self) -> None:
        self.images: dict[str, dict[str, Any]] = {}
        self.volumes: set[str] = set()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.runs: list[Run] = []
        self.refused: list[str] = []
        self._expected: list[_Expectation] = []

    # set-up ------------------------------------------------------------------------------------------------
    def with_image(self, ref: str, image_id: str = DEFAULT_IMAGE_ID, *, labels: Mapping[str, str] | None = None,
                   repo_digests: Sequence[str] = ()) -> "FakeEngine":
        """The engine has ``ref`` (as `docker image inspect` shows it)."""
        self.images[ref] = {"Id": image_id, "RepoDigests": list(repo_digests),
                            "Config": {"Labels": dict(labels or {})}}
        return self

    def with_volume(self, name: str) -> "FakeEngine":
        self.volumes.add(name)
        return self

    def on(self, what: str, reply: Reply | None = None, *, times: int = 1) -> "FakeEngine":
        """Expect ``times`` containers labelled ``what``, each answering ``reply``."""
        self._expected.append(_Expectation(what, reply or Reply(), times))
        return self

    def assert_done(self) -> None:
        assert not self.refused, "the fake engine refused: " + "; ".join(self.refused)
        unused = [f"{e.what!r} ({e.times - e.used} of {e.times} not run)" for e in self._expected if e.used < e.times]
        assert not unused, "expected containers the stage never ran: " + ", ".join(unused)

    def ran(self, what: str) -> Run:
        """The (first) container the stage ran with that label."""
        return next(r for r in self.runs if r.what == what)

    def _refuse(self, why: str) -> UnexpectedCall:
        self.refused.append(why)
        return UnexpectedCall(why)

    # the Engine interface ----------------------------------------------------------------------------------
    def image_attrs(self, ref: str) -> dict | None:
        self.calls.append(("image_attrs", (ref,)))
        if ref not in self.images:
            raise self._refuse(f"image_attrs({ref!r}): the test gave the fake no such image (with_image); "
                               "a missing image would be pulled or built")
        return self.images[ref]

    def volume_exists(self, name: str) -> bool:
        self.calls.append(("volume_exists", (name,)))
        return name in self.volumes

    def fresh_volume(self, name: str, owner: str = "", *, chown: VolumeOwner | None = None, pid: bool = False) -> None:
        self.calls.append(("fresh_volume", (name, owner, chown)))
        self.volumes.add(name)

    def remove_volume(self, name: str) -> bool:
        self.calls.append(("remove_volume", (name,)))
        self.volumes.discard(name)
        return True

    def ensure_volume(self, name: str, owner: str = "", *, chown: VolumeOwner | None = None) -> bool:
        self.calls.append(("ensure_volume", (name, owner, chown)))
        created = name not in self.volumes
        self.volumes.add(name)
        return created

    def reap_orphans(self) -> int:
        self.calls.append(("reap_orphans", ()))
        return 0

    def reap_volumes(self) -> int:
        self.calls.append(("reap_volumes", ()))
        return 0

    def run(self, image: str, command: Sequence[str], *, timeout: float, progress: Any = None, what: str = "",
            env: Mapping[str, str] | None = None, mounts: Sequence[Mount] = (), network: bool = False,
            workdir: str | None = None, user: str | None = None, profile: Profile = DEFAULT_PROFILE) -> RunResult:
        call = Run(image, tuple(command), what, dict(env or {}), tuple(mounts), network, workdir, user, profile, timeout)
        self.calls.append(("run", (what,)))
        self.runs.append(call)
        if image not in self.images:
            raise self._refuse(f"run {what!r} in {image}: the fake has no such image")
        exp = next((e for e in self._expected if e.what == what and e.used < e.times), None)
        if exp is None:
            raise self._refuse(f"run {what!r} ({' '.join(command)[:120]}): no container with that label expected")
        exp.used += 1
        reply = exp.reply
        if reply.raises is not None:
            raise reply.raises
        for path, content in reply.files.items():
            self._write(call, path, content)
        return RunResult(reply.exit_code, reply.stdout, reply.stderr, 0.01,
                         reply.image_id if reply.image_id is not None else self.images[image]["Id"], tuple(command))

    def _write(self, call: Run, path: str, content: bytes | str) -> None:
        """Write a file the container makes through the writable bind mount that holds ``path``."""
        p = PurePosixPath(path)
        for m in call.mounts:
            if m.volume or m.read_only or not (p == PurePosixPath(m.target) or PurePosixPath(m.target) in p.parents):
                continue
            host = Path(m.source) / p.relative_to(m.target)
            host.parent.mkdir(parents=True, exist_ok=True)
            host.write_bytes(content.encode() if isinstance(content, str) else content)
            return
        raise self._refuse(f"run {call.what!r} writes {path}, which no writable bind mount of the container holds")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise self._refuse(f"engine.{name}: the fake engine does not stand in for it (add it to FakeEngine "
                           "with a test, or move the test to tests/integration)")


@pytest.fixture
def fake_engine():
    """A FakeEngine that fails the test at teardown if it refused a call or an expectation went unused."""
    fake = FakeEngine()
    yield fake
    fake.assert_done()
