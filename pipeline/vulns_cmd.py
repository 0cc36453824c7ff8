"""``fixproof vulns BIN... [--db URL] [--waivers FILE] [--json | --format text|json|sarif|openvex]``.

Exit codes: 0 no unwaived finding; 1 an unwaived finding, or a file that is
not a readable Go binary (the others are still checked); 2 a bad waivers
file (ConfigError); 3 the database is unreachable with no cache
(VulnDBError). The last two are raised for cli.py to map.

The database is ``--db``, else ``$FIXPROOF_VULNDB`` (as for ``verify``),
else https://vuln.go.dev.

``--format sarif`` writes SARIF 2.1.0 for code scanning (fixproof.publish.sarif:
a result per finding on the binary's path, every unwaived finding an error,
waived ones suppressed with the waiver's reason); ``--format openvex`` one
OpenVEX document with a statement per finding, the product named by the
binary's sha256 (fixproof.vex: ``affected`` when a vulnerable function is in
the binary, ``not_affected`` when it is not, ``under_investigation`` when the
function table could not be read). ``--json`` is ``--format json``.

JSON output is a list, one object per finding: ``file, id, aliases, module,
version, fixed, symbols, level`` plus ``waived`` (null or ``{reason,
expires, approved_by}``). Versions are semver with a ``v``, the standard
library's too (``stdlib`` ``v1.22.4``); ``symbols`` are package-qualified
(``net/http.Client.Do``; ``pkg.*`` when the whole package is vulnerable).

Cost: a file:// database is read through its compact index in the cache
directory (fixproof.vulnindex; no network module is imported), and each
binary is opened once: build info, then only the function names the
advisories of its modules can match, looked up in the pclntab's name pool
(fixproof.goinfo.pclntab.FuncNames; fixproof.vulnmatch.select_functions).
The findings are those of matching every entry against every name
(tests/unit/test_vulnindex.py, tests/integration/test_vulns_cmd.py).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence, TextIO

from fixproof.errors import EXIT_FAILED, EXIT_OK, BinaryFormatError
from fixproof.findings import Reported, format_line
from fixproof.vulnmatch import checked_modules, match, select_functions

if TYPE_CHECKING:
    from fixproof.goinfo.pclntab import FuncNames
    from fixproof.osv import Entry


class _ListedNames:
    """Names from an injected reader, with FuncNames' select (every name: the caller filters nothing)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = names

    def select(self, prefixes: object) -> Sequence[str]:
        return self.names

    def iter_prefixed(self, prefix: str) -> Iterator[str]:
        return (n for n in self.names if n.startswith(prefix))


def _read_binary(path: str) -> tuple[Any, "FuncNames | BinaryFormatError | OSError"]:
    """Build info and function names of one binary, from one open of the file."""
    from fixproof.goinfo.binfile import BinFile
    from fixproof.goinfo.buildinfo import buildinfo_from
    from fixproof.goinfo.pclntab import function_names

    with BinFile.open(path) as bf:
        info = buildinfo_from(bf)
        try:
            return info, function_names(bf)
        except (BinaryFormatError, OSError) as e:
            return info, e


Lookup = Callable[[Sequence[tuple[str, str]]], Mapping[str, Sequence["Entry"]]]


def _entries_lookup(db: str | None, wanted: Sequence[Any], cache_dir: str | None,
                    note: Callable[[str], None]) -> Lookup:
    """(module, version) pairs -> the entries to match them against.

    A local (file://) database is read through its compact index (fixproof.vulnindex), which
    gives only the entries whose ranges may hold each version; any other through VulnDB,
    which fetches (or reads from its cache) every entry of the modules asked for."""
    from fixproof.vulnindex import is_local

    url = db or _default_url()
    if is_local(url) or "://" not in url:
        from fixproof.vulnindex import open_index

        return open_index(url, cache_dir=cache_dir, notify=note).entries_for
    from fixproof.vulndb import VulnDB

    with VulnDB(url, cache_dir=cache_dir, notify=note) as vdb:
        entries = vdb.entries_for_modules(m.path for m in wanted)
    return lambda _mods: entries


def _default_url() -> str:
    from fixproof.vulndb import DEFAULT_URL

    return DEFAULT_URL


FORMATS = ("text", "json", "sarif", "openvex")


