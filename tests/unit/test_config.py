import dataclasses
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from fixproof import config
from fixproof.errors import ConfigError

from conftest import EXAMPLE, ROOT, write_config


def parse(tmp_path: Path, text: str) -> config.Config:
    p = tmp_path / "fixproof.toml"
    p.write_text(text)
    return config.load(p)


BASE = f"""
[app]
dir = "{EXAMPLE}"
packages = ["./cmd/fixdemo"]
[toolchain]
go = "1.22.5"
image = "golang:1.22.5-bookworm"
"""


def test_repository_default_config_loads():
    cfg = config.load(ROOT / "fixproof.toml")
    assert cfg.toolchain.go == "1.22.5"
    assert cfg.app_dir == EXAMPLE
    assert cfg.binary_name == "fixdemo"
    assert cfg.gosum_path == EXAMPLE / "go.sum"


def test_unfixed_variants_load():
    img = config.load(ROOT / "examples/configs/unfixed-image.toml")
    assert img.toolchain.image == "golang:1.22.4-bookworm"
    xt = config.load(ROOT / "examples/configs/unfixed-xtext.toml")
    assert xt.gomod_path.name == "go.xtext037.mod" and xt.gosum_path.name == "go.xtext037.sum"


def test_defaults(tmp_path):
    cfg = parse(tmp_path, BASE)
    assert cfg.build.flags == ("-trimpath",)
    assert cfg.test.packages == ("./...",)
    assert cfg.reports_dir == tmp_path / "reports"
    assert cfg.junit_path == tmp_path / "reports" / "junit.xml"


@pytest.mark.parametrize("extra, needle", [
    ("[app2]\nx = 1\n", "unknown section [app2]"),
    ("[build]\nflagz = []\n", "unknown key build.flagz"),
    ("[build]\nflags = \"-trimpath\"\n", "build.flags must be a list of strings"),
    ("[timeouts]\nbuild = -1\n", "timeouts.build must be a positive"),
    ("[docker]\nprivileged = \"yes\"\n", "docker.privileged must be true or false"),
    ("[fix]\nadvisories = [\"CVE-2024-1\"]\n", "is not an advisory id"),
    ("[fix]\nfail_on = \"never\"\n", "fix.fail_on must be"),
    ("[modules]\nca_bundle = \"/nonexistent/ca.pem\"\n", "is not a file"),
])
def test_invalid_values_name_the_key(tmp_path, extra, needle):
    with pytest.raises(ConfigError) as e:
        parse(tmp_path, BASE + extra)
    assert needle in str(e.value)
    assert e.value.exit_code == 2


