"""Stage sbom: a CycloneDX document of a real Go binary, validated by cyclonedx-python-lib's own schema.

The binary is built here with the host go (GOTOOLCHAIN=local) from a tiny module whose two dependencies
come from a file:// module proxy the test writes, so go records real h1 sums and the test needs no network
and no Docker.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from conftest import EXAMPLE, IN_CI, write_config
from fixproof.config import load
from fixproof.goinfo.buildinfo import BuildInfo, Module, read_buildinfo
from fixproof.goinfo.versions import go_to_semver
from fixproof.hashing import sha256_file
from fixproof.results import Status, StageResult, failed, passed
from fixproof.stages import sbom
from fixproof.stages.build import BuildFacts
from fixproof.stages.common import StageContext

GO_TIMEOUT_S = 300

DEP_GO = "package dep\n\nfunc Answer() int { return 42 }\n"
FORK_GO = "package old\n\nfunc Name() string { return \"fork\" }\n"
MAIN_GO = """package main

import (
	"fmt"

	"example.com/dep"
	"example.com/old"
)

func main() { fmt.Println(dep.Answer(), old.Name()) }
"""


def _proxy_module(proxy: Path, path: str, version: str, mod_path: str, files: dict[str, str]) -> None:
    """One module version in GOPROXY=file:// layout (list, .info, .mod, .zip)."""
    d = proxy / path / "@v"
    d.mkdir(parents=True, exist_ok=True)
    gomod = f"module {mod_path}\n\ngo 1.21\n"
    (d / "list").write_text(version + "\n")
    (d / f"{version}.info").write_text(json.dumps({"Version": version, "Time": "2024-01-01T00:00:00Z"}))
    (d / f"{version}.mod").write_text(gomod)
    with zipfile.ZipFile(d / f"{version}.zip", "w") as z:
        z.writestr(f"{path}@{version}/go.mod", gomod)
        for name, text in files.items():
            z.writestr(f"{path}@{version}/{name}", text)


@pytest.fixture(scope="module")
def gobin(tmp_path_factory) -> tuple[Path, Path]:
    """(the binary, its go.sum): example.com/sbomdemo needing example.com/dep v1.0.0 and example.com/old
    replaced by the fork example.com/new v1.1.0."""
    go = shutil.which("go")
    if go is None:
        if IN_CI:
            pytest.fail("CI needs the host go to build the SBOM test binary")
        pytest.skip("no go on PATH: cannot build the SBOM test binary")
    tmp = tmp_path_factory.mktemp("sbom")
    proxy = tmp / "proxy"
    _proxy_module(proxy, "example.com/dep", "v1.0.0", "example.com/dep", {"dep.go": DEP_GO})
    _proxy_module(proxy, "example.com/new", "v1.1.0", "example.com/old", {"old.go": FORK_GO})  # a fork
    app = tmp / "app"
    app.mkdir()
    (app / "go.mod").write_text("module example.com/sbomdemo\n\ngo 1.21\n\n"
                                "require (\n\texample.com/dep v1.0.0\n\texample.com/old v1.0.0\n)\n\n"
                                "replace example.com/old => example.com/new v1.1.0\n")
    (app / "main.go").write_text(MAIN_GO)
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOPROXY": proxy.as_uri(), "GOSUMDB": "off", "GOFLAGS": "-mod=mod",
           "GOMODCACHE": str(tmp / "modcache"), "GOPATH": str(tmp / "gopath"), "CGO_ENABLED": "0"}
    out = tmp / "sbomdemo"
    p = subprocess.run([go, "build", "-modcacherw", "-trimpath", "-o", str(out), "."], cwd=app, env=env,
                       capture_output=True, text=True, timeout=GO_TIMEOUT_S)
    assert p.returncode == 0, p.stderr
    return out, app / "go.sum"


def _sums(gosum: Path) -> dict[str, str]:
    out = {}
    for line in gosum.read_text().splitlines():
        path, version, h = line.split()
        if not version.endswith("/go.mod"):
            out[f"{path}@{version}"] = h
    return out


