"""An app's .goreleaser.yml as go build flags: what is taken, what is left out (templates), and why."""

from pathlib import Path

import pytest

from fixproof.errors import ReleaseConfigError
from fixproof.goinfo import goreleaser
from fixproof.goinfo.goreleaser import Dropped, package_of, parse, split_args, strip_ldflags

FILE = Path(".goreleaser.yaml")


def one(text: str, **kw) -> goreleaser.ReleaseBuild:
    builds = parse(text, FILE, **kw)
    assert len(builds) == 1, builds
    return builds[0]


def test_flags_ldflags_tags_env_are_taken_as_written():
    b = one("""
version: 2
builds:
  - id: cli
    main: ./cmd/app
    binary: app
    env: [CGO_ENABLED=0]
    flags: [-trimpath, -buildvcs=true]
    ldflags: -s -w -X main.builtBy=goreleaser
    tags: [netgo, osusergo]
    goos: [linux, darwin]
""")
    assert b.id == "cli" and b.main == "./cmd/app" and b.binary == "app"
    assert b.flags == ("-trimpath", "-buildvcs=true")
    assert b.ldflags == "-s -w -X main.builtBy=goreleaser"
    assert b.tags == ("netgo", "osusergo")
    assert b.env == {"CGO_ENABLED": "0"}
    assert b.dropped == () and not b.default_ldflags and b.label == '.goreleaser.yaml builds[0] (id "cli")'


def test_ldflags_list_is_joined_and_templates_are_dropped_with_their_flag():
    b = one("""
builds:
  - ldflags:
      - -s -w
      - -X main.version={{.Version}} -X "main.date={{ .Date }}"
      - -X main.builtBy=goreleaser -extldflags "-static"
""")
    assert b.ldflags == '-s -w -X main.builtBy=goreleaser -extldflags "-static"'
    assert b.dropped == (Dropped("ldflags", "-X main.version={{.Version}}"),
                         Dropped("ldflags", '-X "main.date={{ .Date }}"'))


def test_a_build_without_ldflags_gets_goreleasers_default_without_its_templates():
    b = one("builds:\n  - main: .\n")
    assert b.default_ldflags
    assert b.ldflags == "-s -w -X main.builtBy=goreleaser"
    assert [d.text for d in b.dropped] == ["-X main.version={{.Version}}", "-X main.commit={{.Commit}}",
                                           "-X main.date={{.Date}}"]


def test_templated_flags_tags_env_main_and_binary_are_dropped_and_listed():
    b = one("""
env: [GO111MODULE=on, 'TOKEN={{ .Env.GITHUB_TOKEN }}']
builds:
  - main: '{{ .Env.MAIN }}'
    binary: '{{ .ProjectName }}'
    env: [CGO_ENABLED=0, 'CC={{ if eq .Os "darwin" }}o64-clang{{ end }}']
    flags: [-trimpath, '-tags={{ .Env.TAGS }}']
    tags: [netgo, '{{ .Env.EXTRA }}']
    ldflags: -s
""")
    assert b.flags == ("-trimpath",) and b.tags == ("netgo",) and b.main == "" and b.binary == ""
    assert b.env == {"GO111MODULE": "on", "CGO_ENABLED": "0"}
    assert {d.where for d in b.dropped} == {"env TOKEN", "env CC", "flags", "tags", "main", "binary"}
    assert all("{{" in d.text for d in b.dropped)


def test_env_fixproof_controls_is_left_out_and_named():
    b = one("builds:\n  - env: [GOFLAGS=-mod=mod, GOPROXY=direct, GOOS=linux, CGO_ENABLED=1]\n    ldflags: ''\n")
    assert b.env == {"CGO_ENABLED": "1"}
    assert b.left_out_env == ("GOFLAGS", "GOPROXY", "GOOS")


