"""reports/index.html in Debian's headless chromium at phone (375 px) and desktop (1280 px) widths, built from
the stage results of real runs of the bundled example (tests/data/runs): nothing scrolls sideways (even with
every collapsed block opened), the first heading is the verdict, the first section after it is the failed
checks (or, on a PASS, the listed advisories), the headline saying what the verdict covers is in the first
screen, and each finding's id appears in one element only. The questions are asked through the DevTools
protocol (tests/integration/headless.py); the page itself runs no script."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixproof.publish.html import write_html
from integration.headless import Chromium
from integration.test_html import chromium  # noqa: F401  (the fixture: Debian's chromium, never skipped in CI)
from unit.publish.test_page_order import NOW, load_run, summary_of, under_symbol_policy

SCREENS = {"phone": (375, 667, True), "desktop": (1280, 800, False)}
RUNS = {
    "fail": (lambda: load_run("fixdemo-unfixed-xtext"), "listed", "FAIL", "failed"),
    "pass": (lambda: load_run("fixdemo-pass"), "listed", "PASS", "listed"),
    "fail-on-symbol": (lambda: under_symbol_policy(load_run("fixdemo-pass")), "symbol", "FAIL", "failed"),
}

LAYOUT = """(() => {
  const d = document.documentElement;
  const firstSection = [...document.body.children].find(e => e.tagName === 'SECTION');
  const headline = document.getElementById('headline').getBoundingClientRect();
  return {scrollWidth: d.scrollWidth, innerWidth: window.innerWidth, innerHeight: window.innerHeight,
          firstHeading: document.querySelector('h1, h2, h3').textContent.replace(/\\s+/g, ' ').trim(),
          firstSection: firstSection ? firstSection.id : null,
          headline: document.getElementById('headline').textContent, headlineBottom: headline.bottom};
})()"""

OPEN_ALL = """(() => {
  document.querySelectorAll('details').forEach(e => { e.open = true; });
  return [document.documentElement.scrollWidth, window.innerWidth];
})()"""

FINDINGS = """(() => {
  const all = document.body.textContent;
  const count = (text, id) => text.split(id).length - 1;
  const out = {};
  for (const el of document.querySelectorAll('[data-advisory]')) {
    const id = el.getAttribute('data-advisory');
    out[id] = {elements: document.querySelectorAll(`[data-advisory="${id}"]`).length,
               inPage: count(all, id), inElement: count(el.textContent, id)};
  }
  return out;
})()"""


@pytest.fixture(scope="module")
def browser(chromium):  # noqa: F811
    with Chromium(chromium) as b:
        yield b


def _page(tmp_path: Path, run: str) -> tuple[str, set[str]]:
    load, fail_on, _, _ = RUNS[run]
    results = load()
    index = write_html(results, summary_of(results, fail_on), tmp_path / "reports" / "index.html", now=NOW)
    vulns = next(r for r in results if r.stage == "vulns")
    ids = {f["id"] for f in vulns.facts["findings"]} | set(vulns.facts["listed"])
    return index.as_uri(), ids


@pytest.mark.parametrize("screen", sorted(SCREENS))
@pytest.mark.parametrize("run", sorted(RUNS))
def test_layout_and_reading_order(browser, tmp_path, run, screen):
    url, ids = _page(tmp_path, run)
    width, height, mobile = SCREENS[screen]
    tab = browser.open(url, width, height, mobile=mobile)
    got = tab.eval(LAYOUT)
    # a phone shows a page wider than itself zoomed out (the viewport grows to the content): it must stay at its width
    assert got["innerWidth"] == width, got
    assert got["scrollWidth"] <= got["innerWidth"], got  # no sideways scroll
    _, _, verdict, first = RUNS[run]
    assert got["firstHeading"] == f"Verdict: {verdict}"
    assert got["firstSection"] == first
    assert got["headlineBottom"] <= got["innerHeight"], got  # what the verdict covers is on the first screen
    if verdict == "PASS":
        assert "57 other known advisories affect it (30 reachable" in got["headline"]
        assert "fix.fail_on = 'listed'" in got["headline"]
    scroll_width, inner_width = tab.eval(OPEN_ALL)
    assert inner_width == width and scroll_width <= inner_width  # still none with every collapsed block open (tables, outputs)

    found = tab.eval(FINDINGS)
    assert set(found) == ids
    for aid, n in found.items():
        assert n["elements"] == 1, (aid, n)
        assert n["inPage"] == n["inElement"] >= 1, (aid, n)  # each finding once


def test_the_measurement_sees_sideways_overflow(browser, tmp_path):
    """The measurement can see sideways scroll: a page with one unbreakable line wider than a phone has it."""
    page = tmp_path / "wide.html"
    page.write_text('<!DOCTYPE html><html><head><meta name="viewport" content="width=device-width, '
                    'initial-scale=1"></head><body><table><tr><td style="white-space:nowrap">'
                    + "crypto/x509.Certificate.CheckSignatureFrom " * 8 + "</td></tr></table></body></html>")
    tab = browser.open(page.as_uri(), 375, 667, mobile=True)
    scroll_width, inner_width = tab.eval("[document.documentElement.scrollWidth, window.innerWidth]")
    # a phone zooms out to the content's width rather than scroll: the viewport grows past 375 px
    assert not (inner_width == 375 and scroll_width <= inner_width), (scroll_width, inner_width)
