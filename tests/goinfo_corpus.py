"""Real Go binaries for the goinfo tests, built once and cached by recipe.

Every binary comes from a `Recipe`: a Go toolchain (fetched through the Go
module proxy by `GOTOOLCHAIN=go1.X.Y`), a target, and build options. The
output lives under .fixproof-cache/corpus/<name>-<hash>/ where the hash
covers the recipe, the Go sources below and CORPUS_FORMAT, so a rerun with a
warm cache builds nothing.

Ground truth comes from the host `go` (GOTOOLCHAIN=local): `go version -m`
(text and -json) for build info and `go tool nm` for function names.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import struct
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
CACHE_DIR = REPO / ".fixproof-cache" / "corpus"
CORPUS_FORMAT = 2  # bump to rebuild every binary
BUILD_TIMEOUT_S = 600

# -- Go sources ------------------------------------------------------------

MODERN_MAIN = """\
package main

import (
	"fmt"
	"os"

	"example.com/fixlib"
	"golang.org/x/sync/errgroup"
	"golang.org/x/text/width"
)

var v = "dev"

// hook is replaced by the cgo variant.
var hook = func(n int) int { return n }

type List[T any] struct{ items []T }

func (l *List[T]) Push(x T) { l.items = append(l.items, x) }

//go:noinline
func (l *List[T]) Len() int { return len(l.items) }

type Client struct{ n int }

// Do is small and called once: it is inlined and has no functab entry.
func (c *Client) Do(s string) int { return c.n + len(s) }

type Greeter struct{ name string }

//go:noinline
func (g Greeter) Greet() string { return "hi " + g.name }

//go:noinline
func apply(f func(string) int, s string) int { return f(s) }

//go:noinline
func call(f func() string) string { return f() }

func main() {
	var l List[string]
	l.Push(os.Args[0])
	c := &Client{n: len(os.Args)}
	total := c.Do(v)
	k := apply(func(s string) int { return len(s) + total }, v)
	var g errgroup.Group
	g.Go(func() error { return nil })
	_ = g.Wait()
	fmt.Println(l.Len(), k, hook(k), call(Greeter{name: v}.Greet), fixlib.Hello(), width.Narrow.String(v))
}
"""

# Go 1.17 has no generics; the rest is the same shape.
LEGACY_MAIN = """\
package main

import (
	"fmt"
	"os"

	"example.com/fixlib"
	"golang.org/x/sync/errgroup"
	"golang.org/x/text/width"
)

var v = "dev"

type Client struct{ n int }

func (c *Client) Do(s string) int { return c.n + len(s) }

type Greeter struct{ name string }

//go:noinline
func (g Greeter) Greet() string { return "hi " + g.name }

//go:noinline
func apply(f func(string) int, s string) int { return f(s) }

//go:noinline
func call(f func() string) string { return f() }

func main() {
	c := &Client{n: len(os.Args)}
	total := c.Do(v)
	k := apply(func(s string) int { return len(s) + total }, v)
	var g errgroup.Group
	g.Go(func() error { return nil })
	_ = g.Wait()
	fmt.Println(k, call(Greeter{name: v}.Greet), fixlib.Hello(), width.Narrow.String(v))
}
"""

CGO_FILE = """\
package main

// static int twice(int x) { return 2 * x; }
import "C"

func cTwice(x int) int { return int(C.twice(C.int(x))) }

func init() { hook = cTwice }
"""

FIXLIB_GO = """\
package fixlib

import "strings"

//go:noinline
func Hello() string { return "hello" + strings.Repeat("!", 2) }
"""

SIMPLE_MAIN = """\
package main

import (
	"fmt"
	"os"
)

func main() {
	f := func() int { return len(os.Args) }
	fmt.Println("hello", f())
}
"""

GO_MOD = """\
module example.com/fixprobe

go {go}

require (
	example.com/fixlib v0.0.0
	golang.org/x/sync v0.1.0
	golang.org/x/text v0.3.8
)

replace example.com/fixlib => ../fixlib

