"""BinFile: bad inputs that need no Go binary (missing, directory, empty, FIFO, dangling link,
unreadable). The corpus of real binaries: tests/integration/test_binfile.py."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import goinfo_corpus as gc  # helpers only (running as nobody); nothing here builds a binary
from conftest import NEEDS_ROOT
from fixproof.errors import BinaryFormatError
from fixproof.goinfo.binfile import BinFile


def _fails(path: Path | str, *words: str) -> str:
    with pytest.raises(BinaryFormatError) as ei:
        BinFile.open(path).close()
    msg = str(ei.value)
    assert "\n" not in msg and str(path) in msg
    for w in words:
        assert w in msg
    return msg


def test_missing_file() -> None:
    _fails("/nonexistent/fixproof-test", "no such file")


def test_directory(tmp_path: Path) -> None:
    _fails(tmp_path, "is a directory")


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty"
    p.write_bytes(b"")
    _fails(p, "empty")


def test_fifo_does_not_hang(tmp_path: Path) -> None:
    p = tmp_path / "fifo"
    os.mkfifo(p)
    result: list[str] = []
    t = threading.Thread(target=lambda: result.append(_fails(p, "not a regular file")), daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "opening a FIFO hung"
    assert result


def test_broken_symlink(tmp_path: Path) -> None:
    p = tmp_path / "dangling"
    p.symlink_to(tmp_path / "nowhere")
    _fails(p, "no such file")


def test_from_bytes_rejects_empty() -> None:
    with pytest.raises(BinaryFormatError):
        BinFile.from_bytes(b"")


@pytest.mark.skipif(not gc.CAN_DROP_PRIVILEGES, reason="needs root and setpriv")
@pytest.mark.allow_skip_in_ci(reason=NEEDS_ROOT)
def test_permission_denied_as_unprivileged_user() -> None:
    with gc.world_readable_dir() as d:
        f = d / "secret"
        f.write_bytes(b"\x7fELF" + b"\0" * 100)
        f.chmod(0)
        code = ("from fixproof.goinfo.binfile import BinFile\n"
                "from fixproof.errors import BinaryFormatError\n"
                "try:\n"
                f"    BinFile.open({str(f)!r})\n"
                "except BinaryFormatError as e:\n"
                "    print(e)\n")
        p = subprocess.run([*gc.AS_NOBODY, sys.executable, "-c", code], capture_output=True, text=True,
                           cwd=gc.REPO, timeout=60)
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == f"{f}: cannot open: permission denied"


def test_a_format_reader_is_imported_with_its_first_file() -> None:
    """The ELF, PE and Mach-O readers are separate modules, loaded on demand: opening an ELF
    loads neither of the others (start-up of `fixproof inspect` on a fleet of ELF binaries)."""
    code = ("import sys\n"
            "from fixproof.errors import BinaryFormatError\n"
            "from fixproof.goinfo.binfile import BinFile\n"
            "readers = ('fixproof.goinfo.elf', 'fixproof.goinfo.pe', 'fixproof.goinfo.macho')\n"
            "assert not any(m in sys.modules for m in readers)\n"
            "try:\n"
            "    BinFile.from_bytes(b'\\x7fELF' + bytes(12), 'tiny')\n"
            "except BinaryFormatError as e:\n"
            "    print(e)\n"
            "print(*(m for m in readers if m in sys.modules))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["tiny: not a Go binary (unrecognized file format: bad ELF ident)",
                                     "fixproof.goinfo.elf"]
