"""The evidence bundle: everything an auditor needs, pinned by a sha256 manifest.

Layout of a bundle directory::

    inputs/<key>          copies of the inputs (config, go.mod, go.sum, the
                          built binary...), under the key the caller chose,
                          and documents the caller made (the source tree
                          digest, git state)
    reports/<file name>   stage JSONs, JUnit XML and other reports
    logs/<key>            raw tool output (bpftrace measurements...)
    versions.json         the environment: tool and Python dependency
                          versions, Docker Engine, image ids, and where each
                          copied file came from
    MANIFEST.sha256       "<sha256 hex>  <relative path>" for every file
                          except the manifests and the signature, sorted
    manifest.json         every file's sha256 and size (MANIFEST.sha256
                          included), the evidence digest, the signer's key
    manifest.json.sig     optional: Ed25519 signature of manifest.json's
                          exact bytes, base64 on one line

``MANIFEST.sha256`` is in the format ``sha256sum`` writes, so inside the
bundle ``sha256sum -c MANIFEST.sha256`` checks it. :func:`check_bundle`
checks ``manifest.json`` (which pins ``MANIFEST.sha256`` too), flags files it
does not list, recomputes the evidence digest and checks the signature.

The *evidence digest* is what two runs on the same inputs share: a sha256
over ``"<sha256 of the normalised file>  <path>\\n"`` for every file of the
manifest it covers, sorted by path. ``manifest.json`` says which: each such
file has a ``normalised_sha256`` and ``normalised_as``, and
``evidence_digest.covers`` lists the files, what is left out and the rules
below, so an auditor can recompute it. Not covered (pinned by the manifest
all the same, so still tamper-evident): ``MANIFEST.sha256`` (raw hashes of
the others), ``*.html`` (a rendering of the results), ``logs/*`` and
``*.mi.log`` (raw tool output: bpftrace counts, gdb MI transcripts with pids,
thread ids and addresses). Normalising drops what differs between otherwise
equal runs:

* JSON: keys named duration_s, elapsed, time, timestamp, hostname,
  startTimeUtc, endTimeUtc, obtained (how a run got an image) (any depth,
  any case); output re-serialised with
  sorted keys;
* XML (JUnit): attributes time, timestamp and hostname; canonical XML;
* in every text (JSON strings, XML text, text files): the run's own
  directories and names (``roots``: reports, app, config, bundle, the module
  cache volume) replaced by ``$REPORTS``, ``$APP``... and Go test durations
  (``--- PASS: T (0.01s)``, ``ok  pkg 0.2s``) replaced by ``<t>``;
* anything that is not UTF-8 text (the binary) is hashed as it is;
* checks of the runtime stages (gdb, trace, race: :func:`runtime_stages`,
  the stages whose spec says ``runtime``)
  measure a running program, and pids, goroutine counts, GC cycles,
  syscall counts legitimately vary between runs of one binary. Of each
  such check the digest keeps only the verdict and what does not depend on
  the run: stage, ``name``, ``classname``, ``status``, ``warning``,
  ``blocks`` and the evidence keys in :func:`runtime_evidence_keys` (what
  was run and watched, bounds, the function names found in the binary, the
  exit code), never ``message``, ``details`` or measured values. That holds
  wherever such a check appears: its stage result, ``summary.json``, SARIF
  results ``fixproof/<stage>/...`` and the JUnit suite ``fixproof.<stage>``
  (there: testcase name, classname and the kind of its failure, error or
  skipped element). The deterministic stages (toolchain, modules, build,
  test, binary, vulns) keep their messages and details. A status change
  always changes the digest.

The bundle is assembled in a temporary sibling directory and renamed into
place, so ``dest`` is either the old bundle or the complete new one. An
existing ``dest`` is only replaced when it is empty or is itself a bundle
(has a ``MANIFEST.sha256``); anything else is refused rather than deleted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from fixproof.errors import EvidenceError
from fixproof.signing import fingerprint

if TYPE_CHECKING:  # cryptography is imported when a key is loaded, not at import time
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

MANIFEST = "MANIFEST.sha256"
MANIFEST_JSON = "manifest.json"
SIGNATURE = "manifest.json.sig"
VERSIONS = "versions.json"
FORMAT = "fixproof-evidence/3"  # /3: runtime checks reduced to their verdict, raw logs out of the digest

# "obtained": how a run got an image (present, pulled, built), which differs between the first run on a
# fresh machine and later ones; the image's id and labels, what it is, stay in the digest.
VOLATILE_KEYS = frozenset({"duration_s", "elapsed", "time", "timestamp", "hostname", "starttimeutc", "endtimeutc",
                           "obtained"})
VOLATILE_XML_ATTRS = frozenset({"time", "timestamp", "hostname"})
NOT_IN_DIGEST = {  # pinned by the manifest like every file, but not part of the evidence digest
    MANIFEST: "derived: the raw hashes of the other files",
    "*.html": "a rendering of the results",
    "logs/*": "raw tool output (bpftrace measurements) that varies between runs of one binary",
    "*.mi.log": "gdb MI transcripts (pids, thread ids, addresses) that vary between runs of one binary",
}
RUNTIME_CHECK_FIELDS = ("blocks", "classname", "evidence", "name", "status", "warning")
_GO_TEST_TIMES = (
    (re.compile(r"(--- (?:PASS|FAIL|SKIP): \S+) \(\d+(?:\.\d+)?s\)"), r"\1 (<t>)"),
    (re.compile(r"^((?:ok|FAIL)\s+\S+\s+)\d+(?:\.\d+)?s\b", re.MULTILINE), r"\1<t>"),
)
_MANIFEST_LINE_RE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20


def runtime_stages() -> tuple[str, ...]:
    """The stages that measure a running program (their spec says ``runtime``): their checks enter
    the digest as verdicts (see the module doc)."""
    from fixproof import registry

    return registry.runtime_stages()


def runtime_evidence_keys() -> tuple[str, ...]:
    """The evidence keys of runtime checks that stay in the digest, each runtime stage's
    ``stable_evidence_keys``: what was run, watched and bounded (from the config), what the binary,
    the image and the tools are (the same for one binary and image), where the raw log is, and how
    the program (or fixproof, for an error) ended."""
    from fixproof import registry

    return registry.runtime_evidence_keys()


@dataclass(frozen=True)
class WrittenBundle:
    path: Path
    evidence_digest: str  # hex
    files: int  # entries in manifest.json
    signer: str  # "" when unsigned, else the public key's fingerprint "sha256:<hex>"


@dataclass(frozen=True)
class BundleCheck:
    """What :func:`check_bundle` found. ``problems`` empty = intact (and, if signed, the signature holds)."""

    problems: tuple[str, ...]
    files: int
    evidence_digest: str  # recorded in manifest.json ("" if unreadable)
    signature: str  # "unsigned", "checked" (--public-key), "embedded" (key in the bundle only), "bad"
    signer: str  # fingerprint of the key the bundle names, "" if none


# --- writing -------------------------------------------------------------------------------------


def write_bundle(
    dest: Path,
    *,
    inputs: Mapping[str, Path],
    reports: Sequence[Path],
    tools: Mapping[str, str],
    images: Mapping[str, Mapping[str, str]],
    logs: Mapping[str, Path] | None = None,
    documents: Mapping[str, Any] | None = None,
    environment: Mapping[str, Any] | None = None,
    roots: Mapping[str, Path | str] | None = None,
    signing_key: "Ed25519PrivateKey | None" = None,
    reports_root: Path | None = None,
) -> WrittenBundle:
    """Write the bundle to ``dest``.

    ``inputs`` maps a bundle-relative name (``fixproof.toml``, ``go.mod``,
    ``bin/fixdemo``) to the file to copy under ``inputs/``; ``documents``
    maps such a name to JSON data written there. ``reports`` are copied
    under ``reports/``: those inside ``reports_root`` at their path below it
    (``stages/gdb.json``, ``gdb/<check>.mi.log``, so the HTML page's links
    work inside the bundle), others by file name; names must be unique; ``logs`` under
    ``logs/<key>``. ``tools`` (name -> version), ``images`` (image name ->
    facts such as id and digest) and ``environment`` (more sections) are
    recorded in ``versions.json``. ``roots`` (``"$REPORTS"`` -> directory,
    or -> a plain ``str`` name such as a volume's) are the run's own
    directories and names, replaced by their keys before the evidence digest
    is taken. With ``signing_key`` the manifest is signed.
    """
    dest = Path(dest)
    plan = _plan(inputs, reports, logs or {}, documents or {}, reports_root)
    _check_replaceable(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    except OSError as e:
        raise EvidenceError(f"Could not create the evidence directory next to {dest}: "
                            f"{e.strerror or e}.") from e
    try:
        sources: dict[str, str] = {}
        for rel, src in plan:
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
            sources[rel] = str(src.resolve())
        for key, data in (documents or {}).items():
            target = staging / "inputs" / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        versions = {
            **{str(k): v for k, v in (environment or {}).items()},
            "format": FORMAT,
            "tools": {str(k): str(v) for k, v in tools.items()},
            "images": {str(k): {str(a): str(b) for a, b in v.items()} for k, v in images.items()},
            "sources": sources,
        }
        (staging / VERSIONS).write_text(json.dumps(versions, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        (staging / MANIFEST).write_text(_manifest_text(staging), encoding="utf-8")
        root_map = {name: str(Path(p).resolve()) if isinstance(p, Path) or str(p).startswith("/") else str(p)
                    for name, p in (roots or {}).items()}
        root_map.setdefault("$EVIDENCE", str(dest.resolve()))
        manifest, digest = _manifest_json(staging, root_map, signing_key)
        (staging / MANIFEST_JSON).write_bytes(manifest)
        signer = ""
        if signing_key is not None:
            sig = base64.b64encode(signing_key.sign(manifest)).decode("ascii")
            (staging / SIGNATURE).write_text(sig + "\n", encoding="ascii")
            signer = fingerprint(signing_key.public_key())
        staging.chmod(0o755)  # mkdtemp makes it 0700
        _swap_into_place(staging, dest)
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise EvidenceError(f"Could not write the evidence bundle {dest}: {e.strerror or e} "
                            f"({e.filename or 'unknown file'}).") from e
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return WrittenBundle(dest, digest, len(json.loads(manifest)["files"]), signer)


def _manifest_json(staging: Path, roots: Mapping[str, str],
                   signing_key: "Ed25519PrivateKey | None") -> tuple[bytes, str]:
    files: dict[str, dict[str, Any]] = {}
    normalised: dict[str, str] = {}
    for rel in _files(staging):
        if rel in (MANIFEST_JSON, SIGNATURE):
            continue
        data = (staging / rel).read_bytes()
        files[rel] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        if in_digest(rel):
            clean, view = _normalised(rel, data, roots)
            normalised[rel] = hashlib.sha256(clean).hexdigest()
            files[rel].update(normalised_sha256=normalised[rel], normalised_as=view)
    digest = digest_of(normalised)
    doc: dict[str, Any] = {
        "format": FORMAT,
        "files": files,
        "evidence_digest": {
            "sha256": digest,
            "computed": "sha256 of the lines \"<normalised_sha256>  <path>\\n\" of the files in covers.files "
                        "(each listed in files with its normalised_sha256), sorted by path",
            "covers": _covers(sorted(normalised)),
            "roots": dict(roots),
        },
        "signature": None,
    }
    if signing_key is not None:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        pub = signing_key.public_key()
        doc["signature"] = {
            "file": SIGNATURE, "algorithm": "Ed25519", "encoding": "base64",
            "signed": f"the exact bytes of {MANIFEST_JSON}",
            "public_key": pub.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii"),
            "public_key_sha256": fingerprint(pub),
        }
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8"), digest


def _covers(files: list[str]) -> dict[str, Any]:
    """What the evidence digest covers, in manifest.json: enough to recompute it by hand."""
    stages = ", ".join(runtime_stages())
    return {
        "files": files,
        "not_covered": dict(NOT_IN_DIGEST),
        "normalised_as": {
            "bytes": "not UTF-8 text (the binary): the file as it is",
            "text": "the roots replaced by their names; Go test durations (--- PASS: T (0.01s), ok pkg 0.2s) as <t>",
            "json": "keys " + ", ".join(sorted(VOLATILE_KEYS)) + " dropped at any depth (any case), strings as "
                    "in text, re-serialised with sorted keys and no whitespace (separators , :), UTF-8",
            "xml": "attributes " + ", ".join(sorted(VOLATILE_XML_ATTRS)) + " dropped, attribute values and text "
                   "as in text, canonical XML (C14N 2.0)",
            "json+runtime": "json, with the checks of the runtime stages reduced (runtime_checks)",
            "xml+runtime": "xml, with the testcases of the runtime stages' suites reduced (runtime_checks)",
        },
        "runtime_checks": {
            "stages": list(runtime_stages()),
            "why": "these stages measure a running program (pids, counts, timings vary between runs of one "
                   "binary), so the digest keeps their verdicts and what does not depend on the run",
            "check_fields": list(RUNTIME_CHECK_FIELDS),
            "evidence_keys": list(runtime_evidence_keys()),
            "where": {
                "stage result": f'a JSON object with "stage" one of {stages} and a "checks" list: each check '
                                "keeps check_fields only, its evidence the evidence_keys only",
                "summary": 'a JSON object with "exit_code" and a "stages" object: the lists under a stage '
                           f"{stages} (or <app>.<stage>) reduced like the checks of a stage result",
                "sarif": 'in every runs[].results[] whose ruleId is "fixproof/<stage>/..." for such a stage: '
                         '"message" and "partialFingerprints" dropped',
                "junit": 'in every testsuite named "fixproof.<stage>" (or fixproof.<app>.<stage>): each testcase '
                         "keeps its attributes and only the tag of its failure, error or skipped child, "
                         "without attributes or text; system-out, system-err and all other children dropped",
            },
        },
    }


# --- the evidence digest -------------------------------------------------------------------------


def in_digest(rel: str) -> bool:
    """Whether ``rel`` is one of the files the evidence digest covers (see :data:`NOT_IN_DIGEST`)."""
    low = rel.lower()
    return rel != MANIFEST and not low.endswith((".html", ".mi.log")) and not rel.startswith("logs/")


def digest_of(normalised: Mapping[str, str]) -> str:
    """sha256 over "<normalised sha256>  <path>\\n" lines sorted by path."""
    text = "".join(f"{normalised[rel]}  {rel}\n" for rel in sorted(normalised))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalise(rel: str, data: bytes, roots: Mapping[str, str]) -> bytes:
    """The bytes of one bundle file with times, durations, host names, the run's directories and the
    runtime stages' measurements taken out."""
    return _normalised(rel, data, roots)[0]


def _normalised(rel: str, data: bytes, roots: Mapping[str, str]) -> tuple[bytes, str]:
    """(normalised bytes, how: a key of covers.normalised_as)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data, "bytes"
    if "\x00" in text:
        return data, "bytes"
    suffix = PurePosixPath(rel).suffix.lower()
    if suffix in (".json", ".sarif"):
        try:
            doc = json.loads(text)
        except ValueError:
            pass
        else:
            clean, reduced = _reduce_runtime_json(_normalise_json(doc, _root_subs(roots)))
            out = json.dumps(clean, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            return out, "json+runtime" if reduced else "json"
    if suffix == ".xml":
        xml = _normalise_xml(text, _root_subs(roots))
        if xml is not None:
            return xml[0], "xml+runtime" if xml[1] else "xml"
    return normalise_text(text, roots).encode("utf-8"), "text"


def normalise_text(text: str, roots: Mapping[str, str]) -> str:
    return _text(text, _root_subs(roots))


def _root_subs(roots: Mapping[str, str]) -> list[tuple[re.Pattern[str], str]]:
    """Longest first, so /a/reports is not taken as /a followed by /reports. A directory matches where
    it is followed by no name character; a name (no leading /, e.g. a volume) only as a whole word."""
    subs = []
    for name, path in sorted(roots.items(), key=lambda kv: len(kv[1]), reverse=True):
        path = path.rstrip("/")
        if len(path) > 1:
            before = "" if path.startswith("/") else r"(?<![\w.-])"
            subs.append((re.compile(before + re.escape(path) + r"(?![\w.-])"), name))
    return subs


def _text(s: str, subs: list[tuple[re.Pattern[str], str]]) -> str:
    for pattern, name in subs:
        s = pattern.sub(lambda _m, n=name: n, s)
    for pattern, repl in _GO_TEST_TIMES:
        s = pattern.sub(repl, s)
    return s


def _normalise_json(value: Any, subs: list[tuple[re.Pattern[str], str]]) -> Any:
    if isinstance(value, dict):
        return {_text(str(k), subs): _normalise_json(v, subs) for k, v in value.items()
                if str(k).lower() not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [_normalise_json(v, subs) for v in value]
    if isinstance(value, str):
        return _text(value, subs)
    return value


def _normalise_xml(text: str, subs: list[tuple[re.Pattern[str], str]]) -> tuple[bytes, bool] | None:
    """(canonical normalised XML, whether a runtime stage's suite was reduced), None if not XML."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    for el in root.iter():
        for attr in [a for a in el.attrib if a.lower() in VOLATILE_XML_ATTRS]:
            del el.attrib[attr]
        for attr, value in el.attrib.items():
            el.attrib[attr] = _text(value, subs)
        if el.text:
            el.text = _text(el.text, subs)
        if el.tail:
            el.tail = _text(el.tail, subs)
    reduced = False
    for suite in root.iter("testsuite"):
        if _is_runtime(suite.get("name", "").removeprefix("fixproof.")):
            reduced = True
            for case in suite.iter("testcase"):
                _reduce_testcase(case)
    return ET.canonicalize(ET.tostring(root, encoding="unicode")).encode("utf-8"), reduced


# --- runtime stages: their checks as verdicts ------------------------------------------------------


def _is_runtime(stage: Any) -> bool:
    """A runtime stage's label: "gdb", or "<app>.gdb" in a fleet's summary and JUnit."""
    return isinstance(stage, str) and stage.rsplit(".", 1)[-1] in runtime_stages()


def _reduce_check(check: Any) -> Any:
    if not isinstance(check, dict):
        return check
    out = {k: check[k] for k in RUNTIME_CHECK_FIELDS if k in check and k != "evidence"}
    evidence = check.get("evidence")
    if isinstance(evidence, dict):
        keys = runtime_evidence_keys()
        out["evidence"] = {k: v for k, v in evidence.items() if k in keys}
    return out


def _reduce_runtime_json(doc: Any) -> tuple[Any, bool]:
    """A stage result, summary or SARIF document with its runtime checks reduced; whether any were."""
    if not isinstance(doc, dict):
        return doc, False
    if isinstance(doc.get("checks"), list) and _is_runtime(doc.get("stage")):
        return {**doc, "checks": [_reduce_check(c) for c in doc["checks"]]}, True
    stages = doc.get("stages")
    if "exit_code" in doc and isinstance(stages, dict):
        runtime = [k for k, v in stages.items() if _is_runtime(k) and isinstance(v, list)]
        if runtime:
            return {**doc, "stages": {k: [_reduce_check(c) for c in v] if k in runtime else v
                                      for k, v in stages.items()}}, True
    runs = doc.get("runs")
    if isinstance(runs, list):
        reduced = False
        for run in runs:
            for result in (run.get("results") if isinstance(run, dict) else None) or []:
                rule = result.get("ruleId") if isinstance(result, dict) else None
                parts = rule.split("/") if isinstance(rule, str) else []
                if len(parts) >= 3 and parts[0] == "fixproof" and _is_runtime(parts[1]):
                    result.pop("message", None)
                    result.pop("partialFingerprints", None)
                    reduced = True
        return doc, reduced
    return doc, False


def _reduce_testcase(case: Any) -> None:
    """A JUnit testcase as its verdict: attributes, and the bare tag of its failure/error/skipped child."""
    case.text = None
    for child in list(case):
        if child.tag in ("failure", "error", "skipped"):
            child.attrib.clear()
            child.text = child.tail = None
            for grandchild in list(child):
                child.remove(grandchild)
        else:
            case.remove(child)


def source_tree(root: Path, files: Iterable[str | Path]) -> tuple[str, str]:
    """(digest, listing) of a source tree: the listing is "<sha256>  <relative path>\\n" per file sorted
    by path (what ``sha256sum`` prints, so ``sha256sum -c`` in ``root`` checks it); the digest is its sha256."""
    root = Path(root)
    rels = sorted(Path(f).resolve().relative_to(root.resolve()).as_posix() for f in files)
    listing = "".join(f"{_sha256(root / rel)}  {rel}\n" for rel in rels)
    return hashlib.sha256(listing.encode("utf-8")).hexdigest(), listing


# --- checking ------------------------------------------------------------------------------------


def verify_bundle(bundle: Path, public_key: "Ed25519PublicKey | None" = None) -> list[str]:
    """Check a bundle; return the problems (empty = intact)."""
    return list(check_bundle(bundle, public_key).problems)


def check_bundle(bundle: Path, public_key: "Ed25519PublicKey | None" = None) -> BundleCheck:
    """Re-hash every file against manifest.json, list files added, missing or changed, recompute the
    evidence digest and check the signature (against ``public_key`` if given, else the key the bundle
    names, which proves integrity but not who signed)."""
    bundle = Path(bundle)
    try:
        raw = (bundle / MANIFEST_JSON).read_bytes()
    except FileNotFoundError:
        return BundleCheck((f"{MANIFEST_JSON}: missing",), 0, "", "unsigned", "")
    except OSError as e:
        return BundleCheck((f"{MANIFEST_JSON}: unreadable ({e.strerror or e})",), 0, "", "unsigned", "")
    manifest, problems = _parse_manifest(raw)
    if manifest is None:
        if public_key is None:
            return BundleCheck(tuple(problems), 0, "", "unsigned", "")
        status, signer, sig_problems = _check_signature(bundle, raw, None, public_key)  # signs the raw bytes
        return BundleCheck(tuple(problems + sig_problems), 0, "", status, signer)
    files: Mapping[str, Mapping[str, Any]] = manifest["files"]
    normalised: dict[str, str] = {}
    roots = manifest["evidence_digest"].get("roots") or {}
    for rel in sorted(files):
        expected = files[rel]["sha256"]
        if not _is_safe_relpath(rel):
            problems.append(f"{rel}: path escapes the bundle")
            continue
        path = bundle / rel
        if path.is_symlink() or not path.is_file():
            problems.append(f"{rel}: missing")
            continue
        try:
            data = path.read_bytes()
        except OSError as e:
            problems.append(f"{rel}: unreadable ({e.strerror or e})")
            continue
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            problems.append(f"{rel}: sha256 mismatch (manifest {expected}, file {actual})")
        elif files[rel].get("size") != len(data):
            problems.append(f"{rel}: size {len(data)} is not the {files[rel].get('size')} bytes manifest.json says")
        if in_digest(rel):
            normalised[rel] = hashlib.sha256(normalise(rel, data, roots)).hexdigest()
    signed = manifest.get("signature")
    for rel in _files(bundle):
        if rel == MANIFEST_JSON or rel in files or (rel == SIGNATURE and (signed or public_key is not None)):
            continue
        problems.append(f"{rel}: not in {MANIFEST} or {MANIFEST_JSON} (added after the bundle was written)")
    problems.extend(_strays(bundle, files))
    recorded = manifest["evidence_digest"]["sha256"]
    if not problems:  # every file as listed: a different digest means manifest.json itself was edited
        recomputed = digest_of(normalised)
        if recomputed != recorded:
            problems.append(f"{MANIFEST_JSON}: evidence digest {recorded} does not match the files ({recomputed})")
    status, signer, sig_problems = _check_signature(bundle, raw, signed, public_key)
    problems.extend(sig_problems)
    return BundleCheck(tuple(problems), len(files), recorded, status, signer)


def _parse_manifest(raw: bytes) -> tuple[dict[str, Any] | None, list[str]]:
    bad = lambda why: (None, [f"{MANIFEST_JSON}: {why}"])  # noqa: E731
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return bad(f"not valid JSON ({e})")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        other = doc.get("format") if isinstance(doc, dict) else None
        if isinstance(other, str) and other.startswith("fixproof-evidence/"):
            return bad(f"format {other}, not {FORMAT}: written by another fixproof version, whose evidence "
                       "digest is defined differently; check it with that version")
        return bad(f"not a {FORMAT} manifest")
    files = doc.get("files")
    digest = doc.get("evidence_digest")
    if not isinstance(files, dict) or not isinstance(digest, dict) or not isinstance(digest.get("sha256"), str) \
            or not isinstance(digest.get("roots", {}), dict):
        return bad("no files or evidence_digest")
    problems = []
    if raw != (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8"):
        problems.append(f"{MANIFEST_JSON}: not byte for byte what fixproof writes (edited after it was written)")
    for rel, entry in list(files.items()):
        if not isinstance(entry, dict) or not _HEX64_RE.match(str(entry.get("sha256", ""))):
            problems.append(f"{MANIFEST_JSON}: entry {rel!r} has no sha256")
            del files[rel]
    sig = doc.get("signature")
    if sig is not None and (not isinstance(sig, dict) or not isinstance(sig.get("public_key"), str)):
        return bad("the signature entry names no public key")
    return doc, problems


def _check_signature(bundle: Path, manifest: bytes, signed: Mapping[str, Any] | None,
                     public_key: "Ed25519PublicKey | None") -> tuple[str, str, list[str]]:
    from cryptography.exceptions import InvalidSignature

    named = ""
    embedded = None
    if signed:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        try:
            embedded = load_pem_public_key(str(signed["public_key"]).encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            embedded = None
        if not isinstance(embedded, Ed25519PublicKey):
            return "bad", "", [f"{MANIFEST_JSON}: the public key it names is not an Ed25519 PEM key"]
        named = fingerprint(embedded)
    if public_key is None and embedded is None:
        return "unsigned", "", []
    key = public_key if public_key is not None else embedded
    try:
        text = (bundle / SIGNATURE).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        why = "the bundle is not signed" if not signed else f"{MANIFEST_JSON} says it is signed"
        return "bad", named, [f"{SIGNATURE}: missing ({why})"]
    except (OSError, UnicodeDecodeError) as e:
        return "bad", named, [f"{SIGNATURE}: unreadable ({e})"]
    try:
        sig = base64.b64decode(text, validate=True)
    except ValueError:
        return "bad", named, [f"{SIGNATURE}: not base64"]
    try:
        key.verify(sig, manifest)
    except InvalidSignature:
        if public_key is not None:
            who = f" (the bundle names the key {named})" if named else ""
            return "bad", named, [f"{SIGNATURE}: the signature does not verify with the given public key "
                                  f"{fingerprint(public_key)}{who}"]
        return "bad", named, [f"{SIGNATURE}: the signature does not verify with the public key in "
                              f"{MANIFEST_JSON} ({named}): the manifest or signature was changed"]
    return ("checked" if public_key is not None else "embedded"), fingerprint(key), []


# --- internals -----------------------------------------------------------------------------------


def _plan(inputs: Mapping[str, Path], reports: Sequence[Path], logs: Mapping[str, Path],
          documents: Mapping[str, Any], reports_root: Path | None = None) -> list[tuple[str, Path]]:
    plan: list[tuple[str, Path]] = []
    for key, src in inputs.items():
        if not _is_safe_relpath(key):
            raise ValueError(f"input name {key!r} must be a plain relative path")
        plan.append((f"inputs/{key}", Path(src)))
    for key in documents:
        if not _is_safe_relpath(key) or key in inputs:
            raise ValueError(f"document name {key!r} must be a plain relative path not used by an input")
    for key, src in logs.items():
        if not _is_safe_relpath(key):
            raise ValueError(f"log name {key!r} must be a plain relative path")
        plan.append((f"logs/{key}", Path(src)))
    names: set[str] = set()
    root = Path(reports_root).resolve() if reports_root is not None else None
    for src in reports:
        src = Path(src)
        rel = src.name
        if root is not None:
            try:
                rel = src.resolve().relative_to(root).as_posix()
            except ValueError:
                pass  # outside the reports directory (e.g. --junit elsewhere): by its name
        if rel in names or not _is_safe_relpath(rel):
            raise ValueError(f"two reports would be bundled as {rel!r}; report names must be unique")
        names.add(rel)
        plan.append((f"reports/{rel}", src))
    for rel, src in plan:
        if not src.is_file():
            raise EvidenceError(f"Cannot bundle {src}: it is not a readable file. "
                                "Run the stage that produces it first.")
    return plan


def _is_safe_relpath(rel: str) -> bool:
    if not rel or "\\" in rel or "\n" in rel or "\r" in rel:
        return False  # sha256sum escapes such names; keep the manifest plain
    parts = PurePosixPath(rel).parts
    return not PurePosixPath(rel).is_absolute() and all(p not in ("", ".", "..") for p in parts) \
        and rel == str(PurePosixPath(*parts))


def _check_replaceable(dest: Path) -> None:
    if not dest.exists():
        return
    if not dest.is_dir():
        raise EvidenceError(f"{dest} exists and is not a directory; choose another --evidence path.")
    if any(dest.iterdir()) and not any((dest / n).is_file() for n in (MANIFEST, MANIFEST_JSON, f"{MANIFEST_JSON}.superseded")):
        raise EvidenceError(f"{dest} is not empty and is not an evidence bundle; "
                            "refusing to replace it. Choose an empty or new directory.")


def _swap_into_place(staging: Path, dest: Path) -> None:
    if not dest.exists():
        staging.rename(dest)
        return
    old = dest.with_name(f".{dest.name}.old")
    if old.exists():
        shutil.rmtree(old)
    dest.rename(old)
    staging.rename(dest)
    shutil.rmtree(old)


def _manifest_text(root: Path) -> str:
    return "".join(f"{_sha256(root / rel)}  {rel}\n" for rel in _files(root)
                   if rel not in (MANIFEST, MANIFEST_JSON, SIGNATURE))


def _strays(root: Path, listed: Iterable[str]) -> list[str]:
    """What a bundle never holds: entries that are neither regular files, symlinks nor
    directories (FIFOs, sockets, devices), and empty directories no listed file was in."""
    parents = {parent for rel in listed for parent in PurePosixPath(rel).parents}
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink() or p.is_file():
            continue
        if p.is_dir():
            if not any(p.iterdir()) and PurePosixPath(rel) not in parents:
                out.append(f"{rel}/: an empty directory (added after the bundle was written)")
            continue
        out.append(f"{rel}: not a regular file (a FIFO, socket or device added after the bundle was written)")
    return out


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
