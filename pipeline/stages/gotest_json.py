"""Parse a ``go test -json`` stream into check results.

One :class:`~fixproof.results.CheckResult` per Go test, subtests included:
``classname`` is the package import path, ``name`` the full test name as
test2json reports it (``TestX/sub_case``: go turns spaces into ``_``).
Passed tests are PASSED, skipped tests SKIPPED with the skip output as the
reason, failed tests FAILED with a one-line ``message`` and the test's whole
output in ``details``. Every case comes from the stream; nothing here is
ever ERROR (a broken test is a failure of the app, not of fixproof).

What the stream can do and what becomes of it:

* **Build failures** (Go 1.24+): ``build-output``/``build-fail`` events are
  keyed by ``ImportPath`` (``m/x [m/x.test]``), which does not match
  ``Package``; the package's ``fail`` names it in ``FailedBuild``. The
  package gets one FAILED case named ``[build failed]`` (or ``[setup
  failed]``) whose details hold the compiler output. A ``build-fail`` that
  no package claims still gets such a case, classname = its import path.
* **Tests that never finish** (panic, ``-timeout``, truncated stream): a
  ``run`` with no ``pass``/``fail``/``skip`` becomes FAILED with its output.
  Benchmarks are the exception: test2json gives a passing benchmark no
  terminal event, so an unfinished ``Benchmark*`` in a passing package is
  PASSED.
* **A package that fails with no failing test** (TestMain exit, init panic,
  a truncated stream with no package result) gets a FAILED case named
  ``[package failed]`` whose details are the package output.
* **Packages with nothing run** (``[no test files]``, or ``-run`` matching
  nothing) get one SKIPPED case, ``[no test files]`` or ``[no tests to
  run]``. Decision: show them rather than omit them, so a report never
  suggests a package was tested when it was not.
* **Cached runs** (``(cached)`` in the package line, ``Time`` possibly
  absent) are parsed like fresh ones; their cases carry
  ``evidence["cached"] = True``.
* ``start``, ``pause``, ``cont`` carry nothing a case needs; ``bench`` ends a
  benchmark as PASSED; ``attr`` (``t.Attr``) lands in the case evidence as
  ``attr.<Key>``. Any other action is tolerated and its name listed in
  :attr:`GoTestReport.unknown_actions`. ``OutputType`` is optional: when
  present, ``frame`` and ``error`` refine how the message is chosen.
* **Non-JSON lines** (stderr mixed in, early go errors) and JSON values that
  are not events are returned in :attr:`GoTestReport.stray_lines` for the
  caller to report. Blank lines carry nothing and are not listed.
* ``go test -count=N`` or concatenated streams run the same test again: a
  ``run`` of a test that already ended starts a new case, so repeated runs
  stay visible (the JUnit writer makes the names unique).

Order: packages finish in whatever order go's parallel test binaries end, and
``t.Parallel`` tests interleave, so stream order differs between runs of the
same tests. Cases are therefore sorted (:func:`case_order`): by package, then
by test name compared element by element at ``/``, so every subtest comes
right after its parent (``TestA``, ``TestA/x``, ``TestA/x/y``, ``TestAB``);
a package's synthetic case after its tests; repeats of one test in the order
they ran. The evidence digest of two runs depends on it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from fixproof.results import CheckResult, Status

BUILD_FAILED = "[build failed]"
SETUP_FAILED = "[setup failed]"
PACKAGE_FAILED = "[package failed]"
NO_TEST_FILES = "[no test files]"
NO_TESTS_TO_RUN = "[no tests to run]"

UNKNOWN_PACKAGE = "(unknown package)"

_MESSAGE_MAX = 300

_FRAME_RE = re.compile(r"^\s*(=== (RUN|PAUSE|CONT|NAME|ATTR)\b|--- (PASS|FAIL|SKIP|BENCH):)")
_PANIC_RE = re.compile(r"^\s*panic: ")
_ANSI_RE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")
_SUMMARY_RE = re.compile(r"^(ok|FAIL|\?)\s+\S+(\s|$)")
_FAILED_KIND_RE = re.compile(r"\[(build failed|setup failed)\]")
_KNOWN_ACTIONS = frozenset(
    {"start", "run", "pause", "cont", "pass", "fail", "skip", "output", "bench", "attr",
     "build-output", "build-fail"}
)


@dataclass(frozen=True)
class GoPackage:
    """A package's own result, from its package-level (no ``Test``) events.

    ``status`` is FAILED when the stream ended without a package result.
    """

    import_path: str
    status: Status
    elapsed_s: float
    cached: bool
    output: str
    failed_build: str = ""


@dataclass(frozen=True)
class GoBuild:
    """Output of one build (a BuildEvent ``ImportPath``) and whether it failed."""

    import_path: str
    failed: bool
    output: str


@dataclass(frozen=True)
class GoTestSummary:
    tests: int
    passed: int
    failed: int
    skipped: int
    packages: int
    packages_failed: int
    stray_lines: int


@dataclass(frozen=True)
class GoTestReport:
    """What a stream said.

    ``cases``: one check per test plus the synthetic package cases, in
    :func:`case_order`. ``stray_lines``: lines that were not go test events,
    verbatim, for the caller to show. ``packages``: each package's own result. ``builds``:
    every BuildEvent ``ImportPath`` with its output (build output that did
    not fail, e.g. from vet, is only here). ``unknown_actions``: action names
    this parser does not know, sorted.
    """

    cases: tuple[CheckResult, ...]
    stray_lines: tuple[str, ...]
    packages: tuple[GoPackage, ...]
    builds: tuple[GoBuild, ...] = ()
    unknown_actions: tuple[str, ...] = ()

    @property
    def summary(self) -> GoTestSummary:
        def count(status: Status) -> int:
            return sum(1 for c in self.cases if c.status is status)

        return GoTestSummary(
            tests=len(self.cases),
            passed=count(Status.PASSED),
            failed=count(Status.FAILED),
            skipped=count(Status.SKIPPED),
            packages=len(self.packages),
            packages_failed=sum(1 for p in self.packages if p.status is Status.FAILED),
            stray_lines=len(self.stray_lines),
        )


def parse_go_test_json(text: str) -> GoTestReport:
    """Parse the whole stream (stdout of ``go test -json``, stderr may be mixed in)."""
    parser = _Parser()
    for line in text.splitlines():
        parser.feed_line(line)
    return parser.finish()


def case_order(case: CheckResult) -> tuple[str, bool, tuple[str, ...]]:
    """Sort key of a Go test case: package, then its synthetic case last, then the name's ``/`` parts."""
    synthetic = case.name in (BUILD_FAILED, SETUP_FAILED, PACKAGE_FAILED, NO_TEST_FILES, NO_TESTS_TO_RUN)
    return case.classname, synthetic, tuple(case.name.split("/"))


