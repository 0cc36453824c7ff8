"""``fixproof vulns``: agreement with govulncheck on real Go binaries (the command's behaviour on
constructed inputs: tests/unit/test_vulns_cmd.py).

The corpus is built here from small recipes (toolchain, go.mod, go.sum,
sources, ldflags) and cached under .fixproof-cache/vulncorpus/<name>-<hash of
the recipe>. Modules and old toolchains come from the Go module cache, or
the Go module proxy the first time; govulncheck is installed once through
the module proxy into .fixproof-cache/bin. Nothing else touches the network:
the vulnerability database is the shared snapshot via file://.

bench/bench_vulns.py imports the corpus helpers from this file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import pytest

from fixproof import vulns_cmd

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT = (REPO.parent / "shared" / "vulndb").resolve()  # beside the checkout, as tests/conftest.py finds it
CACHE = REPO / ".fixproof-cache"
GOVULNCHECK = CACHE / "bin" / "govulncheck"
CORPUS_DIR = CACHE / "vulncorpus"
BUILD_TIMEOUT = 300
BUILD_SCHEME = 2  # bump when build() changes how binaries are made


# --- readers -----------------------------------------------------------------------


def readers() -> tuple[Callable[[str], Any], Callable[[str], Sequence[str]]]:
    """fixproof's own readers: (read_buildinfo, read_functions)."""
    from fixproof.goinfo.buildinfo import read_buildinfo
    from fixproof.goinfo.pclntab import read_functions

    return read_buildinfo, read_functions


# --- corpus ------------------------------------------------------------------------

XTEXT_MAIN = """package main

import (
	"fmt"
	"net/http"
	"os"

	"golang.org/x/text/language"
)

func main() {
	tags, _, err := language.ParseAcceptLanguage(os.Getenv("ACCEPT_LANGUAGE"))
	fmt.Println(tags, err)
	if len(os.Args) > 1 {
		resp, err := http.Get(os.Args[1])
		if err == nil {
			resp.Body.Close()
		}
	}
}
"""

YAML_MAIN = """package main

import (
	"fmt"
	"os"

	"gopkg.in/yaml.v2"
)

func main() {
	var v map[string]interface{}
	err := yaml.Unmarshal([]byte(os.Getenv("DOC")), &v)
	fmt.Println(v, err)
}
"""

GENERIC_LIST = """package list

type List[T any] struct{ items []T }

//go:noinline
func (l *List[T]) Push(v T) { l.items = append(l.items, v) }

//go:noinline
func (l *List[T]) Len() int { return len(l.items) }
"""

GENERIC_MAIN = """package main

import (
	"fmt"
	"os"

	"example.com/genlib/list"
)

//go:noinline
func Handle(s string) int { return len(s) * 2 }

func main() {
	var l list.List[int]
	l.Push(Handle(os.Getenv("X")))
	fmt.Println(l.Len())
}
"""

XTEXT_SUM = {
    "v0.3.7": "golang.org/x/text v0.3.7 h1:olpwvP2KacW1ZWvsR7uQhoyTYvKAupfQrRGBFM352Gk=\n"
              "golang.org/x/text v0.3.7/go.mod h1:u+2+/6zg+i71rQMx5EYifcz6MCKuco9NR6JIITiCfzQ=\n",
}


@dataclass(frozen=True)
class LocalModule:
    """A module served from a file:// module proxy made for the recipe."""

    path: str
    version: str
    files: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Recipe:
    name: str
    toolchain: str  # "local" or e.g. "go1.22.4"
    module: str
    files: tuple[tuple[str, str], ...]
    ldflags: str = ""
    tidy: bool = False  # let `go mod tidy` write go.sum (needs the module proxy once)
    local_modules: tuple[LocalModule, ...] = ()
    git_tag: str = ""  # commit and tag the sources: the main module gets this version

    def key(self) -> str:
        h = hashlib.sha256(f"{BUILD_SCHEME}:{self!r}".encode()).hexdigest()[:12]
        return f"{self.name}-{h}"


