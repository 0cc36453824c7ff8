"""The fixproof.toml fixproof init writes: valid TOML with comments, loaded back by config.load."""

import tomllib

import pytest

from fixproof.config import load
from fixproof.init_toml import (Advisory, BuildPlan, Note, Plan, Scan, clearing_upgrades, comment, render,
                                toml_inline_table, toml_string)

GOMOD = "module example.com/app\n\ngo 1.22\n\ntoolchain go1.22.5\n"
X_TEXT = Advisory("GO-2022-1059", ("CVE-2022-32149", "GHSA-69ch-w2m2-3vjp"), "golang.org/x/text", "v0.3.7",
                  "v0.3.8", ("golang.org/x/text/language.ParseAcceptLanguage", "golang.org/x/text/language.MatchStrings"))
HTTP = Advisory("GO-2024-2963", ("CVE-2024-24791",), "stdlib", "v1.22.4", "v1.22.5",
                ("net/http.Client.Do", "net/http.Client.Get", "net/http.Client.Head", "net/http.Client.Post"))


def plan(**kw) -> Plan:
    base = dict(module="example.com/app", package="./cmd/app", go="1.22.5", go_why="go.mod has a toolchain line.",
                image="golang:1.22.5-bookworm", version="0.1.0")
    return Plan(**{**base, **kw})


def written(tmp_path, text: str):
    (tmp_path / "go.mod").write_text(GOMOD)
    cfg = tmp_path / "fixproof.toml"
    cfg.write_text(text)
    return load(cfg)


def test_found_advisories_round_trip_through_config_load(tmp_path):
    p = plan(scan=Scan("found", "./cmd/app built with go1.22.4", (HTTP, X_TEXT), unreachable=2,
                       db="https://vuln.go.dev"),
             other_packages=("./cmd/tool",), image_id="sha256:" + "a" * 64, binary="app",
             build=BuildPlan(flags=("-trimpath",), ldflags='-s -w -X "main.name=a b"', tags=("netgo",),
                             env={"CGO_ENABLED": "0"}, notes=(Note("From .goreleaser.yaml builds[0].",
                                                                   ("ldflags: -X main.version={{.Version}}",)),)))
    text = render(p)
    cfg = written(tmp_path, text)
    assert cfg.app_dir == tmp_path and cfg.app.packages == ("./cmd/app",) and cfg.app.binary == "app"
    assert (cfg.toolchain.go, cfg.toolchain.image, cfg.toolchain.digest) == ("1.22.5", "golang:1.22.5-bookworm", "")
    assert cfg.build.flags == ("-trimpath",) and cfg.build.ldflags == '-s -w -X "main.name=a b"'
    assert cfg.build.tags == ("netgo",) and dict(cfg.build.env) == {"CGO_ENABLED": "0"}
    assert cfg.fix.advisories == ("GO-2024-2963", "GO-2022-1059")
    assert cfg.reports_dir == tmp_path / "reports"
    assert cfg.test.network == "loopback"  # "off" would fail every httptest-based test of a real app
    # each advisory with its aliases in a comment on its line; where each value came from, above it
    line = next(ln for ln in text.splitlines() if '"GO-2022-1059"' in ln)
    assert "# CVE-2022-32149, GHSA-69ch-w2m2-3vjp; golang.org/x/text v0.3.7, fixed in v0.3.8" in line
    assert "net/http.Client.Do, net/http.Client.Get, net/http.Client.Head (and 1 more)" in text
    assert "#   ldflags: -X main.version={{.Version}}" in text
    assert "#   ./cmd/tool" in text and "go.mod has a toolchain line." in text
    assert f'# digest = "sha256:{"a" * 64}"' in text
    assert "2 more finding(s) match at package or module level only" in text
    assert "#   stdlib: build with go1.22.5 (1 advisory)" in text
    assert "#   golang.org/x/text: upgrade to v0.3.8 (1 advisory)" in text


