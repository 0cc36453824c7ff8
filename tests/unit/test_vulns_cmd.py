"""``fixproof vulns``: command behaviour with constructed inputs (fast, no Go): stand-in readers, the DB
snapshot beside the checkout, waivers, exit codes. Agreement with govulncheck on real Go binaries:
tests/integration/test_vulns_cmd.py."""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pytest

from conftest import VULNDB
from fixproof import cli, vulns_cmd
from fixproof.errors import BinaryFormatError, VulnDBError

DB_URL = VULNDB.as_uri()


@dataclass(frozen=True)
class _Mod:
    path: str
    version: str
    sum: str = ""
    replace: "_Mod | None" = None


@dataclass(frozen=True)
class _BuildInfo:
    file: str
    format: str
    goos: str
    goarch: str
    go_version: str
    path: str
    main: _Mod | None
    deps: tuple[_Mod, ...]
    settings: tuple[tuple[str, str], ...] = field(default_factory=tuple)


FAKE = {
    "app": _BuildInfo("app", "elf", "linux", "amd64", "go1.22.4", "example.com/app",
                      _Mod("example.com/app", "(devel)"), (_Mod("golang.org/x/text", "v0.3.7"),)),
    "fixed": _BuildInfo("fixed", "elf", "linux", "amd64", "go1.26.8", "example.com/app",
                        _Mod("example.com/app", "(devel)"), (_Mod("golang.org/x/text", "v0.3.8"),)),
}
FUNCS = {"app": ["golang.org/x/text/language.ParseAcceptLanguage", "net/http.(*Client).Do", "main.main"],
         "fixed": ["golang.org/x/text/language.ParseAcceptLanguage", "main.main"]}


def _fake_readers(infos: dict[str, Any], funcs: dict[str, Sequence[str]]) -> dict[str, Any]:
    def rb(path: str) -> Any:
        if path not in infos:
            raise BinaryFormatError("not a Go binary (no build info)")
        return infos[path]

    return {"read_buildinfo": rb, "read_functions": lambda p: funcs[p]}


def _run(paths: list[str], *, waivers: str | None = None, as_json: bool = True,
         today: dt.date = dt.date(2026, 1, 1)) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = vulns_cmd.run(paths, db=DB_URL, waivers=waivers, as_json=as_json, out=out, err=err, today=today,
                       **_fake_readers(FAKE, FUNCS))
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture
def need_snapshot(vulndb_snapshot: Path) -> None:
    """The DB snapshot beside the checkout (tests/conftest.py: in CI its absence fails, never skips)."""


def test_json_output_and_exit_code(need_snapshot: None) -> None:
    rc, out, err = _run(["app"])
    assert rc == 1
    findings = json.loads(out)
    keys = {"file", "id", "aliases", "module", "version", "fixed", "symbols", "level", "waived"}
    assert findings and all(set(f) == keys for f in findings)
    by_id = {f["id"]: f for f in findings}
    assert by_id["GO-2022-1059"] == {
        "file": "app", "id": "GO-2022-1059", "aliases": ["CVE-2022-32149", "GHSA-69ch-w2m2-3vjp"],
        "module": "golang.org/x/text", "version": "v0.3.7", "fixed": "v0.3.8",
        "symbols": ["golang.org/x/text/language.ParseAcceptLanguage"], "level": "symbol", "waived": None}
    assert by_id["GO-2024-2963"]["module"] == "stdlib" and by_id["GO-2024-2963"]["level"] == "symbol"
    assert by_id["GO-2024-2963"]["fixed"] == "v1.22.5"


def test_text_output(need_snapshot: None) -> None:
    rc, out, _ = _run(["app"], as_json=False)
    lines = out.splitlines()
    line = next(x for x in lines if "GO-2022-1059" in x)
    assert line == ("app: GO-2022-1059 (CVE-2022-32149, GHSA-69ch-w2m2-3vjp) golang.org/x/text@v0.3.7 "
                    "fixed in v0.3.8 [symbol] golang.org/x/text/language.ParseAcceptLanguage")
    std = next(x for x in lines if "GO-2024-2963" in x)
    assert "stdlib@go1.22.4 fixed in go1.22.5 [symbol] net/http.Client.Do" in std
    assert lines[-1].endswith("in 1 binary")


