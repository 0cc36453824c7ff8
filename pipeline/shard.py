"""Which apps of a fleet one CI job verifies: ``verify --shard K/N``.

Without timings an app's shard is chosen by rendezvous hashing: each app goes
to the shard whose sha256 of (app name, shard number) is highest. The parts
are disjoint and cover the fleet, the same on every machine, and stable:
adding or removing an app moves no other app, and going from N to N+1 shards
moves only the apps the new shard takes.

With timings (per-app seconds from an earlier run's summary, ``--timings``)
the parts are balanced instead: longest app first onto the least loaded
shard, ties broken by name, apps without a timing counted at the median. This
is deterministic for the same timings and apps but, being a balance, may
move apps when the fleet changes.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from fixproof.errors import UsageError

_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """The K-th (1-based) of N parts."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        m = _SHARD_RE.match(text)
        if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
            raise UsageError(f"--shard {text}: give K/N with 1 <= K <= N, e.g. --shard 2/4 (the second of four jobs).")
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def _weight(name: str, k: int) -> bytes:
    return hashlib.sha256(f"{name}\0{k}".encode()).digest()


def assign(names: Sequence[str], count: int, timings: Mapping[str, float] | None = None) -> dict[str, int]:
    """app name -> its shard (1..count)."""
    if len(set(names)) != len(names):
        raise ValueError("app names must be unique")
    if not timings:
        return {n: max(range(1, count + 1), key=lambda k: _weight(n, k)) for n in names}
    known = [float(timings[n]) for n in names if n in timings]
    default = statistics.median(known) if known else 1.0
    load = {k: 0.0 for k in range(1, count + 1)}
    out: dict[str, int] = {}
    for n in sorted(names, key=lambda n: (-float(timings.get(n, default)), n)):
        k = min(load, key=lambda k: (load[k], k))
        out[n] = k
        load[k] += float(timings.get(n, default))
    return out


def select(names: Sequence[str], shard: Shard, timings: Mapping[str, float] | None = None) -> list[str]:
    """The apps of ``shard``, in the fleet's order."""
    part = assign(names, shard.count, timings)
    return [n for n in names if part[n] == shard.index]


def read_timings(path: Path) -> dict[str, float]:
    """Per-app seconds from an earlier fleet run's (or merge's) summary.json: ``apps.<name>.seconds``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        apps = data["apps"]
        out = {str(n): float(a["seconds"]) for n, a in apps.items() if isinstance(a, dict) and "seconds" in a}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise UsageError(f"--timings {path}: not the summary.json of an earlier fleet run ({e}); "
                         "pass <reports>/summary.json of a run of the same fleet config.") from e
    if not out:
        raise UsageError(f"--timings {path}: it records no app durations (apps.<name>.seconds); "
                         "pass the summary.json of a fleet run.")
    return out
