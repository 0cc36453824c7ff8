import pytest

from fixproof.engine.proc import call, require_tool
from fixproof.errors import ToolError


def test_call_captures_output():
    r = call(["sh", "-c", "echo out; echo err >&2"], timeout=10)
    assert (r.returncode, r.stdout, r.stderr) == (0, "out\n", "err\n")


def test_failure_names_the_command_and_its_last_lines():
    with pytest.raises(ToolError, match=r"exit code 3: boom"):
        call(["sh", "-c", "echo boom >&2; exit 3"], timeout=10)
    assert call(["sh", "-c", "exit 3"], timeout=10, check=False).returncode == 3


def test_timeout_and_missing_tool():
    with pytest.raises(ToolError, match="did not finish within 1 s"):
        call(["sleep", "5"], timeout=1)
    with pytest.raises(ToolError, match="not installed"):
        call(["fixproof-no-such-tool"], timeout=5)
    with pytest.raises(ToolError, match="install it"):
        require_tool("fixproof-no-such-tool", "install it")
