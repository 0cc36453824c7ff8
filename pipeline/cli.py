"""Command-line front end. The only place that exits; maps errors to codes.

Exit codes: 0 all checks passed; 1 a check failed or a vulnerability was
found; 2 usage or configuration error; 3 infrastructure error.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Sequence

from fixproof import __version__
from fixproof.errors import EXIT_INFRA, EXIT_USAGE, FixproofError


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, with the terminal width found as shutil.get_terminal_size finds it but
    without importing shutil (argparse makes a formatter for every option it adds: start-up time)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        if width is None:
            width = _terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


def _terminal_columns() -> int:
    import os

    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> None:  # argparse exits 2 by itself; keep the wording ours
        self.print_usage(sys.stderr)
        sys.stderr.write(f"fixproof: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _verbosity_options(parser: argparse.ArgumentParser, default: object) -> None:
    """-q/-v, given before or after the command (``fixproof -q verify`` or ``fixproof verify -q``)."""
    g = parser.add_mutually_exclusive_group()
    g.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=0, default=default,
                   help="show only errors and the final summary")
    g.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=2, default=default,
                   help="also show details: doit's own task lines; on a terminal, every message kept in the scrollback")


COMMANDS = ("init", "verify", "merge", "inspect", "vulns", "evidence")


def _command_of(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names, when it comes after top-level options only (else None)."""
    for a in argv:
        if a in COMMANDS:
            return a
        if a not in ("-q", "--quiet", "-v", "--verbose"):
            return None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; ``only``: the arguments of that command only (the others are listed, with
    their help, but take none): what a run needs, without building every command's options."""
    p = _Parser(prog="fixproof", description="Prove that a Go security fix really shipped.")
    p.add_argument("--version", action="version", version=f"fixproof {__version__}")
    _verbosity_options(p, default=1)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def wanted(name: str) -> bool:
        return only is None or only == name

    v = sub.add_parser("verify", help="run the verification task graph")
    if wanted("verify"):
        _verify_options(v)
    n = sub.add_parser("init", help="write a commented fixproof.toml for a Go module")
    if wanted("init"):
        _init_options(n)
    m = sub.add_parser("merge", help="combine the report directories of `verify --shard` runs into one")
    if wanted("merge"):
        _merge_options(m)
    i = sub.add_parser("inspect", help="what a Go binary says about itself")
    if wanted("inspect"):
        _inspect_options(i)
    u = sub.add_parser("vulns", help="known vulnerabilities in Go binaries")
    if wanted("vulns"):
        _vulns_options(u)
    e = sub.add_parser("evidence", help="work with evidence bundles")
    if wanted("evidence"):
        _evidence_options(e)
    return p


def _verify_options(v: argparse.ArgumentParser) -> None:
    _verbosity_options(v, default=argparse.SUPPRESS)  # unset unless given here: the top-level value stands
    v.add_argument("-c", "--config", default=None, help="config file (default: ./fixproof.toml)")
    v.add_argument("--artifact", default=None, help="shipped binary to compare with the clean rebuild")
    v.add_argument("--junit", default=None, help="where to write the JUnit XML (default: <reports>/junit.xml)")
    v.add_argument("--evidence", default=None, help="directory for the evidence bundle (default: <reports>/evidence)")
    v.add_argument("--db", default=None,
                   help="vulnerability database URL (https://, http://, file:// or a directory); "
                        "default: $FIXPROOF_VULNDB, else fix.db")
    v.add_argument("--only", nargs="+", default=None, metavar="STAGE", help="run only these stages (and what they need)")
    v.add_argument("-n", "--jobs", type=int, default=None, metavar="N",
                   help="run up to N independent tasks at once: stages that need the same earlier stage, and the "
                        "apps of a fleet, side by side (default 2; 1: one task at a time)")
    v.add_argument("--shard", default=None, metavar="K/N",
                   help="verify only the K-th of N disjoint parts of a fleet config (one CI job each)")
    v.add_argument("--timings", default=None, metavar="FILE",
                   help="with --shard: balance the parts by the app durations in an earlier run's summary.json")
    v.add_argument("--no-wait", dest="wait", action="store_false",
                   help="fail at once (exit 3) when another run is using the report directory, instead of waiting")