@pytest.mark.parametrize("scan, says", [
    (Scan("clean", "./cmd/app built with go1.22.5", db="https://vuln.go.dev"), "has no reachable advisory"),
    (Scan("skipped"), "--no-scan"),
    (Scan("failed", "modules: go.sum lines: go.sum lacks x"), "did not get through (modules: go.sum lines"),
])
def test_without_proposals_the_fix_section_is_commented_with_how_to_name_one(tmp_path, scan, says):
    text = render(plan(scan=scan))
    cfg = written(tmp_path, text)
    assert cfg.fix.advisories == ()
    assert "\n# [fix]\n" in text and "\n[fix]" not in text
    assert says in text
    assert '# advisories = ["GO-2024-2963"]' in text
    assert "fix" not in tomllib.loads(text)


def test_no_release_config_keeps_go_build_defaults_plus_trimpath(tmp_path):
    text = render(plan(build=BuildPlan(notes=(Note("No .goreleaser.yml/.yaml for this module."),))))
    cfg = written(tmp_path, text)
    assert cfg.build.flags == ("-trimpath",) and cfg.build.ldflags == "" and dict(cfg.build.env) == {}
    assert '# env = { CGO_ENABLED = "0" }' in text


def test_a_draft_names_the_module_and_reports_by_absolute_path(tmp_path):
    (tmp_path / "go.mod").write_text(GOMOD)
    elsewhere = tmp_path / "scratch"
    elsewhere.mkdir()
    cfg_path = elsewhere / "fixproof.toml"
    cfg_path.write_text(render(plan(dir=str(tmp_path), report_dir=str(elsewhere / "reports"))))
    cfg = load(cfg_path)
    assert cfg.app_dir == tmp_path and cfg.reports_dir == elsewhere / "reports"


def test_strings_and_comments_survive_any_text():
    nasty = 'a "quoted" \\ back\tslash\nnew line \x01 \x7f é'
    assert tomllib.loads(f"k = {toml_string(nasty)}")["k"] == nasty
    assert tomllib.loads(f"t = {toml_inline_table({'A_B': nasty, 'weird key': 'x'})}")["t"] == {
        "A_B": nasty, "weird key": "x"}
    lines = comment("one\ntwo\x00 three " + "word " * 40)
    assert all(ln.startswith("# ") and len(ln) <= 100 for ln in lines)
    assert tomllib.loads("\n".join(lines) + "\n") == {}


def test_untrusted_text_in_comments_cannot_add_keys(tmp_path):
    evil = Advisory("GO-2024-0001", ("CVE-2024-0001\n[fix]\nadvisories = []",), "stdlib", "v1.22.0", "v1.22.1",
                    ("pkg.F\nfail_on = \"any\"",))
    text = render(plan(scan=Scan("found", "x\n[report]\ndir = \"/etc\"", (evil,), db="https://vuln.go.dev"),
                       other_packages=("./a\n[toolchain]",)))
    data = tomllib.loads(text)
    assert data["fix"] == {"advisories": ["GO-2024-0001"]} and data["report"] == {"dir": "reports"}


def test_clearing_upgrades_take_the_highest_fixed_version_per_module():
    adv = [Advisory("GO-1", module="stdlib", fixed="v1.22.11"), Advisory("GO-2", module="stdlib", fixed="v1.25.13"),
           Advisory("GO-3", module="stdlib", fixed="v1.25.9"), Advisory("GO-4", module="example.com/m", fixed=""),
           Advisory("GO-5", module="example.com/n", fixed="v1.10.0"), Advisory("GO-6", module="example.com/n",
                                                                               fixed="v1.9.0")]
    assert clearing_upgrades(adv) == ["stdlib: build with go1.25.13 (3 advisories)",
                                      "example.com/m: no fixed version yet (1 advisory)",
                                      "example.com/n: upgrade to v1.10.0 (2 advisories)"]


def test_scan_state_is_checked():
    with pytest.raises(ValueError):
        Scan("maybe")