def _gomod(module: str, requires: dict[str, str]) -> str:
    req = "".join(f"require {p} {v}\n" for p, v in requires.items())
    return f"module {module}\n\ngo 1.22\n\n{req}"


def _xtext(name: str, toolchain: str, version: str, ldflags: str = "") -> Recipe:
    files = [("go.mod", _gomod("example.com/xtdemo", {"golang.org/x/text": version})),
             ("main.go", XTEXT_MAIN)]
    if version in XTEXT_SUM:
        files.append(("go.sum", XTEXT_SUM[version]))
    return Recipe(name, toolchain, "example.com/xtdemo", tuple(files), ldflags, tidy=version not in XTEXT_SUM)


def recipes() -> dict[str, Recipe]:
    rs = [
        _xtext("xtext-0.3.7-go1.22.4", "go1.22.4", "v0.3.7"),
        _xtext("xtext-0.3.7-go1.22.4-stripped", "go1.22.4", "v0.3.7", "-s -w"),
        _xtext("xtext-0.3.8-go1.22.5", "go1.22.5", "v0.3.8"),
        Recipe("yaml-2.2.2-local", "local", "example.com/yamldemo",
               (("go.mod", _gomod("example.com/yamldemo", {"gopkg.in/yaml.v2": "v2.2.2"})),
                ("main.go", YAML_MAIN)), tidy=True),
        Recipe("generic-local", "local", "example.com/gendemo",
               (("go.mod", _gomod("example.com/gendemo", {"example.com/genlib": "v1.0.0"})),
                ("main.go", GENERIC_MAIN)),
               tidy=True, git_tag="v1.2.0",
               local_modules=(LocalModule("example.com/genlib", "v1.0.0", (
                   ("go.mod", "module example.com/genlib\n\ngo 1.22\n"),
                   ("list/list.go", GENERIC_LIST))),)),
    ]
    return {r.name: r for r in rs}


