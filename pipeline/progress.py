"""Progress lines for long work, on stderr, so CI logs show what is happening."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Prints `fixproof: <stage>: <message>` lines with the elapsed time."""

    def __init__(self, stage: str, stream: TextIO | None = None) -> None:
        self.stage = stage
        self.stream = stream or sys.stderr
        self.start = time.monotonic()

    def say(self, message: str) -> None:
        elapsed = time.monotonic() - self.start
        self.stream.write(f"fixproof: {self.stage}: {message} [{elapsed:.0f}s]\n")
        self.stream.flush()
