"""`fixproof inspect` on the corpus of real Go binaries: go version -m compatible text, the JSON contract,
bad inputs (text rendering of constructed build info: tests/unit/test_inspect_cmd.py)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import goinfo_corpus as gc
from conftest import NEEDS_ROOT
from fixproof import inspect_cmd
from fixproof.goinfo.itabs import read_itabs
from fixproof.goinfo.pclntab import read_functions

FIXPROOF = [sys.executable, "-m", "fixproof.cli"]
SAMPLE = ["go1.26.8-linux-amd64", "go1.18.10-linux-386", "go1.21.13-windows-amd64-stripped",
          "go1.27.4-darwin-amd64", "go1.17.13-linux-amd64", "go1.26.8-linux-amd64-xflag",
          "go1.24.13-linux-amd64-vcs-dirty", "go1.26.8-linux-amd64-gopath"]


@pytest.fixture(scope="module")
def corpus() -> gc.Corpus:
    return gc.corpus()


def run(paths: list[str], as_json: bool = False, symbols: bool = False, itabs: bool = False) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = inspect_cmd.run([str(p) for p in paths], as_json=as_json, symbols=symbols, out=out, err=err, itabs=itabs)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture()
def fleet(corpus: gc.Corpus, tmp_path: Path) -> Path:
    """A directory of sample binaries (hard links) plus files that are not Go."""
    d = tmp_path / "fleet"
    (d / "sub").mkdir(parents=True)
    for i, name in enumerate(SAMPLE):
        os.link(corpus[name], (d if i % 2 else d / "sub") / corpus[name].name)
    (d / "README.txt").write_text("not a binary, not executable: skipped silently\n")
    return d


def test_text_is_go_version_m(corpus: gc.Corpus, fleet: Path) -> None:
    rc, out, err = run([str(fleet)])
    assert (rc, err) == (0, "")
    assert out == gc.go_version_m_text(fleet)
    one = corpus["go1.26.8-linux-amd64-xflag"]
    assert run([str(one)])[1] == gc.go_version_m_text(one)


def test_json_contract(corpus: gc.Corpus, fleet: Path) -> None:
    rc, out, err = run([str(fleet)], as_json=True)
    assert (rc, err) == (0, "")
    got = json.loads(out)
    assert [o["file"] for o in got] == [line.split(": ")[0] for line in gc.go_version_m_text(fleet).splitlines()
                                        if not line.startswith("\t")]
    for obj in got:
        name = Path(obj["file"]).name.removesuffix(".exe")
        assert obj == corpus.expected(name, Path(obj["file"]))


def test_json_text_is_json_dumps(corpus: gc.Corpus) -> None:
    """json_object spells out what json.dumps(to_json()) would print, byte for byte."""
    from dataclasses import replace

    from fixproof.goinfo.buildinfo import Module, read_buildinfo

    infos = [read_buildinfo(corpus[name]) for name in corpus.names()]
    odd = Module('q"uote\\', "é ✓", "\x00\x1f\x7f\u2028", Module("../rep", "", "", None))
    infos.append(replace(infos[0], file="dir/ü\tname", path="", main=None, deps=(odd, odd),
                         settings=(("k", "v"), ("-ldflags", '-X "a=b c"'), ("k", "again"))))
    for bi in infos:
        assert inspect_cmd.json_object(bi) == json.dumps(bi.to_json())
        funcs = ("main.main", "ü.f", 'q"')
        assert inspect_cmd.json_object(bi, funcs) == json.dumps({**bi.to_json(), "functions": list(funcs)})
        pairs = (("*os.File", "io.Writer"), ("main.Pair[int,string]", 'q"ü'))
        assert inspect_cmd.json_object(bi, None, pairs) == json.dumps({**bi.to_json(),
                                                                       "itabs": [list(p) for p in pairs]})
        assert inspect_cmd.json_object(bi, funcs, ()) == json.dumps({**bi.to_json(), "functions": list(funcs),
                                                                     "itabs": []})


def test_symbols(corpus: gc.Corpus) -> None:
    path = corpus["go1.26.8-linux-amd64-stripped"]
    rc, out, _ = run([str(path)], as_json=True, symbols=True)
    assert rc == 0
    (obj,) = json.loads(out)
    assert obj["functions"] == list(read_functions(path))
    assert gc.INLINE_ONLY in obj["functions"]
    rc, text, _ = run([str(path)], symbols=True)
    assert rc == 0 and f"\tfunc\t{gc.INLINE_ONLY}\n" in text
    assert text.startswith(gc.go_version_m_text(path))


@pytest.mark.parametrize("name", ["go1.27.4-linux-amd64-stripped", "go1.26.8-windows-amd64-stripped"])
def test_itabs(corpus: gc.Corpus, name: str) -> None:
    path = corpus[name]
    want = read_itabs(path).itabs
    assert want
    rc, out, _ = run([str(path)], as_json=True, itabs=True)
    assert rc == 0
    (obj,) = json.loads(out)
    assert obj["itabs"] == [[i.type, i.interface] for i in want]
    assert ["*os.File", "io.Writer"] in obj["itabs"]
    assert "functions" not in obj
    assert {k: v for k, v in obj.items() if k != "itabs"} == corpus.expected(name)
    rc, text, _ = run([str(path)], itabs=True)
    assert rc == 0 and "\titab\t*os.File,io.Writer\n" in text
    assert text == gc.go_version_m_text(path) + "".join(f"\titab\t{i.type},{i.interface}\n" for i in want)
    rc, both, _ = run([str(path)], symbols=True, itabs=True)  # functions first, then itabs
    assert rc == 0 and both.index("\tfunc\t") < both.index("\titab\t")
    # Without the flag the JSON contract is unchanged: no "itabs" key.
    (plain,) = json.loads(run([str(path)], as_json=True)[1])
    assert "itabs" not in plain and plain == corpus.expected(name)


def test_itabs_unreadable_is_an_error_line(corpus: gc.Corpus) -> None:
    old = corpus["go1.15.15-linux-amd64-file"]  # build info reads; its itab table is not read
    good = corpus["go1.27.4-linux-amd64"]
    rc, out, err = run([str(old), str(good)], itabs=True)
    assert rc == 1
    assert err.startswith(f"fixproof: {old}: ") and "Go 1.17 and later" in err and err.count("\n") == 1
    assert out.startswith(f"{good}: go1.27.4\n")
    rc, out, err = run([str(old)])
    assert (rc, err) == (0, "")  # without --itabs nothing about itabs is read


def _bad_inputs(corpus: gc.Corpus, tmp_path: Path) -> dict[str, Path]:
    data = corpus["go1.26.8-linux-amd64"].read_bytes()
    bad = {
        "empty": tmp_path / "empty",
        "truncated": tmp_path / "truncated",
        "corrupt": tmp_path / "corrupt",
        "ls": tmp_path / "ls",
        "missing": tmp_path / "missing",
        "fifo": tmp_path / "fifo",
        "dangling": tmp_path / "dangling",
    }
    bad["empty"].write_bytes(b"")
    bad["truncated"].write_bytes(data[:300])
    bad["corrupt"].write_bytes(data[:64] + os.urandom(4096))
    shutil.copyfile("/bin/ls", bad["ls"])
    os.mkfifo(bad["fifo"])
    bad["dangling"].symlink_to(tmp_path / "nowhere")
    return bad


def test_bad_inputs_one_line_each_rest_processed(corpus: gc.Corpus, tmp_path: Path) -> None:
    bad = _bad_inputs(corpus, tmp_path)
    good = corpus["go1.22.12-linux-amd64"]
    paths = [str(good), *map(str, bad.values()), str(good)]
    rc, out, err = run(paths)
    assert rc == 1
    assert out == gc.go_version_m_text(good) * 2
    lines = err.splitlines()
    assert len(lines) == len(bad)
    for line, p in zip(lines, bad.values()):
        assert line.startswith(f"fixproof: {p}: ")
    assert "not a Go binary" in lines[list(bad).index("ls")]
    assert "no such file" in lines[list(bad).index("missing")]
    assert "not a regular file" in lines[list(bad).index("fifo")]

    rc, out, err = run(paths, as_json=True)
    objs = json.loads(out)
    assert rc == 1 and len(objs) == len(paths)
    assert objs[0]["go_version"] == "go1.22.12"
    assert [set(o) for o in objs[1:-1]] == [{"file", "error"}] * len(bad)
    assert objs[1]["file"] == str(bad["empty"]) and not objs[1]["error"].startswith(str(bad["empty"]))


def test_directory_of_mixed_files(corpus: gc.Corpus, fleet: Path) -> None:
    shutil.copy2("/bin/ls", fleet / "ls-copy")  # executable: reported, like `go version -v`
    (fleet / "data.bin").write_bytes(b"\x7fELF junk")  # not executable: skipped, like go
    (fleet / "broken.exe").write_bytes(b"MZ")  # named like a binary: reported
    rc, out, err = run([str(fleet)])
    assert rc == 1
    assert out == gc.go_version_m_text(fleet)
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"fixproof: {fleet / 'broken.exe'}: truncated file")
    assert lines[1].startswith(f"fixproof: {fleet / 'ls-copy'}: not a Go binary")


def test_cli_never_tracebacks(corpus: gc.Corpus, tmp_path: Path) -> None:
    bad = _bad_inputs(corpus, tmp_path)
    p = subprocess.run([*FIXPROOF, "inspect", *map(str, bad.values()), str(tmp_path)], cwd=gc.REPO,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1
    assert "Traceback" not in p.stderr
    assert all(line.startswith("fixproof: ") for line in p.stderr.splitlines())
    p = subprocess.run([*FIXPROOF, "inspect", "--json", str(corpus["go1.26.8-linux-amd64"])], cwd=gc.REPO,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and json.loads(p.stdout)[0]["goarch"] == "amd64"
    p = subprocess.run([*FIXPROOF, "inspect", "--itabs", "--json", str(corpus["go1.27.4-linux-amd64"])],
                       cwd=gc.REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and ["*os.File", "io.Writer"] in json.loads(p.stdout)[0]["itabs"]


@pytest.mark.skipif(not gc.CAN_DROP_PRIVILEGES, reason="needs root and setpriv")
@pytest.mark.allow_skip_in_ci(reason=NEEDS_ROOT)
def test_permission_denied(corpus: gc.Corpus) -> None:
    with gc.world_readable_dir() as d:
        secret = d / "secret"
        shutil.copyfile(corpus["go1.26.8-linux-amd64"], secret)
        secret.chmod(0)
        ok = d / "ok"
        shutil.copyfile(corpus["go1.26.8-linux-amd64"], ok)
        ok.chmod(0o755)
        p = subprocess.run([*gc.AS_NOBODY, *FIXPROOF, "inspect", str(secret), str(ok)], cwd=gc.REPO,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 1
        assert p.stderr == f"fixproof: {secret}: cannot open: permission denied\n"
        assert p.stdout.startswith(f"{ok}: go1.26.8\n")


def test_parallel_matches_sequential(corpus: gc.Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "many"
    d.mkdir()
    names = corpus.names()
    for i in range(3 * inspect_cmd.PARALLEL_MIN_FILES):
        os.link(corpus[names[i % len(names)]], d / f"b{i:03d}")
    (d / "b999").write_bytes(b"MZ")  # an error in the last worker's slice
    (d / "b999").chmod(0o755)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    parallel = run([str(d)], as_json=True)
    assert parallel[0] == 1 and parallel[2].count("\n") == 1
    monkeypatch.setattr(inspect_cmd, "PARALLEL_MIN_FILES", 10**9)
    assert run([str(d)], as_json=True) == parallel


def test_parallel_worker_failure_falls_back(corpus: gc.Corpus, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "many"
    d.mkdir()
    for i in range(2 * inspect_cmd.PARALLEL_MIN_FILES):
        os.link(corpus["go1.26.8-linux-amd64"], d / f"b{i:03d}")
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    # Drop each worker's results unread: closing first lets it exit (EPIPE).
    monkeypatch.setattr(inspect_cmd, "_collect", lambda child: (os.close(child[1]), os.waitpid(child[0], 0),
                                                                 None)[-1])
    rc, out, err = run([str(d)])
    assert (rc, err) == (0, "")
    assert out == gc.go_version_m_text(d)


