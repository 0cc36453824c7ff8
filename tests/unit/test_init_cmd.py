"""fixproof init without Docker: where the module is, what it refuses, what it takes from the release config,
which main package it picks; the whole command against the real engine is in tests/integration/test_init_cmd.py."""

import dataclasses
import io
import os
from pathlib import Path

import pytest

from conftest import EXAMPLE
from fixproof import init_cmd
from fixproof.config import load
from fixproof.errors import ConfigError, UsageError
from fixproof.goinfo import goreleaser
from fixproof.init_toml import Plan, render
from fixproof.stages.common import StageContext
from unit.test_cli import assert_clean_error, run

GOMOD = "module example.com/app\n\ngo 1.22.5\n"


def module(tmp_path: Path, gomod: str = GOMOD) -> Path:
    d = tmp_path / "app"
    d.mkdir()
    (d / "go.mod").write_text(gomod)
    return d


# -- the CLI: errors before any container -------------------------------------------------------------------


def test_an_existing_config_is_not_overwritten_without_force(tmp_path):
    d = module(tmp_path)
    (d / "fixproof.toml").write_text("# mine\n")
    p = run("init", str(d))
    assert_clean_error(p, 2)
    assert "already exists" in p.stderr and "--force" in p.stderr
    assert (d / "fixproof.toml").read_text() == "# mine\n"


def test_dir_defaults_to_the_current_directory(tmp_path):
    d = module(tmp_path)
    (d / "fixproof.toml").write_text("# mine\n")
    p = run("init", cwd=d)
    assert_clean_error(p, 2)
    assert f"{d / 'fixproof.toml'} already exists" in p.stderr


def test_a_directory_without_go_mod_is_exit_2_naming_the_modules_below(tmp_path):
    (tmp_path / "svc" / "api").mkdir(parents=True)
    (tmp_path / "svc" / "api" / "go.mod").write_text(GOMOD)
    p = run("init", str(tmp_path))
    assert_clean_error(p, 2)
    assert "is not a Go module" in p.stderr and "svc/api" in p.stderr
    p = run("init", str(tmp_path / "svc" / "api" / "nope"))
    assert_clean_error(p, 2)
    assert "no such directory" in p.stderr


def test_inside_a_module_init_names_its_root(tmp_path):
    d = module(tmp_path)
    (d / "internal").mkdir()
    p = run("init", str(d / "internal"))
    assert_clean_error(p, 2)
    assert f"inside the module at {d}" in p.stderr


def test_a_broken_go_mod_is_exit_2(tmp_path):
    d = module(tmp_path, "go 1.22\n")
    p = run("init", str(d))
    assert_clean_error(p, 2)
    assert "no module line" in p.stderr
    assert not (d / "fixproof.toml").exists()


def test_a_go_mod_without_a_go_line_is_exit_2_before_any_engine_is_asked(tmp_path):
    d = module(tmp_path, "module example.com/app\n")
    p = run("init", str(d))
    assert_clean_error(p, 2)
    assert "has no go line" in p.stderr


def test_no_docker_engine_is_exit_3_and_writes_nothing(tmp_path):
    d = module(tmp_path)
    p = run("init", str(d), "--no-scan")  # the unit tier's DOCKER_HOST answers nothing
    assert_clean_error(p, 3)
    assert "no Docker Engine" in p.stderr
    assert not (d / "fixproof.toml").exists()
    assert not [x for x in os.listdir(d) if x.startswith(".")]  # no scratch left either


def test_init_is_in_the_help():
    p = run("init", "--help")
    assert p.returncode == 0 and "--no-scan" in p.stdout and "--force" in p.stdout and "DIR" in p.stdout


# -- pure parts ----------------------------------------------------------------------------------------------


def test_module_root_accepts_the_example():
    assert init_cmd.module_root(str(EXAMPLE)) == EXAMPLE.resolve()


def test_a_release_the_proxy_does_not_list_is_a_config_error_naming_near_ones():
    init_cmd.check_release("1.22.5", ["1.22.4", "1.22.5"])
    init_cmd.check_release("1.22.5", [])  # no list: nothing to check against
    with pytest.raises(ConfigError, match=r"go1\.22\.55.*1\.22\.4, 1\.22\.5") as e:
        init_cmd.check_release("1.22.55", ["1.21.0", "1.22.4", "1.22.5"])
    assert e.value.exit_code == 2