replace golang.org/x/sync v0.1.0 => golang.org/x/sync v0.2.0
"""

GO_SUM = """\
golang.org/x/sync v0.2.0 h1:PUR+T4wwASmuSTYdKjYHI5TD22Wy5ogLU5qZCOLxBrI=
golang.org/x/sync v0.2.0/go.mod h1:RxMgew5VJxzue5/jJTE5uejpjVlOe/izrB70Jof72aM=
golang.org/x/text v0.3.8 h1:nAL+RVCQ9uMn3vJZbV+MRnydTJFPf8qqY42YiA6MrqY=
golang.org/x/text v0.3.8/go.mod h1:E6s5w1FMmriuDzIBO73fBruAKo1PCIq6d2Q6DHfQ8WQ=
"""

PROGRAMS = {"modern": MODERN_MAIN, "legacy": LEGACY_MAIN, "cgo": MODERN_MAIN + CGO_FILE, "simple": SIMPLE_MAIN}

# Names every modern build must show; the first appears only in inline trees.
INLINE_ONLY = "main.(*Client).Do"
EXPECTED_FUNCS = (
    "main.main",
    "main.Greeter.Greet",
    "main.Greeter.Greet-fm",
    "main.apply",
    "main.main.func1",
    "example.com/fixlib.Hello",
)


# -- recipes ----------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    name: str
    go: str  # toolchain version without the "go" prefix
    goos: str = "linux"
    goarch: str = "amd64"
    cgo: bool = False
    flags: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    layout: str = "module"  # module | file (go build x.go) | gopath (GO111MODULE=off)
    program: str = "modern"  # key of PROGRAMS
    vcs: str = ""  # "" | "clean" | "dirty"
    twin: str = ""  # for stripped builds: the unstripped recipe name

    @property
    def exe_name(self) -> str:
        return self.name + (".exe" if self.goos == "windows" else "")

    @property
    def stripped(self) -> bool:
        return any("-s -w" in f for f in self.flags)

    def key(self) -> str:
        h = hashlib.sha256()
        blob = {"recipe": asdict(self), "src": PROGRAMS[self.program], "fixlib": FIXLIB_GO,
                "gomod": GO_MOD, "gosum": GO_SUM, "format": CORPUS_FORMAT}
        h.update(json.dumps(blob, sort_keys=True).encode())
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class Built:
    recipe: Recipe
    path: Path


def go_version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def _stripped(r: Recipe) -> Recipe:
    return Recipe(**{**asdict(r), "name": r.name + "-stripped", "flags": r.flags + ("-ldflags=-s -w",),
                     "twin": r.name, "env": r.env})


def _r(name: str, go: str, **kw) -> Recipe:
    if "flags" in kw:
        kw["flags"] = tuple(kw["flags"])
    if "env" in kw:
        kw["env"] = tuple(kw["env"])
    return Recipe(name=name, go=go, **kw)


VERSIONS = ("1.18.10", "1.19.13", "1.20.14", "1.21.13", "1.22.12", "1.24.13", "1.26.8", "1.27.4")
HOST_VERSION = "1.26.8"


def recipes() -> tuple[Recipe, ...]:
    """The matrix: each version once on linux/amd64 (plus its -s -w twin),
    and each edge case on one or two versions only."""
    out: list[Recipe] = []

    def add(r: Recipe, strip: bool = False) -> None:
        out.append(r)
        if strip:
            out.append(_stripped(r))

    for v in VERSIONS:
        add(_r(f"go{v}-linux-amd64", v), strip=True)
    add(_r("go1.17.13-linux-amd64", "1.17.13", program="legacy"), strip=True)
    add(_r("go1.18.10-linux-386", "1.18.10", goarch="386"))
    add(_r("go1.26.8-linux-386", "1.26.8", goarch="386"), strip=True)
    add(_r("go1.21.13-linux-arm64", "1.21.13", goarch="arm64"))
    add(_r("go1.27.4-linux-arm64", "1.27.4", goarch="arm64"), strip=True)
    add(_r("go1.26.8-linux-s390x", "1.26.8", goarch="s390x"), strip=True)
    add(_r("go1.21.13-windows-amd64", "1.21.13", goos="windows"), strip=True)
    add(_r("go1.26.8-windows-amd64", "1.26.8", goos="windows"), strip=True)
    add(_r("go1.22.12-darwin-arm64", "1.22.12", goos="darwin", goarch="arm64"))
    add(_r("go1.26.8-darwin-arm64", "1.26.8", goos="darwin", goarch="arm64"), strip=True)
    add(_r("go1.20.14-darwin-amd64", "1.20.14", goos="darwin"))
    add(_r("go1.27.4-darwin-amd64", "1.27.4", goos="darwin"), strip=True)
    add(_r("go1.21.13-linux-amd64-cgo", "1.21.13", cgo=True, program="cgo"))
    add(_r("go1.26.8-linux-amd64-cgo", "1.26.8", cgo=True, program="cgo"), strip=True)
    add(_r("go1.21.13-linux-amd64-pie", "1.21.13", flags=["-buildmode=pie"]), strip=True)
    add(_r("go1.26.8-linux-amd64-pie", "1.26.8", flags=["-buildmode=pie"]))
    add(_r("go1.26.8-linux-amd64-trimpath", "1.26.8", flags=["-trimpath"]))
    add(_r("go1.18.10-linux-amd64-xflag", "1.18.10", flags=['-ldflags=-X "main.v=a b"']))
    add(_r("go1.26.8-linux-amd64-xflag", "1.26.8", flags=['-ldflags=-X "main.v=a b"']))
    add(_r("go1.22.12-linux-amd64-vcs-clean", "1.22.12", vcs="clean"))
    add(_r("go1.24.13-linux-amd64-vcs-dirty", "1.24.13", vcs="dirty"))
    add(_r("go1.26.8-linux-amd64-vcs-clean", "1.26.8", vcs="clean"))
    add(_r("go1.24.13-linux-amd64-noswissmap", "1.24.13", env=[("GOEXPERIMENT", "noswissmap")]))
    add(_r("go1.26.8-linux-amd64-nogreenteagc", "1.26.8", env=[("GOEXPERIMENT", "nogreenteagc")]))
    add(_r("go1.26.8-linux-amd64-gopath", "1.26.8", layout="gopath", program="simple"))
    add(_r("go1.26.8-linux-amd64-file", "1.26.8", layout="file", program="simple"))
    # Pre-1.16 pclntab (magic 0xFFFFFFFB) and pointer-format build info.
    add(_r("go1.15.15-linux-amd64-file", "1.15.15", layout="file", program="simple"))
    return tuple(out)


# -- building ---------------------------------------------------------------


def _host_env() -> dict[str, str]:
    """Environment for every go command: explicit, not inherited GO* state."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO") and not k.startswith("CGO")}
    for key in ("GOPATH", "GOMODCACHE", "GOCACHE", "GOPROXY", "GOSUMDB"):
        if key in os.environ:
            env[key] = os.environ[key]
    home = Path(env.get("HOME", "/root"))
    env.setdefault("GOPATH", str(home / "go"))
    env.setdefault("GOMODCACHE", str(Path(env["GOPATH"]) / "pkg" / "mod"))
    env["GOWORK"] = "off"
    env["GOENV"] = "off"  # ignore `go env -w` settings (this machine sets GOFLAGS there)
    env["GOFLAGS"] = ""
    return env