def run(paths: list[str], db: str | None, waivers: str | None, as_json: bool,
        out: TextIO, err: TextIO, *, fmt: str | None = None, today: dt.date | None = None,
        cache_dir: str | None = None,
        read_buildinfo: Callable[[str], Any] | None = None,
        read_functions: Callable[[str], Sequence[str]] | None = None) -> int:
    today = today or dt.date.today()
    db = db or os.environ.get("FIXPROOF_VULNDB") or None

    def note(msg: str) -> None:
        err.write(f"fixproof: note: {msg}\n")

    rules = None
    if waivers:
        from fixproof.waivers import load_waivers

        rules = load_waivers(waivers)
    injected = read_buildinfo is not None or read_functions is not None
    if injected:
        from fixproof.goinfo.buildinfo import read_buildinfo as default_bi
        from fixproof.goinfo.pclntab import read_functions as default_fn

        read_buildinfo = read_buildinfo or default_bi
        read_functions = read_functions or default_fn

    rc = EXIT_OK
    binaries: list[tuple[str, Any, Any]] = []
    for path in paths:
        try:
            if injected:
                assert read_buildinfo is not None and read_functions is not None
                info = read_buildinfo(path)
                try:
                    names: Any = _ListedNames(read_functions(path))
                except (BinaryFormatError, OSError) as e:
                    names = e
            else:
                info, names = _read_binary(path)
        except (BinaryFormatError, OSError) as e:
            msg = str(e) if isinstance(e, BinaryFormatError) else (e.strerror or str(e))
            if not msg.startswith(f"{path}:"):
                msg = f"{path}: {msg}"
            err.write(f"fixproof: {msg}\n")
            rc = EXIT_FAILED
            continue
        if isinstance(names, (BinaryFormatError, OSError)):
            note(f"{path}: cannot read its function table ({names}); findings are at module level only")
            names = None
        for n in checked_modules(info)[1]:
            note(f"{path}: {n}")
        binaries.append((path, info, names))

    reported: list[Reported] = []
    if binaries:
        lookup = _entries_lookup(db, [m for _, info, _ in binaries for m in checked_modules(info)[0]],
                                 cache_dir, note)
        for path, info, names in binaries:
            entries = lookup([(m.path, m.version) for m in checked_modules(info)[0]])
            functions = None if names is None else select_functions(info, entries, names)
            for f in match(info, functions, entries, file=path):
                if rules is None:
                    reported.append(Reported(f, None))
                    continue
                decision = rules.decide((f.id, *f.aliases), today)
                if decision.expired is not None:
                    note(f"{path}: the waiver for {f.id} expired on "
                         f"{decision.expired.expires.isoformat()}; not applied")
                reported.append(Reported(f, decision.waiver))

    fmt = fmt or ("json" if as_json else "text")
    if fmt == "json":
        json.dump([r.to_json() for r in reported], out, indent=2)
        out.write("\n")
    elif fmt == "sarif":
        json.dump(_sarif(reported), out, indent=2)
        out.write("\n")
    elif fmt == "openvex":
        json.dump(_openvex(reported, {p: names is not None for p, _, names in binaries}, today), out, indent=2)
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


def _sarif(reported: Sequence[Reported]) -> dict[str, Any]:
    """SARIF of the findings: each on its binary's path; every unwaived finding fails the command (an error)."""
    from fixproof import __version__
    from fixproof.publish.sarif import document
    from fixproof.results import CheckResult, StageResult, Status

    waived = {r.finding.id: r.waiver.reason for r in reported if r.waiver is not None}
    result = StageResult("vulns", tuple(CheckResult(f"advisory {i}", Status.SKIPPED, reason)
                                        for i, reason in sorted(waived.items())),
                         {"findings": [r.finding.to_json() for r in reported]})
    return document([result], gomod_uri="", listed=(), version=__version__, fail_on="any", per_file=True)


def _openvex(reported: Sequence[Reported], functions_read: Mapping[str, bool], today: dt.date) -> dict[str, Any]:
    """One OpenVEX document: a statement per finding, each binary named by its sha256."""
    import hashlib
    from pathlib import Path

    from fixproof.publish.openvex import combine, document
    from fixproof.vex import verdict

    docs = []
    for path in sorted({r.finding.file for r in reported}):
        try:
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError as e:
            raise BinaryFormatError(f"{path}: cannot read it to name it by its sha256 in OpenVEX: "
                                    f"{e.strerror or e}") from e
        verdicts = [verdict(f.id, f.aliases, [f.module], [f.module], f.to_json(), functions_read.get(path, False))
                    for f in (r.finding for r in reported) if f.file == path]
        docs.append(document(verdicts, binary_name=Path(path).name, sha256=digest))
    return combine(docs)