def _doc(info: BuildInfo, sha: str = "ab" * 32) -> dict:
    text = sbom.to_json(sbom.build_bom(info, sha))
    assert sbom.validate(text) == []
    return json.loads(text)


# --- the document --------------------------------------------------------------------------------


def test_document_of_a_real_binary_validates_and_names_every_module(gobin):
    binary, gosum = gobin
    info = read_buildinfo(binary)
    sha = sha256_file(binary)
    doc = _doc(info, sha)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    main = doc["metadata"]["component"]
    assert main["type"] == "application" and main["name"] == "example.com/sbomdemo"
    assert main["purl"] == "pkg:golang/example.com/sbomdemo"
    assert main["hashes"] == [{"alg": "SHA-256", "content": sha}]
    props = {p["name"]: p["value"] for p in main["properties"]}
    assert props["fixproof:go:version"] == info.go_version and props["fixproof:go:setting:-trimpath"] == "true"
    by_ref = {c["bom-ref"]: c for c in doc["components"]}
    std = go_to_semver(info.go_version)
    assert set(by_ref) == {"example.com/dep@v1.0.0", "example.com/new@v1.1.0", f"stdlib@{std}"}
    sums = _sums(gosum)
    dep = by_ref["example.com/dep@v1.0.0"]
    assert dep["purl"] == "pkg:golang/example.com/dep@v1.0.0" and dep["version"] == "v1.0.0"
    h1 = sums["example.com/dep@v1.0.0"]
    assert dep["hashes"] == [{"alg": "SHA-256", "content": base64.b64decode(h1[3:]).hex()}]
    assert {"name": "fixproof:go:sum", "value": h1} in dep["properties"]
    fork = by_ref["example.com/new@v1.1.0"]  # a replaced module is described by what was linked
    assert fork["purl"] == "pkg:golang/example.com/new@v1.1.0"
    assert {"name": "fixproof:go:replaces", "value": "example.com/old@v1.0.0"} in fork["properties"]
    assert {"name": "fixproof:go:sum", "value": sums["example.com/new@v1.1.0"]} in fork["properties"]
    stdlib = by_ref[f"stdlib@{std}"]
    assert stdlib["purl"] == f"pkg:golang/stdlib@{std}" and std.startswith("v1.")
    deps = {d["ref"]: d.get("dependsOn", []) for d in doc["dependencies"]}
    assert sorted(deps[main["bom-ref"]]) == sorted(by_ref)


def test_serial_number_follows_the_binary_and_only_the_timestamp_differs(gobin):
    info = read_buildinfo(gobin[0])
    a, b = _doc(info, "11" * 32), _doc(info, "11" * 32)
    for d in (a, b):
        d["metadata"].pop("timestamp")
    assert a == b  # two runs on one binary: equal but for the timestamp (which the evidence digest drops)
    assert a["serialNumber"] == f"urn:uuid:{sbom.serial_number('11' * 32)}"
    assert _doc(info, "22" * 32)["serialNumber"] != a["serialNumber"]


def test_purls_lowercase_and_local_replacements_and_other_hashes():
    h1 = "h1:" + base64.b64encode(hashlib.sha256(b"m").digest()).decode()
    info = BuildInfo("f", "elf", "linux", "amd64", "go1.22.5", "github.com/Org/App/cmd/app",
                     Module("github.com/Org/App", "(devel)", ""),
                     (Module("github.com/BurntSushi/toml", "v1.3.2", h1),
                      Module("example.com/local", "v0.0.0", "", Module("../local", "", "")),
                      Module("example.com/odd", "v1.0.0", "h2:notsha256")), ())
    doc = _doc(info)
    by_ref = {c["bom-ref"]: c for c in doc["components"]}
    toml = by_ref["github.com/BurntSushi/toml@v1.3.2"]  # the bom-ref keeps Go's spelling; the purl lowercases
    assert toml["name"] == "github.com/BurntSushi/toml"
    assert toml["purl"] == "pkg:golang/github.com/burntsushi/toml@v1.3.2"
    assert doc["metadata"]["component"]["purl"] == "pkg:golang/github.com/org/app"  # (devel): no version
    local = by_ref["example.com/local@v0.0.0"]
    assert {"name": "fixproof:go:replaced_by", "value": "../local"} in local["properties"] and "hashes" not in local
    odd = by_ref["example.com/odd@v1.0.0"]  # not an h1 (SHA-256) sum: kept as a property only
    assert "hashes" not in odd and {"name": "fixproof:go:sum", "value": "h2:notsha256"} in odd["properties"]
    assert sbom.h1_sha256("h1:!!") == "" and sbom.h1_sha256("") == ""


