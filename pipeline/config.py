"""fixproof.toml -> frozen dataclasses, validated. Raises ConfigError only.

Every section is a dataclass; its fields are the allowed keys. Unknown keys,
wrong types and impossible values are errors that name the key and the file.
Relative paths are resolved against the config file's directory.
"""

from __future__ import annotations

import dataclasses
import os
import collections.abc
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, get_args, get_origin, get_type_hints

from fixproof.errors import ConfigError, EvidenceKeyError

# A Go advisory id, or an alias the database maps to one.
ADVISORY_RE = re.compile(r"GO-\d{4}-\d{4,}|CVE-\d{4}-\d{4,}|GHSA(-[23456789cfghjmpqrvwx]{4}){3}")
GO_VERSION_RE = re.compile(r"^1\.\d+(\.\d+)?((rc|beta)\d+)?$")


@dataclass(frozen=True)
class AppConfig:
    name: str = ""  # names the app in a fleet ([[app]] entries); default: the binary name
    dir: str = "."
    packages: tuple[str, ...] = ("./...",)
    modfile: str = ""
    binary: str = ""


@dataclass(frozen=True)
class ToolchainConfig:
    go: str = ""
    image: str = ""
    digest: str = ""


@dataclass(frozen=True)
class ModulesConfig:
    goproxy: str = "https://proxy.golang.org,direct"
    gosumdb: str = "sum.golang.org"
    gonosumdb: str = ""
    goprivate: str = ""
    goflags: str = ""
    allow_insecure_reason: str = ""
    ca_bundle: str = "auto"  # "auto": $SSL_CERT_FILE or the host's bundle; "": the image's own; else a path


@dataclass(frozen=True)
class BuildConfig:
    flags: tuple[str, ...] = ("-trimpath",)
    ldflags: str = ""
    tags: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cache: str = "volume"  # "volume": a per-image Go build cache volume; "fresh": none kept


@dataclass(frozen=True)
class TestRule:
    """One [test] skip or allow_fail entry: a Go test (``TestX``, or a subtest ``TestX/case`` as go test -json
    names it), optionally only in one package (its import path), and why; the reason goes into every report."""

    test: str = ""
    package: str = ""  # import path; "": every package of test.packages
    reason: str = ""


TEST_NETWORKS = ("off", "loopback", "host")
MAX_TEST_RETRIES = 3


@dataclass(frozen=True)
class TestConfig:
    packages: tuple[str, ...] = ("./...",)
    flags: tuple[str, ...] = ()
    enabled: bool = True
    skip: tuple[TestRule, ...] = ()  # not run (go test -skip); each kept in the reports as skipped with its reason
    allow_fail: tuple[TestRule, ...] = ()  # run; a failure is recorded (skipped, "allowed failure") and fails nothing
    retries: int = field(default=0, metadata={"min": 0})  # failed tests rerun up to this many times (0..3)
    network: str = "off"  # "off" | "loopback" | "host" (host needs network_reason; a warning in the report)
    network_reason: str = ""


@dataclass(frozen=True)
class FixConfig:
    advisories: tuple[str, ...] = ()
    fail_on: str = "listed"
    db: str = "https://vuln.go.dev"
    waivers: str = ""


@dataclass(frozen=True)
class ReportConfig:
    dir: str = "reports"
    junit: str = ""


@dataclass(frozen=True)
class TimeoutsConfig:
    image: int = 1800
    download: int = 600
    build: int = 900
    test: int = 900
    command: int = 120


