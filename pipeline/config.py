"""fixproof.toml -> frozen dataclasses, validated. Raises ConfigError only.

Every section is a dataclass; its fields are the allowed keys. [[gdb]] and
[[trace]] tables are each the dataclass of their kind (fixproof.kinds), whose
fields are that kind's keys. cattrs structures the tables; unknown keys, wrong
types and impossible values are errors that name the key and the file.
Relative paths are resolved against the config file's directory, and the
environment's overrides (FIXPROOF_VULNDB, SSL_CERT_FILE, FIXPROOF_SARIF_CATEGORY) are read once, at load.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar, get_origin, get_type_hints

import cattrs
from cattrs.errors import (AttributeValidationNote, ClassValidationError, ForbiddenExtraKeysError,
                           IterableValidationError, IterableValidationNote)
from cattrs.gen import make_dict_structure_fn, override

from fixproof.errors import ConfigError, EvidenceKeyError
from fixproof.kinds import Kinds, keys_of
from fixproof.kinds.gdb import GDB_KINDS, GdbCheck
from fixproof.kinds.trace import TRACE_KINDS, TraceCheck

_T = TypeVar("_T")

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
    sarif_category: str = "fixproof"  # code scanning category (SARIF automationDetails.id); FIXPROOF_SARIF_CATEGORY overrides


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


SARIF_CATEGORY_RE = re.compile(r"[A-Za-z0-9._/-]*[A-Za-z0-9._-][A-Za-z0-9._/-]*")


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
    gdb: tuple[GdbCheck, ...] = ()  # one kind per check (fixproof.kinds.gdb)
    trace: tuple[TraceCheck, ...] = ()  # one kind per probe (fixproof.kinds.trace)
    artifact: Path | None = None  # a shipped binary to compare (command line only)
    grouped: bool = False  # one of several [[app]] entries: results go under <report.dir>/apps/<name>
    # What the environment says, resolved once at load (parse_all's env) and never read again
    vulndb_url: str = ""  # fix.db, or FIXPROOF_VULNDB (verify --db replaces it); paths made absolute URLs
    ca_bundle_path: Path | None = None  # the CA bundle the module download trusts; None: the image's own
    sarif_category: str = "fixproof"  # report.sarif_category, or FIXPROOF_SARIF_CATEGORY (the GitHub Action's)

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


# Structuring: cattrs turns the TOML tables into the dataclasses above (and the check kinds'), with
# hooks that refuse what TOML would let through (a string for a list, 1 for true, a negative count).
# Every structure or type error becomes a ConfigError naming the file, the section and the key.


class _Invalid(ValueError):
    """A value of the wrong type or range: ``what`` it must be, and the value."""

    def __init__(self, what: str, value: Any) -> None:
        super().__init__(f"must be {what}, not {value!r}")


def _str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("a string", value)
    return value


def _bool(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("true or false", value)
    return value


def _strings(value: Any, _: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Invalid("a list of strings", value)
    return tuple(value)


def _table(value: Any, _: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _Invalid("a table of string values", value)
    return dict(value)


def _whole(minimum: int) -> Any:
    """An int field's hook: a whole number >= ``minimum`` (field metadata "min", default 1)."""
    what = "a positive whole number" if minimum == 1 else f"a whole number >= {minimum}"

    def hook(value: Any, _: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise _Invalid(what, value)
        return value

    return hook


def _is_mapping(typ: Any) -> bool:
    return typ is Mapping or get_origin(typ) in (Mapping, collections.abc.Mapping)


@functools.cache
def _converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    conv.register_structure_hook(str, _str)
    conv.register_structure_hook(bool, _bool)
    conv.register_structure_hook_func(lambda t: t == tuple[str, ...], _strings)
    conv.register_structure_hook_func(_is_mapping, _table)

    def dataclass_hook(cls: type) -> Any:
        hints = get_type_hints(cls)
        ints = {f.name: override(struct_hook=_whole(f.metadata.get("min", 1)))
                for f in dataclasses.fields(cls) if hints[f.name] is int}
        fn = make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=True, **ints)

        def structure(value: Any, typ: Any) -> Any:
            if not isinstance(value, dict):  # a table nested in a section, e.g. an entry of a list of tables
                raise _Invalid("a table", value)
            return fn(value, typ)

        return structure

    conv.register_structure_hook_factory(dataclasses.is_dataclass, dataclass_hook)
    return conv