# --- internals --------------------------------------------------------------


@dataclass
class _Line:
    text: str
    kind: str  # "", "frame", "error", "error-continue" or another OutputType


@dataclass
class _Test:
    package: str
    name: str
    order: int
    lines: list[_Line] = field(default_factory=list)
    terminal: str = ""  # pass, fail, skip, bench; "" while running
    elapsed: float | None = None
    first_time: datetime | None = None
    last_time: datetime | None = None
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass
class _Package:
    import_path: str
    order: int
    lines: list[str] = field(default_factory=list)
    terminal: str = ""
    elapsed: float = 0.0
    failed_build: str = ""
    tests: list[_Test] = field(default_factory=list)
    current: dict[str, _Test] = field(default_factory=dict)  # latest run of each test name


@dataclass
class _Build:
    import_path: str
    lines: list[str] = field(default_factory=list)
    failed: bool = False


class _Parser:
    def __init__(self) -> None:
        self._order = 0
        self._packages: list[_Package] = []
        self._current_pkg: dict[str, _Package] = {}
        self._builds: dict[str, _Build] = {}
        self._stray: list[str] = []
        self._unknown: set[str] = set()

    def _next(self) -> int:
        self._order += 1
        return self._order

    # -- feeding

    def feed_line(self, line: str) -> None:
        if not line.strip():
            return
        try:
            event = json.loads(line)
        except ValueError:
            self._stray.append(line)
            return
        if not isinstance(event, dict) or not isinstance(event.get("Action"), str):
            self._stray.append(line)
            return
        action = event["Action"]
        if "ImportPath" in event and "Package" not in event:
            self._build_event(action, event)
        else:
            self._test_event(action, event)

    def _build_event(self, action: str, event: Mapping[str, Any]) -> None:
        path = str(event.get("ImportPath") or "")
        build = self._builds.get(path)
        if build is None:
            build = self._builds[path] = _Build(path)
        if action == "build-output":
            build.lines.append(_text(event.get("Output")))
        elif action == "build-fail":
            build.failed = True
        else:
            self._unknown.add(action)

    def _package(self, name: str, *, fresh: bool = False) -> _Package:
        pkg = self._current_pkg.get(name)
        if pkg is None or (fresh and pkg.terminal):
            pkg = _Package(name, self._next())
            self._packages.append(pkg)
            self._current_pkg[name] = pkg
        return pkg

    def _test(self, pkg: _Package, name: str, *, fresh: bool = False) -> _Test:
        test = pkg.current.get(name)
        if test is None or (fresh and test.terminal):
            test = _Test(pkg.import_path, name, self._next())
            pkg.tests.append(test)
            pkg.current[name] = test
        return test

    def _test_event(self, action: str, event: Mapping[str, Any]) -> None:
        package = str(event.get("Package") or "")
        test_name = str(event.get("Test") or "")
        pkg = self._package(package, fresh=action in ("start", "run"))
        if not test_name:
            self._package_event(pkg, action, event)
            return
        test = self._test(pkg, test_name, fresh=action == "run")
        when = _parse_time(event.get("Time"))
        if when is not None:
            test.first_time = test.first_time or when
            test.last_time = when
        if action == "output":
            test.lines.append(_Line(_text(event.get("Output")), str(event.get("OutputType") or "")))
        elif action in ("pass", "fail", "skip", "bench"):
            test.terminal = action
            elapsed = event.get("Elapsed")
            if isinstance(elapsed, (int, float)):
                test.elapsed = float(elapsed)
        elif action == "attr":
            test.attrs[str(event.get("Key") or "")] = str(event.get("Value") or "")
        elif action not in _KNOWN_ACTIONS:
            self._unknown.add(action)

    def _package_event(self, pkg: _Package, action: str, event: Mapping[str, Any]) -> None:
        if action == "output":
            pkg.lines.append(_text(event.get("Output")))
        elif action in ("pass", "fail", "skip"):
            pkg.terminal = action
            elapsed = event.get("Elapsed")
            if isinstance(elapsed, (int, float)):
                pkg.elapsed = float(elapsed)
            pkg.failed_build = str(event.get("FailedBuild") or "")
        elif action not in _KNOWN_ACTIONS:
            self._unknown.add(action)

    # -- results

    def finish(self) -> GoTestReport:
        claimed: set[str] = set()
        ordered: list[tuple[int, CheckResult]] = []
        packages: list[GoPackage] = []
        for pkg in self._packages:
            if pkg.failed_build:
                claimed.add(pkg.failed_build)
            cases = self._package_cases(pkg)
            ordered.extend(cases)
            packages.append(_package_result(pkg))
        for build in self._builds.values():
            if build.failed and build.import_path not in claimed:
                ordered.append((self._next(), _orphan_build_case(build)))
        ordered.sort(key=lambda item: (case_order(item[1]), item[0]))  # repeats: in the order they ran
        return GoTestReport(
            cases=tuple(case for _, case in ordered),
            stray_lines=tuple(self._stray),
            packages=tuple(packages),
            builds=tuple(GoBuild(b.import_path, b.failed, "".join(b.lines))
                         for b in self._builds.values()),
            unknown_actions=tuple(sorted(self._unknown)),
        )

    def _package_cases(self, pkg: _Package) -> list[tuple[int, CheckResult]]:
        classname = pkg.import_path or UNKNOWN_PACKAGE
        cached = _is_cached(pkg.lines)
        out: list[tuple[int, CheckResult]] = []
        for test in pkg.tests:
            out.append((test.order, _test_case(test, pkg, classname, cached)))
        any_failed = any(case.status is Status.FAILED for _, case in out)
        end = pkg.tests[-1].order if pkg.tests else pkg.order
        if pkg.failed_build:
            out.append((end, _build_case(pkg, classname, self._builds.get(pkg.failed_build))))
        elif pkg.terminal not in ("pass", "skip") and not any_failed:
            out.append((end, _package_failed_case(pkg, classname)))
        elif pkg.terminal in ("pass", "skip") and not pkg.tests:
            out.append((end, _nothing_run_case(pkg, classname, cached)))
        return out