def _go_env(toolchain: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(GOTOOLCHAIN=toolchain, CGO_ENABLED="0", GOFLAGS="-mod=mod -buildvcs=false", GOWORK="off")
    return env


def _local_proxy(root: Path, mods: Sequence[LocalModule]) -> None:
    """Lay out a GOPROXY=file:// tree: <path>/@v/{list,<v>.info,<v>.mod,<v>.zip}."""
    for m in mods:
        d = root / m.path / "@v"
        d.mkdir(parents=True, exist_ok=True)
        (d / "list").write_text(m.version + "\n")
        (d / f"{m.version}.info").write_text(json.dumps({"Version": m.version, "Time": "2024-01-01T00:00:00Z"}))
        (d / f"{m.version}.mod").write_text(dict(m.files)["go.mod"])
        with zipfile.ZipFile(d / f"{m.version}.zip", "w") as z:
            for rel, text in m.files:
                z.writestr(f"{m.path}@{m.version}/{rel}", text)


def build(recipe: Recipe, root: Path = CORPUS_DIR) -> Path:
    """Build (or reuse) the recipe's binary; returns its path."""
    out = root / recipe.key() / "bin"
    if out.is_file():
        return out
    work = root / recipe.key()
    src = work / "src"
    shutil.rmtree(src, ignore_errors=True)
    for rel, text in recipe.files:
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    env = _go_env(recipe.toolchain)
    if recipe.local_modules:
        _local_proxy(work / "proxy", recipe.local_modules)
        env.update(GOPROXY=(work / "proxy").as_uri(), GONOSUMDB=",".join(m.path for m in recipe.local_modules),
                   GOMODCACHE=str(work / "modcache"), GOFLAGS=env["GOFLAGS"] + " -modcacherw")
    steps: list[list[str]] = []
    if recipe.tidy:
        steps.append(["go", "mod", "tidy"])
    if recipe.git_tag:
        git = ["git", "-c", "user.name=fixproof", "-c", "user.email=fixproof@example.invalid",
               "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"]
        steps += [git + ["init", "-q"], git + ["add", "-A"], git + ["commit", "-q", "-m", "corpus"],
                  git + ["tag", recipe.git_tag]]
        env["GOFLAGS"] = env["GOFLAGS"].replace("-buildvcs=false", "-buildvcs=true")
    cmd = ["go", "build", "-trimpath", "-o", str(out) + ".tmp"]
    if recipe.ldflags:
        cmd.append(f"-ldflags={recipe.ldflags}")
    steps.append(cmd + ["."])
    for step in steps:
        r = subprocess.run(step, cwd=src, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
        if r.returncode != 0:
            raise RuntimeError(f"{recipe.name}: {' '.join(step)} failed:\n{r.stderr}")
    os.replace(str(out) + ".tmp", out)
    return out


def ensure_govulncheck() -> Path:
    if GOVULNCHECK.is_file():
        return GOVULNCHECK
    GOVULNCHECK.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GOTOOLCHAIN="local", GOBIN=str(GOVULNCHECK.parent), GOFLAGS="")
    r = subprocess.run(["go", "install", "golang.org/x/vuln/cmd/govulncheck@latest"], env=env,
                       capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    if r.returncode != 0:
        raise RuntimeError(f"installing govulncheck failed:\n{r.stderr}")
    return GOVULNCHECK


def parse_json_stream(text: str) -> list[dict[str, Any]]:
    """govulncheck -format json: concatenated pretty-printed objects."""
    dec = json.JSONDecoder()
    out, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        obj, i = dec.raw_decode(text, i)
        out.append(obj)


@dataclass(frozen=True)
class GovulncheckResult:
    levels: dict[str, str]  # osv id -> most specific level
    config: dict[str, Any]


def run_govulncheck(binary: Path, db_url: str) -> GovulncheckResult:
    r = subprocess.run([str(ensure_govulncheck()), "-mode=binary", "-db", db_url, "-format", "json", str(binary)],
                       capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    if r.returncode != 0:
        raise RuntimeError(f"govulncheck failed on {binary}:\n{r.stderr}")
    rank = {"module": 0, "package": 1, "symbol": 2}
    levels: dict[str, str] = {}
    config: dict[str, Any] = {}
    for msg in parse_json_stream(r.stdout):
        if "config" in msg:
            config = msg["config"]
        if "finding" not in msg:
            continue
        f = msg["finding"]
        top = f["trace"][0]
        lvl = "symbol" if top.get("function") else "package" if top.get("package") else "module"
        levels[f["osv"]] = max(lvl, levels.get(f["osv"], "module"), key=rank.__getitem__)
    return GovulncheckResult(levels, config)


def run_fixproof(binaries: Sequence[Path], db_url: str, extra: Sequence[str] = (),
                 full: bool = False) -> tuple[int, list[dict[str, Any]], str]:
    """`fixproof vulns` as the command runs it (the function-name pool, the compact index of a
    file:// database); ``full``: with every function name listed (read_functions)."""
    readers_kw: dict[str, Any] = {}
    if full:
        rb, rf = readers()
        readers_kw = {"read_buildinfo": rb, "read_functions": rf}
    out, err = io.StringIO(), io.StringIO()
    rc = vulns_cmd.run([str(b) for b in binaries], db=db_url, waivers=None, as_json=True, out=out, err=err,
                       **readers_kw)
    return rc, json.loads(out.getvalue()), err.getvalue()


# --- fixtures ------------------------------------------------------------------------


def _need_go() -> None:
    for tool in ("go", "git"):
        if shutil.which(tool) is None:
            pytest.skip(f"the {tool} command is not on PATH; the binary corpus cannot be built")
    if not (SNAPSHOT / "index" / "db.json").exists():
        pytest.skip("the shared vulndb snapshot is not present")


@pytest.fixture(scope="session")
def corpus() -> dict[str, Path]:
    _need_go()
    return {name: build(r) for name, r in recipes().items()}


@pytest.fixture(scope="session")
def govulncheck() -> Path:
    _need_go()
    return ensure_govulncheck()


DB_URL = SNAPSHOT.as_uri()


def _symbol_ids(findings: list[dict[str, Any]], file: Path) -> set[str]:
    return {f["id"] for f in findings if f["file"] == str(file) and f["level"] == "symbol"}


# --- agreement with govulncheck on real binaries ----------------------------------------


def test_readers_see_the_vulnerable_function(corpus: dict[str, Path]) -> None:
    _, rf = readers()
    names = rf(str(corpus["xtext-0.3.7-go1.22.4"]))
    assert "golang.org/x/text/language.ParseAcceptLanguage" in names


AGREEMENT = ["xtext-0.3.7-go1.22.4", "xtext-0.3.8-go1.22.5", "yaml-2.2.2-local"]


@pytest.mark.parametrize("name", AGREEMENT)
def test_symbol_level_agrees_with_govulncheck(name: str, corpus: dict[str, Path], govulncheck: Path) -> None:
    binary = corpus[name]
    gv = run_govulncheck(binary, DB_URL)
    assert gv.config.get("scan_mode") == "binary"
    rc, findings, _ = run_fixproof([binary], DB_URL)
    ours = _symbol_ids(findings, binary)
    theirs = {i for i, lvl in gv.levels.items() if lvl == "symbol"}
    assert ours == theirs
    # every id either tool reports at all, the other reports too; neither reports
    # advisories on the go command (module toolchain) as findings of a binary
    assert {f["id"] for f in findings} == set(gv.levels)
    assert not [f for f in findings if f["module"] == "toolchain"]


def test_expected_advisories(corpus: dict[str, Path]) -> None:
    old, new, yaml = corpus["xtext-0.3.7-go1.22.4"], corpus["xtext-0.3.8-go1.22.5"], corpus["yaml-2.2.2-local"]
    rc, findings, _ = run_fixproof([old, new, yaml], DB_URL)
    assert rc == 1
    assert {"GO-2022-1059", "GO-2024-2963"} <= _symbol_ids(findings, old)
    assert not {"GO-2022-1059", "GO-2024-2963"} & {f["id"] for f in findings if f["file"] == str(new)}
    assert {"GO-2020-0036", "GO-2021-0061", "GO-2022-0956"} <= _symbol_ids(findings, yaml)
    y = next(f for f in findings if f["file"] == str(yaml) and f["id"] == "GO-2020-0036")
    assert "gopkg.in/yaml.v2.Unmarshal" in y["symbols"]  # %2e decoded


def test_stripped_twin(corpus: dict[str, Path], govulncheck: Path) -> None:
    full, stripped = corpus["xtext-0.3.7-go1.22.4"], corpus["xtext-0.3.7-go1.22.4-stripped"]
    _, f_full, _ = run_fixproof([full], DB_URL)
    _, f_stripped, _ = run_fixproof([stripped], DB_URL)

    def strip_file(fs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in f.items() if k != "file"} for f in fs]

    assert strip_file(f_stripped) == strip_file(f_full)  # pclntab survives -s -w
    # govulncheck cannot read symbols without the symbol table: it falls back to
    # treating every known vulnerable symbol of an affected module as present,
    # so it reports more at symbol level than on the unstripped twin.
    gv_full, gv_stripped = run_govulncheck(full, DB_URL), run_govulncheck(stripped, DB_URL)
    sym_full = {i for i, lvl in gv_full.levels.items() if lvl == "symbol"}
    sym_stripped = {i for i, lvl in gv_stripped.levels.items() if lvl == "symbol"}
    assert sym_full < sym_stripped
    assert set(gv_stripped.levels) == set(gv_full.levels)
    ours = _symbol_ids(f_stripped, stripped)
    assert ours == sym_full and ours < sym_stripped


def _one_entry_db(root: Path, module: str, imports: list[dict[str, Any]]) -> str:
    """A one-entry database (our own constructed data) for ``module``."""
    (root / "index").mkdir(parents=True)
    (root / "ID").mkdir()
    stamp = "2024-01-01T00:00:00Z"
    (root / "index" / "db.json").write_text(json.dumps({"modified": stamp}))
    (root / "index" / "modules.json").write_text(json.dumps(
        [{"path": module, "vulns": [{"id": "GO-2099-0001", "modified": stamp}]}]))
    (root / "ID" / "GO-2099-0001.json").write_text(json.dumps({
        "schema_version": "1.3.1", "id": "GO-2099-0001", "modified": stamp, "published": stamp,
        "summary": "fixproof test entry", "details": "Constructed for fixproof's tests.",
        "affected": [{
            "package": {"name": module, "ecosystem": "Go"},
            "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.5.0"}]}],
            "ecosystem_specific": {"imports": imports},
        }],
    }))
    return root.as_uri()


