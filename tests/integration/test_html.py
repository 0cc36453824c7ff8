"""reports/index.html in a real headless browser (Debian's chromium): what it shows, that it builds no
element from the page's text, and that it renders. Rendering itself: tests/unit/publish/test_html.py."""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import IN_CI
from fixproof.publish.html import write_html
from unit.publish.test_html import NOW, Page, evidence_tree, stages


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium (scripts/setup-system.sh installs it); in CI its absence fails, never skips."""
    path = shutil.which("chromium")
    if path is None:
        if IN_CI:
            pytest.fail("CI needs chromium for the HTML report test; scripts/setup-system.sh installs it")
        pytest.skip("chromium is not installed (scripts/setup-system.sh installs it)")
    return path


def browser(chromium: str, tmp_path: Path, *args: str) -> str:
    from fixproof.engine.proc import call

    profile = tmp_path / "chromium-profile"  # fresh each time: no state from another run
    profile.mkdir()
    res = call([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", f"--user-data-dir={profile}", *args], timeout=120)
    shutil.rmtree(profile, ignore_errors=True)
    return res.stdout


def test_in_headless_chromium(chromium, tmp_path):
    reports, s = evidence_tree(tmp_path)
    index = write_html(stages(reports), s, reports / "index.html", now=NOW)
    dom = browser(chromium, tmp_path, "--dump-dom", index.as_uri())
    page = Page(dom)
    text = page.text
    assert "Verdict: FAIL" in text
    assert page.by_id("verdict")["class"] == "verdict status-failed"
    names = [" ".join(c.split()) for c in _texts_of(dom, "stage-name")]
    assert names == ["toolchain", "build", "test", "vulns", "gdb", "trace", "race"]
    assert "chunk of 8192 bytes read past the bound" in text
    assert '<script>alert("x")</script>' in text  # the browser shows it as text...
    assert not any(t == "script" for t, _ in page.tags)  # ...and built no script element from it
    for aid in ("GO-2024-2963", "GO-2024-2887", "GO-2023-1234"):
        assert aid in text
    assert all(not u.startswith(("http:", "https:", "//")) for u in page.urls()), page.urls()
    assert "gdb/bounded-read.mi.log" in page.urls()


def test_screenshot_in_headless_chromium(chromium, tmp_path):
    reports, s = evidence_tree(tmp_path)
    index = write_html(stages(reports), s, reports / "index.html", now=NOW)
    png = tmp_path / "index.png"
    browser(chromium, tmp_path, f"--screenshot={png}", "--window-size=1280,2000", "--hide-scrollbars", index.as_uri())
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000


def _texts_of(dom: str, css_class: str) -> list[str]:
    """The text of each element whose class list has ``css_class``."""

    class Collect(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.depth = 0
            self.found: list[str] = []

        def handle_starttag(self, tag, attrs):
            if self.depth:
                self.depth += 1
            elif css_class in (dict(attrs).get("class") or "").split():
                self.depth = 1
                self.found.append("")

        def handle_endtag(self, tag):
            if self.depth:
                self.depth -= 1

        def handle_data(self, data):
            if self.depth:
                self.found[-1] += data

    c = Collect()
    c.feed(dom)
    return c.found
