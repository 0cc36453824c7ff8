"""parse_go_test_json on hand-written streams: what real go does not produce on demand (noise, unknown
actions, interleaved packages, truncation). Real `go test -json` output: tests/integration/test_gotest.py."""

from __future__ import annotations

import json

from fixproof.stages.gotest_json import BUILD_FAILED, NO_TEST_FILES, PACKAGE_FAILED, parse_go_test_json
from fixproof.results import Status


def _events(*events: dict) -> str:
    return "\n".join(json.dumps(e) for e in events) + "\n"


def test_noise_unknown_actions_and_output_type() -> None:
    text = (
        "go: downloading example.com/dep v1.0.0\n"
        + _events(
            {"Action": "start", "Package": "p"},
            {"Action": "run", "Package": "p", "Test": "TestT"},
            {"Action": "output", "Package": "p", "Test": "TestT", "Output": "=== RUN   TestT\n",
             "OutputType": "frame"},
            {"Action": "output", "Package": "p", "Test": "TestT", "Output": "    t_test.go:3: just logging\n"},
            {"Action": "output", "Package": "p", "Test": "TestT", "Output": "    t_test.go:4: the real error\n",
             "OutputType": "error"},
            {"Action": "output", "Package": "p", "Test": "TestT", "Output": "        more detail\n",
             "OutputType": "error-continue"},
            {"Action": "teleport", "Package": "p", "Test": "TestT", "Where": "mars"},
            {"Action": "attr", "Package": "p", "Test": "TestT", "Key": "k", "Value": "v"},
            {"Action": "fail", "Package": "p", "Test": "TestT", "Elapsed": 0.25},
            {"Action": "future-package-thing", "Package": "p"},
            {"Action": "fail", "Package": "p", "Elapsed": 0.3},
        )
        + "\n"
        + "not json at all {\n"
        + "[1, 2]\n"
        + '{"NoAction": true}\n'
    )
    rep = parse_go_test_json(text)
    assert rep.stray_lines == ("go: downloading example.com/dep v1.0.0", "not json at all {",
                               "[1, 2]", '{"NoAction": true}')
    assert rep.unknown_actions == ("future-package-thing", "teleport")
    [case] = rep.cases
    assert case.status is Status.FAILED
    assert case.message == "t_test.go:4: the real error"
    assert case.duration_s == 0.25
    assert case.evidence == {"attr.k": "v"}
    assert rep.summary.stray_lines == 4


def test_no_time_fields_and_repeated_runs() -> None:
    # -count=2 runs the same test twice; cached output has no Time.
    run = [
        {"Action": "run", "Package": "p", "Test": "TestT"},
        {"Action": "output", "Package": "p", "Test": "TestT", "Output": "--- PASS: TestT (0.00s)\n"},
        {"Action": "pass", "Package": "p", "Test": "TestT", "Elapsed": 0},
    ]
    rep = parse_go_test_json(_events(
        *run, *run,
        {"Action": "output", "Package": "p", "Output": "ok  \tp\t(cached)\n"},
        {"Action": "pass", "Package": "p", "Elapsed": 0},
    ))
    assert [(c.name, c.status) for c in rep.cases] == [("TestT", Status.PASSED)] * 2
    assert all(c.evidence.get("cached") is True for c in rep.cases)


def _package_stream(pkg: str, tests: list[tuple[str, str]], *, ok: bool = True) -> list[dict]:
    events: list[dict] = [{"Action": "start", "Package": pkg}]
    for name, _ in tests:
        events.append({"Action": "run", "Package": pkg, "Test": name})
    for name, action in reversed(tests):  # finishing in another order than they started (t.Parallel)
        events.append({"Action": "output", "Package": pkg, "Test": name, "Output": f"--- {action.upper()}: {name}\n"})
        events.append({"Action": action, "Package": pkg, "Test": name, "Elapsed": 0.01})
    events.append({"Action": "pass" if ok else "fail", "Package": pkg, "Elapsed": 0.02})
    return events


