"""What [test] skip, allow_fail and retries make of the Go test cases (pure: no engine, no go).

* **skip**: each entry becomes an anchored, escaped element of go test's
  ``-skip`` pattern (``^TestX$``, a subtest ``^TestX$/^case$``), so the test
  never runs; :func:`skipped_cases` gives each one a SKIPPED case in every
  package where ``go test -list`` found it (``-skip`` applies to every package
  of the run), with the entry's reason. An entry whose test is in no listed
  package is stale: a warning.
* **allow_fail**: the tests run; :func:`allow_failures` turns the failure of
  a listed test (or of one of its subtests; a parent that failed only because
  of allowed subtests too) into a SKIPPED case whose message starts with
  ``allowed failure: <reason>`` and whose details keep the whole output; a
  pass stays a pass. An entry that matched no test is stale: a warning.
* **retries**: :func:`retry_targets` names the failed top-level tests of each
  package; the stage reruns them with ``-run`` anchored to them, and
  :func:`merge_attempts` keeps every attempt: the final verdict is the last
  attempt's, a test that failed and then passed is PASSED with ``warning``
  (flaky, never silently a pass), and each case that ran more than once
  lists its attempts in its evidence and its output per attempt in details.

Evidence keys the reports read (fixproof.publish.report's headline):
:data:`SKIPPED_BY_CONFIG`, :data:`ALLOWED_FAILURE`, :data:`FLAKY`,
:data:`ATTEMPTS`, :data:`TESTS_DISABLED`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Iterable, Mapping, Sequence

from fixproof.config import TestRule
from fixproof.results import CheckResult, Status, passed
from fixproof.stages.gotest_json import (
    BUILD_FAILED, NO_TEST_FILES, NO_TESTS_TO_RUN, PACKAGE_FAILED, SETUP_FAILED, UNKNOWN_PACKAGE, GoTestReport,
    case_order,
)

SKIPPED_BY_CONFIG = "skipped_by_config"  # the test.skip entry's reason
ALLOWED_FAILURE = "allowed_failure"  # the test.allow_fail entry's reason (the test failed)
ALLOWED_TO_FAIL = "allowed_to_fail"  # the test.allow_fail entry's reason (the test passed)
FLAKY = "flaky"  # True: failed, then passed on a retry
ATTEMPTS = "attempts"  # [{attempt, status, message}] of a test that ran more than once
TESTS_DISABLED = "tests_disabled"  # the go test check of a stage with test.enabled = false

SYNTHETIC = frozenset({BUILD_FAILED, SETUP_FAILED, PACKAGE_FAILED, NO_TEST_FILES, NO_TESTS_TO_RUN})

# RE2 metacharacters; go's -run/-skip splitter also treats an unescaped / and | specially
_RE2_META = re.compile(r"([\\.+*?()|\[\]{}^$/])")
_LISTED_NAME = re.compile(r"^(Test|Benchmark|Fuzz|Example)\w*$")


def literal(text: str) -> str:
    """``text`` as a Go (RE2) regular expression matching exactly that text."""
    return _RE2_META.sub(r"\\\1", text)


def anchored(name: str) -> str:
    """A -run/-skip element for one test: each ``/`` level anchored and escaped (``^TestX$/^case$``)."""
    return "/".join(f"^{literal(part)}$" for part in name.split("/"))


def pattern(names: Iterable[str]) -> str:
    """A -run/-skip pattern matching exactly these tests (go splits it at the top-level ``|``)."""
    return "|".join(anchored(n) for n in dict.fromkeys(names))


def top_level(name: str) -> str:
    return name.split("/", 1)[0]


def listed_tests(stream: str) -> dict[str, set[str]]:
    """Package -> top-level test names, from ``go test -json -list .`` (non-JSON lines are ignored)."""
    out: dict[str, set[str]] = {}
    for line in stream.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict) or event.get("Action") != "output" or event.get("Test"):
            continue
        pkg, text = str(event.get("Package") or ""), str(event.get("Output") or "").strip()
        if pkg and _LISTED_NAME.match(text):
            out.setdefault(pkg, set()).add(text)
    return out


def _rule_json(rule: TestRule) -> dict[str, str]:
    return {"test": rule.test, "package": rule.package, "reason": rule.reason}


def _where(rule: TestRule) -> str:
    return f"{rule.test} (package {rule.package})" if rule.package else rule.test


def skipped_cases(rules: Sequence[TestRule], listing: Mapping[str, set[str]] | None) -> list[CheckResult]:
    """A SKIPPED case for each skipped test in each package that has it, and a warning per stale entry.

    ``listing`` None: go test -list could not say which tests exist (its failure is the run's to
    report); each entry then gets one case, not confirmed, and no stale warning."""
    out: list[CheckResult] = []
    for rule in rules:
        evidence = {SKIPPED_BY_CONFIG: rule.reason, "rule": _rule_json(rule)}
        message = f"skipped by config (test.skip): {rule.reason}"
        if listing is None:
            out.append(CheckResult(rule.test, Status.SKIPPED, message + " (not confirmed: go test -list failed)",
                                   evidence=evidence, classname=rule.package or UNKNOWN_PACKAGE))
            continue
        have = sorted(p for p, names in listing.items() if top_level(rule.test) in names)
        for pkg in have:
            note = ""
            if rule.package and pkg != rule.package:
                note = f" (the entry names {rule.package}, but go test -skip applies to every package)"
            out.append(CheckResult(rule.test, Status.SKIPPED, message + note, evidence=evidence, classname=pkg))
        if not any(not rule.package or p == rule.package for p in have):
            out.append(stale("skip", rule))
    return out


def stale(key: str, rule: TestRule) -> CheckResult:
    what = "no package of the run has it" if key == "skip" else "no test of the run matched it"
    return passed(f"stale test.{key}: {_where(rule)}", f"test.{key} lists {_where(rule)}, but {what}: remove the "
                  "entry or correct its name", evidence={"rule": _rule_json(rule)}, warning=True)


def _match(case: CheckResult, rules: Sequence[TestRule]) -> TestRule | None:
    """The entry covering this case: its test or an ancestor of it, in its package (or any package)."""
    if case.name in SYNTHETIC:
        return None
    for rule in rules:
        if rule.package and rule.package != case.classname:
            continue
        if case.name == rule.test or case.name.startswith(rule.test + "/"):
            return rule
    return None


def allow_failures(cases: Sequence[CheckResult], rules: Sequence[TestRule]) -> list[CheckResult]:
    """Failures of allowed tests as SKIPPED "allowed failure" cases; passes marked; stale entries as warnings."""
    if not rules:
        return list(cases)
    matched: dict[int, TestRule] = {}
    for i, c in enumerate(cases):
        rule = _match(c, rules)
        if rule is not None:
            matched[i] = rule
    # a parent fails when a subtest does: it is allowed when it has no failure of its own (go says
    # "subtest failed") and every failed subtest under it is allowed
    for i, c in enumerate(cases):
        if i in matched or c.status is not Status.FAILED or c.name in SYNTHETIC:
            continue
        below = [j for j, d in enumerate(cases) if d.classname == c.classname and d.name.startswith(c.name + "/")
                 and d.status is Status.FAILED]
        if below and all(j in matched for j in below) and c.message.startswith("subtest failed"):
            matched[i] = matched[below[0]]
    out = list(cases)
    for i, rule in matched.items():
        c = cases[i]
        if c.status is Status.FAILED:
            out[i] = replace(c, status=Status.SKIPPED, message=f"allowed failure (test.allow_fail): {rule.reason}; "
                             f"the test failed: {c.message}", warning=False,
                             evidence={**c.evidence, ALLOWED_FAILURE: rule.reason, "rule": _rule_json(rule)})
        else:
            out[i] = replace(c, evidence={**c.evidence, ALLOWED_TO_FAIL: rule.reason})
    used = set(matched.values())
    out += [stale("allow_fail", r) for r in rules if r not in used]
    return out


def retry_targets(cases: Sequence[CheckResult], allowed: Sequence[TestRule]) -> dict[str, list[str]]:
    """Package -> failed top-level tests to run again (not synthetic cases, not allowed failures)."""
    out: dict[str, set[str]] = {}
    for c in allow_failures(cases, allowed):  # an allowed failure (or a parent failing only by one) is final
        if c.status is Status.FAILED and c.name not in SYNTHETIC and c.classname != UNKNOWN_PACKAGE:
            out.setdefault(c.classname, set()).add(top_level(c.name))
    return {p: sorted(names) for p, names in sorted(out.items())}


@dataclass(frozen=True)
class Attempt:
    """One rerun: its number (the first run is 1), what it reran and what it reported."""

    number: int
    targets: Mapping[str, Sequence[str]]
    report: GoTestReport


def merge_attempts(first: Sequence[CheckResult], retries: Sequence[Attempt]) -> list[CheckResult]:
    """The cases of the first run with each rerun test's later attempts folded in (see module doc)."""
    history: dict[tuple[str, str], list[tuple[int, CheckResult]]] = {}
    order: list[tuple[str, str]] = []
    extra: list[CheckResult] = []

    def add(n: int, c: CheckResult) -> None:
        key = (c.classname, c.name)
        if key not in history:
            history[key] = []
            order.append(key)
        history[key].append((n, c))

    for c in first:
        if c.name in SYNTHETIC:
            extra.append(c)
        else:
            add(1, c)
    for attempt in retries:
        wanted = {(p, t) for p, names in attempt.targets.items() for t in names}
        for c in attempt.report.cases:
            if c.name in SYNTHETIC:
                if c.status is Status.FAILED:  # the rerun itself broke (build, TestMain): never hidden
                    extra.append(replace(c, message=f"attempt {attempt.number}: {c.message}",
                                         evidence={**c.evidence, "attempt": attempt.number}))
            elif (c.classname, top_level(c.name)) in wanted:
                add(attempt.number, c)
    out = [_verdict(history[k]) for k in order] + extra
    return sorted(out, key=case_order)


