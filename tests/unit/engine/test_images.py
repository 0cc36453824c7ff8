"""Pinned images without an engine: the golang reference pattern, the releases named when a pin does not
exist, and one builder per image across threads and processes. Building and pulling:
tests/integration/test_images.py."""

from fixproof.engine.images import GOLANG_RE
from fixproof.progress import Progress


def test_golang_ref_pattern_accepts_any_release():
    for v in ("1.21.12", "1.22.4", "1.22.5", "1.25.3", "1.23rc1"):
        assert GOLANG_RE.match(f"golang:{v}-bookworm").group("ver") == v
    assert not GOLANG_RE.match("golang:latest")


def test_near_releases():
    from fixproof.engine.images import near_releases

    rel = ["1.24.13", "1.25.0", "1.25.1", "1.25rc1", "1.26.0", "1.26.10"]
    assert near_releases(rel, "1.25") == ["1.25.0", "1.25.1", "1.25rc1"]
    assert near_releases(rel, "1.26.7") == ["1.26.0", "1.26.10"]
    assert near_releases(rel, "1.30.1") == []


def test_one_builder_per_image_the_other_waits(tmp_path, monkeypatch):
    """Apps of a parallel fleet run (threads) and concurrent runs (processes) wait for the first builder."""
    import io
    import threading

    from fixproof.engine.images import _image_lock
    from fixproof.progress import PlainReporter

    monkeypatch.setenv("FIXPROOF_CACHE_DIR", str(tmp_path))
    order: list[str] = []
    held, release = threading.Event(), threading.Event()
    out = io.StringIO()

    def first() -> None:
        with _image_lock("golang:1.22.5-bookworm", Progress("a")):
            order.append("first in")
            held.set()
            release.wait(30)
            order.append("first out")

    def second() -> None:
        with _image_lock("golang:1.22.5-bookworm", Progress("b", reporter=PlainReporter(out))):
            order.append("second in")

    t1 = threading.Thread(target=first)
    t1.start()
    assert held.wait(30)
    t2 = threading.Thread(target=second)
    t2.start()
    t2.join(0.5)
    assert t2.is_alive() and order == ["first in"]  # it waits while the first one holds the image
    release.set()
    t1.join(30)
    t2.join(30)
    assert order == ["first in", "first out", "second in"]
    assert "waiting for another fixproof run that is making image golang:1.22.5-bookworm" in out.getvalue()
    with _image_lock("debian:bookworm-slim", Progress("c")):  # another image: no waiting
        pass
