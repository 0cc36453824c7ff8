"""Stage sbom: a CycloneDX bill of materials of the built binary, from what the binary says about itself.

Reads the build info of the binary the build stage made (fixproof's own
reader, no go process) and writes ``reports/sbom.cdx.json``, CycloneDX 1.6
JSON made with cyclonedx-python-lib and validated against the CycloneDX JSON
schema that library bundles (offline). It describes:

* the binary (``metadata.component``, an application): the main module's
  path and version, the binary's sha256, its Go version, target and build
  settings as ``fixproof:go:*`` properties;
* every module linked in (a library each): module path and version, purl
  ``pkg:golang/<path>@<version>``, the go.sum h1 hash (a SHA-256) as the
  component's SHA-256 hash and, verbatim, as the property ``fixproof:go:sum``.
  A module replaced by another module version is described by its
  replacement (``fixproof:go:replaces`` names the original); one replaced by
  a local directory keeps its path, with ``fixproof:go:replaced_by``;
* the Go standard library (``stdlib``, version as semver, ``v1.22.5``).

The build info lists the modules of the build, not who requires whom, so the
main component depends on every other one. The document's serial number is
derived from the binary's sha256, so one binary always has the same BOM
identity and two runs on one binary leave equal documents but for the
timestamp (which the evidence digest ignores). The check passes only when
the document was written and validates; when the build made no binary, the
stage is skipped and no document of an earlier build is left behind.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from fixproof.config import Config
from fixproof.errors import EXIT_INFRA, BinaryFormatError
from fixproof.goinfo.buildinfo import BuildInfo, Module, read_buildinfo
from fixproof.results import StageFacts, StageResult, error, passed
from fixproof.stages.build import binary_unchanged
from fixproof.stages.common import StageContext
from fixproof.stages.spec import Inputs, StageSpec

if TYPE_CHECKING:  # cyclonedx-python-lib is imported when a document is made, not when the registry loads
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component
    from packageurl import PackageURL

STAGE = "sbom"
DOCUMENT = "sbom.cdx.json"
SPEC_VERSION = "1.6"
PROPERTY = "fixproof:go:"
# the serial number's namespace: uuid5 of the binary's sha256 in it
_SERIAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://fixproof/sbom")


@dataclass(frozen=True)
class SbomFacts(StageFacts):
    """The document the sbom stage wrote and its serial number ("urn:uuid:..."). Read with :meth:`of`;
    None when no document was written."""

    document: Path
    serial_number: str

    def to_json(self) -> dict[str, Any]:
        return {"document": str(self.document), "serial_number": self.serial_number}

    @classmethod
    def from_json(cls, facts: Mapping[str, Any]) -> "SbomFacts | None":
        if not facts.get("document"):
            return None
        return cls(Path(str(facts["document"])), str(facts.get("serial_number") or ""))


def document_path(cfg: Config) -> Path:
    return cfg.reports_dir / DOCUMENT


def purl(path: str, version: str) -> "PackageURL":
    """``pkg:golang/<namespace>/<name>@<version>``; the purl spec lowercases golang namespaces and names."""
    from packageurl import PackageURL

    namespace, _, name = path.lower().rpartition("/")
    return PackageURL(type="golang", namespace=namespace or None, name=name, version=version or None)


def h1_sha256(go_sum: str) -> str:
    """The hex SHA-256 of a go.sum ``h1:`` hash, "" for anything else (no sum, another hash kind)."""
    if not go_sum.startswith("h1:"):
        return ""
    try:
        raw = base64.b64decode(go_sum[3:], validate=True)
    except ValueError:
        return ""
    return raw.hex() if len(raw) == 32 else ""


def serial_number(binary_sha256: str) -> uuid.UUID:
    return uuid.uuid5(_SERIAL_NAMESPACE, binary_sha256)


def _component(path: str, version: str, *, kind: str = "library", sha256: str = "",
               properties: Iterable[tuple[str, str]] = (), description: str | None = None) -> "Component":
    """A Go module as a component. Its bom-ref is the module path as Go spells it (a purl lowercases it) and
    version; ``properties`` are (name, value) pairs under ``fixproof:go:``, empty values left out."""
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.component import Component, ComponentType

    return Component(type=ComponentType(kind), name=path, version=version or None,
                     bom_ref=f"{path}@{version}" if version else path, purl=purl(path, version),
                     hashes=[HashType(alg=HashAlgorithm.SHA_256, content=sha256)] if sha256 else None,
                     properties=[Property(name=PROPERTY + k, value=v) for k, v in properties if v] or None,
                     description=description)


def _module_component(m: Module) -> "Component":
    """One linked module, as its replacement when another module version replaced it."""
    props: list[tuple[str, str]] = []
    shown = m
    if m.replace is not None and m.replace.version:  # another module version
        shown = m.replace
        props.append(("replaces", f"{m.path}@{m.version}"))
    elif m.replace is not None:  # a local directory
        props.append(("replaced_by", m.replace.path))
    props.append(("sum", shown.sum))
    return _component(shown.path, shown.version, sha256=h1_sha256(shown.sum), properties=props)


def build_bom(info: BuildInfo, binary_sha256: str) -> "Bom":
    """The CycloneDX BOM of one binary: its main module, every linked module and the standard library."""
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType

    from fixproof import __version__
    from fixproof.goinfo import versions

    main_path = info.main.path if info.main is not None else info.path
    main_version = info.main.version if info.main is not None and info.main.version != "(devel)" else ""
    main = _component(main_path, main_version, kind="application", sha256=binary_sha256, properties=[
        ("version", info.go_version), ("goos", info.goos), ("goarch", info.goarch), ("format", info.format),
        ("package", info.path), *((f"setting:{k}", v) for k, v in info.settings)])
    bom = Bom(serial_number=serial_number(binary_sha256), metadata=BomMetaData(component=main))
    bom.metadata.tools.components.add(Component(type=ComponentType.APPLICATION, name="fixproof", version=__version__))
    std_version = versions.go_to_semver(info.go_version) or info.go_version
    stdlib = _component("stdlib", std_version, properties=[("version", info.go_version)],
                        description="the Go standard library")
    linked = [stdlib, *(_module_component(m) for m in info.deps)]
    for c in linked:
        bom.components.add(c)
    bom.register_dependency(main, linked)
    return bom


def to_json(bom: "Bom") -> str:
    from cyclonedx.output import make_outputter
    from cyclonedx.schema import OutputFormat, SchemaVersion

    return make_outputter(bom, OutputFormat.JSON, SchemaVersion.V1_6).output_as_string(indent=2) + "\n"


def validate(text: str) -> list[str]:
    """What makes ``text`` no valid CycloneDX 1.6 JSON document (empty: it is one), by the bundled schema."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    if errors is None:
        return []
    return [str(getattr(e, "data", e)).splitlines()[0] for e in errors]


