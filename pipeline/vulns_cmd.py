"""``fixproof vulns BIN... [--db URL] [--waivers FILE] [--json]``.

Exit codes: 0 no unwaived finding; 1 an unwaived finding, or a file that is
not a readable Go binary (the others are still checked); 2 a bad waivers
file (ConfigError); 3 the database is unreachable with no cache
(VulnDBError). The last two are raised for cli.py to map.

The database is ``--db``, else ``$FIXPROOF_VULNDB`` (as for ``verify``),
else https://vuln.go.dev.

JSON output is a list, one object per finding: ``file, id, aliases, module,
version, fixed, symbols, level`` plus ``waived`` (null or ``{reason,
expires, approved_by}``). Versions are semver with a ``v``, the standard
library's too (``stdlib`` ``v1.22.4``); ``symbols`` are package-qualified
(``net/http.Client.Do``; ``pkg.*`` when the whole package is vulnerable).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any, Callable, Sequence, TextIO

from fixproof.errors import EXIT_FAILED, EXIT_OK, BinaryFormatError
from fixproof.findings import Reported, format_line
from fixproof.vulndb import VulnDB
from fixproof.vulnmatch import checked_modules, match
from fixproof.waivers import Waivers, load_waivers


def _default_readers() -> tuple[Callable[[str], Any], Callable[[str], Sequence[str]]]:
    from fixproof.goinfo.buildinfo import read_buildinfo
    from fixproof.goinfo.pclntab import read_functions

    return read_buildinfo, read_functions


def run(paths: list[str], db: str | None, waivers: str | None, as_json: bool,
        out: TextIO, err: TextIO, *, today: dt.date | None = None,
        cache_dir: str | None = None,
        read_buildinfo: Callable[[str], Any] | None = None,
        read_functions: Callable[[str], Sequence[str]] | None = None) -> int:
    today = today or dt.date.today()
    db = db or os.environ.get("FIXPROOF_VULNDB") or None

    def note(msg: str) -> None:
        err.write(f"fixproof: note: {msg}\n")

    rules = load_waivers(waivers) if waivers else Waivers(source="")
    if read_buildinfo is None or read_functions is None:
        default_bi, default_fn = _default_readers()
        read_buildinfo = read_buildinfo or default_bi
        read_functions = read_functions or default_fn

    rc = EXIT_OK
    binaries: list[tuple[str, Any, Sequence[str] | None]] = []
    for path in paths:
        try:
            info = read_buildinfo(path)
        except (BinaryFormatError, OSError) as e:
            msg = str(e) if isinstance(e, BinaryFormatError) else (e.strerror or str(e))
            if not msg.startswith(f"{path}:"):
                msg = f"{path}: {msg}"
            err.write(f"fixproof: {msg}\n")
            rc = EXIT_FAILED
            continue
        try:
            functions: Sequence[str] | None = read_functions(path)
        except (BinaryFormatError, OSError) as e:
            note(f"{path}: cannot read its function table ({e}); findings are at module level only")
            functions = None
        for n in checked_modules(info)[1]:
            note(f"{path}: {n}")
        binaries.append((path, info, functions))

    reported: list[Reported] = []
    if binaries:
        with VulnDB(db, cache_dir=cache_dir, notify=note) as vdb:
            wanted = [m.path for _, info, _ in binaries for m in checked_modules(info)[0]]
            entries = vdb.entries_for_modules(wanted)
        for path, info, functions in binaries:
            for f in match(info, functions, entries, file=path):
                decision = rules.decide((f.id, *f.aliases), today)
                if decision.expired is not None:
                    note(f"{path}: the waiver for {f.id} expired on "
                         f"{decision.expired.expires.isoformat()}; not applied")
                reported.append(Reported(f, decision.waiver))

    if as_json:
        json.dump([r.to_json() for r in reported], out, indent=2)
        out.write("\n")
    else:
        for r in reported:
            out.write(format_line(r) + "\n")
        live = sum(1 for r in reported if r.waiver is None)
        waived = len(reported) - live
        checked = len(binaries)
        out.write(f"{live} finding(s), {waived} waived, in {checked} binar{'y' if checked == 1 else 'ies'}\n")

    if any(r.waiver is None for r in reported):
        rc = EXIT_FAILED
    return rc