_SIZE_RE = re.compile(r"^([1-9][0-9]*)([kmg]?)$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def size_bytes(text: str) -> int:
    """A size as Docker writes it ("512m", "4g", "65536") in bytes; ValueError if it is not one."""
    m = _SIZE_RE.match(text.strip())
    if not m:
        raise ValueError(text)
    return int(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]


@dataclass(frozen=True)
class DockerConfig:
    """Limits and privileges of every container fixproof starts (README "Security")."""

    privileged: bool = False
    pids_limit: int = field(default=4096, metadata={"min": 64})  # processes and threads per container
    memory: str = "4g"  # memory per container (no swap beyond it); tmpfs contents count against it
    tmpfs_size: str = "1g"  # each writable tmpfs (/tmp; the Go build cache when build.cache = "fresh")

    @property
    def memory_bytes(self) -> int:
        return size_bytes(self.memory)

    @property
    def tmpfs_bytes(self) -> int:
        return size_bytes(self.tmpfs_size)


@dataclass(frozen=True)
class EvidenceConfig:
    signing_key: str = ""  # Ed25519 private key (PEM) that signs manifest.json; "": not signed


@dataclass(frozen=True)
class RaceConfig:
    """Stage race: a -race build of the app exercised with `run`, and `go test -race` of `test_packages`."""

    run: tuple[str, ...] = ()  # arguments of the -race binary; empty: no exercise
    test_packages: tuple[str, ...] = ()  # packages for go test -race; empty: none
    timeout: int = 600


TRACE_PROBES = ("goroutines", "gc", "panics", "calls", "alloc", "syscalls")
_UNSET = -1


@dataclass(frozen=True)
class TraceCheckConfig:
    """One [[trace]] entry: a standard probe (or a .bt file) and bounds on what it measured.

    A bound left at -1 is not checked; at least one must be set.
    """

    name: str = ""
    probe: str = ""  # goroutines | gc | panics | calls | alloc | syscalls, or a path to a .bt file
    run: tuple[str, ...] = ()  # arguments of the built binary while the probe watches
    functions: tuple[str, ...] = ()  # calls: the Go functions to count
    max_leaked: int = field(default=_UNSET, metadata={"min": 0})  # goroutines: created - exited
    max_gc: int = field(default=_UNSET, metadata={"min": 0})  # gc: cycles started
    max_gc_jitter_ms: int = field(default=_UNSET, metadata={"min": 0})  # gc: max - min interval between cycles
    max_panics: int = field(default=_UNSET, metadata={"min": 0})  # panics: runtime.gopanic calls
    max_defers_before_panic: int = field(default=_UNSET, metadata={"min": 0})  # panics: defers registered in the run
    min_hits: int = field(default=_UNSET, metadata={"min": 0})  # calls: each function at least
    max_hits: int = field(default=_UNSET, metadata={"min": 0})  # calls: each function at most
    max_alloc_bytes: int = field(default=_UNSET, metadata={"min": 0})  # alloc: largest single allocation
    max_allocs: int = field(default=_UNSET, metadata={"min": 0})  # alloc: heap allocations in the run
    forbid_syscalls: tuple[str, ...] = ()  # syscalls: names that must not appear (e.g. "connect", "execve")
    allow_syscalls: tuple[str, ...] = ()  # syscalls: if set, any other syscall fails
    required: bool = False  # BPF denied: error instead of skipped
    timeout: int = 120

    def bounds(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.type in ("int", int) and f.name.startswith(("max_", "min_")) and getattr(self, f.name) != _UNSET}


GDB_KINDS = ("path", "panic", "memory", "interface")
_HITS_RE = re.compile(r"^\s*(>=|<=|==|>|<)?\s*(\d+)\s*$")


@dataclass(frozen=True)
class GdbCheckConfig:
    """One [[gdb]] entry: a runtime fact about the built binary, seen by gdb."""

    name: str = ""
    kind: str = "path"  # path | panic | memory | interface
    run: tuple[str, ...] = ()  # arguments of the built binary while gdb watches
    breakpoint: str = ""  # path, memory: a Go function, e.g. "example.com/app/pkg.(*T).M"
    condition: str = ""  # path: stop only when this gdb expression holds
    expect_hits: str = ">=1"  # path: ">=N", "==N", "<=N", ">N", "<N" or "N"
    expression: str = ""  # memory: an integer expression read at two moments
    first_hit: int = 1  # memory: first moment = this hit of `breakpoint`
    last_hit: int = 0  # memory: second moment = this hit of `breakpoint` ...
    end_breakpoint: str = ""  # ... or the first hit of this function
    max_growth: int = field(default=0, metadata={"min": 0})  # memory: allowed second - first
    require_itab: tuple[str, ...] = ()  # interface: "pkg.T,pkg.I" pairs that must be in the binary
    forbid_itab: tuple[str, ...] = ()  # interface: pairs that must not
    timeout: int = 120  # seconds for this check, gdb and program included

    def hits_bound(self) -> tuple[str, int]:
        m = _HITS_RE.match(self.expect_hits)
        assert m is not None  # validated at load
        return m.group(1) or "==", int(m.group(2))


@dataclass(frozen=True)
class Config:
    path: Path
    base_dir: Path
    app: AppConfig
    toolchain: ToolchainConfig
    modules: ModulesConfig = ModulesConfig()
    build: BuildConfig = BuildConfig()
    test: TestConfig = TestConfig()
    fix: FixConfig = FixConfig()
    report: ReportConfig = ReportConfig()
    timeouts: TimeoutsConfig = TimeoutsConfig()
    docker: DockerConfig = DockerConfig()
    race: RaceConfig = RaceConfig()
    evidence: EvidenceConfig = EvidenceConfig()
    gdb: tuple[GdbCheckConfig, ...] = ()
    trace: tuple[TraceCheckConfig, ...] = ()
    artifact: Path | None = None  # a shipped binary to compare (command line only)
    grouped: bool = False  # one of several [[app]] entries: results go under <report.dir>/apps/<name>

    # Derived paths -------------------------------------------------------
    @property
    def app_dir(self) -> Path:
        return (self.base_dir / self.app.dir).resolve()

    @property
    def gomod_path(self) -> Path:
        return self.app_dir / (self.app.modfile or "go.mod")

    @property
    def gosum_path(self) -> Path:
        mod = self.gomod_path
        return mod.with_name(mod.name[: -len(".mod")] + ".sum")

    @property
    def ca_bundle_path(self) -> Path | None:
        """The CA bundle the module download trusts, or None for the image's own."""
        value = self.modules.ca_bundle
        if value == "":
            return None
        if value != "auto":
            return (self.base_dir / value).resolve()
        for cand in (os.environ.get("SSL_CERT_FILE", ""), "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"):
            if cand and Path(cand).is_file():
                return Path(cand)
        return None

    @property
    def vulndb_url(self) -> str:
        """FIXPROOF_VULNDB overrides fix.db; a relative file:// path is relative to the config file."""
        url = os.environ.get("FIXPROOF_VULNDB") or self.fix.db
        if url.startswith("file://") and not url.startswith("file:///"):
            return (self.base_dir / url[len("file://"):]).resolve().as_uri()
        if "://" not in url:
            return (self.base_dir / url).resolve().as_uri()
        return url

    @property
    def waivers_path(self) -> Path | None:
        return (self.base_dir / self.fix.waivers).resolve() if self.fix.waivers else None

    @property
    def signing_key_path(self) -> Path | None:
        return (self.base_dir / self.evidence.signing_key).resolve() if self.evidence.signing_key else None

    @property
    def run_reports_dir(self) -> Path:
        """The run's report directory: the fleet's JUnit, summary and HTML page go here."""
        return (self.base_dir / self.report.dir).resolve()

    @property
    def reports_dir(self) -> Path:
        """This app's report directory (the run's own unless the app is one of several)."""
        root = self.run_reports_dir
        return root / "apps" / self.app_name if self.grouped else root

    @property
    def app_name(self) -> str:
        return self.app.name or self.binary_name

    @property
    def stages_dir(self) -> Path:
        return self.reports_dir / "stages"

    @property
    def junit_path(self) -> Path:
        if self.report.junit and not self.grouped:
            return (self.base_dir / self.report.junit).resolve()
        return self.reports_dir / "junit.xml"

    @property
    def run_junit_path(self) -> Path:
        """Where the run's JUnit goes: report.junit, else <report.dir>/junit.xml."""
        if self.report.junit:
            return (self.base_dir / self.report.junit).resolve()
        return self.run_reports_dir / "junit.xml"

    @property
    def binary_name(self) -> str:
        if self.app.binary:
            return self.app.binary
        last = self.app.packages[0].rstrip("/").split("/")[-1]
        return last if last not in ("", ".", "...") else self.app_dir.name

    def section(self, name: str) -> dict[str, Any]:
        """A section as plain data, for doit's config_changed."""
        return _plain(getattr(self, name))


_SECTIONS = {
    "app": AppConfig,
    "toolchain": ToolchainConfig,
    "modules": ModulesConfig,
    "build": BuildConfig,
    "test": TestConfig,
    "fix": FixConfig,
    "report": ReportConfig,
    "timeouts": TimeoutsConfig,
    "docker": DockerConfig,
    "race": RaceConfig,
    "evidence": EvidenceConfig,
}


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _coerce(value: Any, typ: Any, where: str, minimum: int = 1) -> Any:
    origin = get_origin(typ)
    if typ is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, not {value!r}.")
        return value
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            what = "a positive whole number" if minimum == 1 else f"a whole number >= {minimum}"
            raise ConfigError(f"{where} must be {what}, not {value!r}.")
        return value
    if typ is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, not {value!r}.")
        return value
    if origin is tuple and dataclasses.is_dataclass(get_args(typ)[0]):
        return _tables(get_args(typ)[0], value, where)
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings, not {value!r}.")
        return tuple(value)
    if origin in (Mapping, collections.abc.Mapping) or typ is Mapping:  # get_origin gives the abc
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{where} must be a table of string values, not {value!r}.")
        return dict(value)
    raise AssertionError(f"unhandled config type {typ}")  # pragma: no cover


def _tables(cls: Any, value: Any, where: str) -> tuple[Any, ...]:
    """A list of inline tables (``[{ k = "v" }, ...]``) as dataclasses; keys and types checked like a section's."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{where} must be a list of tables such as [{{ test = \"TestX\", reason = \"...\" }}], "
                          f"not {value!r}.")
    hints = get_type_hints(cls)
    allowed = {f.name for f in dataclasses.fields(cls)}
    out = []
    for i, entry in enumerate(value):
        unknown = sorted(set(entry) - allowed)
        if unknown:
            raise ConfigError(f"{where}[{i}]: unknown key {unknown[0]!r}; allowed keys are: {', '.join(sorted(allowed))}.")
        out.append(cls(**{k: _coerce(v, hints[k], f"{where}[{i}].{k}") for k, v in entry.items()}))
    return tuple(out)


def _section(cls: type, data: Any, name: str, file: Path) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: [{name}] must be a table.")
    hints = get_type_hints(cls)
    allowed = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(
            f"{file}: unknown key {name}.{unknown[0]}; allowed keys in [{name}] are: {', '.join(sorted(allowed))}."
        )
    mins = {f.name: f.metadata.get("min", 1) for f in dataclasses.fields(cls)}
    values = {k: _coerce(v, hints[k], f"{file}: {name}.{k}", mins[k]) for k, v in data.items()}
    return cls(**values)


def _entries(cls: type, data: Any, key: str, file: Path) -> tuple[Any, ...]:
    """[[key]] tables as dataclasses, each with a unique name."""
    if not isinstance(data, list):
        raise ConfigError(f"{file}: {key} checks are written as [[{key}]] tables (an array of tables).")
    checks = tuple(_section(cls, d, f"{key}[{i}]", file) for i, d in enumerate(data))
    seen: set[str] = set()
    for i, c in enumerate(checks):
        if not c.name:
            raise ConfigError(f"{file}: [[{key}]] #{i + 1} needs a name.")
        if c.name in seen:
            raise ConfigError(f"{file}: [[{key}]] #{i + 1}: the name {c.name!r} is used twice; "
                              "names identify checks in the report.")
        seen.add(c.name)
    return checks


def _trace_checks(data: Any, file: Path) -> tuple[TraceCheckConfig, ...]:
    checks = _entries(TraceCheckConfig, data, "trace", file)
    for c in checks:
        where = f"{file}: [[trace]] {c.name!r}"
        if not c.probe:
            raise ConfigError(f"{where} needs probe = one of {', '.join(TRACE_PROBES)} or a path to a .bt file.")
        if c.probe not in TRACE_PROBES and not c.probe.endswith(".bt"):
            raise ConfigError(f"{where}: probe {c.probe!r} is neither a standard probe "
                              f"({', '.join(TRACE_PROBES)}) nor a .bt file.")
        if not c.run:
            raise ConfigError(f"{where} needs run = [...], the arguments of the binary while the probe watches.")
        if c.probe == "calls" and not c.functions:
            raise ConfigError(f"{where}: the calls probe needs functions = [\"<Go function>\", ...].")
        if not c.bounds() and not c.forbid_syscalls and not c.allow_syscalls:
            raise ConfigError(f"{where} asserts nothing: set a bound such as max_leaked, max_gc, min_hits, "
                              "max_alloc_bytes, max_allocs, max_panics, forbid_syscalls or allow_syscalls.")
    return checks


def _gdb_checks(data: Any, file: Path) -> tuple[GdbCheckConfig, ...]:
    checks = _entries(GdbCheckConfig, data, "gdb", file)
    for c in checks:
        where = f"{file}: [[gdb]] {c.name!r}"
        if c.kind not in GDB_KINDS:
            raise ConfigError(f"{where}: kind must be one of {', '.join(GDB_KINDS)}, not {c.kind!r}.")
        if c.kind in ("path", "memory") and not c.breakpoint:
            raise ConfigError(f"{where}: a {c.kind} check needs breakpoint = \"<Go function>\".")
        if c.kind in ("path", "memory", "panic") and not c.run:
            raise ConfigError(f"{where}: a {c.kind} check needs run = [...], the arguments of the binary while gdb watches.")
        if c.kind == "path" and not _HITS_RE.match(c.expect_hits):
            raise ConfigError(f"{where}: expect_hits must look like \">=1\", \"==3\" or \"0\", not {c.expect_hits!r}.")
        if c.kind == "memory":
            if not c.expression:
                raise ConfigError(f"{where}: a memory check needs expression = \"<integer gdb expression>\".")
            if bool(c.last_hit) == bool(c.end_breakpoint):
                raise ConfigError(f"{where}: give exactly one of last_hit (a later hit of the same breakpoint) "
                                  "or end_breakpoint (a second function) for the second moment.")
            if c.last_hit and c.last_hit <= c.first_hit:
                raise ConfigError(f"{where}: last_hit must be greater than first_hit.")
        if c.kind == "interface":
            if not (c.require_itab or c.forbid_itab or c.run):
                raise ConfigError(f"{where}: an interface check needs require_itab, forbid_itab or run.")
            for pair in (*c.require_itab, *c.forbid_itab):
                if pair.count(",") != 1 or not all(pair.split(",")):
                    raise ConfigError(f"{where}: {pair!r} must be \"<concrete type>,<interface>\", "
                                      "e.g. \"*example.com/app/pkg.T,io.Closer\".")
    return checks


def _check_signing_key(f: Path, key: Path) -> None:
    """evidence.signing_key must be a readable Ed25519 private key, found now rather than after the run."""
    from fixproof.signing import load_private_key

    if not key.is_file():
        raise ConfigError(f"{f}: evidence.signing_key {key} does not exist; give an Ed25519 private key "
                          "(openssl genpkey -algorithm ed25519 -out key.pem) or remove the key.")
    try:
        load_private_key(key)
    except EvidenceKeyError as e:
        raise ConfigError(f"{f}: evidence.signing_key: {e}") from e


def _validate_docker(f: Path, d: DockerConfig) -> None:
    sizes = {}
    for key in ("memory", "tmpfs_size"):
        try:
            sizes[key] = size_bytes(getattr(d, key))
        except ValueError:
            raise ConfigError(f"{f}: docker.{key} = {getattr(d, key)!r} is not a size such as \"512m\" or \"4g\" "
                              "(a whole number, optionally k, m or g).") from None
    if sizes["memory"] < 256 << 20:
        raise ConfigError(f"{f}: docker.memory = {d.memory!r} is below 256m; the go command needs more to build "
                          "anything.")
    if sizes["tmpfs_size"] < 16 << 20:
        raise ConfigError(f"{f}: docker.tmpfs_size = {d.tmpfs_size!r} is below 16m; go build writes its work "
                          "files there.")
    if sizes["tmpfs_size"] > sizes["memory"]:
        raise ConfigError(f"{f}: docker.tmpfs_size ({d.tmpfs_size}) is larger than docker.memory ({d.memory}); "
                          "a tmpfs lives in the container's memory, so raise memory or lower tmpfs_size.")


_GO_TEST_NAME_RE = re.compile(r"^[^\s/]+(/[^\s/]+)*$")


def _validate_test(f: Path, t: TestConfig) -> None:
    for key in ("skip", "allow_fail"):
        seen: set[tuple[str, str]] = set()
        for i, rule in enumerate(getattr(t, key)):
            where = f"{f}: test.{key}[{i}]"
            if not rule.test:
                raise ConfigError(f"{where} needs test = \"TestName\" (a subtest as \"TestName/case\").")
            if not _GO_TEST_NAME_RE.match(rule.test):
                raise ConfigError(f"{where}: test = {rule.test!r} is not a Go test name as go test -json reports it "
                                  "(no spaces, go writes them as _; subtests as TestName/case).")
            if not rule.reason.strip():
                raise ConfigError(f"{where} ({rule.test}) needs reason = \"...\": a test that is not run or may fail "
                                  "is reported with the reason it was allowed.")
            if (rule.package, rule.test) in seen:
                raise ConfigError(f"{where}: {rule.test} is listed twice in test.{key}.")
            seen.add((rule.package, rule.test))
    both = {(r.package, r.test) for r in t.skip} & {(r.package, r.test) for r in t.allow_fail}
    if both:
        raise ConfigError(f"{f}: {sorted(both)[0][1]} is in both test.skip and test.allow_fail; a test is either "
                          "not run or run with its failure allowed.")
    if t.skip and any(a == "-skip" or a.startswith(("-skip=", "-test.skip")) for a in t.flags):
        raise ConfigError(f"{f}: test.flags has -skip and test.skip lists tests; go test keeps only the last -skip, "
                          "so move each skipped test into test.skip with its reason.")
    if t.retries > MAX_TEST_RETRIES:
        raise ConfigError(f"{f}: test.retries = {t.retries} is more than {MAX_TEST_RETRIES}; a test that needs more "
                          "reruns is broken, not flaky: fix it, or list it in test.allow_fail with a reason.")
    if t.network not in TEST_NETWORKS:
        raise ConfigError(f"{f}: test.network must be \"off\", \"loopback\" or \"host\", not {t.network!r}.")
    if t.network == "host" and not t.network_reason.strip():
        raise ConfigError(f"{f}: test.network = \"host\" gives the app's tests the host's network; say why with "
                          "test.network_reason = \"...\" (the report shows it as a warning).")
    if t.network != "host" and t.network_reason:
        raise ConfigError(f"{f}: test.network_reason is only for test.network = \"host\".")


def _validate(cfg: Config) -> None:
    f = cfg.path
    if not cfg.toolchain.go:
        raise ConfigError(f"{f}: toolchain.go is required: the exact Go version the fix needs, e.g. \"1.22.5\".")
    if not GO_VERSION_RE.match(cfg.toolchain.go):
        raise ConfigError(f"{f}: toolchain.go = {cfg.toolchain.go!r} is not a Go release version such as \"1.22.5\".")
    if not cfg.toolchain.image:
        raise ConfigError(f"{f}: toolchain.image is required, e.g. \"golang:{cfg.toolchain.go}-bookworm\".")
    if cfg.toolchain.digest and not re.fullmatch(r"sha256:[0-9a-f]{64}", cfg.toolchain.digest):
        raise ConfigError(f"{f}: toolchain.digest must look like sha256:<64 hex digits>.")
    if not cfg.app.packages:
        raise ConfigError(f"{f}: app.packages must name the main package to build, e.g. [\"./cmd/app\"].")
    if cfg.app.binary and (not re.fullmatch(r"[A-Za-z0-9._+-]+", cfg.app.binary) or cfg.app.binary in (".", "..")):
        raise ConfigError(f"{f}: app.binary = {cfg.app.binary!r} must be a plain file name such as \"app\" (letters, "
                          "digits, . _ + -): the binary is always written into the report directory's build/.")
    if cfg.app.modfile and (Path(cfg.app.modfile).is_absolute() or ".." in Path(cfg.app.modfile).parts):
        raise ConfigError(f"{f}: app.modfile = {cfg.app.modfile!r} must be a path inside the module (no leading / "
                          "and no ..).")
    if cfg.app.modfile and not cfg.app.modfile.endswith(".mod"):
        raise ConfigError(f"{f}: app.modfile must end in .mod (its sums live in the matching .sum file).")
    if cfg.build.cache not in ("volume", "fresh"):
        raise ConfigError(f"{f}: build.cache must be \"volume\" or \"fresh\".")
    _validate_docker(f, cfg.docker)
    _validate_test(f, cfg.test)
    if cfg.fix.fail_on not in ("listed", "symbol", "any"):
        raise ConfigError(f"{f}: fix.fail_on must be \"listed\", \"symbol\" or \"any\".")
    for adv in cfg.fix.advisories:
        if not ADVISORY_RE.fullmatch(adv):
            raise ConfigError(f"{f}: fix.advisories entry {adv!r} is not an advisory id: give a Go id such as "
                              "GO-2024-2963, or one of its aliases (CVE-2024-24791, GHSA-xxxx-xxxx-xxxx).")
    ca = cfg.ca_bundle_path
    if cfg.modules.ca_bundle not in ("", "auto") and (ca is None or not ca.is_file()):
        raise ConfigError(f"{f}: modules.ca_bundle {ca} is not a file.")
    if cfg.waivers_path is not None and not cfg.waivers_path.is_file():
        raise ConfigError(f"{f}: fix.waivers {cfg.waivers_path} does not exist.")
    if cfg.signing_key_path is not None:
        _check_signing_key(f, cfg.signing_key_path)
    if not cfg.app_dir.is_dir():
        raise ConfigError(f"{f}: app.dir {cfg.app_dir} does not exist; point it at the Go module root.")
    if not cfg.gomod_path.is_file():
        raise ConfigError(f"{f}: {cfg.gomod_path} does not exist; app.dir must be a Go module root.")


# Sections an [[app]] entry may override for that app alone (tables merge key by
# key over the top-level section; [[gdb]]/[[trace]] lists replace the top-level ones).
APP_OVERRIDES = ("toolchain", "modules", "build", "test", "fix", "timeouts", "race", "gdb", "trace")


def parse_all(text: str, path: Path) -> tuple[Config, ...]:
    """Every app of a config: one for an [app] table, one per [[app]] entry of a fleet."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e}); fix the file and retry.") from e
    unknown = sorted(set(data) - set(_SECTIONS) - {"gdb", "trace"})
    if unknown:
        raise ConfigError(
            f"{path}: unknown section [{unknown[0]}]; known sections are: {', '.join(_SECTIONS)}, [[gdb]], [[trace]]."
        )
    for required in ("app", "toolchain"):
        if required not in data:
            raise ConfigError(f"{path}: the [{required}] section is required.")
    apps = data["app"]
    if isinstance(apps, dict):
        return (_one(data, path),)
    if not isinstance(apps, list) or not apps or not all(isinstance(a, dict) for a in apps):
        raise ConfigError(f"{path}: [app] must be one table, or [[app]] tables (one per app of a fleet).")
    grouped = len(apps) > 1
    cfgs = tuple(_one(_app_data(data, entry, i, path), path, grouped=grouped)
                 for i, entry in enumerate(apps))
    seen: dict[str, int] = {}
    for i, cfg in enumerate(cfgs):
        name = cfg.app_name
        if grouped and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            raise ConfigError(f"{path}: [[app]] #{i + 1}: name {name!r} must be letters, digits, '.', '_' or '-' "
                              "(it names the app's report directory).")
        if name in seen:
            raise ConfigError(f"{path}: [[app]] #{i + 1} and #{seen[name] + 1} are both named {name!r}; "
                              "give each app a unique name = \"...\".")
        seen[name] = i
    return cfgs