def host_go_env() -> dict[str, str]:
    """Environment for ground-truth commands: the host toolchain, nothing else."""
    env = _host_env()
    env["GOTOOLCHAIN"] = "local"
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed in {cwd}:\n{p.stdout}\n{p.stderr}")


def _git(args: list[str], cwd: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_DATE": "2024-05-01T12:00:00Z", "GIT_COMMITTER_DATE": "2024-05-01T12:00:00Z",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": "/dev/null"}
    _run(["git", *args], cwd, env)


def _build_into(r: Recipe, work: Path, out: Path) -> None:
    env = _host_env()
    env.update({"GOTOOLCHAIN": f"go{r.go}", "GOOS": r.goos, "GOARCH": r.goarch,
                "CGO_ENABLED": "1" if r.cgo else "0", "GO111MODULE": "on"})
    env.update(dict(r.env))
    legacy = r.program == "legacy"
    flags = list(r.flags)
    if go_version_tuple(r.go) >= (1, 18):  # -buildvcs exists from Go 1.18
        flags.insert(0, "-buildvcs=true" if r.vcs else "-buildvcs=false")
    if r.layout == "gopath":
        pkg = work / "gopath" / "src" / "example.com" / "gp"
        pkg.mkdir(parents=True)
        (pkg / "main.go").write_text(PROGRAMS[r.program])
        env.update({"GO111MODULE": "off", "GOPATH": str(work / "gopath")})
        _run(["go", "build", *flags, "-o", str(out), "example.com/gp"], pkg, env)
        return
    if r.layout == "file":
        (work / "hello.go").write_text(PROGRAMS[r.program])
        _run(["go", "build", *flags, "-o", str(out), "hello.go"], work, env)
        return
    app, lib = work / "app", work / "fixlib"
    app.mkdir()
    lib.mkdir()
    (lib / "go.mod").write_text("module example.com/fixlib\n\ngo 1.17\n")
    (lib / "lib.go").write_text(FIXLIB_GO)
    (app / "go.mod").write_text(GO_MOD.format(go="1.17" if legacy else "1.18"))
    (app / "go.sum").write_text(GO_SUM)
    if r.program == "cgo":
        (app / "main.go").write_text(MODERN_MAIN)
        (app / "cgo.go").write_text(CGO_FILE)
    else:
        (app / "main.go").write_text(PROGRAMS[r.program])
    # Settle go.mod/go.sum first, so a VCS-stamped build of a committed tree is clean.
    _run(["go", "mod", "download"], app, env)
    _run(["go", "list", "-mod=mod", "-deps", "."], app, env)
    if r.vcs:
        _git(["init", "-q"], app)
        _git(["add", "-A"], app)
        _git(["commit", "-q", "-m", "corpus"], app)
        _git(["tag", "v1.2.3"], app)
        if r.vcs == "dirty":
            with (app / "main.go").open("a") as f:
                f.write("\n// local change\n")
    mod_flag = "-mod=mod" if legacy else "-mod=readonly"
    _run(["go", "build", mod_flag, *flags, "-o", str(out), "."], app, env)