def run(ctx: StageContext) -> StageResult:
    cfg = ctx.cfg
    path = document_path(cfg)
    gate = ctx.gate("build")
    if gate:
        path.unlink(missing_ok=True)  # never leave the document of another build
        return StageResult(STAGE, (gate,))
    built = ctx.built()
    name = "CycloneDX SBOM"
    try:
        info = read_buildinfo(built.binary)
    except (BinaryFormatError, OSError) as e:
        path.unlink(missing_ok=True)
        return StageResult(STAGE, (error(name, f"cannot read the build info of {built.binary.name}: {e}",
                                         evidence={"exit_code": EXIT_INFRA}),))
    bom = build_bom(info, built.sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(to_json(bom), encoding="utf-8")
    tmp.replace(path)
    written = path.read_text(encoding="utf-8")
    doc = json.loads(written)
    serial = str(doc.get("serialNumber", ""))
    evidence: dict[str, Any] = {"document": str(path), "format": f"CycloneDX {SPEC_VERSION} JSON",
                                "serial_number": serial, "binary_sha256": built.sha256,
                                "components": len(doc.get("components") or ()), "go_version": info.go_version}
    problems = validate(written)
    if problems:  # fixproof made a document the schema refuses: a bug, never a verdict on the app
        path.unlink(missing_ok=True)
        return StageResult(STAGE, (error(name, f"the SBOM fixproof made does not validate against the CycloneDX "
                                         f"{SPEC_VERSION} schema: {problems[0]}", details="\n".join(problems),
                                         evidence={**evidence, "exit_code": EXIT_INFRA}),))
    return StageResult(STAGE, (passed(name, f"{DOCUMENT}: {built.binary.name} ({info.go_version}), "
                                      f"{len(info.deps)} modules and the standard library; valid CycloneDX "
                                      f"{SPEC_VERSION}", evidence=evidence),),
                       SbomFacts(path, serial).to_json())


def document_unchanged(cfg: Config) -> Callable[[], bool]:
    """doit uptodate: true only while the document the last run wrote is still there, with its serial number."""
    def check() -> bool:
        try:
            facts = SbomFacts.of(StageResult.read(cfg.stages_dir / f"{STAGE}.json"))
        except (OSError, ValueError, KeyError):
            return False
        if facts is None:
            return True  # no document was written; the result says why
        try:
            doc = json.loads(facts.document.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(doc, dict) and doc.get("serialNumber") == facts.serial_number
    return check


def inputs(cfg: Config) -> Inputs:
    return Inputs(uptodate=(binary_unchanged(cfg), document_unchanged(cfg)))


def documents(cfg: Config) -> tuple[Path, ...]:
    """The SBOM, for the evidence bundle's reports/ (when this run wrote one)."""
    return (document_path(cfg),) if document_path(cfg).is_file() else ()


SPEC = StageSpec(
    name=STAGE, order=1000, run=run, needs=("build",), inputs=inputs, reports=documents, facts=SbomFacts,
    doc="A CycloneDX SBOM of the built binary (its modules, their h1 hashes, the Go standard library), "
        "schema-validated.",
)
