"""Headlines carry the decisive line of a tool's output (stages.common.decisive_line)."""

from fixproof.stages.common import decisive_line

CHECKSUM = """go: downloading golang.org/x/text v0.3.8
verifying golang.org/x/text@v0.3.8: checksum mismatch
\tdownloaded: h1:nAL+RVCQ9uMn3vJZbV+MRnydTJFPf8qqY42YiA6MrqY=
\tgo.sum:     h1:AAAARVCQ9uMn3vJZbV+MRnydTJFPf8qqY42YiA6MrqY=

SECURITY ERROR
This download does NOT match an earlier download recorded in go.sum.

For more information, see 'go help module-auth'.
"""


def test_checksum_mismatch_is_the_headline_not_the_help_pointer():
    assert decisive_line(CHECKSUM) == "verifying golang.org/x/text@v0.3.8: checksum mismatch"


def test_missing_sum_and_unknown_lines():
    assert decisive_line("go: downloading x v1\nmissing go.sum entry for module providing package x\n") \
        == "missing go.sum entry for module providing package x"
    assert decisive_line("something odd happened\nFor more information, see 'go help x'.\n") == "something odd happened"
    assert decisive_line("", "exit code 1") == "exit code 1"