def test_build_env_overrides_the_top_level_env():
    b = one("env: [CGO_ENABLED=1]\nbuilds:\n  - env: [CGO_ENABLED=0]\n    ldflags: ''\n")
    assert b.env == {"CGO_ENABLED": "0"}


def test_skipped_prebuilt_and_other_directories_are_not_this_modules_builds():
    text = """
builds:
  - id: skipped
    skip: true
  - id: prebuilt
    builder: prebuilt
  - id: rust
    builder: rust
  - id: sub
    dir: ./services/api
    main: ./cmd/api
  - id: root
    main: ./cmd/root
"""
    assert [b.id for b in parse(text, FILE)] == ["root"]
    assert [b.id for b in parse(text, FILE, module_rel="services/api")] == ["sub"]


def test_no_builds_is_goreleasers_default_build_of_the_root():
    b = one("project_name: app\narchives: []\n")
    assert b.implicit and b.main == "" and b.default_ldflags
    assert parse("project_name: app\n", FILE, module_rel="sub") == ()
    assert parse("", FILE)[0].implicit  # an empty file too


@pytest.mark.parametrize("text, what", [
    ("builds: [\n", "not valid YAML"),
    ("- a\n- b\n", "not a mapping"),
    ("builds: {main: .}\n", "builds must be a list"),
    ("builds:\n  - flags: {a: b}\n", "flags must be a string or a list"),
    ("builds:\n  - env: [NOEQUALS]\n", "not KEY=VALUE"),
])
def test_malformed_configs_are_release_config_errors(text, what):
    with pytest.raises(ReleaseConfigError, match=what) as e:
        parse(text, FILE)
    assert e.value.exit_code == 2


@pytest.mark.parametrize("main, pkg", [
    ("./cmd/app", "./cmd/app"), ("cmd/app", "./cmd/app"), ("./cmd/app/main.go", "./cmd/app"),
    ("main.go", "."), (".", "."), ("./", "."), ("./cmd/app/", "./cmd/app"),
])
def test_main_is_a_package_path(main, pkg):
    assert package_of(main) == pkg


def test_ldflags_split_like_the_go_command_keeping_quotes():
    assert split_args(" -s  -w -X 'a.b=c d' -extldflags \"-static -lm\" ") == [
        "-s", "-w", "-X", "'a.b=c d'", "-extldflags", '"-static -lm"']
    assert strip_ldflags("-s -w") == ("-s -w", [])
    # a template that is not the value of a flag is dropped alone: -s stays
    assert strip_ldflags("-s {{ .Env.LDFLAGS }} -w") == ("-s -w", ["{{ .Env.LDFLAGS }}"])


def test_find_looks_in_the_module_then_up_to_the_repository_root(tmp_path):
    repo = tmp_path / "repo"
    mod = repo / "services" / "api"
    mod.mkdir(parents=True)
    assert goreleaser.find(mod, repo) is None
    (repo / ".goreleaser.yml").write_text("builds: []\n")
    assert goreleaser.find(mod, repo) == repo / ".goreleaser.yml"
    (mod / ".goreleaser.yaml").write_text("builds: []\n")
    assert goreleaser.find(mod, repo) == mod / ".goreleaser.yaml"
    (tmp_path / ".goreleaser.yml").write_text("builds: []\n")  # above the repository: never read
    (repo / ".goreleaser.yml").unlink()
    (mod / ".goreleaser.yaml").unlink()
    assert goreleaser.find(mod, repo) is None


def test_read_picks_the_builds_of_the_module_below_the_config(tmp_path):
    mod = tmp_path / "services" / "api"
    mod.mkdir(parents=True)
    cfg = tmp_path / ".goreleaser.yaml"
    cfg.write_text("builds:\n  - id: api\n    dir: services/api\n    ldflags: ''\n  - id: root\n    ldflags: ''\n")
    assert [b.id for b in goreleaser.read(cfg, mod)] == ["api"]
    assert [b.id for b in goreleaser.read(cfg, tmp_path)] == ["root"]
