"""The vulndb client against a loopback HTTP server (gzip) and file:// URLs."""

from __future__ import annotations

import gzip
import json
import shutil
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from conftest import VULNDB
from fixproof.errors import VulnDBError
from fixproof.vulndb import VulnDB, cache_key, default_cache_root

SNAPSHOT = VULNDB  # the snapshot beside the checkout

pytestmark = pytest.mark.usefixtures("vulndb_snapshot")  # in CI its absence fails, never skips


class DBServer:
    """Serves SNAPSHOT (or overrides) gzip-encoded; counts requests per path."""

    def __init__(self, gzip_mode: str = "content-encoding") -> None:
        self.hits: Counter[str] = Counter()
        self.overrides: dict[str, bytes] = {}
        self.accept_encodings: list[str] = []
        self.gzip_mode = gzip_mode
        self.hang = False
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                rel = self.path.lstrip("/")
                with outer.lock:
                    outer.hits[rel] += 1
                    outer.accept_encodings.append(self.headers.get("Accept-Encoding", ""))
                if outer.hang:
                    threading.Event().wait(3)
                    return
                body = outer.overrides.get(rel)
                if body is None:
                    p = SNAPSHOT / rel
                    if ".." in rel or not p.is_file():
                        self.send_error(404)
                        return
                    body = p.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if outer.gzip_mode == "content-encoding" and "gzip" in self.headers.get("Accept-Encoding", ""):
                    body = gzip.compress(body)
                    self.send_header("Content-Encoding", "gzip")
                elif outer.gzip_mode == "raw-gzip":
                    body = gzip.compress(body)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def ids_fetched(self) -> int:
        return sum(n for p, n in self.hits.items() if p.startswith("ID/"))

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server() -> Iterator[DBServer]:
    s = DBServer()
    yield s
    s.stop()


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_http_gzip_and_lazy_entries(server: DBServer, tmp_path: Path) -> None:
    with VulnDB(server.url, cache_dir=tmp_path) as db:
        info = db.open()
        assert not info.offline and info.modified.year == 2026
        got = db.entries_for_modules(["golang.org/x/text", "example.com/not-in-db"])
    assert set(got) == {"golang.org/x/text"}
    ids = {e.id for e in got["golang.org/x/text"]}
    assert "GO-2022-1059" in ids
    e = next(e for e in got["golang.org/x/text"] if e.id == "GO-2022-1059")
    assert e.affected[0].module == "golang.org/x/text"
    assert e.affected[0].imports[0].path == "golang.org/x/text/language"
    assert "ParseAcceptLanguage" in e.affected[0].imports[0].symbols
    # only what was asked for was fetched; every request offered gzip
    assert server.ids_fetched() == len(ids)
    assert all("gzip" in a for a in server.accept_encodings)
    assert (tmp_path / cache_key(server.url) / "ID" / "GO-2022-1059.json").is_file()


def test_raw_gzip_body_is_decoded(tmp_path: Path) -> None:
    s = DBServer(gzip_mode="raw-gzip")  # .json served as a gzip stream without Content-Encoding
    try:
        with VulnDB(s.url, cache_dir=tmp_path) as db:
            assert db.entry("GO-2022-1059").id == "GO-2022-1059"
    finally:
        s.stop()