def _test_case(test: _Test, pkg: _Package, classname: str, cached: bool) -> CheckResult:
    output = "".join(line.text for line in test.lines)
    evidence: dict[str, Any] = {}
    if cached:
        evidence["cached"] = True
    for key, value in test.attrs.items():
        evidence[f"attr.{key}"] = value
    common = dict(evidence=evidence, duration_s=_duration(test), classname=classname)
    if test.terminal in ("pass", "bench"):
        return CheckResult(test.name, Status.PASSED, "passed", **common)
    if test.terminal == "skip":
        reason = [ln.text for ln in test.lines if not _is_frame(ln) and ln.text.strip()]
        message = _one_line(reason[0]) if reason else "skipped (no reason given)"
        return CheckResult(test.name, Status.SKIPPED, message, details="".join(reason), **common)
    if test.terminal == "fail":
        return CheckResult(test.name, Status.FAILED, _failure_message(test, pkg), details=output,
                           **common)
    # No terminal event.
    if test.name.startswith("Benchmark") and pkg.terminal == "pass":
        return CheckResult(test.name, Status.PASSED, "passed (benchmark)", **common)
    cause = _first_cause(test)
    if pkg.terminal == "pass":
        why = "no pass/fail event for this test although its package passed"
    elif pkg.terminal:
        why = "the test binary stopped before the test ended"
    else:
        why = "the stream ended before the test did"
    message = f"test did not finish: {cause}" if cause else f"test did not finish ({why})"
    note = f"\n[fixproof: {why}; counted as failed]\n"
    return CheckResult(test.name, Status.FAILED, _clip(message), details=output + note, **common)