def test_malformed_toml(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse(tmp_path, "[app\n")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        config.load(tmp_path / "nope.toml")


def test_required_keys(tmp_path):
    with pytest.raises(ConfigError, match=r"\[toolchain\] section is required"):
        parse(tmp_path, f'[app]\ndir = "{EXAMPLE}"\n')
    with pytest.raises(ConfigError, match="toolchain.go is required"):
        parse(tmp_path, BASE.replace('go = "1.22.5"', ""))
    with pytest.raises(ConfigError, match="not a Go release version"):
        parse(tmp_path, BASE.replace('go = "1.22.5"', 'go = "latest"'))


def test_app_dir_and_gomod_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        parse(tmp_path, BASE.replace(str(EXAMPLE), str(tmp_path / "missing")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="go.mod does not exist"):
        parse(tmp_path, BASE.replace(str(EXAMPLE), str(tmp_path / "empty")))


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    sub = tmp_path / "conf"
    sub.mkdir()
    p = sub / "f.toml"
    p.write_text(BASE.replace(f'"{EXAMPLE}"', f'"{os.path.relpath(EXAMPLE, sub)}"'))
    cfg = config.load(p)
    assert cfg.app_dir == EXAMPLE
    assert cfg.reports_dir == sub / "reports"


def test_ca_bundle_modes(tmp_path):
    assert parse(tmp_path, BASE + '[modules]\nca_bundle = ""\n').ca_bundle_path is None
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert parse(tmp_path, BASE + f'[modules]\nca_bundle = "{ca}"\n').ca_bundle_path == ca


GDB_OK = """
[[gdb]]
name = "fixed path"
breakpoint = "example.com/fixdemo/internal/chunk.limit"
condition = "n > 4096"
run = ["-read", "10000"]
expect_hits = ">= 1"

[[gdb]]
name = "bounded cache"
kind = "memory"
breakpoint = "example.com/fixdemo/internal/cache.(*Cache).Put"
expression = "c.size"
first_hit = 100
last_hit = 1000
run = ["-cache", "1000"]

[[gdb]]
name = "contract"
kind = "interface"
require_itab = ["example.com/fixdemo/internal/shapes.Blob,example.com/fixdemo/internal/shapes.Sizer"]
"""


def test_gdb_checks_load(tmp_path):
    cfg = parse(tmp_path, BASE + GDB_OK)
    assert [c.name for c in cfg.gdb] == ["fixed path", "bounded cache", "contract"]
    assert cfg.gdb[0].hits_bound() == (">=", 1)
    assert cfg.gdb[1].max_growth == 0 and cfg.gdb[1].last_hit == 1000
    assert cfg.section("gdb")[2]["require_itab"][0].endswith("shapes.Sizer")


@pytest.mark.parametrize("entry, message", [
    ('name = "x"\nkind = "magic"\nrun = ["a"]', "kind must be one of"),
    ('name = "x"\nrun = ["a"]', "needs breakpoint"),
    ('name = "x"\nbreakpoint = "main.f"', "needs run"),
    ('breakpoint = "main.f"\nrun = ["a"]', "needs a name"),
    ('name = "x"\nbreakpoint = "main.f"\nrun = ["a"]\nexpect_hits = "lots"', "expect_hits must look like"),
    ('name = "x"\nkind = "memory"\nbreakpoint = "main.f"\nrun = ["a"]', "needs expression"),
    ('name = "x"\nkind = "memory"\nbreakpoint = "main.f"\nrun = ["a"]\nexpression = "n"', "exactly one of last_hit"),
    ('name = "x"\nkind = "memory"\nbreakpoint = "main.f"\nrun = ["a"]\nexpression = "n"\nlast_hit = 3\nfirst_hit = 5',
     "last_hit must be greater"),
    ('name = "x"\nkind = "memory"\nbreakpoint = "main.f"\nrun = ["a"]\nexpression = "n"\nlast_hit = 3\nmax_growth = -1',
     "whole number >= 0"),
    ('name = "x"\nkind = "interface"', "needs require_itab"),
    ('name = "x"\nkind = "interface"\nrequire_itab = ["T"]', "<concrete type>,<interface>"),
    ('name = "x"\nbreakpoint = "main.f"\nrun = ["a"]\ncolour = "red"', "unknown key gdb[0].colour"),
])
def test_gdb_check_errors(tmp_path, entry, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse(tmp_path, BASE + "[[gdb]]\n" + entry + "\n")


def test_gdb_names_are_unique(tmp_path):
    one = '[[gdb]]\nname = "x"\nkind = "panic"\nrun = ["a"]\n'
    with pytest.raises(ConfigError, match="used twice"):
        parse(tmp_path, BASE + one + one)


def test_gdb_must_be_an_array_of_tables(tmp_path):
    with pytest.raises(ConfigError, match="array of tables"):
        parse(tmp_path, BASE + '[gdb]\nname = "x"\n')


def test_trace_checks_load(tmp_path):
    cfg = parse(tmp_path, BASE + '''
[[trace]]
name = "no goroutine leak"
probe = "goroutines"
run = ["-workers", "100"]
max_leaked = 0

[[trace]]
name = "no network"
probe = "syscalls"
run = ["-read", "10"]
forbid_syscalls = ["connect", "execve"]
required = true
''')
    assert [t.name for t in cfg.trace] == ["no goroutine leak", "no network"]
    assert cfg.trace[0].bounds() == {"max_leaked": 0}
    assert cfg.trace[1].required and cfg.trace[1].bounds() == {}


@pytest.mark.parametrize("entry, message", [
    ('name = "x"\nrun = ["a"]\nmax_gc = 1', "needs probe"),
    ('name = "x"\nprobe = "magic"\nrun = ["a"]\nmax_gc = 1',
     "probe must be one of goroutines, gc, panics, calls, alloc, syscalls or a path to a .bt file, not 'magic'"),
    ('name = "x"\nprobe = "gc"\nmax_gc = 1', "needs run"),
    ('name = "x"\nprobe = "calls"\nrun = ["a"]\nmin_hits = 1', "needs functions"),
    ('name = "x"\nprobe = "gc"\nrun = ["a"]', "asserts nothing"),
    ('name = "x"\nprobe = "gc"\nrun = ["a"]\nmax_gc = -3', "whole number >= 0"),
])
def test_trace_check_errors(tmp_path, entry, message):
    with pytest.raises(ConfigError, match=message):
        parse(tmp_path, BASE + "[[trace]]\n" + entry + "\n")


# overrides for the last app of conftest's two-app fleet ("legacy")
LEGACY_OVERRIDES = """
[app.build]
ldflags = "-X main.v=legacy"
[app.toolchain]
go = "1.22.4"
image = "golang:1.22.4-bookworm"
[[app.gdb]]
name = "legacy path"
breakpoint = "main.main"
run = ["-read", "1"]
"""


@pytest.fixture
def fleet_text(tmp_path) -> str:
    from conftest import write_fleet_config

    text = write_fleet_config(tmp_path, reports="out", extra='[build]\nflags = ["-trimpath"]\n').read_text()
    return text + LEGACY_OVERRIDES


def load_fleet(tmp_path: Path, text: str) -> tuple[config.Config, ...]:
    p = tmp_path / "fleet.toml"
    p.write_text(text)
    return config.load_all(p)


def test_fleet_apps_get_their_own_report_dirs_and_overrides(tmp_path, fleet_text):
    edge, legacy = load_fleet(tmp_path, fleet_text)
    assert (edge.app_name, legacy.app_name) == ("edge", "legacy")
    assert edge.reports_dir == tmp_path / "out" / "apps" / "edge"
    assert legacy.stages_dir == tmp_path / "out" / "apps" / "legacy" / "stages"
    assert edge.run_junit_path == legacy.run_junit_path == tmp_path / "out" / "junit.xml"
    assert edge.junit_path != legacy.junit_path
    # tables merge key by key over the top level; lists of checks replace it
    assert legacy.build.flags == ("-trimpath",) and legacy.build.ldflags == "-X main.v=legacy"
    assert edge.build.ldflags == ""
    assert legacy.toolchain.go == "1.22.4" and edge.toolchain.go == "1.22.5"
    assert [g.name for g in legacy.gdb] == ["legacy path"] and edge.gdb == ()
    assert legacy.gomod_path.name == "go.xtext037.mod"


def test_single_app_keeps_the_flat_layout(tmp_path, fleet_text):
    (cfg,) = load_fleet(tmp_path, BASE)
    assert not cfg.grouped and cfg.reports_dir == cfg.run_reports_dir == tmp_path / "reports"
    one = fleet_text.split("\n[[app]]\nname = \"legacy\"")[0]
    (cfg,) = load_fleet(tmp_path, one)
    assert not cfg.grouped and cfg.reports_dir == tmp_path / "out"


def test_fleet_needs_unique_names(tmp_path, fleet_text):
    with pytest.raises(ConfigError, match="both named 'edge'"):
        load_fleet(tmp_path, fleet_text.replace('name = "legacy"', 'name = "edge"'))
    # without names, both would be called after the binary: fixdemo
    with pytest.raises(ConfigError, match="both named 'fixdemo'"):
        load_fleet(tmp_path, fleet_text.replace('name = "legacy"\n', "").replace('name = "edge"\n', ""))


def test_fleet_entry_errors_name_the_entry(tmp_path, fleet_text):
    with pytest.raises(ConfigError, match=r"\[\[app\]\] #2: unknown key 'colour'"):
        load_fleet(tmp_path, fleet_text.replace('name = "legacy"', 'name = "legacy"\ncolour = "red"'))
    with pytest.raises(ConfigError, match="must be letters"):
        load_fleet(tmp_path, fleet_text.replace('name = "legacy"', 'name = "../up"'))
    with pytest.raises(ConfigError, match="unknown key 'report'.*may override"):
        load_fleet(tmp_path, fleet_text + '[app.report]\ndir = "x"\n')


def test_single_app_commands_refuse_a_fleet(tmp_path, fleet_text):
    p = tmp_path / "fleet.toml"
    p.write_text(fleet_text)
    with pytest.raises(ConfigError, match="lists 2 apps"):
        config.load(p)


def test_fleet_example_in_the_repository_loads():
    edge, legacy = config.load_all(ROOT / "examples/configs/fleet.toml")
    assert legacy.gomod_path.name == "go.xtext037.mod" and not legacy.test.enabled and edge.test.enabled


def test_build_env_table_as_the_readme_writes_it(tmp_path):
    """[build] env = { CGO_ENABLED = "0" } (the README's own example) once crashed with an AssertionError."""
    cfg = config.load(write_config(tmp_path, EXAMPLE, extra='[build]\nenv = { CGO_ENABLED = "0" }\n'))
    assert dict(cfg.build.env) == {"CGO_ENABLED": "0"}
    with pytest.raises(ConfigError, match="table of string values"):
        config.load(write_config(tmp_path, EXAMPLE, extra='[build]\nenv = { CGO_ENABLED = 0 }\n'))


@pytest.mark.parametrize("section, entry, key, kind_keys", [
    # a bound of another probe was accepted and never checked
    ("trace", 'name = "x"\nprobe = "calls"\nfunctions = ["main.f"]\nrun = ["a"]\nmin_hits = 1\nmax_gc = 0',
     "max_gc", "a calls probe takes only functions, max_hits, min_hits, name, probe, required, run, timeout"),
    ("trace", 'name = "x"\nprobe = "goroutines"\nrun = ["a"]\nmax_leaked = 1\nfunctions = []',
     "functions", "a goroutines probe takes only max_leaked, name, probe, required, run, timeout"),
    ("trace", 'name = "x"\nprobe = "my.bt"\nrun = ["a"]\nmax_leaked = 1\nforbid_syscalls = ["connect"]',
     "forbid_syscalls", "a .bt probe takes only functions, max_alloc_bytes"),
    ("gdb", 'name = "x"\nkind = "panic"\nrun = ["a"]\nbreakpoint = "main.f"',
     "breakpoint", "a panic check takes only kind, name, run, timeout"),
    ("gdb", 'name = "x"\nkind = "memory"\nbreakpoint = "main.f"\nrun = ["a"]\nexpression = "n"\nlast_hit = 3\n'
            'condition = "n > 1"',
     "condition", "a memory check takes only breakpoint, end_breakpoint, expression, first_hit, kind, last_hit, "
                  "max_growth, name, run, timeout"),
])
def test_a_check_refuses_the_keys_of_other_kinds(tmp_path, section, entry, key, kind_keys):
    with pytest.raises(ConfigError) as e:
        parse(tmp_path, BASE + f"[[{section}]]\n" + entry + "\n")
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path / 'fixproof.toml'}: [[{section}]] 'x': unknown key {section}[0].{key}")
    assert kind_keys in msg
    assert e.value.exit_code == 2


def test_unknown_key_names_the_kinds_it_belongs_to(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key trace\[0\]\.max_gc \(max_gc belongs to the gc or \.bt "
                                          r"probe\); a calls probe takes only"):
        parse(tmp_path, BASE + '[[trace]]\nname = "x"\nprobe = "calls"\nfunctions = ["f"]\nrun = ["a"]\nmax_gc = 0\n')


@pytest.mark.parametrize("section, entry, message", [
    ("gdb", 'name = "x"\nkind = "panic"\nrun = "-shapes"', "gdb[0].run must be a list of strings, not '-shapes'."),
    ("gdb", 'name = "x"\nkind = "panic"\nrun = ["a"]\ntimeout = 0', "gdb[0].timeout must be a positive whole number"),
    ("gdb", 'name = "x"\nkind = 3\nrun = ["a"]', "gdb[0].kind must be a string, not 3."),
    ("gdb", 'name = 7\nkind = "panic"\nrun = ["a"]', "gdb[0].name must be a string, not 7."),
    ("trace", 'name = "x"\nprobe = "gc"\nrun = ["a"]\nmax_gc = "0"', "trace[0].max_gc must be a whole number >= 0"),
    ("trace", 'name = "x"\nprobe = ["gc"]\nrun = ["a"]', "trace[0].probe must be a string"),
    ("trace", 'name = "x"\nprobe = "syscalls"\nrun = ["a"]\nrequired = "yes"', "trace[0].required must be true or false"),
])
def test_check_type_errors_name_file_section_and_key(tmp_path, section, entry, message):
    with pytest.raises(ConfigError) as e:
        parse(tmp_path, BASE + f"[[{section}]]\n" + entry + "\n")
    assert str(e.value) == f"{tmp_path / 'fixproof.toml'}: {message}" or message in str(e.value)
    assert str(e.value).startswith(str(tmp_path / "fixproof.toml"))


def test_each_check_is_an_instance_of_its_kind(tmp_path):
    from fixproof.kinds import gdb, trace

    cfg = parse(tmp_path, BASE + GDB_OK + '[[trace]]\nname = "own"\nprobe = "probes/x.bt"\nrun = ["a"]\nmax_hits = 3\n')
    assert [type(c) for c in cfg.gdb] == [gdb.PathCheck, gdb.MemoryCheck, gdb.InterfaceCheck]
    assert [c.kind for c in cfg.gdb] == ["path", "memory", "interface"]
    assert type(cfg.trace[0]) is trace.CustomProbe and cfg.trace[0].bounds() == {"max_hits": 3}
    # doit's config_changed sees each check with its kind's keys
    assert cfg.section("gdb")[0] == {"name": "fixed path", "kind": "path", "run": ["-read", "10000"], "timeout": 120,
                                     "breakpoint": "example.com/fixdemo/internal/chunk.limit",
                                     "condition": "n > 4096", "expect_hits": ">= 1"}


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, str)):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"


_SCALARS = st.one_of(st.booleans(), st.integers(-3, 2000), st.sampled_from(["", "x", "main.f", "gc", "a.bt", ">=1"]))
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3),
                    st.dictionaries(st.sampled_from(["a", "b"]), _SCALARS, max_size=2))