def test_cache_refreshes_only_when_modified_changes(server: DBServer, tmp_path: Path) -> None:
    mods = ["golang.org/x/text", "stdlib"]
    with VulnDB(server.url, cache_dir=tmp_path) as db:
        first = db.entries_for_modules(mods)
    n_ids = server.ids_fetched()
    assert server.hits["index/modules.json"] == 1 and n_ids > 100

    server.hits.clear()
    with VulnDB(server.url, cache_dir=tmp_path) as db:
        again = db.entries_for_modules(mods)
    assert again == first
    assert dict(server.hits) == {"index/db.json": 1}  # nothing else was fetched

    # The database changed: the index is fetched again, but only the entry whose
    # index timestamp moved is fetched again.
    index = json.loads((SNAPSHOT / "index" / "modules.json").read_bytes())
    for m in index:
        if m["path"] == "golang.org/x/text":
            for v in m["vulns"]:
                if v["id"] == "GO-2022-1059":
                    v["modified"] = "2030-01-01T00:00:00Z"
    entry = json.loads((SNAPSHOT / "ID" / "GO-2022-1059.json").read_bytes())
    entry["modified"] = "2030-01-01T00:00:00Z"
    entry["aliases"] = entry["aliases"] + ["TEST-ALIAS"]
    server.overrides = {
        "index/db.json": json.dumps({"modified": "2030-01-01T00:00:00Z"}).encode(),
        "index/modules.json": json.dumps(index).encode(),
        "ID/GO-2022-1059.json": json.dumps(entry).encode(),
    }
    server.hits.clear()
    with VulnDB(server.url, cache_dir=tmp_path) as db:
        assert db.open().modified.year == 2030
        fresh = db.entries_for_modules(mods)
    assert dict(server.hits) == {"index/db.json": 1, "index/modules.json": 1, "ID/GO-2022-1059.json": 1}
    assert "TEST-ALIAS" in next(e for e in fresh["golang.org/x/text"] if e.id == "GO-2022-1059").aliases


def test_offline_from_cache_with_a_notice(tmp_path: Path) -> None:
    s = DBServer()
    url = s.url
    with VulnDB(url, cache_dir=tmp_path) as db:
        db.entries_for_modules(["golang.org/x/text"])
    s.stop()
    notices: list[str] = []
    with VulnDB(url, cache_dir=tmp_path, notify=notices.append, timeout=(1, 1)) as db:
        info = db.open()
        got = db.entries_for_modules(["golang.org/x/text"])
        assert info.offline
        assert "GO-2022-1059" in {e.id for e in got["golang.org/x/text"]}
        assert len(notices) == 1 and "offline" in notices[0] and url in notices[0]
        with pytest.raises(VulnDBError, match="lacks"):
            db.entries_for_modules(["gopkg.in/yaml.v2"])  # never cached


def test_unreachable_without_cache(tmp_path: Path) -> None:
    url = _closed_port_url()
    with pytest.raises(VulnDBError, match=url.replace(".", r"\.")) as exc:
        VulnDB(url, cache_dir=tmp_path, timeout=(1, 1)).open()
    assert exc.value.exit_code == 3
    assert "no cache" in str(exc.value)


def test_timeout_counts_as_unreachable(server: DBServer, tmp_path: Path) -> None:
    server.hang = True
    with pytest.raises(VulnDBError, match="cannot reach"):
        VulnDB(server.url, cache_dir=tmp_path, timeout=(1, 0.3)).open()


def test_http_404_is_an_error(tmp_path: Path) -> None:
    s = DBServer()
    try:
        with pytest.raises(VulnDBError, match="HTTP 404"):
            VulnDB(s.url + "/nope", cache_dir=tmp_path).open()
    finally:
        s.stop()


def test_corrupt_remote_entry_names_the_url(server: DBServer, tmp_path: Path) -> None:
    server.overrides["ID/GO-2022-1059.json"] = b'{"id": "GO-2022-1059", "modified": '
    with VulnDB(server.url, cache_dir=tmp_path) as db:
        with pytest.raises(VulnDBError, match=r"/ID/GO-2022-1059\.json is not valid JSON"):
            db.entry("GO-2022-1059")
    assert not (tmp_path / cache_key(server.url) / "ID" / "GO-2022-1059.json").exists()


def test_corrupt_cache_is_refetched_online_and_named_offline(tmp_path: Path) -> None:
    s = DBServer()
    url = s.url
    with VulnDB(url, cache_dir=tmp_path) as db:
        db.entry("GO-2022-1059")
    cached = tmp_path / cache_key(url) / "ID" / "GO-2022-1059.json"
    cached.write_text("garbage")
    s.hits.clear()
    with VulnDB(url, cache_dir=tmp_path) as db:
        assert db.entry("GO-2022-1059").id == "GO-2022-1059"
    assert s.hits["ID/GO-2022-1059.json"] == 1
    cached.write_text("garbage")
    index = tmp_path / cache_key(url) / "index" / "modules.json"
    index.write_text("[{")  # a corrupt cached index is fetched again too
    s.hits.clear()
    with VulnDB(url, cache_dir=tmp_path) as db:
        db.open()
    assert s.hits["index/modules.json"] == 1 and json.loads(index.read_text())
    s.stop()
    with VulnDB(url, cache_dir=tmp_path, timeout=(1, 1)) as db:
        with pytest.raises(VulnDBError, match=str(cached).replace(".", r"\.")):
            db.entry("GO-2022-1059")