def build(r: Recipe, cache_dir: Path = CACHE_DIR) -> Built:
    """The binary for a recipe, built on first use and cached by its hash."""
    final = cache_dir / f"{r.name}-{r.key()}"
    exe = final / r.exe_name
    if exe.is_file():
        return Built(r, exe)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=cache_dir))
    try:
        outdir = tmp / "out"
        outdir.mkdir()
        work = tmp / "src"
        work.mkdir()
        _build_into(r, work, outdir / r.exe_name)
        (outdir / "recipe.json").write_text(json.dumps(asdict(r), indent=1))
        try:
            os.rename(outdir, final)
        except OSError:
            if not exe.is_file():  # a concurrent run won the race with a complete result, or not
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Built(r, exe)


def build_all(rs: tuple[Recipe, ...] | None = None, jobs: int = 3) -> dict[str, Built]:
    """Build (or fetch from cache) every recipe; name -> Built."""
    rs = recipes() if rs is None else rs
    with ThreadPoolExecutor(max_workers=jobs) as ex:
        built = list(ex.map(build, rs))
    return {b.recipe.name: b for b in built}


# -- ground truth -----------------------------------------------------------


def go_version_m_json(path: Path) -> dict:
    """`go version -m -json FILE` of the host go, as a dict (debug.BuildInfo)."""
    p = subprocess.run(["go", "version", "-m", "-json", str(path)], env=host_go_env(), capture_output=True,
                       text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"go version -m -json {path}: {p.stderr}")
    return json.loads(p.stdout)


def go_version_m_text(path: Path) -> str:
    p = subprocess.run(["go", "version", "-m", str(path)], env=host_go_env(), capture_output=True, text=True,
                       timeout=60)
    return p.stdout


def go_nm_functions(path: Path) -> set[str]:
    """Text symbols (T/t) from `go tool nm`, with the `.abi0` suffix dropped."""
    p = subprocess.run(["go", "tool", "nm", str(path)], env=host_go_env(), capture_output=True, text=True,
                       timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"go tool nm {path}: {p.stderr}")
    names = set()
    for line in p.stdout.splitlines():
        parts = line.split(None, 2)  # address, type, name (names may contain spaces)
        if len(parts) == 3 and parts[1] in ("T", "t"):
            names.add(parts[2].removesuffix(".abi0"))
    return names


