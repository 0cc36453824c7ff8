"""Listed advisories against the pinned Go and the build list, on the DB snapshot."""

import dataclasses

import pytest

from fixproof import config
from fixproof.results import Status
from fixproof.stages.advisories import go_checks, load_listed, module_checks, unknown_checks

from conftest import EXAMPLE, VULNDB, write_config

pytestmark = pytest.mark.usefixtures("vulndb_snapshot")  # in CI its absence fails, never skips


def listed(tmp_path, *ids):
    cfg = config.load(write_config(tmp_path, EXAMPLE))
    cfg = dataclasses.replace(cfg, fix=dataclasses.replace(cfg.fix, advisories=ids))
    return load_listed(cfg, lambda _m: None)


def test_pinned_go_older_than_the_fix(tmp_path):
    lst = listed(tmp_path, "GO-2024-2963")
    bad = go_checks(lst, "1.22.4")[0]
    assert bad.status is Status.FAILED and "go1.22.4" in bad.message and "go1.22.5" in bad.message
    assert not bad.blocks
    assert go_checks(lst, "1.22.5")[0].status is Status.PASSED
    assert go_checks(lst, "1.21.12")[0].status is Status.PASSED
    assert go_checks(lst, "1.21.11")[0].status is Status.FAILED


def test_build_list_on_an_affected_module(tmp_path):
    lst = listed(tmp_path, "GO-2022-1059")
    old = [{"path": "golang.org/x/text", "version": "v0.3.7", "sum": "", "replace": None}]
    r = module_checks(lst, old)[0]
    assert r.status is Status.FAILED and "v0.3.7" in r.message and "v0.3.8" in r.message
    new = [{"path": "golang.org/x/text", "version": "v0.3.8", "sum": "", "replace": None}]
    assert module_checks(lst, new)[0].status is Status.PASSED
    assert module_checks(lst, [])[0].status is Status.PASSED  # the module is not used at all
    # stdlib advisories are the toolchain stage's business
    assert module_checks(listed(tmp_path, "GO-2024-2963"), old) == []


def test_unknown_advisory_is_a_configuration_error(tmp_path):
    lst = listed(tmp_path, "GO-2099-9999")
    (c,) = unknown_checks(lst)
    assert c.status is Status.ERROR and c.evidence["exit_code"] == 2


def test_go_command_advisories_are_facts_about_the_pinned_image():
    """Advisories on module toolchain (the go command) are reported by the toolchain stage, as a warning."""
    from fixproof.stages.advisories import go_command_advisories, toolchain_only
    from fixproof.vulndb import VulnDB

    with VulnDB(VULNDB.as_uri()) as db:
        old = go_command_advisories(db, "1.22.5")
        assert old.status is Status.PASSED and old.warning
        ids = {a["id"] for a in old.evidence["advisories"]}
        assert "GO-2025-3828" in ids and "GO-2024-2963" not in ids  # the go command's, not net/http's
        assert "GO-2025-3828" in old.message or "more" in old.message
        assert toolchain_only(db.entry("GO-2025-3828")) and not toolchain_only(db.entry("GO-2024-2963"))
        # a release with every go command fix in the snapshot: no warning
        newest = go_command_advisories(db, "1.27.4")
        assert newest.status is Status.PASSED and not newest.warning and newest.evidence["advisories"] == []


def test_listed_go_command_advisory_gets_no_vex_statement_for_the_binary(tmp_path):
    from fixproof.goinfo.buildinfo import BuildInfo
    from fixproof.stages.vulns import _verdicts

    lst = listed(tmp_path, "GO-2025-3828", "GO-2024-2963")
    info = BuildInfo(file="x", format="elf", goos="linux", goarch="amd64", go_version="go1.22.5", path="example.com/x",
                     main=None, deps=(), settings=())
    assert [v.id for v in _verdicts(["GO-2025-3828", "GO-2024-2963"], lst, info, {}, True)] == ["GO-2024-2963"]


def test_cve_and_ghsa_aliases_resolve_to_go_ids(tmp_path):
    from fixproof.stages.advisories import resolution_checks

    lst = listed(tmp_path, "CVE-2024-24791", "GHSA-69ch-w2m2-3vjp", "CVE-2099-0001")
    assert lst.ids == ("GO-2024-2963", "GO-2022-1059")
    assert lst.unknown == ("CVE-2099-0001",)
    assert lst.label("GO-2024-2963") == "GO-2024-2963 (listed as CVE-2024-24791)"
    said = {c.name: c.message for c in resolution_checks(lst)}
    assert "GO-2024-2963" in said["advisory CVE-2024-24791"] and "GO-2022-1059" in said["advisory GHSA-69ch-w2m2-3vjp"]
    bad = go_checks(lst, "1.22.4")[0]
    assert bad.status is Status.FAILED and "listed as CVE-2024-24791" in bad.message
    assert "not in the vulnerability database" in unknown_checks(lst)[0].message


def test_config_accepts_aliases_and_refuses_other_names(tmp_path):
    from fixproof.errors import ConfigError

    ok = write_config(tmp_path, EXAMPLE, extra='[fix]\nadvisories = ["CVE-2022-32149", "GHSA-69ch-w2m2-3vjp"]\n')
    assert config.load(ok).fix.advisories == ("CVE-2022-32149", "GHSA-69ch-w2m2-3vjp")
    bad = write_config(tmp_path, EXAMPLE, extra='[fix]\nadvisories = ["RUSTSEC-2020-0001"]\n')
    with pytest.raises(ConfigError, match="aliases"):
        config.load(bad)
