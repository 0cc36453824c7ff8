"""`fixproof merge OUT DIR...`: shard report directories as one fleet report (fixproof.publish.merge).

Exit codes: the merged fleet's verdict (0 every app passed, 1 an app failed, 3 an app could not be
verified; 2 for an app whose config was refused), or 2 when the directories are not the complete,
intact shards of one fleet run (MergeError, nothing written).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence, TextIO

from fixproof.errors import UsageError


def run(out: str, dirs: Sequence[str], *, stdout: TextIO | None = None) -> int:
    from fixproof.publish.merge import merge
    from fixproof.publish.report import print_summary

    if not dirs:
        raise UsageError("give the shard report directories to merge: fixproof merge OUT DIR [DIR...].")
    stdout = stdout or sys.stdout
    merged = merge(Path(out), [Path(d) for d in dirs])
    print_summary(merged.summary, stdout)
    info = merged.summary["merge"]
    stdout.write(f"fixproof: merged {len(info['shards'])} shard(s) of {info['count']} ({merged.apps} apps) into "
                 f"{merged.out}; evidence index at {merged.summary['evidence']} "
                 f"(check it with `fixproof evidence verify {merged.summary['evidence']}`)\n")
    return merged.exit_code