def test_validate_names_what_the_schema_refuses():
    problems = sbom.validate(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"name": 1}]}))
    assert problems and any("required" in p or "type" in p for p in problems)


# --- the stage -----------------------------------------------------------------------------------


@pytest.fixture
def cfg(tmp_path):
    return load(write_config(tmp_path, EXAMPLE))


def _built(cfg, binary: Path) -> BuildFacts:
    facts = BuildFacts(binary, sha256_file(binary), "go build -trimpath -o /out/x .", "sha256:" + "0" * 64)
    StageResult("build", (passed("go build", "built"),), facts.to_json()).write(cfg.stages_dir / "build.json")
    return facts


def test_stage_writes_a_valid_document_and_passes(cfg, gobin):
    built = _built(cfg, gobin[0])
    result = sbom.run(StageContext(cfg, "sbom"))
    [check] = result.checks
    assert check.status is Status.PASSED, check.message
    path = cfg.reports_dir / "sbom.cdx.json"
    assert sbom.validate(path.read_text()) == []
    assert check.evidence["document"] == str(path) and check.evidence["binary_sha256"] == built.sha256
    assert result.facts == {"document": str(path), "serial_number": f"urn:uuid:{sbom.serial_number(built.sha256)}"}
    # doit: up to date while the document is the one the result names, not once it is gone or another
    result.write(cfg.stages_dir / "sbom.json")
    unchanged = sbom.document_unchanged(cfg)
    assert unchanged()
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "serialNumber": "urn:uuid:" + "0" * 8 + "-0000-0000-0000-" + "0" * 12}))
    assert not unchanged()
    path.unlink()
    assert not unchanged()


def test_stage_is_skipped_without_a_usable_build_and_leaves_no_old_document(cfg, gobin):
    path = cfg.reports_dir / "sbom.cdx.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")  # the document of an earlier build
    [check] = sbom.run(StageContext(cfg, "sbom")).checks  # no build result at all
    assert check.status is Status.SKIPPED and "build" in check.message and not path.exists()
    StageResult("build", (failed("go build", "go build failed: syntax error"),), {"command": "go build"}).write(
        cfg.stages_dir / "build.json")
    [check] = sbom.run(StageContext(cfg, "sbom")).checks
    assert check.status is Status.SKIPPED


def test_a_binary_that_is_not_go_is_an_error_never_a_pass(cfg, tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x7fELF not really")
    _built(cfg, junk)
    [check] = sbom.run(StageContext(cfg, "sbom")).checks
    assert check.status is Status.ERROR and "cannot read the build info" in check.message
    assert not (cfg.reports_dir / "sbom.cdx.json").exists()


def test_the_evidence_bundle_holds_the_document(cfg, gobin, monkeypatch):
    """The bundle takes the files a stage's spec names: the SBOM goes into reports/ and the digest."""
    from fixproof.publish import bundle as evidence

    monkeypatch.setattr(evidence, "_engine_version", lambda say: {"Version": "test"})  # no Docker Engine asked
    _built(cfg, gobin[0])
    sbom.run(StageContext(cfg, "sbom")).write(cfg.stages_dir / "sbom.json")
    dest = cfg.reports_dir / "evidence"
    evidence.write(cfg, dest, {"stages": {"build": [], "sbom": []}, "junit": str(cfg.junit_path)})
    assert (dest / "reports" / "sbom.cdx.json").read_bytes() == (cfg.reports_dir / "sbom.cdx.json").read_bytes()
    manifest = json.loads((dest / "manifest.json").read_text())
    assert "reports/sbom.cdx.json" in manifest["evidence_digest"]["covers"]["files"]
    assert (dest / "inputs" / "bin" / gobin[0].name).is_file()