def test_waivers_mark_findings_and_only_unwaived_count(need_snapshot: None, tmp_path: Path) -> None:
    # Waive every finding of "fixed" except by an expired waiver for one of them.
    rc, out, _ = _run(["fixed"])
    ids = sorted({f["id"] for f in json.loads(out)})
    assert rc == 1 and ids
    expired_id, live_ids = ids[0], ids[1:]
    text = "".join(f'[[waiver]]\nid = "{i}"\nreason = "accepted for the test"\nexpires = 2026-06-30\n'
                   f'approved_by = "qa"\n\n' for i in live_ids)
    text += f'[[waiver]]\nid = "{expired_id}"\nreason = "old"\nexpires = 2025-01-01\n'
    wf = tmp_path / "waivers.toml"
    wf.write_text(text)
    rc, out, err = _run(["fixed"], waivers=str(wf))
    findings = json.loads(out)
    assert rc == 1  # the expired waiver does not apply
    for f in findings:
        if f["id"] == expired_id:
            assert f["waived"] is None
        else:
            assert f["waived"] == {"reason": "accepted for the test", "expires": "2026-06-30", "approved_by": "qa"}
    assert f"waiver for {expired_id} expired on 2025-01-01" in err
    # renew it: every finding waived -> exit 0, still printed
    wf.write_text(text.replace("expires = 2025-01-01", "expires = 2027-01-01"))
    rc, out, _ = _run(["fixed"], waivers=str(wf), as_json=False)
    assert rc == 0
    assert out.count("WAIVED until") == len(ids)
    assert out.splitlines()[-1].startswith("0 finding(s), %d waived" % len(ids))


def test_bad_file_is_one_line_and_the_rest_is_processed(need_snapshot: None) -> None:
    rc, out, err = _run(["notgo", "fixed"])
    assert rc == 1
    assert err.splitlines()[0] == "fixproof: notgo: not a Go binary (no build info)"
    assert {f["file"] for f in json.loads(out)} == {"fixed"}


def test_no_findings_exits_zero(tmp_path: Path) -> None:
    (tmp_path / "index").mkdir()
    (tmp_path / "ID").mkdir()
    (tmp_path / "index" / "db.json").write_text('{"modified": "2024-01-01T00:00:00Z"}')
    (tmp_path / "index" / "modules.json").write_text("[]")
    out, err = io.StringIO(), io.StringIO()
    rc = vulns_cmd.run(["app"], db=tmp_path.as_uri(), waivers=None, as_json=True, out=out, err=err,
                       **_fake_readers(FAKE, FUNCS))
    assert rc == 0 and json.loads(out.getvalue()) == []


