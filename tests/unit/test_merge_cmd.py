"""`fixproof merge` and `fixproof evidence verify` on a merge's evidence index, through the CLI: exit codes and output."""

from __future__ import annotations

import json

import pytest

from fixproof.cli import main

from .publish.synthetic_shards import write_shards


@pytest.mark.parametrize("verdicts, code", [
    ({"a": "passed", "b": "passed", "c": "passed"}, 0),
    ({"a": "passed", "b": "failed", "c": "passed"}, 1),
    ({"a": "error", "b": "failed", "c": "passed"}, 3),
])
def test_merge_exits_with_the_fleet_verdict(tmp_path, capsys, verdicts, code):
    dirs = write_shards(tmp_path, verdicts, 2)
    assert main(["merge", str(tmp_path / "out"), *map(str, dirs)]) == code
    out = capsys.readouterr().out
    assert f"merged 2 shard(s) of 2 (3 apps) into {tmp_path / 'out'}" in out
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["exit_code"] == code


def test_merge_refusal_is_a_usage_error_naming_what(tmp_path, capsys):
    dirs = write_shards(tmp_path, {"a": "passed", "b": "passed", "c": "passed", "d": "passed"}, 2)
    missing = json.loads((dirs[1] / "summary.json").read_text())["shard"]["apps"]
    assert main(["merge", str(tmp_path / "out"), str(dirs[0])]) == 2
    err = capsys.readouterr().err
    assert f"missing apps: {', '.join(missing)}" in err and "nothing was written" in err
    assert "Traceback" not in err


def test_merge_needs_out_and_a_directory(capsys):
    with pytest.raises(SystemExit) as e:
        main(["merge", "out"])
    assert e.value.code == 2


def test_evidence_verify_checks_a_merged_index(tmp_path, capsys):
    dirs = write_shards(tmp_path, {"a": "passed", "b": "failed"}, 2)
    main(["merge", str(tmp_path / "out"), *map(str, dirs)])
    capsys.readouterr()
    ev = tmp_path / "out" / "evidence"
    assert main(["evidence", "verify", str(ev)]) == 0
    out = capsys.readouterr().out
    assert f"{ev}/a: intact" in out and f"{ev}/b: intact" in out and "intact (2 bundles" in out
    (ev / "b" / "reports" / "summary.json").write_text("{}")
    assert main(["evidence", "verify", str(ev)]) == 1
    captured = capsys.readouterr()
    assert f"{ev}/b/reports/summary.json: sha256 mismatch" in captured.out
    assert "evidence index" in captured.err


def test_evidence_verify_of_a_single_bundle_is_unchanged(tmp_path, capsys):
    dirs = write_shards(tmp_path, {"a": "passed", "b": "passed"}, 1)
    bundle = dirs[0] / "apps" / "a" / "evidence"
    assert main(["evidence", "verify", str(bundle)]) == 0
    assert "intact (10 files match manifest.json)" in capsys.readouterr().out