@st.composite
def _tables(draw) -> tuple[str, dict]:
    """A section and a table for it: mostly its own keys (of one kind, for checks), with values of any type."""
    section = draw(st.sampled_from(["gdb", "trace", "build", "docker", "race", "timeouts", "app"]))
    kinds = {"gdb": config.GDB_KINDS, "trace": config.TRACE_KINDS}.get(section)
    cls = draw(st.sampled_from(list(kinds))) if kinds else config._SECTIONS[section]
    keys = [f.name for f in dataclasses.fields(cls) if section != "app" or f.name not in ("dir", "packages")]
    key = st.one_of(st.sampled_from(keys), st.sampled_from(keys), st.sampled_from(keys),
                    st.sampled_from(["colour", "max_gc", "breakpoint"]))
    table = draw(st.dictionaries(key, _VALUES, max_size=6))
    if kinds and draw(st.integers(0, 3)):  # mostly a kind the table's keys belong to
        table[kinds.key] = "probes/own.bt" if cls.KIND == ".bt" else cls.KIND
    return section, table


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=_tables())
def test_bad_config_is_a_config_error_never_a_traceback(tmp_path, drawn):
    section, table = drawn
    body = "\n".join(f"{k} = {_toml_value(v)}" for k, v in table.items())
    header = f"[[{section}]]" if section in ("gdb", "trace") else f"[{section}]"
    text = BASE + f"{header}\n{body}\n" if section != "app" else BASE.replace("[app]", f"[app]\n{body}")
    try:
        parse(tmp_path, text)
    except ConfigError as e:
        assert str(e).startswith(str(tmp_path / "fixproof.toml")) and e.exit_code == 2


