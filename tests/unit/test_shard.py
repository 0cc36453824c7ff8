"""verify --shard K/N: disjoint, covering, deterministic and stable parts of a fleet."""

from __future__ import annotations

import json

import pytest

from fixproof.errors import UsageError
from fixproof.shard import Shard, assign, read_timings, select

APPS = [f"svc-{i:03d}" for i in range(300)]


def test_parts_are_disjoint_cover_the_fleet_and_keep_its_order():
    parts = [select(APPS, Shard(k, 4)) for k in range(1, 5)]
    assert sorted(a for p in parts for a in p) == sorted(APPS)
    assert all(p == [a for a in APPS if a in set(p)] for p in parts)
    assert all(40 <= len(p) <= 110 for p in parts)  # roughly even without timings


def test_adding_or_removing_an_app_moves_no_other():
    before = assign(APPS, 4)
    after = assign(APPS + ["new-svc"], 4)
    assert {a: after[a] for a in APPS} == before
    fewer = assign(APPS[1:], 4)
    assert all(fewer[a] == before[a] for a in APPS[1:])


def test_one_more_shard_moves_only_what_the_new_shard_takes():
    four, five = assign(APPS, 4), assign(APPS, 5)
    moved = [a for a in APPS if four[a] != five[a]]
    assert moved and all(five[a] == 5 for a in moved)


def test_timings_balance_the_parts():
    timings = {a: (600.0 if i < 3 else 10.0) for i, a in enumerate(APPS[:40])}
    part = assign(APPS[:40], 4, timings)
    load = {k: sum(timings[a] for a in APPS[:40] if part[a] == k) for k in range(1, 5)}
    assert max(load.values()) - min(load.values()) <= 600
    assert len({part[a] for a in APPS[:3]}) == 3  # the three long apps on different shards
    assert part == assign(APPS[:40], 4, dict(reversed(list(timings.items()))))  # deterministic


def test_shard_argument():
    assert Shard.parse("2/4") == Shard(2, 4) and str(Shard(2, 4)) == "2/4"
    for bad in ("0/4", "5/4", "x", "1/0", "-1/3"):
        with pytest.raises(UsageError, match="K/N"):
            Shard.parse(bad)


def test_timings_file(tmp_path):
    good = tmp_path / "summary.json"
    good.write_text(json.dumps({"apps": {"a": {"seconds": 12.5}, "b": {"status": "passed"}}}))
    assert read_timings(good) == {"a": 12.5}
    for text in ("{}", "not json", json.dumps({"apps": {"b": {}}})):
        good.write_text(text)
        with pytest.raises(UsageError, match="--timings"):
            read_timings(good)
    with pytest.raises(UsageError, match="--timings"):
        read_timings(tmp_path / "missing.json")


# -- verify --shard ---------------------------------------------------------------------------


def _capture(monkeypatch):
    from fixproof import tasks

    seen: list[list[str]] = []

    def capture(cfgs, **kw):
        seen.append([c.app_name for c in cfgs])
        raise SystemExit(0)

    monkeypatch.setattr(tasks, "fleet_namespace", capture)
    return seen


def test_verify_shard_runs_only_its_apps(tmp_path, monkeypatch):
    from conftest import write_fleet_config
    from fixproof import cli

    seen = _capture(monkeypatch)
    cfg = write_fleet_config(tmp_path)
    part = assign(["edge", "legacy"], 2)
    for k in (1, 2):
        if k in part.values():
            with pytest.raises(SystemExit):
                cli.main(["verify", "-c", str(cfg), "--shard", f"{k}/2"])
    assert sorted(a for s in seen for a in s) == ["edge", "legacy"]
    assert cli.main(["verify", "-c", str(cfg), "--shard", "3/2"]) == 2
    assert cli.main(["verify", "-c", str(cfg), "--timings", str(cfg)]) == 2  # --timings needs --shard


def test_a_shard_of_a_one_app_config_is_a_usage_error(tmp_path):
    from conftest import EXAMPLE, write_config
    from fixproof import cli

    assert cli.main(["verify", "-c", str(write_config(tmp_path, EXAMPLE)), "--shard", "1/2"]) == 2


def test_an_empty_shard_says_so_and_names_the_fleet(tmp_path, monkeypatch):
    from conftest import write_fleet_config
    from fixproof import cli

    seen = _capture(monkeypatch)
    cfg = write_fleet_config(tmp_path)
    part = assign(["edge", "legacy"], 6)
    empty = next(k for k in range(1, 7) if k not in part.values())
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "junit.xml").write_text("<testsuites/>")  # an earlier run's verdict
    assert cli.main(["verify", "-c", str(cfg), "--shard", f"{empty}/6"]) == 0
    assert seen == []  # nothing ran
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    assert summary["status"] == "empty" and summary["apps"] == {}
    assert summary["shard"]["index"] == empty and summary["shard"]["fleet_apps"] == ["edge", "legacy"]
    assert len(summary["shard"]["config_sha256"]) == 64
    assert not (tmp_path / "reports" / "junit.xml").exists()
