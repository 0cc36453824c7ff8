"""Go module / toolchain versions and OSV SEMVER ranges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixproof.goinfo import versions as V
from fixproof.vulndb import Event, Range


@pytest.mark.parametrize("a,b,want", [
    ("v1.2.3", "v1.2.3", 0),
    ("1.2.3", "v1.2.3", 0),            # OSV spelling without "v"
    ("v1.2.3", "v1.10.0", -1),
    ("v1.2", "v1.2.0", 0),             # x/mod shorthand
    ("v1", "v1.0.0", 0),
    ("v2.0.0+incompatible", "v2.0.0", 0),  # build metadata ignored
    ("v1.0.0+meta.1", "v1.0.0+meta.2", 0),
    ("v1.0.0-rc.1", "v1.0.0", -1),
    ("v1.0.0-rc.2", "v1.0.0-rc.10", -1),  # numeric identifiers compare as numbers
    ("v1.0.0-1", "v1.0.0-alpha", -1),     # numeric below alphanumeric
    ("v1.0.0-alpha", "v1.0.0-alpha.1", -1),
    ("v1.0.0-beta", "v1.0.0-alpha.9", 1),
    # pseudo-versions
    ("v0.0.0-20190125091013-d26f9f9a57f3", "v0.0.0-20200125091013-aaaaaaaaaaaa", -1),
    ("v0.0.0-20190125091013-d26f9f9a57f3", "v0.1.0", -1),
    ("v0.3.8-0.20220101000000-abcdefabcdef", "v0.3.7", 1),
    ("v0.3.8-0.20220101000000-abcdefabcdef", "v0.3.8", -1),
    ("v1.11.0-alpha.0.0.20260225185322-738bad662b20", "v1.11.0-alpha.0", 1),
    # invalid sorts low, like x/mod/semver
    ("(devel)", "v0.0.1", -1),
    ("(devel)", "garbage", 0),
    ("v1.2.3-01", "v0.0.1", -1),       # leading zero in a numeric pre-release: invalid
])
def test_compare(a: str, b: str, want: int) -> None:
    assert V.compare(a, b) == want
    assert V.compare(b, a) == -want


def test_canonical_and_validity() -> None:
    assert V.canonical("1.2") == "v1.2.0"
    assert V.canonical("v2.3.4+incompatible") == "v2.3.4"
    assert V.canonical("(devel)") == ""
    assert not V.is_valid("v1.2-pre")     # shorthand with a suffix is invalid
    assert not V.is_valid("v01.2.3")
    assert V.is_pseudo("v0.0.0-20191109021931-daa7c04131f5")
    assert V.is_pseudo("v1.2.4-0.20191109021931-daa7c04131f5")
    assert not V.is_pseudo("v1.2.4-rc.1")


@pytest.mark.parametrize("go,want", [
    ("go1.22.5", "v1.22.5"),
    ("go1.21", "v1.21.0"),
    ("go1.21.0", "v1.21.0"),
    ("go1.20", "v1.20.0"),
    ("go1.22rc1", "v1.22.0-rc.1"),
    ("go1.21beta2", "v1.21.0-beta.2"),
    ("go1", "v1.0.0"),
    ("go1.22.5 X:boringcrypto", "v1.22.5"),
    ("go1.21.0-X:loopvar", "v1.21.0"),
    ("go1.23.1-bigcorp", "v1.23.1"),
    ("devel go1.23-1a2b3c4d5e Tue Jan 1 00:00:00 2024 +0000", ""),
    ("", ""),
    ("weird", ""),
])
def test_go_to_semver(go: str, want: str) -> None:
    assert V.go_to_semver(go) == want


def test_semver_to_go_round_trip() -> None:
    for go in ("go1.22.5", "go1.20", "go1.22rc1", "go1.21beta2", "go1.21.0", "go1.19.13"):
        assert V.semver_to_go(V.go_to_semver(go)) == go


@pytest.mark.parametrize("a,b,want", [
    ("1.21", "1.21rc1", -1),     # language version below its release candidates
    ("1.21rc1", "1.21.0", -1),
    ("1.21rc2", "1.21rc10", -1),
    ("1.21beta1", "1.21rc1", -1),
    ("1.22", "1.22.5", -1),
    ("1.22.5", "1.22.10", -1),
    ("1.20", "1.20.0", 0),       # before 1.21, "1.20" was the release itself
    ("go1.22.5", "1.22.5", 0),
    ("1.22.5 X:boringcrypto", "1.22.5", 0),
    ("1.9", "1.10", -1),
])
def test_compare_go(a: str, b: str, want: int) -> None:
    assert V.compare_go(a, b) == want
    assert V.compare_go(b, a) == -want


def test_go_line_helpers() -> None:
    assert V.go_line_minimum("1.22") == "v1.22.0"
    assert V.go_line_minimum("1.22.5") == "v1.22.5"
    assert V.go_line_minimum("1.23rc1") == "v1.23.0-rc.1"
    assert V.language_version("1.22.5") == "1.22"
    assert V.toolchain_satisfies("go1.22.5", "1.22")
    assert V.toolchain_satisfies("go1.22.0", "1.22")
    assert not V.toolchain_satisfies("go1.21.9", "1.22")
    assert not V.toolchain_satisfies("go1.22.4", "1.22.5")


def _r(*events: tuple[str, str]) -> Range:
    return Range("SEMVER", tuple(Event(introduced=i, fixed=f) for i, f in events))


# The shape of GO-2024-2963: two branches, the second starting at a pre-release.
STD = [_r(("0", ""), ("", "1.21.12"), ("1.22.0-0", ""), ("", "1.22.5"))]


@pytest.mark.parametrize("version,hit,fixed", [
    ("v1.20.0", True, "v1.21.12"),
    ("v1.21.11", True, "v1.21.12"),
    ("v1.21.12", False, ""),
    ("v1.22.0-rc.1", True, "v1.22.5"),
    ("v1.22.0", True, "v1.22.5"),
    ("v1.22.4", True, "v1.22.5"),
    ("go1.22.4", True, "v1.22.5"),
    ("1.22.4", True, "v1.22.5"),
    ("v1.22.5", False, ""),
    ("v1.23.0", False, ""),
])
def test_affected_two_branches(version: str, hit: bool, fixed: str) -> None:
    assert V.affected(version, STD) is hit
    assert V.fixed_version(version, STD) == fixed


def test_affected_edge_cases() -> None:
    assert V.affected("v1.0.0", [])                                   # no ranges: everything
    assert V.affected("v1.0.0", [Range("ECOSYSTEM", ())])             # no SEMVER range: everything
    assert V.affected("v1.0.0", [Range("SEMVER", ())])
    open_ended = [_r(("1.2.0", ""))]
    assert not V.affected("v1.1.9", open_ended)
    assert V.affected("v9.0.0", open_ended)
    assert V.fixed_version("v9.0.0", open_ended) == ""
    # unsorted events are sorted first
    unsorted = [_r(("", "0.3.8"), ("0", ""))]
    assert V.affected("v0.3.7", unsorted) and not V.affected("v0.3.8", unsorted)
    # +incompatible and pseudo-versions
    inc = [_r(("0", ""), ("", "2.1.0+incompatible"))]
    assert V.affected("v2.0.0+incompatible", inc)
    pseudo = [_r(("0", ""), ("", "0.0.0-20220314234659-1baeb1ce4c0b"))]
    assert V.affected("v0.0.0-20211202181000-aaaaaaaaaaaa", pseudo)
    assert not V.affected("v0.0.0-20220315000000-aaaaaaaaaaaa", pseudo)
    assert not V.affected("v0.1.0", pseudo)
    # (devel) sorts below everything: affected by ranges from "0"
    assert V.affected("(devel)", [_r(("0", ""), ("", "1.0.0"))])
    assert not V.affected("(devel)", [_r(("0.5.0", ""))])
    # fixed then reintroduced at the same version
    reint = [_r(("0", ""), ("", "1.0.0"), ("1.0.0", ""), ("", "1.1.0"))]
    assert V.affected("v1.0.0", reint)
    assert V.fixed_version("v1.0.0", reint) == "v1.1.0"


versions_st = st.builds(
    lambda a, b, c, pre: f"v{a}.{b}.{c}" + (f"-{pre}" if pre else ""),
    st.integers(0, 30), st.integers(0, 30), st.integers(0, 30),
    st.sampled_from(["", "rc.1", "rc.2", "alpha", "0.20200101000000-abcdefabcdef"]),
)


@given(versions_st, versions_st, versions_st)
def test_compare_is_a_total_order(a: str, b: str, c: str) -> None:
    assert V.compare(a, b) == -V.compare(b, a)
    if V.compare(a, b) <= 0 and V.compare(b, c) <= 0:
        assert V.compare(a, c) <= 0


@given(versions_st, versions_st, versions_st)
def test_affected_matches_interval(v: str, lo: str, hi: str) -> None:
    ranges = [_r((lo, ""), ("", hi))]
    if V.compare(lo, hi) < 0:
        assert V.affected(v, ranges) == (V.compare(lo, v) <= 0 < V.compare(hi, v))
        if V.affected(v, ranges):
            assert V.fixed_version(v, ranges) == V.canonical(hi) or V.compare(V.fixed_version(v, ranges), hi) == 0