def test_readme_config_reference_loads(tmp_path):
    """The README's full config reference is a config that loads (its [[trace]] once set a calls-only key)."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index('```toml\n[app]\ndir = "examples/fixdemo"') + len("```toml\n")
    text = readme[start:readme.index("```", start)].replace('"examples/fixdemo"', f'"{EXAMPLE}"')
    cfg = parse(tmp_path, text)
    assert [c.probe for c in cfg.trace] == ["goroutines"] and [c.kind for c in cfg.gdb][:2] == ["path", "memory"]


def test_environment_overrides_are_resolved_once_at_load(tmp_path, monkeypatch):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    p = tmp_path / "fixproof.toml"
    p.write_text(BASE + '[fix]\ndb = "https://vuln.example"\n')
    cfg = config.load(p, env={"FIXPROOF_VULNDB": "file://db", "SSL_CERT_FILE": str(ca)})
    assert cfg.vulndb_url == (tmp_path / "db").as_uri() and cfg.ca_bundle_path == ca
    assert config.load(p, env={}).vulndb_url == "https://vuln.example"
    # by default the process environment, read at load: a later change does not move a loaded config
    monkeypatch.setenv("FIXPROOF_VULNDB", "https://first.example")
    cfg = config.load(p)
    monkeypatch.setenv("FIXPROOF_VULNDB", "https://second.example")
    assert cfg.vulndb_url == "https://first.example"
    monkeypatch.setenv("FIXPROOF_SARIF_CATEGORY", "gha/linux")
    cfg = config.load(p)
    monkeypatch.setenv("FIXPROOF_SARIF_CATEGORY", "gha/windows")
    assert cfg.sarif_category == "gha/linux"


def test_sarif_category_from_config_and_environment(tmp_path, monkeypatch):
    text = BASE + '[report]\nsarif_category = "linux"\n'
    monkeypatch.delenv("FIXPROOF_SARIF_CATEGORY", raising=False)
    assert parse(tmp_path, text).sarif_category == "linux"
    assert parse(tmp_path, BASE).sarif_category == "fixproof"
    monkeypatch.setenv("FIXPROOF_SARIF_CATEGORY", "gha/windows/")
    assert parse(tmp_path, text).sarif_category == "gha/windows"
    monkeypatch.setenv("FIXPROOF_SARIF_CATEGORY", "two words")
    with pytest.raises(ConfigError, match="FIXPROOF_SARIF_CATEGORY"):
        parse(tmp_path, text)
    monkeypatch.delenv("FIXPROOF_SARIF_CATEGORY")
    with pytest.raises(ConfigError, match="sarif_category"):
        parse(tmp_path, BASE + '[report]\nsarif_category = "a b"\n')


def test_errors_in_a_table_inside_a_section_name_the_path(tmp_path):
    """A section whose key holds a list of tables (as [test] skip rules may): errors name the entry and its key."""
    @dataclasses.dataclass(frozen=True)
    class Rule:
        test: str = ""
        reason: str = ""

    @dataclasses.dataclass(frozen=True)
    class Section:
        rules: tuple[Rule, ...] = ()
        retries: int = dataclasses.field(default=0, metadata={"min": 0})

    f = tmp_path / "fixproof.toml"
    ok = config._structure(Section, {"rules": [{"test": "TestA", "reason": "flaky"}]}, "test", f)
    assert ok == Section(rules=(Rule("TestA", "flaky"),))
    for data, message in [
        ({"rules": [{"test": "TestA"}, {"test": "TestB", "colour": "red"}]},
         "unknown key test.rules[1].colour; allowed keys there are: reason, test."),
        ({"rules": [{"test": 3}]}, "test.rules[0].test must be a string, not 3."),
        ({"rules": ["TestA"]}, "test.rules[0] must be a table, not 'TestA'."),
        ({"rules": [], "retries": -1}, "test.retries must be a whole number >= 0, not -1."),
        ({"retries": 1, "colour": 1}, "unknown key test.colour; allowed keys in [test] are: retries, rules."),
    ]:
        with pytest.raises(ConfigError) as e:
            config._structure(Section, data, "test", f)
        assert str(e.value) == f"{f}: {message}"