def _app_data(data: dict[str, Any], entry: dict[str, Any], index: int, path: Path) -> dict[str, Any]:
    """The config data of one [[app]] entry: top-level sections with the entry's overrides."""
    allowed = {f.name for f in dataclasses.fields(AppConfig)}
    unknown = sorted(set(entry) - allowed - set(APP_OVERRIDES))
    if unknown:
        raise ConfigError(f"{path}: [[app]] #{index + 1}: unknown key {unknown[0]!r}; an app has "
                          f"{', '.join(sorted(allowed))} and may override {', '.join(APP_OVERRIDES)}.")
    merged = dict(data)
    merged["app"] = {k: v for k, v in entry.items() if k not in APP_OVERRIDES}
    for key in APP_OVERRIDES:
        if key not in entry:
            continue
        value = entry[key]
        if key in ("gdb", "trace"):
            merged[key] = value
        elif not isinstance(value, dict):
            raise ConfigError(f"{path}: [[app]] #{index + 1}: {key} must be a table ([app.{key}]).")
        else:
            base = data.get(key, {})
            merged[key] = {**(base if isinstance(base, dict) else {}), **value}
    return merged


def _one(data: dict[str, Any], path: Path, grouped: bool = False) -> Config:
    sections = {name: _section(cls, data[name], name, path) for name, cls in _SECTIONS.items() if name in data}
    gdb = _gdb_checks(data["gdb"], path) if "gdb" in data else ()
    trace = _trace_checks(data["trace"], path) if "trace" in data else ()
    cfg = Config(path=path, base_dir=path.parent.resolve(), gdb=gdb, trace=trace, grouped=grouped, **sections)
    _validate(cfg)
    return cfg


def parse(text: str, path: Path) -> Config:
    """The config of a single-app file (a fleet of [[app]] entries needs parse_all)."""
    return _single(parse_all(text, path))


def load_all(path: str | Path | None) -> tuple[Config, ...]:
    """Load a config file (None means ./fixproof.toml): one Config per app."""
    p = Path(path) if path is not None else Path("fixproof.toml")
    if not p.exists():
        hint = "pass -c FILE" if path is None else "check the path"
        raise ConfigError(f"config file {p} not found; {hint} (the repository's fixproof.toml is an example).")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {p}: {e}.") from e
    return parse_all(text, p.resolve())


def load(path: str | Path | None) -> Config:
    """Load a single-app config file; None means ./fixproof.toml."""
    return _single(load_all(path))


def _single(cfgs: tuple[Config, ...]) -> Config:
    if len(cfgs) > 1:
        raise ConfigError(f"{cfgs[0].path} lists {len(cfgs)} apps; this command takes a config with one [app].")
    return cfgs[0]
