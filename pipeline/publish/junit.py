"""Write stage results as one JUnit XML file for Jenkins, GitLab and xunit.

Layout: a ``testsuites`` root; one ``testsuite`` per stage, named
``fixproof.<stage>``; one ``testcase`` per check. The document is built with
the ``junit-xml`` library (``TestSuite``/``TestCase``, serialised by
``to_xml_report_string``) and then normalised so it validates against the
strict junit-10 schema (``tests/data/junit.xsd``): every testcase gets a
``time`` (junit-xml omits it for 0 s), suite and root times are printed in
fixed-point (never ``1e-05``), and junit-xml's ``disabled`` attribute, which
junit-10 does not declare, is dropped.

Status mapping:

* PASSED: no child element. A passed check with ``warning=True`` starts its
  ``system-out`` with ``warning: <message>`` so the finding stays visible, and
  ends it with its details (a flaky Go test: the output of every attempt).
* FAILED: ``<failure message=...>`` with the details as body. The check ran
  and its evidence says no: the fix is not in the artifact, a Go test
  failed, a hash does not match.
* ERROR: ``<error message=...>``. fixproof could not gather evidence at all:
  an infrastructure problem (Docker Engine down, image missing, tool missing,
  timeout) or a stage that produced no checks. It says nothing about the fix
  either way. Jenkins shows both as failed; GitLab counts errors apart.
* SKIPPED: ``<skipped message=...>`` with the reason, the details as body. A
  Go test skipped by ``[test] skip`` says ``skipped by config (test.skip):
  <reason>``; an allowed failure (``[test] allow_fail``) is skipped too, its
  message ``allowed failure (test.allow_fail): <reason>; the test failed:
  <first line>`` and its body the test's whole output: not a pass (nothing
  was proven), not a failure (the config allows it), and visible as skipped
  in every CI server.

Each testcase has at most one of ``failure``/``error``/``skipped``. A check's
evidence goes into the testcase ``system-out`` as ``key: value`` lines.

Names: ``classname`` is the check's own classname (Go tests: the package
import path) or ``fixproof.<stage>``, so Jenkins's last-dot split shows
package ``fixproof``, class ``<stage>``. Go import paths are kept whole even
though Jenkins splits them badly (``github.com/o/r/pkg`` becomes package
``github``); GitLab shows them verbatim. ``(classname, name)`` pairs are
unique in the file: repeats get a `` (2)``, `` (3)``... suffix. Empty names
are replaced, never emitted.

No ``file``/``line`` attributes are written: junit-10 does not declare them,
so strict validation wins over GitLab's "Copy failed tests" link.

Fail closed: a stage with no checks becomes a single ERROR case saying it
produced no evidence (Jenkins drops suites without testcases), and a call
with no stages at all still writes one ERROR case.

Text is made XML 1.0 legal: ANSI escape sequences (colored ``go test``
output) and characters outside the XML ``Char`` production are removed;
very long bodies keep their head and tail.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import socket
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from junit_xml import TestCase, TestSuite, to_xml_report_string

from fixproof.errors import FixproofError
from fixproof.results import CheckResult, StageResult, Status

NO_EVIDENCE = "[no evidence]"
NO_STAGES = "[no stages]"

_MESSAGE_MAX = 1000
_BODY_MAX = 100_000
_ANSI_RE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]"  # CSI: colors, cursor moves
    r"|\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: titles, hyperlinks
    r"|[@-Z\\-_])"  # other two-byte escapes
)
_ILLEGAL_XML_RE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class ReportError(FixproofError):
    """A report file could not be written."""


@dataclass(frozen=True)
class JUnitSummary:
    """Counts as written in the file (the same numbers Jenkins recomputes)."""

    tests: int
    failures: int
    errors: int
    skipped: int

    @property
    def passed(self) -> int:
        return self.tests - self.failures - self.errors - self.skipped


def write_junit(
    stages: Sequence[StageResult],
    path: Path,
    *,
    timestamp: datetime | None = None,
    properties: Mapping[str, str] | None = None,
    hostname: str | None = None,
) -> JUnitSummary:
    """Write ``stages`` to ``path`` atomically and return what the file says.

    ``timestamp`` (default: now, UTC) is written with its offset; a naive
    datetime is taken as local time. ``properties`` go on every suite;
    ``hostname`` (default: this host's name) too.
    """
    xml_text = render_junit(stages, timestamp=timestamp, properties=properties, hostname=hostname)
    root = ET.fromstring(xml_text)
    write_atomic(path, xml_text.encode("utf-8"))
    return _summarise(root)


def render_junit(
    stages: Sequence[StageResult],
    *,
    timestamp: datetime | None = None,
    properties: Mapping[str, str] | None = None,
    hostname: str | None = None,
) -> str:
    """The JUnit document as a string (with XML declaration), without writing it."""
    when = _iso_timestamp(timestamp)
    host = _one_line(clean_text(hostname if hostname is not None else socket.gethostname())) or None
    props = {clean_text(str(k)): clean_text(str(v)) for k, v in (properties or {}).items()}
    seen: set[tuple[str, str]] = set()
    suites: list[TestSuite] = []
    for stage in stages or ():
        label = _one_line(clean_text(stage.stage)) or "(unnamed stage)"
        suite_name = f"fixproof.{label}"
        checks = stage.checks or (_no_evidence(label),)
        cases = [_test_case(check, suite_name, seen) for check in checks]
        suites.append(TestSuite(suite_name, cases, hostname=host, timestamp=when, properties=props or None))
    if not suites:
        empty = CheckResult(NO_STAGES, Status.ERROR,
                            "no stage results were given to the report; nothing was verified")
        suites.append(TestSuite("fixproof", [_test_case(empty, "fixproof", seen)],
                                hostname=host, timestamp=when, properties=props or None))
    root = ET.fromstring(to_xml_report_string(suites, prettyprint=False))
    _normalise(root)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def clean_text(text: str) -> str:
    """Remove ANSI escapes and characters XML 1.0 cannot carry."""
    return _ILLEGAL_XML_RE.sub("", _ANSI_RE.sub("", text))


# --- internals --------------------------------------------------------------


def _no_evidence(stage: str) -> CheckResult:
    return CheckResult(
        NO_EVIDENCE, Status.ERROR,
        f"stage {stage} produced no checks, so it produced no evidence; treat as not verified",
    )


def _test_case(check: CheckResult, suite_name: str, seen: set[tuple[str, str]]) -> TestCase:
    classname = _one_line(clean_text(check.classname)) or suite_name
    name = _unique(classname, _one_line(clean_text(check.name)) or "(unnamed check)", seen)
    message = _clip(_one_line(clean_text(check.message))) or f"check {check.status.value}"
    details = _body(clean_text(check.details)) or None
    case = TestCase(name, classname=classname, elapsed_sec=_seconds(check.duration_s),
                    stdout=_system_out(check, message))
    if check.status is Status.FAILED:
        case.add_failure_info(message=message, output=details)
    elif check.status is Status.ERROR:
        case.add_error_info(message=message, output=details)
    elif check.status is Status.SKIPPED:
        case.add_skipped_info(message=message, output=details)
    return case


def _unique(classname: str, name: str, seen: set[tuple[str, str]]) -> str:
    candidate, n = name, 1
    while (classname, candidate) in seen:
        n += 1
        candidate = f"{name} ({n})"
    seen.add((classname, candidate))
    return candidate


def _system_out(check: CheckResult, message: str) -> str | None:
    lines = []
    if check.warning and check.status is Status.PASSED:
        lines.append(f"warning: {message}")
    for key, value in check.evidence.items():
        lines.append(f"{_one_line(clean_text(str(key)))}: {_evidence_value(value)}")
    if check.warning and check.status is Status.PASSED and check.details.strip():
        lines.append(clean_text(check.details).rstrip("\n"))  # e.g. the failed attempts of a flaky test
    return _body("\n".join(lines)) or None


def _evidence_value(value: Any) -> str:
    if isinstance(value, str) and "\n" not in value and "\r" not in value:
        return clean_text(value)
    return clean_text(json.dumps(value, sort_keys=True, default=str, ensure_ascii=False))


def _normalise(root: ET.Element) -> None:
    """Make junit-xml's output match junit-10: times everywhere, fixed-point, no ``disabled``."""
    root.attrib.pop("disabled", None)
    root.set("name", "fixproof")
    total = 0.0
    for suite in root.iter("testsuite"):
        suite.attrib.pop("disabled", None)
        suite_time = 0.0
        for case in suite.findall("testcase"):
            case_time = float(case.get("time") or 0.0)
            case.set("time", _fmt_time(case_time))
            suite_time += case_time
        suite.set("time", _fmt_time(suite_time))
        total += suite_time
    root.set("time", _fmt_time(total))


def _summarise(root: ET.Element) -> JUnitSummary:
    cases = list(root.iter("testcase"))
    return JUnitSummary(
        tests=len(cases),
        failures=sum(1 for c in cases if c.find("failure") is not None),
        errors=sum(1 for c in cases if c.find("error") is not None),
        skipped=sum(1 for c in cases if c.find("skipped") is not None),
    )


def _seconds(value: float) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return 0.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


def _fmt_time(seconds: float) -> str:
    return f"{max(seconds, 0.0):.3f}"


def _iso_timestamp(when: datetime | None) -> str:
    if when is None:
        when = datetime.now(timezone.utc)
    elif when.tzinfo is None:
        when = when.astimezone()
    return when.isoformat(timespec="seconds")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _clip(text: str) -> str:
    return text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 1] + "…"


def _body(text: str) -> str:
    return clip_middle(text, _BODY_MAX, "by fixproof")


def clip_middle(text: str, limit: int, note: str) -> str:
    """``text`` if it fits in ``limit`` characters, else its head and tail around a line saying what was cut."""
    if len(text) <= limit:
        return text
    half = limit // 2
    cut = len(text) - 2 * half
    return f"{text[:half]}\n[... {cut} characters cut {note} ...]\n{text[-half:]}"


def write_atomic(path: Path, data: bytes, what: str = "JUnit report") -> None:
    """Write ``data`` to ``path`` through a temporary sibling, readable by all; ReportError naming ``what``."""
    path = Path(path)
    tmp_name = ""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp", delete=False) as tmp:
            tmp_name = tmp.name
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, 0o644)  # NamedTemporaryFile makes it 0600; CI readers need more
        os.replace(tmp_name, path)
        tmp_name = ""
    except OSError as e:
        raise ReportError(f"Could not write the {what} {path}: {e.strerror or e}. "
                          "Check that the directory exists and is writable.") from e
    finally:
        if tmp_name:  # only on failure; the error above is the one to report
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