def _structure(cls: type[_T], data: Any, label: str, file: Path, unknown: Callable[[str], str] | None = None) -> _T:
    """``data`` (the table [label]) as a ``cls``. ``unknown(key)``: the message for a key ``cls`` lacks."""
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: [{label}] must be a table.")
    try:
        return _converter().structure(data, cls)
    except ClassValidationError as e:
        where, leaf = _first_error(e, label)
    if isinstance(leaf, ForbiddenExtraKeysError):
        key = sorted(leaf.extra_fields)[0]
        allowed = ", ".join(sorted(f.name for f in dataclasses.fields(leaf.cl)))
        if where != label:  # a table inside the section
            raise ConfigError(f"{file}: unknown key {where}.{key}; allowed keys there are: {allowed}.")
        raise ConfigError(unknown(key) if unknown else
                          f"{file}: unknown key {label}.{key}; allowed keys in [{label}] are: {allowed}.")
    raise ConfigError(f"{file}: {where} {leaf}." if isinstance(leaf, _Invalid)
                      else f"{file}: {where} is not valid: {leaf}.")


def _first_error(e: BaseException, where: str) -> tuple[str, BaseException]:
    """The first error under a cattrs validation error, and where it is ("test.skip[0].reason"); an unknown
    key comes before the errors of its table's values."""
    if not isinstance(e, (ClassValidationError, IterableValidationError)):
        return where, e
    first = sorted(e.exceptions, key=lambda x: not isinstance(x, ForbiddenExtraKeysError))[0]
    for note in getattr(first, "__notes__", ()):
        if isinstance(note, AttributeValidationNote):
            where += f".{note.name}"
        elif isinstance(note, IterableValidationNote):
            where += f"[{note.index}]"
    return _first_error(first, where)


def _checks(kinds: Kinds[Any], data: Any, file: Path) -> tuple[Any, ...]:
    """[[gdb]] or [[trace]] tables: each as the class of its kind, validated, with a unique name."""
    section = kinds.section
    if not isinstance(data, list):
        raise ConfigError(f"{file}: {section} checks are written as [[{section}]] tables (an array of tables).")
    checks = []
    for i, entry in enumerate(data):
        label = f"{section}[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{file}: [{label}] must be a table.")
        name = entry.get("name")
        where = f"{file}: [[{section}]] {name!r}" if isinstance(name, str) and name else f"{file}: [[{section}]] #{i + 1}"
        cls = _kind(kinds, entry, label, where, file)

        def unknown(key: str, cls: type = cls, label: str = label, where: str = where) -> str:
            owners = [k.KIND for k in kinds if k is not cls and key in keys_of(k)]
            hint = f" ({key} belongs to {kinds.phrase(*owners)})" if owners else ""
            return (f"{where}: unknown key {label}.{key}{hint}; {kinds.phrase(cls.KIND)} takes only "
                    f"{', '.join(sorted(keys_of(cls)))}.")

        checks.append(_structure(cls, entry, label, file, unknown))
    seen: set[str] = set()
    for i, c in enumerate(checks):
        if not c.name:
            raise ConfigError(f"{file}: [[{section}]] #{i + 1} needs a name.")
        if c.name in seen:
            raise ConfigError(f"{file}: [[{section}]] #{i + 1}: the name {c.name!r} is used twice; "
                              "names identify checks in the report.")
        seen.add(c.name)
    for c in checks:
        c.validate(f"{file}: [[{section}]] {c.name!r}")
    return tuple(checks)


def _kind(kinds: Kinds[Any], entry: dict[str, Any], label: str, where: str, file: Path) -> type:
    """The class of a [[gdb]] or [[trace]] table's kind, from its ``kind`` or ``probe``."""
    value = entry.get(kinds.key, kinds.default)
    if not isinstance(value, str):
        raise ConfigError(f"{file}: {label}.{kinds.key} must be a string, not {value!r}.")
    if not value:
        raise ConfigError(f"{where} needs {kinds.key} = one of {kinds.choices()}.")
    cls = kinds.get(value)
    if cls is None:
        raise ConfigError(f"{where}: {kinds.key} must be one of {kinds.choices()}, not {value!r}.")
    return cls


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