def _merge_options(m: argparse.ArgumentParser) -> None:
    m.add_argument("out", metavar="OUT", help="directory for the merged fleet report (new, empty, or an earlier merge's)")
    m.add_argument("dirs", nargs="+", metavar="DIR", help="the report directory of each shard (every shard, once)")


def _init_options(n: argparse.ArgumentParser) -> None:
    _verbosity_options(n, default=argparse.SUPPRESS)
    n.add_argument("directory", nargs="?", default=".", metavar="DIR",
                   help="the Go module (the directory with go.mod; default: .); the config is written there")
    n.add_argument("--force", action="store_true", help="replace an existing fixproof.toml")
    n.add_argument("--no-scan", dest="scan", action="store_false",
                   help="skip the first build, so propose no [fix] advisories")


def _inspect_options(i: argparse.ArgumentParser) -> None:
    i.add_argument("paths", nargs="+", metavar="BIN", help="Go binaries (ELF, PE, Mach-O) or directories to walk")
    i.add_argument("--json", action="store_true", dest="as_json", help="a JSON list, one object per file")
    i.add_argument("--symbols", action="store_true", help="also list the functions in the binary (pclntab)")
    i.add_argument("--itabs", action="store_true",
                   help="also list the itabs (concrete type, interface pairs) the runtime starts with")


def _vulns_options(u: argparse.ArgumentParser) -> None:
    u.add_argument("paths", nargs="+", metavar="BIN", help="Go binaries")
    u.add_argument("--db", default=None, help="vulnerability database URL (https://, http:// or file://)")
    u.add_argument("--waivers", default=None, help="waivers file (TOML)")
    u.add_argument("--json", action="store_true", dest="as_json", help="a JSON list of findings (--format json)")
    u.add_argument("--format", default=None, choices=("text", "json", "sarif", "openvex"), dest="fmt",
                   help="text (default), json, sarif (for code scanning) or openvex")


def _evidence_options(e: argparse.ArgumentParser) -> None:
    esub = e.add_subparsers(dest="evidence_command", required=True, parser_class=_Parser)
    ev = esub.add_parser("verify", help="re-hash a bundle (or a merge's evidence index) against its manifest")
    ev.add_argument("bundle", metavar="DIR",
                    help="an evidence bundle written by fixproof verify, or the evidence/ index of fixproof merge")
    ev.add_argument("--public-key", default=None, metavar="PEM",
                    help="Ed25519 public key the bundle must be signed with (proves who signed)")


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "inspect":
        from fixproof import inspect_cmd

        return inspect_cmd.run(args.paths, as_json=args.as_json, symbols=args.symbols,
                               out=sys.stdout, err=sys.stderr, itabs=args.itabs)
    if args.command == "vulns":
        from fixproof import vulns_cmd

        if args.as_json and args.fmt not in (None, "json"):
            from fixproof.errors import UsageError

            raise UsageError(f"--json and --format {args.fmt} ask for two outputs; give one (--json is --format json).")
        return vulns_cmd.run(args.paths, db=args.db, waivers=args.waivers, as_json=args.as_json,
                             out=sys.stdout, err=sys.stderr, fmt=args.fmt)
    if args.command == "verify":
        from fixproof import verify_cmd

        return verify_cmd.run(config=args.config, artifact=args.artifact, junit=args.junit,
                              evidence=args.evidence, only=args.only, jobs=args.jobs,
                              verbosity=args.verbosity, wait=args.wait, db=args.db, shard=args.shard,
                              timings=args.timings)
    if args.command == "merge":
        from fixproof import merge_cmd

        return merge_cmd.run(args.out, args.dirs)
    if args.command == "init":
        from fixproof import init_cmd

        return init_cmd.run(args.directory, force=args.force, scan=args.scan, out=sys.stdout, err=sys.stderr,
                            verbosity=args.verbosity)
    if args.command == "evidence":
        return _evidence_verify(args.bundle, args.public_key)
    raise AssertionError(args.command)