def _verdict(runs: list[tuple[int, CheckResult]]) -> CheckResult:
    last_n, last = runs[-1]
    if len(runs) == 1:
        return last
    attempts = [{"attempt": n, "status": c.status.value, "message": c.message} for n, c in runs]
    details = "".join(f"=== fixproof: attempt {n} of this test: {c.status.value} ===\n{c.details}"
                      + ("" if c.details.endswith("\n") or not c.details else "\n") for n, c in runs)
    evidence = {**last.evidence, ATTEMPTS: attempts}
    failures = [n for n, c in runs if c.status is Status.FAILED]
    duration = sum(c.duration_s for _, c in runs)
    if last.status is Status.PASSED and failures:
        ns = ", ".join(str(n) for n in failures)
        return replace(last, message=f"flaky: failed on attempt{'s' if len(failures) > 1 else ''} {ns}, passed on "
                       f"attempt {last_n} (test.retries); a pass only on retry is not a clean pass",
                       evidence={**evidence, FLAKY: True}, details=details, warning=True, duration_s=duration)
    if last.status is Status.FAILED:
        return replace(last, message=f"{last.message} (failed on all {len(runs)} attempts)", evidence=evidence,
                       details=details, duration_s=duration)
    return replace(last, evidence=evidence, details=details, duration_s=duration)
