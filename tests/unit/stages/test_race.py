"""The race report parser, on output shaped like the Go race detector's."""

from __future__ import annotations

from fixproof.stages.race import parse_races

REPORT = """\
counting with 8 goroutines
==================
WARNING: DATA RACE
Read at 0x00c000014108 by goroutine 9:
  example.com/demo/internal/counter.(*Counter).Inc()
      example.com/demo/internal/counter/counter_unfixed.go:9 +0x2e
  main.main.func2()
      example.com/demo/cmd/demo/main.go:88 +0x4a

Previous write at 0x00c000014108 by goroutine 8:
  example.com/demo/internal/counter.(*Counter).Inc()
      example.com/demo/internal/counter/counter_unfixed.go:9 +0x44
  main.main.func2()
      example.com/demo/cmd/demo/main.go:88 +0x4a

Goroutine 9 (running) created at:
  main.main()
      example.com/demo/cmd/demo/main.go:85 +0x1b4
==================
==================
WARNING: DATA RACE
Write at 0x00c0000a0010 by main goroutine:
  main.report()
      example.com/demo/cmd/demo/main.go:99 +0x30

Previous read of size 8 at 0x00c0000a0010 by goroutine 12:
  main.worker()
      example.com/demo/cmd/demo/main.go:70 +0x55
==================
total 7990
Found 2 data race(s)
"""


def test_both_accesses_with_stacks():
    races = parse_races(REPORT)
    assert len(races) == 2
    first = races[0]
    assert first.key == ("example.com/demo/internal/counter.(*Counter).Inc",) * 2
    assert (first.current.op, first.current.who) == ("Read", "goroutine 9")
    assert (first.previous.op, first.previous.who) == ("Previous write", "goroutine 8")
    assert first.current.stack[0] == ("example.com/demo/internal/counter.(*Counter).Inc "
                                      "(example.com/demo/internal/counter/counter_unfixed.go:9)")
    assert "Goroutine 9 (running) created at" in first.text


def test_main_goroutine_and_sized_access():
    second = parse_races(REPORT)[1]
    assert second.key == ("main.report", "main.worker")
    assert second.current.who == "main goroutine" and second.previous.op == "Previous read"


def test_no_race_no_reports():
    assert parse_races("counting with 8 goroutines\ntotal 8000\n") == []
    assert parse_races("") == []