def test_parse_list_finds_main_packages_relative_to_the_module():
    out = ("main\t/src/app\t\n"
           "lib\t/src/app/internal/lib\t\n"
           "main\t/src/app/cmd/tool\t\n"
           "main\t/src/app/cmd/broken\tno Go files\n"
           "\n")
    assert init_cmd.parse_list(out, "/src/app") == ((".", "./cmd/tool", "./cmd/broken"), 4)


@pytest.mark.parametrize("mains, module, preferred, first", [
    (["./cmd/tool", ".", "./cmd/app"], "example.com/app", "", "."),
    (["./cmd/tool", "./cmd/app", "./examples/demo"], "example.com/app", "", "./cmd/app"),
    (["./cmd/tool", "./cmd/app"], "github.com/o/app/v2", "", "./cmd/app"),
    (["./examples/demo", "./tools/gen", "./cmd/zed"], "example.com/app", "", "./cmd/zed"),
    (["./hack/x", "./server"], "example.com/app", "", "./server"),
    (["./cmd/tool", "./cmd/app"], "example.com/app", "./cmd/tool", "./cmd/tool"),
    (["./cmd/tool", "./cmd/app"], "example.com/app", "./cmd/gone", "./cmd/app"),
])
def test_choose_main_prefers_the_release_configs_then_the_apps_own(mains, module, preferred, first):
    chosen, others = init_cmd.choose_main(mains, module, preferred)
    assert chosen == first
    assert sorted([chosen, *others]) == sorted(mains)


def test_build_plan_from_a_goreleaser_build_says_what_was_left_out(tmp_path):
    (tmp_path / ".goreleaser.yaml").write_text("""
builds:
  - id: cli
    main: ./cmd/app
    env: [CGO_ENABLED=0, GOFLAGS=-mod=mod]
    flags: [-trimpath]
    overrides: [{goos: darwin, env: [CGO_ENABLED=1]}]
  - id: other
    main: ./cmd/other
""")
    builds, problem = init_cmd.release_builds(tmp_path)
    assert problem == "" and [b.id for b in builds] == ["cli", "other"]
    b = init_cmd.build_plan(builds[0], builds, mains=("./cmd/app",))
    assert b.flags == ("-trimpath",) and b.ldflags == "-s -w -X main.builtBy=goreleaser"
    assert dict(b.env) == {"CGO_ENABLED": "0"}
    text = " ".join(n.text + " " + " ".join(n.items) for n in b.notes)
    for words in ('builds[0] (id "cli")', "default applies", "{{.Version}}", "Not taken from its env: GOFLAGS",
                  "overrides are not applied", 'builds[1] (id "other"): ./cmd/other'):
        assert words in text


def test_an_unreadable_release_config_is_a_note_not_an_error(tmp_path):
    (tmp_path / ".goreleaser.yml").write_text("builds: [\n")
    builds, problem = init_cmd.release_builds(tmp_path)
    assert builds == () and "not valid YAML" in problem
    b = init_cmd.build_plan(None, builds, problem)
    assert b.flags == ("-trimpath",) and "not valid YAML" in b.notes[0].text
    assert init_cmd.release_builds(module(tmp_path)) == ((), "")


def test_write_config_loads_it_first_and_never_overwrites_without_force(tmp_path):
    d = module(tmp_path)
    target = d / "fixproof.toml"
    text = render(Plan(module="example.com/app", package=".", go="1.22.5", go_why="why", image="golang:1.22.5-bookworm"))
    init_cmd.write_config(target, text, force=False)
    assert load(target).toolchain.go == "1.22.5"
    with pytest.raises(UsageError, match="already exists"):
        init_cmd.write_config(target, text.replace("1.22.5", "1.22.4"), force=False)
    assert load(target).toolchain.go == "1.22.5"
    init_cmd.write_config(target, text.replace('go = "1.22.5"', 'go = "1.22.4"'), force=True)
    assert load(target).toolchain.go == "1.22.4"
    assert sorted(os.listdir(d)) == ["fixproof.toml", "go.mod"]  # no temporary file left


def test_write_config_refuses_text_that_does_not_load(tmp_path):
    d = module(tmp_path)
    with pytest.raises(Exception, match="does not load"):
        init_cmd.write_config(d / "fixproof.toml", "[app]\nbogus = 1\n", force=False)
    assert not (d / "fixproof.toml").exists()
    assert sorted(os.listdir(d)) == ["go.mod"]


def test_scratch_dir_is_hidden_in_the_module_and_removed(tmp_path):
    d = module(tmp_path)
    with init_cmd.scratch_dir(d) as s:
        assert s.parent == d and s.name.startswith(".")
        (s / "reports").mkdir()
    assert not s.exists()