def _failure_message(test: _Test, pkg: _Package) -> str:
    cause = _first_cause(test)
    if cause:
        return _clip(cause)
    prefix = test.name + "/"
    failed_subtests = [t.name for t in pkg.tests
                       if t.name.startswith(prefix) and t.terminal in ("fail", "")]
    if failed_subtests:
        return _clip("subtest failed: " + ", ".join(failed_subtests))
    return "test failed"


def _first_cause(test: _Test) -> str:
    """The line a person should read first: an error-typed line, a panic, or the first output."""
    for line in test.lines:
        if line.kind == "error" and line.text.strip():
            return _one_line(line.text)
    for line in test.lines:
        if _PANIC_RE.match(line.text):
            return _one_line(line.text)
    for line in test.lines:
        if not _is_frame(line) and line.text.strip():
            return _one_line(line.text)
    return ""


def _build_case(pkg: _Package, classname: str, build: _Build | None) -> CheckResult:
    package_output = "".join(pkg.lines)
    kind = _FAILED_KIND_RE.search(package_output)
    name = f"[{kind.group(1)}]" if kind else BUILD_FAILED
    build_output = "".join(build.lines) if build else ""
    errors = [ln for ln in (build.lines if build else []) if ln.strip() and not ln.startswith("#")]
    message = f"{name[1:-1]}: {_one_line(errors[0])}" if errors else f"{name[1:-1]} ({pkg.failed_build})"
    details = build_output + ("\n" if build_output and not build_output.endswith("\n") else "")
    details += package_output
    return CheckResult(name, Status.FAILED, _clip(message), details=details,
                       duration_s=pkg.elapsed, classname=classname,
                       evidence={"failed_build": pkg.failed_build})


def _orphan_build_case(build: _Build) -> CheckResult:
    classname = build.import_path.split(" [", 1)[0] or UNKNOWN_PACKAGE
    errors = [ln for ln in build.lines if ln.strip() and not ln.startswith("#")]
    message = f"build failed: {_one_line(errors[0])}" if errors else "build failed"
    return CheckResult(BUILD_FAILED, Status.FAILED, _clip(message), details="".join(build.lines),
                       classname=classname, evidence={"failed_build": build.import_path})


def _package_failed_case(pkg: _Package, classname: str) -> CheckResult:
    output = "".join(pkg.lines)
    if pkg.terminal:
        useful = [ln for ln in pkg.lines
                  if ln.strip() and ln.strip() not in ("FAIL", "PASS") and not _SUMMARY_RE.match(ln)]
        message = ("package failed: " + _one_line(useful[0])) if useful else \
            "package failed with no failing test"
    else:
        message = "no package result in the go test stream (output truncated or go killed?)"
    return CheckResult(PACKAGE_FAILED, Status.FAILED, _clip(message), details=output,
                       duration_s=pkg.elapsed, classname=classname)


def _nothing_run_case(pkg: _Package, classname: str, cached: bool) -> CheckResult:
    output = "".join(pkg.lines)
    if NO_TEST_FILES in output:
        name, message = NO_TEST_FILES, "package has no test files"
    else:
        name, message = NO_TESTS_TO_RUN, "no tests ran in this package"
    evidence: dict[str, Any] = {"cached": True} if cached else {}
    return CheckResult(name, Status.SKIPPED, message, details=output, classname=classname,
                       evidence=evidence)


def _package_result(pkg: _Package) -> GoPackage:
    status = {"pass": Status.PASSED, "skip": Status.SKIPPED}.get(pkg.terminal, Status.FAILED)
    return GoPackage(
        import_path=pkg.import_path,
        status=status,
        elapsed_s=pkg.elapsed,
        cached=_is_cached(pkg.lines),
        output="".join(pkg.lines),
        failed_build=pkg.failed_build,
    )


def _is_cached(lines: list[str]) -> bool:
    return any(_SUMMARY_RE.match(ln) and "(cached)" in ln for ln in lines)


def _is_frame(line: _Line) -> bool:
    if line.kind == "frame":
        return True
    if line.kind in ("error", "error-continue"):
        return False
    return bool(_FRAME_RE.match(line.text))


def _duration(test: _Test) -> float:
    if test.elapsed is not None:
        return max(test.elapsed, 0.0)
    if test.first_time and test.last_time:
        return max((test.last_time - test.first_time).total_seconds(), 0.0)
    return 0.0


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _one_line(text: str) -> str:
    return " ".join(_ANSI_RE.sub("", text).split())


def _clip(text: str) -> str:
    return text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 1] + "…"
