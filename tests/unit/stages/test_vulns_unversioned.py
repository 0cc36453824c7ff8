"""vulns stage: a listed advisory naming a module the binary records no version for is never taken as absent."""

from types import SimpleNamespace as NS

from fixproof.stages.vulns import _unversioned, _unversioned_hits


def info(main_version, deps=()):
    return NS(go_version="go1.22.5", main=NS(path="filippo.io/age", version=main_version, replace=None), deps=deps)


def entry(*modules):
    return NS(affected=tuple(NS(module=m) for m in modules))


def test_main_module_without_version_is_named_with_what_to_do():
    """An app fixing its own advisory, built from a checkout without a release tag (or with Go < 1.24):
    the vulnerable version once passed because the main module at (devel) is not matched."""
    u = _unversioned(info("(devel)"))
    hits = _unversioned_hits(entry("filippo.io/age"), u)
    assert [m for m, _ in hits] == ["filippo.io/age"]
    assert "main module" in hits[0][1] and "release tag" in hits[0][1] and "Go 1.24" in hits[0][1]
    assert not _unversioned_hits(entry("golang.org/x/text"), u)


def test_tagged_main_module_and_versioned_deps_are_matched_as_usual():
    dep = NS(path="golang.org/x/text", version="v0.3.8", replace=None)
    assert _unversioned(info("v1.2.0", (dep,))) == {}


def test_directory_replacement_is_unversioned():
    dep = NS(path="golang.org/x/text", version="v0.3.7", replace=NS(path="../text", version=""))
    u = _unversioned(info("v1.2.0", (dep,)))
    assert "directory ../text" in u["golang.org/x/text"]
