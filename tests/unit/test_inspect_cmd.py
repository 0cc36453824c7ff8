"""`fixproof inspect` text output on constructed build info (the command on real binaries:
tests/integration/test_inspect_cmd.py)."""

from __future__ import annotations


def test_text_output_splits_lines_on_newline_only():
    """A -X value holding U+2028 (a Unicode line separator) stays on its line, as in go version -m."""
    from fixproof.goinfo.buildinfo import BuildInfo
    from fixproof.inspect_cmd import render_text

    bi = BuildInfo(file="app", format="elf", goos="linux", goarch="amd64", go_version="go1.22.5", path="example.com/app",
                   main=None, deps=(), settings=(("-ldflags", "-X=main.v=a\u2028b\u0085c"), ("CGO_ENABLED", "0")))
    text = render_text(bi)  # no space in the value: go prints it unquoted, separators and all
    assert text.split("\n") == ["app: go1.22.5", "\tpath\texample.com/app", "\tbuild\t-ldflags=-X=main.v=a\u2028b\u0085c",
                                 "\tbuild\tCGO_ENABLED=0", ""], text