def test_cli_exit_codes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                        need_snapshot: None) -> None:
    fr = _fake_readers(FAKE, FUNCS)
    monkeypatch.setattr(vulns_cmd, "_read_binary",
                        lambda p: (fr["read_buildinfo"](p), vulns_cmd._ListedNames(fr["read_functions"](p))))
    bad = tmp_path / "w.toml"
    bad.write_text('[[waiver]]\nid = "GO-2022-1059"\nexpires = 2030-01-01\n')
    assert cli.main(["vulns", "app", "--db", DB_URL, "--waivers", str(bad)]) == 2
    assert "no reason" in capsys.readouterr().err
    with socket_closed_url() as url:
        monkeypatch.setenv("FIXPROOF_CACHE_DIR", str(tmp_path / "cache"))
        assert cli.main(["vulns", "app", "--db", url]) == 3
        err = capsys.readouterr().err
        assert url in err and "Traceback" not in err
    assert cli.main(["vulns", "app", "fixed", "--db", DB_URL, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)


class socket_closed_url:
    def __enter__(self) -> str:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return f"http://127.0.0.1:{s.getsockname()[1]}"

    def __exit__(self, *a: object) -> None:
        pass


def test_unreachable_db_raises_infra_error(tmp_path: Path) -> None:
    with socket_closed_url() as url:
        with pytest.raises(VulnDBError) as exc:
            vulns_cmd.run(["app"], db=url, waivers=None, as_json=True, out=io.StringIO(), err=io.StringIO(),
                          cache_dir=str(tmp_path), **_fake_readers(FAKE, FUNCS))
    assert exc.value.exit_code == 3


def test_offline_notice_on_stderr(tmp_path: Path, need_snapshot: None) -> None:
    from unit.test_vulndb import DBServer  # the loopback gzip server of the vulndb tests

    s = DBServer()
    url = s.url
    kw = dict(db=url, waivers=None, as_json=True, cache_dir=str(tmp_path), **_fake_readers(FAKE, FUNCS))
    online_out = io.StringIO()
    assert vulns_cmd.run(["app"], out=online_out, err=io.StringIO(), **kw) == 1
    s.stop()
    out, err = io.StringIO(), io.StringIO()
    assert vulns_cmd.run(["app"], out=out, err=err, **kw) == 1
    assert out.getvalue() == online_out.getvalue()
    assert err.getvalue().startswith(f"fixproof: note: vulnerability database {url} unreachable")
    assert "working offline from the cache" in err.getvalue()


def test_db_from_environment(monkeypatch: pytest.MonkeyPatch, need_snapshot: None) -> None:
    monkeypatch.setenv("FIXPROOF_VULNDB", DB_URL)
    out = io.StringIO()
    rc = vulns_cmd.run(["app"], db=None, waivers=None, as_json=True, out=out, err=io.StringIO(),
                       **_fake_readers(FAKE, FUNCS))
    assert rc == 1 and "GO-2022-1059" in out.getvalue()


def _run_format(paths: list[str], fmt: str, waivers: str | None = None) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = vulns_cmd.run(paths, db=DB_URL, waivers=waivers, as_json=False, fmt=fmt, out=out, err=err,
                       today=dt.date(2026, 1, 1), **_fake_readers(FAKE, FUNCS))
    return rc, out.getvalue()


def test_sarif_format_for_code_scanning(need_snapshot: None) -> None:
    """#15.4: the shipped-binary path (no Docker) had only text and JSON, so it could not feed code scanning."""
    rc, out = _run_format(["app", "fixed"], "sarif")
    assert rc == 1
    doc = json.loads(out)
    run = doc["runs"][0]
    assert doc["version"] == "2.1.0" and run["tool"]["driver"]["name"] == "fixproof"
    results = run["results"]
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results} == {"app", "fixed"}
    text = next(r for r in results if r["ruleId"] == "GO-2022-1059")
    assert text["level"] == "error"  # every unwaived finding fails `fixproof vulns`
    prints = [r["partialFingerprints"]["fixproof/v1"] for r in results]
    assert len(prints) == len(set(prints))  # the same advisory in two binaries: two alerts
    rule = next(r for r in run["tool"]["driver"]["rules"] if r["id"] == "GO-2022-1059")
    assert float(rule["properties"]["security-severity"]) >= 7.0


def test_openvex_format_names_each_binary_by_its_hash(need_snapshot: None, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    monkeypatch.chdir(tmp_path)
    (tmp_path / "app").write_bytes(b"the shipped binary")
    rc, out = _run_format(["app"], "openvex")
    assert rc == 1
    doc = json.loads(out)
    assert doc["@context"].startswith("https://openvex.dev/ns/v0.2.0") and doc["version"] == 1
    by_id = {s["vulnerability"]["name"]: s for s in doc["statements"]}
    assert by_id["GO-2022-1059"]["status"] == "affected"
    assert "v0.3.8" in by_id["GO-2022-1059"]["action_statement"]
    digest = hashlib.sha256(b"the shipped binary").hexdigest()
    assert by_id["GO-2022-1059"]["products"] == [{"@id": f"pkg:generic/app?checksum=sha256:{digest}",
                                                 "hashes": {"sha-256": digest}}]


def test_json_flag_and_format_agree(need_snapshot: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_format(["app"], "json")[1] == _run(["app"])[1]
    assert cli.main(["vulns", "--json", "--format", "text", "x"]) == 2  # two different answers asked for
    assert "--format" in capsys.readouterr().err
