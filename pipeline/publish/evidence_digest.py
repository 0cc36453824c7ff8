"""The evidence digest: what two runs on the same inputs share, and how each file is normalised for it.

The digest is a sha256 over ``"<sha256 of the normalised file>  <path>\\n"``
for every file of the manifest it covers, sorted by path. ``manifest.json``
says which: each such file has a ``normalised_sha256`` and ``normalised_as``,
and ``evidence_digest.covers`` (:func:`covers`) lists the files, what is left
out and the rules below, so an auditor can recompute it. Not covered (pinned by the manifest
all the same, so still tamper-evident): ``MANIFEST.sha256`` (raw hashes of
the others), ``*.html`` (a rendering of the results), ``logs/*`` and
``*.mi.log`` (raw tool output: bpftrace counts, gdb MI transcripts with pids,
thread ids and addresses). Normalising drops what differs between otherwise
equal runs:

* JSON: keys named duration_s, elapsed, time, timestamp, hostname,
  startTimeUtc, endTimeUtc, obtained (how a run got an image) (any depth,
  any case); output re-serialised with sorted keys;
* XML (JUnit): attributes time, timestamp and hostname, and in element
  text the ``key: value`` lines (how JUnit's system-out shows a check's
  evidence) of the keys JSON drops; canonical XML;
* in every text (JSON strings, XML text, text files): the run's own
  directories and names (``roots``: reports, app, config, bundle, the module
  cache volume) replaced by ``$REPORTS``, ``$APP``... and Go test durations
  (``--- PASS: T (0.01s)``, ``ok  pkg 0.2s``) replaced by ``<t>``;
* anything that is not UTF-8 text (the binary) is hashed as it is;
* checks of the runtime stages (gdb, trace, race: :func:`runtime_stages`,
  the stages whose spec says ``runtime``) measure a running program, and pids, goroutine counts, GC cycles,
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
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import PurePosixPath
from typing import Any, Mapping

from fixproof.publish.evidence_layout import MANIFEST

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
# In XML text, a whole "key: value" line of such a key (JUnit's system-out lists a check's evidence so).
_VOLATILE_LINE_RE = re.compile(r"[ \t]*(?:" + "|".join(sorted(VOLATILE_KEYS)) + r"):", re.IGNORECASE)
RUNTIME_CHECK_FIELDS = ("blocks", "classname", "evidence", "name", "status", "warning")
_GO_TEST_TIMES = (
    (re.compile(r"(--- (?:PASS|FAIL|SKIP): \S+) \(\d+(?:\.\d+)?s\)"), r"\1 (<t>)"),
    (re.compile(r"^((?:ok|FAIL)\s+\S+\s+)\d+(?:\.\d+)?s\b", re.MULTILINE), r"\1<t>"),
)


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


def covers(files: list[str]) -> dict[str, Any]:
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
            "xml": "attributes " + ", ".join(sorted(VOLATILE_XML_ATTRS)) + " dropped, and in element text every "
                   "whole line \"<key>: ...\" of a key json drops (any case), attribute values and text as in text, "
                   "canonical XML (C14N 2.0)",
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
    return normalise_as(rel, data, roots)[0]


def normalise_as(rel: str, data: bytes, roots: Mapping[str, str]) -> tuple[bytes, str]:
    """(the normalised bytes, how they were normalised: a key of ``covers.normalised_as``)."""
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
            el.text = _text(_without_volatile_lines(el.text), subs)
        if el.tail:
            el.tail = _text(el.tail, subs)
    reduced = False
    for suite in root.iter("testsuite"):
        if _is_runtime(suite.get("name", "").removeprefix("fixproof.")):
            reduced = True
            for case in suite.iter("testcase"):
                _reduce_testcase(case)
    return ET.canonicalize(ET.tostring(root, encoding="unicode")).encode("utf-8"), reduced


def _without_volatile_lines(text: str) -> str:
    """``text`` without its "key: value" lines of a volatile key (see VOLATILE_KEYS)."""
    return "\n".join(line for line in text.split("\n") if not _VOLATILE_LINE_RE.match(line))


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
