"""Typed stage facts: each class reads the facts its stage has always written and writes them back
byte for byte (reports/stages/<stage>.json is in the evidence digest), and every reader goes through it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fixproof import registry
from fixproof.engine.images import ImageInfo
from fixproof.results import StageFacts, StageResult, passed
from fixproof.stages.binary import BinaryFacts
from fixproof.stages.build import BuildFacts
from fixproof.stages.modules import BuildListModule, CleanDownload, ModulesFacts, Replacement
from fixproof.stages.race import RaceFacts
from fixproof.stages.sbom import SbomFacts
from fixproof.stages.toolchain import GoInImage, ToolchainFacts
from fixproof.stages.vulns import VulnsFacts
from fixproof.vulnmatch import Level

from conftest import ROOT

IMAGE_ID = "sha256:8ad19acd2b383c31b16855203863143c9cf0025cf49e0b3a2444b57cdc891f82"

# The facts as the stages wrote them before they were typed (from a run of the example, shortened).
TOOLCHAIN = {
    "go_command_advisories": [{"aliases": ["CVE-2025-4674"], "fixed": "go1.23.11", "id": "GO-2025-3828"},
                              {"aliases": [], "fixed": "", "id": "GO-2026-4339"}],
    "go_version": "go1.22.5", "goarch": "amd64", "goos": "linux",
    "image": {"id": IMAGE_ID,
              "labels": {"org.fixproof.base": "debian:bookworm-slim",
                         "org.fixproof.go.module": "golang.org/toolchain@v0.0.1-go1.22.5.linux-amd64",
                         "org.fixproof.recipe": "golang-standin", "org.opencontainers.image.version": "1.22.5"},
              "obtained": "present", "ref": "golang:1.22.5-bookworm", "repo_digests": []},
    "pin": "go1.22.5",
}
# `go version` did not run in the image: no go_version, goos, goarch
TOOLCHAIN_NO_GO = {
    "go_command_advisories": [],
    "image": {"id": IMAGE_ID, "labels": {}, "obtained": "pulled", "ref": "golang:1.22.5-bookworm",
              "repo_digests": ["golang@sha256:" + "2" * 64]},
    "pin": "go1.22.5",
}
ENV = {"CA bundle": "/etc/ssl/certs/ca-certificates.crt", "GOFLAGS": "", "GONOSUMDB": "", "GOPRIVATE": "",
       "GOPROXY": "https://proxy.golang.org,direct", "GOSUMDB": "sum.golang.org"}
MODULES = {
    "build_list": [
        {"path": "golang.org/x/text", "replace": None, "sum": "h1:nAL+RVCQ9uMn3vJZbV+MRnydTJFPf8qqY42YiA6MrqY=",
         "version": "v0.3.8"},
        {"path": "example.com/lib", "replace": {"path": "../lib", "sum": "", "version": ""}, "sum": "",
         "version": "v1.0.0"},
        {"path": "example.com/fork", "replace": {"path": "example.com/fork2", "sum": "h1:f=", "version": "v1.1.0"},
         "sum": "", "version": "v1.0.0"},
    ],
    "downloaded": [{"gomod_sum": "h1:E6s5w1FMmriuDzIBO73fBruAKo1PCIq6d2Q6DHfQ8WQ=", "path": "golang.org/x/text",
                    "sum": "h1:nAL+RVCQ9uMn3vJZbV+MRnydTJFPf8qqY42YiA6MrqY=", "version": "v0.3.8"}],
    "env": ENV,
    "main_module": "example.com/fixdemo",
    "volume": "fixproof-modcache-6a7b1562579067b1",
}
MODULES_DOWNLOAD_FAILED = {"env": ENV, "volume": "fixproof-modcache-6a7b1562579067b1"}
VULNS = {
    "binary": "/work/main/reports/build/fixdemo",
    "findings": [
        {"aliases": ["CVE-2024-34158"], "file": "/work/main/reports/build/fixdemo", "fixed": "v1.22.7",
         "id": "GO-2024-3107", "level": "module", "module": "stdlib", "symbols": [], "version": "v1.22.5"},
        {"aliases": ["CVE-2024-45341"], "file": "/work/main/reports/build/fixdemo", "fixed": "v1.22.11",
         "id": "GO-2025-3373", "level": "symbol", "module": "stdlib",
         "symbols": ["crypto/x509.Certificate.Verify", "crypto/x509.ParseCertificate"], "version": "v1.22.5"},
    ],
    "listed": ["GO-2024-2963", "GO-2022-1059"],
    "vex": [{"aliases": ["CVE-2024-24791"], "detail": "stdlib in the binary is at a version outside the affected "
             "ranges.", "id": "GO-2024-2963", "justification": "", "status": "fixed"},
            {"aliases": ["CVE-2022-32149", "GHSA-69ch-w2m2-3vjp"], "detail": "", "id": "GO-2022-1059",
             "justification": "vulnerable_code_not_present", "status": "not_affected"}],
}
RACE = {"binary": "/work/main/reports/race/fixdemo-race",
        "command": "go build -race -trimpath -o /out/fixdemo-race ./cmd/fixdemo"}
SBOM = {"document": "/work/main/reports/sbom.cdx.json",
        "serial_number": "urn:uuid:339b78d3-954c-5a64-93e1-622fe6803d14"}
BUILD = {"binary": "/work/main/reports/build/fixdemo", "sha256": "ab" * 32,
         "command": "go build -trimpath -o /out/fixdemo ./cmd/fixdemo", "image_id": IMAGE_ID}

CASES = [
    (ToolchainFacts, "toolchain", TOOLCHAIN), (ToolchainFacts, "toolchain", TOOLCHAIN_NO_GO),
    (ModulesFacts, "modules", MODULES), (ModulesFacts, "modules", MODULES_DOWNLOAD_FAILED),
    (VulnsFacts, "vulns", VULNS), (RaceFacts, "race", RACE), (SbomFacts, "sbom", SBOM), (BuildFacts, "build", BUILD),
]


def written(result: StageResult) -> str:
    """reports/stages/<stage>.json as StageResult.write writes it."""
    return json.dumps(result.to_json(), indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize("cls,stage,old", CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_facts_round_trip_to_the_json_the_stage_always_wrote(cls, stage, old):
    facts = cls.from_json(old)
    assert facts is not None
    assert facts.to_json() == old
    assert cls.from_json(facts.to_json()) == facts
    before = StageResult(stage, (passed("c", "ok"),), old)
    after = StageResult(stage, (passed("c", "ok"),), facts.to_json())
    assert written(after) == written(before)  # byte for byte: evidence digests do not move
    assert cls.of(StageResult.from_json(json.loads(written(before)))) == facts


@pytest.mark.parametrize("cls", [ToolchainFacts, ModulesFacts, VulnsFacts, RaceFacts, SbomFacts, BuildFacts])
def test_a_stage_that_handed_nothing_on_has_no_facts(cls):
    assert cls.of(None) is None
    assert cls.of(StageResult("x", (passed("prerequisites", "skipped"),), {})) is None


def test_typed_fields_say_what_readers_need():
    tc = ToolchainFacts.from_json(TOOLCHAIN)
    assert tc.image_id == IMAGE_ID and tc.image.ref == "golang:1.22.5-bookworm" and tc.pin == "go1.22.5"
    assert tc.go == GoInImage("go1.22.5", "linux", "amd64")
    assert tc.go_command_advisories[0].id == "GO-2025-3828"
    assert ToolchainFacts.from_json(TOOLCHAIN_NO_GO).go is None
    assert ToolchainFacts.from_json(TOOLCHAIN_NO_GO).image.repo_digests == ("golang@sha256:" + "2" * 64,)
    mods = ModulesFacts.from_json(MODULES)
    assert mods.main_module == "example.com/fixdemo" and mods.volume.startswith("fixproof-modcache-")
    assert mods.build_list[1] == BuildListModule("example.com/lib", "v1.0.0", "", Replacement("../lib", "", ""))
    failed_download = ModulesFacts.from_json(MODULES_DOWNLOAD_FAILED)
    assert failed_download.clean is None and failed_download.build_list == () and failed_download.main_module == ""
    assert ModulesFacts(ENV, "v", CleanDownload("m", (), ())).to_json()["build_list"] == []  # ran, found none
    vulns = VulnsFacts.from_json(VULNS)
    assert [f.level for f in vulns.findings] == [Level.MODULE, Level.SYMBOL]
    assert [v.status for v in vulns.vex] == ["fixed", "not_affected"] and vulns.listed == ("GO-2024-2963", "GO-2022-1059")
    assert SbomFacts.from_json(SBOM).document == Path("/work/main/reports/sbom.cdx.json")
    assert RaceFacts.from_json(RACE).binary.name == "fixdemo-race"


def test_image_info_reads_what_it_wrote():
    info = ImageInfo("golang:1.22.5-bookworm", IMAGE_ID, ("golang@sha256:" + "3" * 64,), "built",
                     {"org.fixproof.recipe": "golang-standin", "maintainer": "dropped by to_json"})
    back = ImageInfo.from_json(info.to_json())
    assert back.to_json() == info.to_json() and back.source == "built" and "maintainer" not in back.labels


def test_facts_that_are_not_what_the_stage_writes_are_a_value_error():
    """A hand-edited result reads like an unreadable one (uptodate checks then rerun the stage), never a crash."""
    broken = StageResult("toolchain", (passed("c", "ok"),), {"image": {"id": IMAGE_ID}, "go_command_advisories": [{}]})
    with pytest.raises(ValueError, match="toolchain stage's result are malformed"):
        ToolchainFacts.of(broken)
    with pytest.raises(ValueError):
        ModulesFacts.of(StageResult("modules", (), {"volume": "v", "main_module": "m", "build_list": [{"path": "p"}]}))


def test_vulns_facts_leave_out_entries_that_name_no_advisory():
    """The report pages show what they can of a damaged result, as they always did."""
    facts = VulnsFacts.from_json({"vex": [{"status": "fixed"}, "junk", VULNS["vex"][0]], "findings": [None]})
    assert [v.id for v in facts.vex] == ["GO-2024-2963"] and facts.findings == ()


def test_every_stage_whose_facts_are_read_declares_a_facts_class():
    declared = {s.name: s.facts for s in registry.specs() if s.facts is not None}
    assert declared == {"toolchain": ToolchainFacts, "modules": ModulesFacts, "build": BuildFacts,
                        "vulns": VulnsFacts, "race": RaceFacts, "sbom": SbomFacts, "binary": BinaryFacts}
    assert all(issubclass(c, StageFacts) for c in declared.values())


# gdb and trace are rewritten elsewhere; their facts stay untyped until they declare a class
UNTYPED = {"gdb.py", "trace.py"}


def test_no_reader_indexes_a_stage_results_facts():
    pattern = re.compile(r"\.facts\s*(\.get\(|\[)")
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in (ROOT / "pipeline").rglob("*.py") if p.name not in UNTYPED
                 for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not offenders, "read facts through the stage's facts class (StageFacts.of): " + ", ".join(offenders)


def test_binary_facts_round_trip_and_read_the_build_info():
    facts = {"buildinfo": {"go_version": "go1.22.5", "path": "example.com/fixdemo",
                           "deps": [{"path": "golang.org/x/text", "version": "v0.3.8", "sum": "h1:x", "replace": None}]},
             "sha256": "ab" * 32}
    result = StageResult("binary", (passed("x", "y"),), facts)
    read = BinaryFacts.of(result)
    assert read is not None and read.to_json() == facts
    assert read.go_version == "go1.22.5" and read.deps == {"golang.org/x/text": "v0.3.8"}
    assert BinaryFacts.of(StageResult("binary", (passed("x", "y"),))) is None
    with pytest.raises(ValueError):
        BinaryFacts.of(StageResult("binary", (), {"buildinfo": "not an object"}))
