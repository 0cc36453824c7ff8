"""One helper for outside processes: a timeout, captured output, clear errors."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Mapping, Sequence

from fixproof.errors import ToolError


@dataclass(frozen=True)
class ProcResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def require_tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolError(f"`{name}` is not installed or not on PATH; {hint}")
    return path


def call(
    args: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
    check: bool = True,
    input: bytes | None = None,
) -> ProcResult:
    """Run a process to completion; ToolError on a missing tool, timeout or (with check) failure."""
    full_env = None if env is None else {**os.environ, **env}
    try:
        p = subprocess.run(
            list(args), capture_output=True, timeout=timeout, env=full_env, cwd=cwd, input=input, check=False
        )
    except FileNotFoundError as e:
        raise ToolError(f"`{args[0]}` is not installed or not on PATH.") from e
    except subprocess.TimeoutExpired as e:
        raise ToolError(f"`{' '.join(args)}` did not finish within {timeout:.0f} s and was stopped.") from e
    res = ProcResult(tuple(args), p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"))
    if check and p.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-5:]
        raise ToolError(f"`{' '.join(args)}` failed with exit code {p.returncode}: {' / '.join(tail)}")
    return res
