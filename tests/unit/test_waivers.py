"""Waivers file parsing and decisions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fixproof.errors import ConfigError
from fixproof.waivers import Waiver, load_waivers

GOOD = """
[[waiver]]
id = "GO-2024-2963"
reason = "the client only talks to our own servers"
expires = 2030-06-30
approved_by = "security team"

[[waiver]]
id = "CVE-2022-32149"
reason = "headers are length-limited upstream"
expires = "2020-01-01"
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "waivers.toml"
    p.write_text(text)
    return p


def test_load_and_decide(tmp_path: Path) -> None:
    w = load_waivers(_write(tmp_path, GOOD))
    assert w.items[0] == Waiver("GO-2024-2963", "the client only talks to our own servers",
                                dt.date(2030, 6, 30), "security team")
    assert w.items[1].expires == dt.date(2020, 1, 1) and w.items[1].approved_by == ""
    today = dt.date(2026, 1, 1)
    d = w.decide(["GO-2024-2963", "CVE-2024-24791"], today)
    assert d.waiver is w.items[0] and d.expired is None
    # matched through an alias, but expired: not applied, and reported as expired
    d = w.decide(["GO-2022-1059", "CVE-2022-32149"], today)
    assert d.waiver is None and d.expired is w.items[1]
    assert w.decide(["GO-2000-0001"], today).waiver is None
    # valid through its expiry day
    assert w.decide(["GO-2024-2963"], dt.date(2030, 6, 30)).waiver is not None
    assert w.decide(["GO-2024-2963"], dt.date(2030, 7, 1)).expired is not None
    assert w.items[0].to_json() == {"reason": "the client only talks to our own servers",
                                    "expires": "2030-06-30", "approved_by": "security team"}


def test_empty_file_has_no_waivers(tmp_path: Path) -> None:
    assert load_waivers(_write(tmp_path, "")).items == ()


@pytest.mark.parametrize("text,msg", [
    ('[[waiver]]\nid = "GO-1"\nexpires = 2030-01-01\n', "no reason"),
    ('[[waiver]]\nid = "GO-1"\nreason = "  "\nexpires = 2030-01-01\n', "no reason"),
    ('[[waiver]]\nid = "GO-1"\nreason = "r"\n', "no expires"),
    ('[[waiver]]\nid = "GO-1"\nreason = "r"\nexpires = "soon"\n', "not a date"),
    ('[[waiver]]\nid = "GO-1"\nreason = "r"\nexpires = 5\n', "must be a date"),
    ('[[waiver]]\nreason = "r"\nexpires = 2030-01-01\n', "no id"),
    ('[[waiver]]\nid = "GO-1"\nreason = "r"\nexpires = 2030-01-01\nexpire = 2031-01-01\n', "unknown key"),
    ('[[waiver]]\nid = "GO-1"\nreason = "r"\nexpires = 2030-01-01\napproved_by = 3\n', "approved_by"),
    ('[waiver]\nid = "GO-1"\n', r"\[\[waiver\]\] table"),
    ('[[waivers]]\nid = "GO-1"\n', "unknown top-level"),
    ("[[waiver]\n", "not valid TOML"),
])
def test_bad_files(tmp_path: Path, text: str, msg: str) -> None:
    with pytest.raises(ConfigError, match=msg) as exc:
        load_waivers(_write(tmp_path, text))
    assert exc.value.exit_code == 2
    assert "waivers.toml" in str(exc.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_waivers(tmp_path / "nope.toml")


def test_datetime_expiry_is_its_date(tmp_path: Path) -> None:
    w = load_waivers(_write(tmp_path, '[[waiver]]\nid = "GO-1"\nreason = "r"\nexpires = 2030-01-01T12:00:00Z\n'))
    assert w.items[0].expires == dt.date(2030, 1, 1)