def parse_all(text: str, path: Path, env: Mapping[str, str] | None = None) -> tuple[Config, ...]:
    """Every app of a config: one for an [app] table, one per [[app]] entry of a fleet.

    ``env`` (default: the process environment, read now): FIXPROOF_VULNDB, SSL_CERT_FILE and
    FIXPROOF_SARIF_CATEGORY, resolved into each Config once.
    """
    env = dict(os.environ if env is None else env)
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
        return (_one(data, path, env),)
    if not isinstance(apps, list) or not apps or not all(isinstance(a, dict) for a in apps):
        raise ConfigError(f"{path}: [app] must be one table, or [[app]] tables (one per app of a fleet).")
    grouped = len(apps) > 1
    cfgs = tuple(_one(_app_data(data, entry, i, path), path, env, grouped=grouped)
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


def _one(data: dict[str, Any], path: Path, env: Mapping[str, str], grouped: bool = False) -> Config:
    sections = {name: _structure(cls, data[name], name, path) for name, cls in _SECTIONS.items() if name in data}
    gdb = _checks(GDB_KINDS, data["gdb"], path) if "gdb" in data else ()
    trace = _checks(TRACE_KINDS, data["trace"], path) if "trace" in data else ()
    base_dir = path.parent.resolve()
    fix, modules = sections.get("fix", FixConfig()), sections.get("modules", ModulesConfig())
    cfg = Config(path=path, base_dir=base_dir, gdb=gdb, trace=trace, grouped=grouped,
                 vulndb_url=_vulndb_url(env.get("FIXPROOF_VULNDB") or fix.db, base_dir),
                 ca_bundle_path=_ca_bundle(modules.ca_bundle, base_dir, env),
                 sarif_category=_sarif_category(sections.get("report", ReportConfig()), env, path), **sections)
    _validate(cfg)
    return cfg


def _vulndb_url(url: str, base_dir: Path) -> str:
    """The database URL (FIXPROOF_VULNDB overrides fix.db); a relative file:// path or a plain path is
    relative to the config file."""
    if url.startswith("file://") and not url.startswith("file:///"):
        return (base_dir / url[len("file://"):]).resolve().as_uri()
    if "://" not in url:
        return (base_dir / url).resolve().as_uri()
    return url


def _sarif_category(report: ReportConfig, env: Mapping[str, str], f: Path) -> str:
    """FIXPROOF_SARIF_CATEGORY (the GitHub Action's sarif-category) overrides report.sarif_category."""
    if not SARIF_CATEGORY_RE.fullmatch(report.sarif_category):
        raise ConfigError(f"{f}: report.sarif_category = {report.sarif_category!r}: use letters, digits and "
                          ". _ - / only, e.g. \"fixproof-linux\".")
    value = env.get("FIXPROOF_SARIF_CATEGORY") or report.sarif_category
    if not SARIF_CATEGORY_RE.fullmatch(value):
        raise ConfigError(f"SARIF category {value!r} (FIXPROOF_SARIF_CATEGORY or report.sarif_category): use letters, "
                          "digits and . _ - / only, e.g. \"fixproof-linux\".")
    return value.strip("/")


def _ca_bundle(value: str, base_dir: Path, env: Mapping[str, str]) -> Path | None:
    """modules.ca_bundle as a file: "" the image's own (None); "auto" $SSL_CERT_FILE or the host's bundle."""
    if value == "":
        return None
    if value != "auto":
        return (base_dir / value).resolve()
    for cand in (env.get("SSL_CERT_FILE", ""), "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"):
        if cand and Path(cand).is_file():
            return Path(cand)
    return None


def parse(text: str, path: Path, env: Mapping[str, str] | None = None) -> Config:
    """The config of a single-app file (a fleet of [[app]] entries needs parse_all)."""
    return _single(parse_all(text, path, env))


def load_all(path: str | Path | None, env: Mapping[str, str] | None = None) -> tuple[Config, ...]:
    """Load a config file (None means ./fixproof.toml): one Config per app."""
    p = Path(path) if path is not None else Path("fixproof.toml")
    if not p.exists():
        hint = "pass -c FILE" if path is None else "check the path"
        raise ConfigError(f"config file {p} not found; {hint} (the repository's fixproof.toml is an example).")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {p}: {e}.") from e
    return parse_all(text, p.resolve(), env)


def load(path: str | Path | None, env: Mapping[str, str] | None = None) -> Config:
    """Load a single-app config file; None means ./fixproof.toml."""
    return _single(load_all(path, env))


def _single(cfgs: tuple[Config, ...]) -> Config:
    if len(cfgs) > 1:
        raise ConfigError(f"{cfgs[0].path} lists {len(cfgs)} apps; this command takes a config with one [app].")
    return cfgs[0]