def test_file_url_reads_plain_files(tmp_path: Path) -> None:
    db = VulnDB(SNAPSHOT.as_uri(), cache_dir=tmp_path)
    assert db.open().cache_dir == ""
    got = db.entries_for_modules(["stdlib", "gopkg.in/yaml.v2"])
    assert {"GO-2020-0036", "GO-2021-0061", "GO-2022-0956"} <= {e.id for e in got["gopkg.in/yaml.v2"]}
    assert not any(tmp_path.iterdir())  # file:// is not cached
    # a bare directory path is accepted as a local database too
    assert VulnDB(str(SNAPSHOT)).entry("GO-2024-2963").aliases == ("CVE-2024-24791",)


def _mini_db(root: Path, entry_body: bytes) -> None:
    (root / "index").mkdir(parents=True)
    (root / "ID").mkdir()
    (root / "index" / "db.json").write_text('{"modified": "2024-01-01T00:00:00Z"}')
    (root / "index" / "modules.json").write_text(json.dumps(
        [{"path": "example.com/m", "vulns": [{"id": "TEST-0001", "modified": "2024-01-01T00:00:00Z"}]}]))
    (root / "ID" / "TEST-0001.json").write_bytes(entry_body)


def test_file_url_corrupt_entry_names_the_file(tmp_path: Path) -> None:
    _mini_db(tmp_path / "db", b"[1, 2")
    with pytest.raises(VulnDBError, match=r"TEST-0001\.json is not valid JSON"):
        VulnDB((tmp_path / "db").as_uri()).entries_for_modules(["example.com/m"])
    shutil.rmtree(tmp_path / "db")
    _mini_db(tmp_path / "db", b'{"id": "TEST-0001", "modified": "2024-01-01T00:00:00Z", "affected": {}}')
    with pytest.raises(VulnDBError, match="malformed"):
        VulnDB((tmp_path / "db").as_uri()).entries_for_modules(["example.com/m"])


def test_file_url_gz_files_and_missing_db(tmp_path: Path) -> None:
    body = json.dumps({"id": "TEST-0001", "modified": "2024-01-01T00:00:00Z", "withdrawn": "2024-02-01T00:00:00Z",
                       "affected": [{"package": {"name": "example.com/m", "ecosystem": "Go"}}]}).encode()
    _mini_db(tmp_path / "db", b"")
    (tmp_path / "db" / "ID" / "TEST-0001.json").unlink()
    (tmp_path / "db" / "ID" / "TEST-0001.json.gz").write_bytes(gzip.compress(body))
    e = VulnDB((tmp_path / "db").as_uri()).entry("TEST-0001")
    assert e.withdrawn is not None and e.is_withdrawn()
    with pytest.raises(VulnDBError, match="does not exist"):
        VulnDB((tmp_path / "nothing").as_uri()).open()


def test_cache_root_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: DBServer) -> None:
    assert default_cache_root({"FIXPROOF_CACHE_DIR": "/x"}) == Path("/x/vulndb")
    assert default_cache_root({"XDG_CACHE_HOME": "/c"}) == Path("/c/fixproof/vulndb")
    monkeypatch.setenv("FIXPROOF_CACHE_DIR", str(tmp_path))
    with VulnDB(server.url) as db:
        db.open()
    assert (tmp_path / "vulndb" / cache_key(server.url) / "index" / "db.json").is_file()


def test_bad_scheme() -> None:
    with pytest.raises(VulnDBError, match="unsupported"):
        VulnDB("ftp://example.com/db")