def expected_json(path: Path, fmt: str, goos: str = "", goarch: str = "") -> dict:
    """What `fixproof inspect --json` must say, derived from `go version -m -json`.

    goos/goarch are what the file header says, used when the binary has no
    GOOS/GOARCH build settings (Go 1.17 and older)."""
    g = go_version_m_json(path)

    def mod(m: dict | None) -> dict | None:
        if not m:
            return None
        return {"path": m.get("Path", ""), "version": m.get("Version", ""), "sum": m.get("Sum", ""),
                "replace": mod(m.get("Replace"))}

    settings = {s["Key"]: s.get("Value", "") for s in g.get("Settings", [])}
    return {
        "file": str(path),
        "format": fmt,
        "goos": settings.get("GOOS", goos),
        "goarch": settings.get("GOARCH", goarch),
        "go_version": g["GoVersion"],
        "path": g.get("Path", ""),
        "main": mod(g.get("Main")),
        "deps": [mod(d) for d in g.get("Deps", [])],
        "settings": settings,
    }


# -- derived files ----------------------------------------------------------


def make_fat_macho(slices: list[Path], out: Path) -> Path:
    """A universal (fat) Mach-O holding the given thin files, in order."""
    align = 1 << 14
    header = struct.pack(">II", 0xCAFEBABE, len(slices))
    blobs = [p.read_bytes() for p in slices]
    offset = align
    entries, layout = b"", []
    for b in blobs:
        cpu, sub = struct.unpack_from("<ii", b, 4)
        entries += struct.pack(">iiIII", cpu, sub, offset, len(b), 14)
        layout.append(offset)
        offset = (offset + len(b) + align - 1) // align * align
    data = bytearray(offset)
    data[: len(header) + len(entries)] = header + entries
    for off, b in zip(layout, blobs):
        data[off : off + len(b)] = b
    out.write_bytes(bytes(data))
    return out


def drop_elf_section_headers(src: Path, out: Path) -> Path:
    """A copy of an ELF file with e_shoff, e_shnum and e_shstrndx zeroed."""
    data = bytearray(src.read_bytes())
    little = data[5] == 1
    e = "<" if little else ">"
    if data[4] == 2:  # 64-bit
        struct.pack_into(e + "Q", data, 0x28, 0)
        struct.pack_into(e + "HH", data, 0x3C, 0, 0)
    else:
        struct.pack_into(e + "I", data, 0x20, 0)
        struct.pack_into(e + "HH", data, 0x30, 0, 0)
    out.write_bytes(bytes(data))
    out.chmod(0o755)
    return out


@functools.cache
def corpus() -> "Corpus":
    """The whole corpus, built (or found in the cache) once per process."""
    return Corpus(build_all())


@dataclass(frozen=True)
class Corpus:
    """The built corpus, by recipe name."""

    built: dict[str, Built] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Path:
        return self.built[name].path

    def recipe(self, name: str) -> Recipe:
        return self.built[name].recipe

    def names(self) -> list[str]:
        return list(self.built)

    def format_of(self, name: str) -> str:
        goos = self.built[name].recipe.goos
        return {"windows": "pe", "darwin": "macho"}.get(goos, "elf")

    def expected(self, name: str, path: Path | None = None) -> dict:
        """expected_json for a corpus binary (or a copy of it at `path`)."""
        r = self.recipe(name)
        return expected_json(path or self[name], self.format_of(name), r.goos, r.goarch)


def recipe_names(pred=lambda r: True) -> list[str]:
    """Recipe names for parametrize (known without building anything)."""
    return [r.name for r in recipes() if pred(r)]


# -- running as an unprivileged user ----------------------------------------

AS_NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
CAN_DROP_PRIVILEGES = os.geteuid() == 0 and shutil.which("setpriv") is not None


@contextlib.contextmanager
def world_readable_dir() -> Iterator[Path]:
    """A temporary directory `nobody` can enter (pytest's tmp_path is not), removed after.
    Root bypasses file modes, so permission tests run their command AS_NOBODY in it."""
    d = Path(tempfile.mkdtemp(prefix="fixproof-perm-"))
    try:
        d.chmod(0o755)
        yield d
    finally:
        shutil.rmtree(d)


def go_version_fails(path: Path) -> bool:
    """True if the host `go version -m` cannot read build info from path."""
    p = subprocess.run(["go", "version", "-m", str(path)], env=host_go_env(), capture_output=True, text=True,
                       timeout=60)
    return p.returncode != 0


if __name__ == "__main__":  # build the corpus from the command line
    import time

    t = time.time()
    c = build_all()
    print(f"{len(c)} binaries in {time.time() - t:.1f} s under {CACHE_DIR}")