def test_cases_are_in_one_order_whatever_order_packages_finish() -> None:
    """go test -json interleaves packages as their test binaries finish: the cases must not follow it."""
    a = _package_stream("m/a", [("TestZ", "pass"), ("TestA", "pass"), ("TestA/sub", "pass"), ("TestA/sub/x", "pass"),
                                ("TestAB", "pass"), ("TestA-dash", "pass")])
    b = _package_stream("m/b", [("TestOnly", "fail")], ok=False)
    empty = [{"Action": "start", "Package": "m/c"},
             {"Action": "output", "Package": "m/c", "Output": "?   \tm/c\t[no test files]\n"},
             {"Action": "skip", "Package": "m/c", "Elapsed": 0}]
    interleaved = b[:1] + a[:4] + b[1:] + empty + a[4:]  # one package's events between another's
    orders = [a + b + empty, empty + b + a, interleaved]
    seen = set()
    for events in orders:
        rep = parse_go_test_json(_events(*events))
        seen.add(tuple((c.classname, c.name, c.status) for c in rep.cases))
    assert len(seen) == 1
    [cases] = seen
    assert [(c, n) for c, n, _ in cases] == [
        ("m/a", "TestA"), ("m/a", "TestA/sub"), ("m/a", "TestA/sub/x"), ("m/a", "TestA-dash"), ("m/a", "TestAB"),
        ("m/a", "TestZ"), ("m/b", "TestOnly"), ("m/c", NO_TEST_FILES)]


def test_a_package_failure_case_comes_after_its_tests_and_repeats_keep_their_order() -> None:
    run = lambda action, out: [  # noqa: E731
        {"Action": "run", "Package": "p", "Test": "TestT"},
        {"Action": "output", "Package": "p", "Test": "TestT", "Output": out},
        {"Action": action, "Package": "p", "Test": "TestT", "Elapsed": 0},
    ]
    rep = parse_go_test_json(_events(
        *run("pass", "first\n"), *run("fail", "second\n"),
        {"Action": "run", "Package": "p", "Test": "TestB"}, {"Action": "pass", "Package": "p", "Test": "TestB"},
        {"Action": "output", "Package": "p", "Output": "FAIL\tp\t0.1s\n"},
        {"Action": "fail", "Package": "p", "Elapsed": 0.1},
        {"Action": "output", "Package": "q", "Output": "panic in init\n"},
        {"Action": "fail", "Package": "q", "Elapsed": 0.1},
    ))
    assert [(c.classname, c.name, c.status) for c in rep.cases] == [
        ("p", "TestB", Status.PASSED), ("p", "TestT", Status.PASSED), ("p", "TestT", Status.FAILED),
        ("q", PACKAGE_FAILED, Status.FAILED)]
    assert "second" in rep.cases[2].details


def test_truncated_stream_fails_closed() -> None:
    rep = parse_go_test_json(_events(
        {"Action": "start", "Package": "p"},
        {"Action": "run", "Package": "p", "Test": "TestA"},
        {"Action": "output", "Package": "p", "Test": "TestA", "Output": "=== RUN   TestA\n"},
    ))
    [case] = rep.cases
    assert case.status is Status.FAILED
    assert "did not finish" in case.message
    assert "stream ended" in case.details

    empty_pkg = parse_go_test_json(_events({"Action": "start", "Package": "q"}))
    assert [(c.name, c.status) for c in empty_pkg.cases] == [(PACKAGE_FAILED, Status.FAILED)]


def test_benchmarks_without_terminal_event_pass_with_their_package() -> None:
    rep = parse_go_test_json(_events(
        {"Action": "run", "Package": "p", "Test": "BenchmarkX"},
        {"Action": "output", "Package": "p", "Test": "BenchmarkX", "Output": "BenchmarkX-2  10  9 ns/op\n"},
        {"Action": "run", "Package": "p", "Test": "BenchmarkLog"},
        {"Action": "bench", "Package": "p", "Test": "BenchmarkLog", "Output": "--- BENCH: BenchmarkLog\n"},
        {"Action": "pass", "Package": "p", "Elapsed": 0.1},
    ))
    assert [(c.name, c.status) for c in rep.cases] == [("BenchmarkLog", Status.PASSED),  # sorted by name
                                                      ("BenchmarkX", Status.PASSED)]


def test_build_failure_nobody_claims_is_still_reported() -> None:
    rep = parse_go_test_json(_events(
        {"ImportPath": "m/dep", "Action": "build-output", "Output": "# m/dep\n"},
        {"ImportPath": "m/dep", "Action": "build-output", "Output": "dep.go:1:1: syntax error\n"},
        {"ImportPath": "m/dep", "Action": "build-fail"},
        {"ImportPath": "m/dep", "Action": "build-something-new"},
    ))
    [case] = rep.cases
    assert (case.classname, case.name, case.status) == ("m/dep", BUILD_FAILED, Status.FAILED)
    assert "syntax error" in case.message and "syntax error" in case.details
    assert rep.unknown_actions == ("build-something-new",)


def test_empty_input() -> None:
    rep = parse_go_test_json("")
    assert rep.cases == () and rep.stray_lines == () and rep.packages == ()
