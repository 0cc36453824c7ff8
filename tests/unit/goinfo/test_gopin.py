"""go.mod's go/toolchain lines -> the exact Go release fixproof init pins, and why."""

import pytest

from fixproof.errors import GoModError
from fixproof.goinfo.gopin import pin, sort_releases

RELEASES = ["1.20", "1.20.14", "1.21.0", "1.21.13", "1.22rc1", "1.22.0", "1.22.5", "1.22.12", "1.22.3",
            "1.23rc2", "1.27rc1"]


def test_a_toolchain_line_is_the_pin():
    p = pin("1.22", "go1.22.5", RELEASES)
    assert p.version == "1.22.5" and p.image == "golang:1.22.5-bookworm"
    assert "toolchain go1.22.5" in p.why


def test_a_custom_toolchain_build_pins_the_release_it_is_built_from():
    p = pin("1.22", "go1.22.5-bigcorp", RELEASES)
    assert p.version == "1.22.5" and "custom build" in p.why


def test_a_toolchain_older_than_the_go_line_is_ignored_as_the_go_command_does():
    assert pin("1.22.5", "go1.21.0", RELEASES).version == "1.22.5"


def test_a_go_line_with_a_patch_is_exactly_that_release():
    p = pin("1.22.5", "", RELEASES)
    assert p.version == "1.22.5" and "exactly that release" in p.why


def test_a_go_line_without_a_patch_is_the_newest_release_of_that_line_and_says_why():
    p = pin("1.22", "", RELEASES)  # 1.22.12 is newest by Go's order, not by string order (1.22.5 > 1.22.12)
    assert p.version == "1.22.12"
    assert "every go1.22.x release satisfies" in p.why and "newest 1.22 release" in p.why


def test_a_line_with_only_a_pre_release_pins_the_newest_pre_release():
    assert pin("1.27", "", RELEASES).version == "1.27rc1"


def test_a_pre_release_go_line_is_exact():
    assert pin("1.23rc2", "", RELEASES).version == "1.23rc2"


def test_without_the_release_list_the_first_release_of_the_line_is_pinned_and_said_so():
    p = pin("1.22", "", [])
    assert p.version == "1.22.0" and "could not be read" in p.why
    assert pin("1.19", "", []).version == "1.19"  # before 1.21 the first release had no .0


def test_a_line_the_proxy_has_no_release_of_is_an_error():
    with pytest.raises(GoModError, match="lists no Go 1.40 release") as e:
        pin("1.40", "", RELEASES)
    assert e.value.exit_code == 2


@pytest.mark.parametrize("go, toolchain, what", [
    ("", "", "has no go line"),
    ("banana", "", "not a Go version"),
    ("1.22", "gobanana", "names no Go release"),
])
def test_unusable_lines_are_errors(go, toolchain, what):
    with pytest.raises(GoModError, match=what):
        pin(go, toolchain, RELEASES)


def test_releases_sort_in_gos_order():
    assert sort_releases(["1.22.12", "1.22rc1", "1.22.5", "1.21.13", "1.22.0"]) == [
        "1.21.13", "1.22rc1", "1.22.0", "1.22.5", "1.22.12"]