def _evidence_verify(bundle: str, public_key: str | None = None) -> int:
    """Exit 0 when every file matches manifest.json (and the signature holds), 1 listing each file added,
    removed or changed and any signature problem; 2 for a bad --public-key file."""
    from pathlib import Path

    from fixproof.errors import EXIT_FAILED, UsageError
    from fixproof.publish.evidence_check import check_bundle
    from fixproof.publish.evidence_index import is_index
    from fixproof.publish.evidence_layout import MANIFEST_JSON
    from fixproof.signing import load_public_key

    root = Path(bundle)
    key = load_public_key(Path(public_key)) if public_key else None
    if not root.is_dir():
        raise UsageError(f"{bundle} is not a directory; give the bundle written by `fixproof verify`.")
    if is_index(root):
        return _evidence_index_verify(root, key)
    result = check_bundle(root, key)
    for line in result.problems:
        sys.stdout.write(f"{root}/{line}\n")
    if result.problems:
        sys.stderr.write(f"fixproof: evidence bundle {root} does not match its {MANIFEST_JSON}: "
                         f"{len(result.problems)} problem(s).\n")
        return EXIT_FAILED
    sys.stdout.write(f"{root}: intact ({result.files} files match {MANIFEST_JSON}); "
                     f"evidence digest sha256:{result.evidence_digest}\n")
    if result.signature == "checked":
        sys.stdout.write(f"{root}: signature valid, signed by {result.signer} (the key given with --public-key)\n")
    elif result.signature == "embedded":
        sys.stdout.write(f"{root}: signed, but the signer was not checked: the signature matches the public key "
                         f"recorded in the bundle ({result.signer}); pass --public-key PEM to prove who signed\n")
    else:
        sys.stdout.write(f"{root}: not signed\n")
    return 0


def _evidence_index_verify(root, key) -> int:
    """A merge's evidence index: every listed bundle and the index's own MANIFEST.sha256."""
    from fixproof.errors import EXIT_FAILED
    from fixproof.publish.evidence_index import INDEX, check_index

    result = check_index(root, key)
    for line in result.problems:
        sys.stdout.write(f"{root}/{line}\n")
    if result.problems:
        sys.stderr.write(f"fixproof: evidence index {root} does not hold: {len(result.problems)} problem(s).\n")
        return EXIT_FAILED
    for b in result.bundles:
        signed = f", signed by {b.signer}" if b.signer else ""
        sys.stdout.write(f"{root}/{b.app}: intact ({b.files} files); evidence digest sha256:{b.evidence_digest}{signed}\n")
    sys.stdout.write(f"{root}: intact ({len(result.bundles)} bundles; {result.files} files match {INDEX} "
                     "and MANIFEST.sha256)\n")
    return 0


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (a cancelled CI job) unwinds like Ctrl-C, so containers are removed."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(_command_of(sys.argv[1:] if argv is None else argv)).parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    # Ctrl-C (or kill -INT) interrupts a run even where SIGINT was inherited as ignored, as it is by a
    # background job of a shell script: every interrupt removes the run's containers the same way
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return _dispatch(args)
    except FixproofError as e:
        sys.stderr.write(f"fixproof: {e}\n")
        return e.exit_code
    except KeyboardInterrupt:
        from fixproof.engine.docker import remove_live_containers

        remove_live_containers()  # those of worker threads, which the interrupt does not reach
        sys.stderr.write("fixproof: interrupted; containers started by this run were removed.\n")
        return EXIT_INFRA
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
