from pathlib import Path

import pytest

from fixproof.errors import GoModError
from fixproof.goinfo.gomod import parse_gomod, parse_gosum, read_gomod, read_gosum

from conftest import EXAMPLE

F = Path("go.mod")


def test_example_module():
    mod = read_gomod(EXAMPLE / "go.mod")
    assert (mod.module, mod.go, mod.toolchain) == ("example.com/fixdemo", "1.22", "go1.22.5")
    assert [(r.path, r.version) for r in mod.requires] == [("golang.org/x/text", "v0.3.8")]
    sums = read_gosum(EXAMPLE / "go.sum")
    assert {s.version for s in sums} == {"v0.3.8", "v0.3.8/go.mod"}
    assert read_gomod(EXAMPLE / "go.xtext037.mod").requires[0].version == "v0.3.7"


def test_blocks_comments_replace():
    mod = parse_gomod("""
// a comment
module example.com/m // trailing

go 1.21.3
require (
    golang.org/x/text v0.3.8 // indirect
    github.com/a/b v1.0.0
)
replace github.com/a/b => ../b
replace (
    golang.org/x/net v0.1.0 => golang.org/x/net v0.2.0
)
exclude golang.org/x/sys v0.0.1
""", F)
    assert mod.module == "example.com/m" and mod.go == "1.21.3" and mod.toolchain == ""
    assert mod.requires[0].indirect and not mod.requires[1].indirect
    assert mod.replaces[0].new_path == "../b" and mod.replaces[0].new_version == ""
    assert mod.replaces[1].old_version == "v0.1.0" and mod.replaces[1].new_version == "v0.2.0"


@pytest.mark.parametrize("text, msg", [
    ("go 1.22\n", "no module line"),
    ("module m\nrequire (\n a v1\n", "unterminated"),
    ("module m\nfrobnicate x\n", "unknown directive"),
    ("module m\ngo banana\n", "not a Go release"),
    ("module m\ntoolchain 1.22\n", "must look like go1.22.5"),
    ("module m\nreplace a v1\n", "replace without =>"),
])
def test_malformed_gomod(text, msg):
    with pytest.raises(GoModError, match=msg):
        parse_gomod(text, F)


def test_gosum_malformed_and_missing(tmp_path):
    with pytest.raises(GoModError, match=r"go.sum:2: malformed"):
        parse_gosum("a v1 h1:x=\nbroken line\n", Path("go.sum"))
    assert read_gosum(tmp_path / "absent.sum") == ()