def test_the_release_configs_dir_selects_the_build_of_a_module_below_the_repository_root(tmp_path):
    (tmp_path / ".git").mkdir()
    mod = tmp_path / "services" / "api"
    mod.mkdir(parents=True)
    (mod / "go.mod").write_text(GOMOD)
    (tmp_path / ".goreleaser.yml").write_text("builds:\n  - id: api\n    dir: services/api\n    main: ./cmd/api\n")
    builds, _ = init_cmd.release_builds(mod)
    assert [b.id for b in builds] == ["api"] and builds[0].main == "./cmd/api"
    assert goreleaser.find(mod, tmp_path) == tmp_path / ".goreleaser.yml"


def test_progress_and_summary_lines_name_the_file(tmp_path):
    from fixproof.init_toml import Scan

    out, err = io.StringIO(), io.StringIO()
    p = Plan(module="m", package="./cmd/app", go="1.22.5", go_why="", image="golang:1.22.5-bookworm",
             scan=Scan("failed", "modules: go.sum lines: bad"))
    init_cmd._tell(out, err, tmp_path / "fixproof.toml", p, 1)
    assert f"wrote {tmp_path / 'fixproof.toml'}" in out.getvalue()
    assert f"fixproof verify -c {tmp_path / 'fixproof.toml'}" in out.getvalue()
    assert "did not pass (modules: go.sum lines: bad)" in err.getvalue()


class _Engine:
    """Answers engine.run with one canned go list result, and records the call."""

    def __init__(self, exit_code: int = 0, stdout: str = "", stderr: str = "") -> None:
        self.result = (exit_code, stdout, stderr)
        self.calls: list[tuple[tuple, dict]] = []

    def run(self, image, command, **kw):
        from fixproof.engine.docker import RunResult

        self.calls.append(((image, tuple(command)), kw))
        return RunResult(self.result[0], self.result[1], self.result[2], 0.1, "sha256:x", tuple(command))


def _ctx(tmp_path, engine, build: str = "") -> StageContext:
    d = module(tmp_path)
    (d / "fixproof.toml").write_text(render(Plan(module="example.com/app", package=".", go="1.22.5", go_why="",
                                                 image="golang:1.22.5-bookworm")) + build)
    return StageContext(load(d / "fixproof.toml"), "init", engine_factory=lambda: engine)


def test_main_packages_run_go_list_offline_with_the_release_builds_tags_and_env(tmp_path):
    eng = _Engine(stdout="main\t/src\t\nlib\t/src/lib\t\nmain\t/src/cmd/x\t\n")
    ctx = _ctx(tmp_path, eng)
    assert init_cmd.main_packages(ctx) == (".", "./cmd/x")
    (image, cmd), kw = eng.calls[0]
    assert image == "golang:1.22.5-bookworm" and cmd[:4] == ("go", "list", "-e", "-find") and cmd[-1] == "./..."
    assert kw["network"] is False and kw["env"]["GOPROXY"] == "off" and kw["env"]["GOTOOLCHAIN"] == "local"
    assert all(m.read_only for m in kw["mounts"])


def test_main_packages_with_tags_and_env(tmp_path):
    eng = _Engine(stdout="main\t/src\t\n")
    ctx = _ctx(tmp_path, eng, build="")
    cfg = dataclasses.replace(ctx.cfg, build=dataclasses.replace(ctx.cfg.build, tags=("netgo", "x"),
                                                                 env={"CGO_ENABLED": "0"}))
    init_cmd.main_packages(StageContext(cfg, "init", engine_factory=lambda: eng))
    (_, cmd), kw = eng.calls[0]
    assert cmd[cmd.index("-tags") + 1] == "netgo,x" and kw["env"]["CGO_ENABLED"] == "0"


@pytest.mark.parametrize("result, error, words", [
    ((0, "lib\t/src\t\n", ""), ConfigError, "no main package"),
    ((1, "", "go: errors parsing go.mod:\n/src/go.mod:3: unknown directive: bogus\n"), ConfigError,
     "unknown directive: bogus"),
    ((1, "", "go: write /tmp/x: no space left on device\n"), init_cmd.ToolError, "no space left on device"),
])
def test_go_list_failures_say_what_to_do(tmp_path, result, error, words):
    with pytest.raises(error, match=words):
        init_cmd.main_packages(_ctx(tmp_path, _Engine(*result)))