def test_generic_method_shape_brackets(corpus: dict[str, Path], govulncheck: Path, tmp_path: Path) -> None:
    binary = corpus["generic-local"]
    _, rf = readers()
    names = rf(str(binary))
    assert any(n.startswith("example.com/genlib/list.(*List[go.shape.") and n.endswith("]).Push") for n in names)
    url = _one_entry_db(tmp_path / "db", "example.com/genlib",
                        [{"path": "example.com/genlib/list", "symbols": ["List.Push"]}])
    _, findings, _ = run_fixproof([binary], url)
    assert [(f["id"], f["version"], f["fixed"], f["level"], f["symbols"]) for f in findings] == [
        ("GO-2099-0001", "v1.0.0", "v1.5.0", "symbol", ["example.com/genlib/list.List.Push"])]
    # govulncheck keeps the shape brackets ("List[go.shape.int].Push") and so
    # sees only the package
    assert run_govulncheck(binary, url).levels == {"GO-2099-0001": "package"}


def test_main_package_is_the_binary_path(corpus: dict[str, Path], govulncheck: Path, tmp_path: Path) -> None:
    binary = corpus["generic-local"]
    rb, rf = readers()
    info = rb(str(binary))
    assert info.main.version == "v1.2.0" and info.path == "example.com/gendemo"
    assert "main.Handle" in rf(str(binary))
    url = _one_entry_db(tmp_path / "db", "example.com/gendemo", [{"path": "example.com/gendemo", "symbols": ["Handle"]}])
    _, findings, _ = run_fixproof([binary], url)
    assert [(f["module"], f["version"], f["level"], f["symbols"]) for f in findings] == [
        ("example.com/gendemo", "v1.2.0", "symbol", ["example.com/gendemo.Handle"])]
    assert run_govulncheck(binary, url).levels == {"GO-2099-0001": "symbol"}




def test_fast_path_equals_full_path(corpus: dict[str, Path], tmp_path: Path) -> None:
    """The command's fast path (function-name pool, compact index) finds exactly what the full
    path finds (every function name; every entry of the modules, through VulnDB), on every binary
    of the vulns corpus and of the goinfo corpus."""
    import goinfo_corpus as gc

    from fixproof.goinfo.buildinfo import read_buildinfo
    from fixproof.goinfo.pclntab import read_functions
    from fixproof.vulndb import VulnDB
    from fixproof.vulnmatch import match, module_paths

    binaries = list(corpus.values()) + [gc.corpus()[n] for n in gc.corpus().names()]
    _, fast, _ = run_fixproof(binaries, DB_URL)
    full: list[dict[str, Any]] = []
    with VulnDB(DB_URL) as db:
        for b in binaries:
            try:
                info = read_buildinfo(b)
            except Exception:
                continue  # not a Go binary with build info: the command reports it, checked elsewhere
            entries = db.entries_for_modules(module_paths(info))
            full += [f.to_json() | {"waived": None} for f in match(info, read_functions(b), entries, file=str(b))]
    assert fast == full
    assert len(full) > 100
