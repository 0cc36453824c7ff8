"""Binary stage checks on constructed build info (no engine, no Go); on real binaries:
tests/integration/test_binary.py."""

import pytest

from fixproof.goinfo.buildinfo import BuildInfo, Module
from fixproof.results import Status
from fixproof.stages.binary import check_deps, check_go_version, check_settings, dep_differences

from conftest import EXAMPLE

XTEXT = Module("golang.org/x/text", "v0.3.8", "h1:nAL+RVCQ9uMn3vJZbV+MRnydTJFPf8qqY42YiA6MrqY=")


def info(go="go1.22.5", deps=(XTEXT,), settings=(("-trimpath", "true"), ("GOOS", "linux"))):
    return BuildInfo(file="/x/fixdemo", format="elf", goos="linux", goarch="amd64", go_version=go,
                     path="example.com/fixdemo/cmd/fixdemo", main=Module("example.com/fixdemo", "(devel)", ""),
                     deps=tuple(deps), settings=tuple(settings))


BUILD_LIST = [{"path": XTEXT.path, "version": XTEXT.version, "sum": XTEXT.sum, "replace": None}]


def test_go_version_must_equal_the_pin():
    assert check_go_version(info(), "1.22.5").status is Status.PASSED
    c = check_go_version(info(go="go1.22.4"), "1.22.5")
    assert c.status is Status.FAILED and "go1.22.4" in c.message and "go1.22.5" in c.message


def test_deps_equal_the_build_list():
    assert check_deps(info(), BUILD_LIST).status is Status.PASSED


@pytest.mark.parametrize("dep, needle", [
    (Module(XTEXT.path, "v0.3.7", "h1:olpwvP2KacW1ZWvsR7uQhoyTYvKAupfQrRGBFM352Gk="), "binary has v0.3.7"),
    (Module(XTEXT.path, "v0.3.8", "h1:AAAA"), "h1:AAAA"),
    (Module(XTEXT.path, "v0.3.8", "", Module("example.com/fork/text", "v0.3.8", "h1:x")), "binary has v0.3.8"),
])
def test_any_dep_difference_fails(dep, needle):
    c = check_deps(info(deps=(dep,)), BUILD_LIST)
    assert c.status is Status.FAILED and needle in c.message


def test_missing_and_extra_deps_are_named():
    extra = Module("golang.org/x/net", "v0.1.0", "h1:y")
    c = check_deps(info(deps=(XTEXT, extra)), BUILD_LIST)
    assert c.status is Status.FAILED and "golang.org/x/net v0.1.0 is in the binary but not in the clean build list" in c.message
    c = check_deps(info(deps=()), BUILD_LIST)
    assert "is in the clean build list but not in the binary" in c.message


def test_dep_differences_both_directions():
    a = {XTEXT.path: XTEXT.to_json()}
    assert dep_differences(a, a, "x", "y") == []
    assert dep_differences(a, {}, "shipped binary", "clean build") == [
        "golang.org/x/text v0.3.8 is in the shipped binary but not in the clean build"]


def test_trimpath_asked_but_missing():
    c = check_settings(info(settings=(("GOOS", "linux"),)), ("-trimpath",))
    assert c.status is Status.FAILED and "-trimpath" in c.message


def test_differences_lead_with_the_security_relevant_module(tmp_path):
    """--artifact headlines once listed differences in file order, hiding the advisory's module in "(and 3 more)"."""
    from fixproof import config
    from fixproof.stages.binary import security_rank

    from conftest import write_config

    cfg = config.load(write_config(tmp_path, EXAMPLE, extra='[fix]\nadvisories = ["GO-2022-1059"]\n'))
    rank = security_rank(cfg, lambda _m: None)
    assert (rank("golang.org/x/text"), rank("golang.org/x/net"), rank("example.com/no-advisories")) == (0, 1, 2)
    dep = lambda p, v: {"path": p, "version": v, "sum": "h1:" + v, "replace": None}  # noqa: E731
    a = {p: dep(p, "v1") for p in ("a.example/x", "b.example/y", "golang.org/x/net", "golang.org/x/text")}
    b = {p: dep(p, "v2") for p in a}
    lines = dep_differences(a, b, "shipped binary", "clean build", rank)
    assert [ln.split(":")[0] for ln in lines] == ["golang.org/x/text", "golang.org/x/net", "a.example/x", "b.example/y"]
