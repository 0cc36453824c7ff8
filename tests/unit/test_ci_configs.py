"""The CI configurations users copy (action.yml, ci/github, ci/gitlab, ci/jenkins) stay honest.

Every `fixproof ...` command they run is pulled out of the shell they run it
in, with variables and ${{ }} expressions replaced by the values the config
itself sets (else plausible ones), and must parse with the real CLI parser;
every `make` target must exist in the Makefile; the JUnit path each config
publishes must be the one its command writes. The action's shell steps are
also run for real with a fake `fixproof`, to check the mode it picks, the
arguments it passes, the paths it uploads and the exit code it ends with.
The negative tests at the end show the checkers reject what they should.
The action's inspect branch with the real fixproof on a real Go binary:
tests/integration/test_ci_configs.py.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable, Iterable, Mapping

import pytest
import yaml

from conftest import EXAMPLE, ROOT, write_config
from fixproof import tasks
from fixproof.cli import build_parser

ACTION = ROOT / "action.yml"
WORKFLOW = ROOT / "ci" / "github" / "fixproof.yml"
GITLAB = ROOT / "ci" / "gitlab" / ".gitlab-ci.yml"
JENKINSFILE = ROOT / "ci" / "jenkins" / "Jenkinsfile"
MAKEFILE = ROOT / "Makefile"
JUNIT_PUBLISHER = "mikepenz/action-junit-report"
BASH = shutil.which("bash") or "/bin/bash"

# Values for variables a config does not set itself, chosen by name.
PLAUSIBLE = (
    ("junit", "reports/junit.xml"), ("evidence", "reports/evidence"), ("config", "fixproof.toml"),
    ("artifact", "dist/app"), ("stages", "toolchain vulns"), ("waivers", "waivers.toml"),
    ("vulndb", "file:///srv/vulndb"), ("mode", "auto"), ("docker", "yes"), ("python-version", "3.12"),
    ("working-directory", "."), ("ci_project_dir", "/builds/group/app"), ("workspace", "/var/lib/jenkins/ws"),
)


def plausible(name: str) -> str:
    low = name.lower().replace("_", "-")
    for key, value in PLAUSIBLE:
        if key.replace("_", "-") in low:
            return value
    return "value"


# -- shell: expand, then split into simple commands -------------------------------------


def _strip_heredocs(script: str) -> str:
    """Drop heredoc bodies (e.g. the Python fed to `python - <<'PY'`): they are not shell."""
    out: list[str] = []
    end: str | None = None
    for line in script.splitlines():
        if end is not None:
            if line.strip() == end:
                end = None
            continue
        m = re.search(r"<<-?\s*(['\"]?)(\w+)\1", line)
        if m:
            end = m.group(2)
            line = line[:m.start()] + line[m.end():]
        out.append(line)
    return "\n".join(out)


def _replace_command_substitutions(line: str) -> str:
    """$( ... ) (balanced) becomes one placeholder word; what it runs is not a command line here."""
    out, i = [], 0
    while i < len(line):
        if line.startswith("$(", i):
            depth, j = 1, i + 2
            while j < len(line) and depth:
                depth += {"(": 1, ")": -1}.get(line[j], 0)
                j += 1
            out.append("SUBST")
            i = j
        else:
            out.append(line[i])
            i += 1
    return "".join(out)


def expand(text: str, env: Mapping[str, str], expr: Callable[[str], str] | None = None) -> str:
    """Shell parameter expansion, far enough for CI scripts; ${{ expr }} through `expr`."""
    if expr is not None:
        text = re.sub(r"\$\{\{\s*(.*?)\s*\}\}", lambda m: expr(m.group(1)), text)

    def value(name: str) -> str:
        return env[name] if name in env else plausible(name)

    def braced(m: re.Match) -> str:
        name, op, word = m.group(1), m.group(2), m.group(3)
        if name.startswith("#") or "[" in name:
            return "0"
        if op == ":+":
            return expand(word, env) if value(name) else ""
        if op == ":-":
            return value(name) or expand(word, env)
        return value(name)

    prev = None
    while prev != text:  # innermost ${...} first
        prev = text
        text = re.sub(r"\$\{([#\w\[\]@]+)(:[+\-?]|)([^{}]*)\}", braced, text)
    text = re.sub(r"\$([A-Za-z_]\w*)", lambda m: value(m.group(1)), text)
    return re.sub(r"\$[?#@*0-9]", "0", text)


_OPERATORS = {";", ";;", "&&", "||", "|", "&", "(", ")", "!", "{", "}"}
_KEYWORDS = {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "for", "exec", "command",
             "time", "case", "esac", "in"}
_REDIRECTION = re.compile(r"""\d*(?:>>?|<)&?\s*(?:"[^"]*"|'[^']*'|[^\s;|&)]+)|&>\s*\S+""")


def shell_commands(script: str, env: Mapping[str, str],
                   expr: Callable[[str], str] | None = None) -> list[list[str]]:
    """The simple commands of a script (each as its words), after expansion."""
    script = re.sub(r"\\\n", " ", _strip_heredocs(script))
    commands: list[list[str]] = []
    for raw in script.splitlines():
        line = _replace_command_substitutions(expand(raw, env, expr))
        line = _REDIRECTION.sub(" ", line)
        lex = shlex.shlex(line, posix=True, punctuation_chars=";&|()")
        lex.whitespace_split = True
        lex.commenters = "#"
        try:
            words = list(lex)
        except ValueError as e:  # an unbalanced quote is a broken config
            raise AssertionError(f"cannot split {raw!r}: {e}") from e
        current: list[str] = []
        for w in [*words, ";"]:
            if w in _OPERATORS:
                if current:
                    commands.append(current)
                current = []
            elif not current and (w in _KEYWORDS or re.fullmatch(r"\w+=.*", w)):
                continue  # `then cmd`, `X=1 cmd`
            else:
                current.append(w)
    return commands


def fixproof_args(commands: Iterable[list[str]]) -> list[list[str]]:
    """The arguments of every command that runs fixproof (any path ending in /fixproof)."""
    return [c[1:] for c in commands if c and (c[0] == "fixproof" or c[0].endswith("/fixproof"))]


def make_targets(commands: Iterable[list[str]]) -> list[str]:
    targets: list[str] = []
    for c in commands:
        if not c or Path(c[0]).name != "make":
            continue
        words = iter(c[1:])
        for w in words:
            if w in ("-C", "-f", "-j", "-I", "--directory", "--file"):
                next(words, None)
            elif w.startswith("-") or "=" in w:
                continue
            else:
                targets.append(w)
    return targets


# -- the checkers ------------------------------------------------------------------------


def fixproof_error(args: list[str]) -> str | None:
    """None when the real CLI accepts `fixproof ARGS` (and its stage names), else why not."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            ns = build_parser().parse_args(args)
    except SystemExit as e:
        if e.code == 0:  # --version, --help
            return None
        return f"fixproof {shlex.join(args)}: {err.getvalue().strip() or f'exit {e.code}'}"
    unknown = [s for s in (getattr(ns, "only", None) or []) if s not in tasks.STAGES]
    if unknown:
        return f"fixproof {shlex.join(args)}: unknown stage {unknown[0]!r} (stages: {', '.join(tasks.STAGES)})"
    return None


def makefile_targets(makefile: Path = MAKEFILE) -> set[str]:
    names: set[str] = set()
    for line in makefile.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-/]+(?:\s+[A-Za-z0-9_.\-/]+)*)\s*:(?!=)", line)
        if m and not line.startswith("\t"):
            names.update(m.group(1).split())
        if line.startswith(".PHONY:"):
            names.update(line.split(":", 1)[1].split())
    return names - {".PHONY"}


def make_error(target: str, makefile: Path = MAKEFILE) -> str | None:
    return None if target in makefile_targets(makefile) else f"make {target}: no such target in {makefile.name}"


def check_commands(commands: list[list[str]], *, makefile: Path = MAKEFILE) -> list[str]:
    errors = [e for a in fixproof_args(commands) if (e := fixproof_error(a))]
    errors += [e for t in make_targets(commands) if (e := make_error(t, makefile))]
    return errors


def flag_value(args: list[str], *flags: str) -> str | None:
    for i, a in enumerate(args):
        if a in flags and i + 1 < len(args):
            return args[i + 1]
        for f in flags:
            if a.startswith(f + "="):
                return a.split("=", 1)[1]
    return None


def norm(path: str) -> str:
    return os.path.normpath(path.strip().rstrip("/"))


def covered(path: str, patterns: Iterable[str]) -> bool:
    """Is `path` (a file or directory) uploaded by one of these artifact paths or globs?"""
    p = norm(path)
    for pat in patterns:
        q = norm(pat)
        if p == q or p.startswith(q + os.sep) or fnmatch.fnmatch(p + "/x", q) or fnmatch.fnmatch(p, q):
            return True
    return False


# -- GitHub: the action ------------------------------------------------------------------


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def composite_problems(action: dict) -> list[str]:
    """What makes an action.yml not a valid composite action (the parts GitHub enforces and ours)."""
    problems: list[str] = []
    runs = action.get("runs") or {}
    if runs.get("using") != "composite":
        problems.append(f"runs.using is {runs.get('using')!r}, not 'composite'")
    for key in ("name", "description"):
        if not action.get(key):
            problems.append(f"{key} is missing")
    inputs = action.get("inputs") or {}
    steps = runs.get("steps") or []
    if not steps:
        problems.append("runs.steps is empty")
    ids: list[str] = []
    for i, step in enumerate(steps):
        where = f"step {i} ({step.get('name', step.get('id', '?'))})"
        if ("run" in step) == ("uses" in step):
            problems.append(f"{where}: needs exactly one of run and uses")
        if "run" in step:
            if not step.get("shell"):
                problems.append(f"{where}: a run step of a composite action needs shell:")
            if "${{" in step["run"]:
                problems.append(f"{where}: ${{{{ }}}} inside run: (pass it through env: instead)")
        if "uses" in step and "@" not in step["uses"] and not step["uses"].startswith("./"):
            problems.append(f"{where}: uses {step['uses']} without a pinned ref")
        text = json.dumps(step)
        for name in re.findall(r"\binputs\.([\w-]+)", text):
            if name not in inputs:
                problems.append(f"{where}: inputs.{name} is not declared")
        for sid in re.findall(r"\bsteps\.([\w-]+)\.", text):
            if sid not in ids:
                problems.append(f"{where}: steps.{sid} is not an earlier step")
        if step.get("id"):
            ids.append(step["id"])
    for name, out in (action.get("outputs") or {}).items():
        if "value" not in out:
            problems.append(f"output {name}: a composite action's output needs value:")
    return problems


def action_inputs(action: dict, given: Mapping[str, str] | None = None, *, fill: bool = False) -> dict[str, str]:
    """Input values: the given ones, else the defaults; with fill, empty ones get plausible values."""
    values = {}
    for name, spec in (action.get("inputs") or {}).items():
        v = str((given or {}).get(name, spec.get("default", "")))
        values[name] = plausible(name) if fill and v == "" else v
    return values


def action_commands(action: dict, inputs: Mapping[str, str]) -> list[list[str]]:
    """The commands the action's run steps execute with these inputs."""
    def expr(e: str) -> str:
        m = re.fullmatch(r"inputs\.([\w-]+)", e)
        if m:
            return inputs.get(m.group(1), "")
        m = re.fullmatch(r"steps\.[\w-]+\.outputs\.([\w-]+)", e)
        return plausible(m.group(1)) if m else "value"

    commands: list[list[str]] = []
    for step in action["runs"]["steps"]:
        if "run" in step:
            env = {k: expand(str(v), {}, expr) for k, v in (step.get("env") or {}).items()}
            commands += shell_commands(step["run"], env, expr)
    return commands


@pytest.fixture(scope="module")
def action() -> dict:
    return load_yaml(ACTION)


def test_action_is_a_valid_composite_action(action):
    assert composite_problems(action) == []


def test_action_commands_parse_with_defaults_and_with_every_input_set(action):
    for inputs in (action_inputs(action), action_inputs(action, fill=True)):
        commands = action_commands(action, inputs)
        args = fixproof_args(commands)
        assert [a[0] for a in args if a and not a[0].startswith("-")].count("verify") == 1, args
        assert {"inspect", "vulns"} <= {a[0] for a in args if a}, args
        assert check_commands(commands) == []


def test_action_with_every_input_set_passes_each_to_verify(action):
    verify = next(a for a in fixproof_args(action_commands(action, action_inputs(action, fill=True)))
                  if a and a[0] == "verify")
    assert flag_value(verify, "-c", "--config") == "fixproof.toml"
    assert flag_value(verify, "--artifact") == "dist/app"
    assert flag_value(verify, "--junit") == action["inputs"]["junit"]["default"]
    assert flag_value(verify, "--evidence") == action["inputs"]["evidence"]["default"]
    assert verify[verify.index("--only") + 1:][:2] == ["toolchain", "vulns"]


def test_action_uploads_always_and_names_fixproof_outputs(action):
    steps = action["runs"]["steps"]
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    sarif = [s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@")]
    assert uploads and sarif
    for s in uploads + sarif:
        assert "always()" in s["if"], s
    assert "steps.run.outputs.paths" in uploads[0]["with"]["path"]
    assert "inputs.upload-sarif == 'true'" in sarif[0]["if"]
    last = steps[-1]
    assert "always()" in last["if"] and 'exit "$FP_RC"' in last["run"], "the last step must end with fixproof's code"
    assert set(action["outputs"]) >= {"exit-code", "mode", "junit", "sarif", "evidence", "docker", "dtrace"}


# -- the action's shell steps, run for real with a fake fixproof --------------------------


FAKE_FIXPROOF = r"""#!/usr/bin/env python3
import json, os, sys
from pathlib import Path
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps(args) + "\n")
if args[:1] == ["verify"]:
    def value(flag):
        return args[args.index(flag) + 1] if flag in args else None
    if os.environ.get("FAKE_WRITE", "1") == "1":
        junit = value("--junit") or "reports/junit.xml"
        Path(junit).parent.mkdir(parents=True, exist_ok=True)
        Path(junit).write_text("<testsuites/>")
        if value("--evidence"):
            Path(value("--evidence")).mkdir(parents=True, exist_ok=True)
            (Path(value("--evidence")) / "MANIFEST.sha256").write_text("")
        Path("reports").mkdir(exist_ok=True)
        sarif = Path("reports/apps/edge/fixproof.sarif" if os.environ.get("FAKE_FLEET") else "reports/fixproof.sarif")
        sarif.parent.mkdir(parents=True, exist_ok=True)
        sarif.write_text(json.dumps({"category": os.environ.get("FIXPROOF_SARIF_CATEGORY")}))
        Path("reports/summary.json").write_text(json.dumps({
            "status": "failed", "counts": {"tests": 3, "failures": 1, "errors": 0, "skipped": 0},
            "stages": {"vulns": [{"name": "GO-2024-2963", "status": "failed", "message": "still linked"}]}}))
elif args[:1] in (["inspect"], ["vulns"]):
    print(f"fake {args[0]} of {args[-1]}")
sys.exit(int(os.environ.get("FAKE_RC_" + (args[0] if args else "none").upper(), os.environ.get("FAKE_RC", "0"))))
"""

FAKE_PYTHON = """#!/bin/sh
# The engine check asks the docker client; answer as FAKE_OSTYPE says. Anything else: the real Python.
case "$2" in
  *"import docker"*) [ -n "$FAKE_OSTYPE" ] && echo "$FAKE_OSTYPE" && exit 0; exit 1 ;;
esac
exec {python} "$@"
"""


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def read_outputs(path: Path) -> dict[str, str]:
    """$GITHUB_OUTPUT: name=value lines and name<<DELIM ... DELIM blocks."""
    out: dict[str, str] = {}
    lines = iter(path.read_text().splitlines()) if path.exists() else iter(())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            body = []
            for b in lines:
                if b == delim:
                    break
                body.append(b)
            out[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
    return out


class ActionRunner:
    """Runs one of the action's run: steps the way GitHub does (bash -eo pipefail), env from its env: map."""

    def __init__(self, action: dict, tmp: Path):
        self.action, self.tmp = action, tmp
        self.bin = tmp / "fakebin"
        self.bin.mkdir()
        _executable(self.bin / "fixproof", FAKE_FIXPROOF.replace("/usr/bin/env python3", sys.executable))
        _executable(self.bin / "python", FAKE_PYTHON.format(python=sys.executable))
        self.log = tmp / "fixproof-calls.jsonl"
        self.work = tmp / "work"
        self.work.mkdir()

    def step(self, step_id: str) -> dict:
        return next(s for s in self.action["runs"]["steps"] if s.get("id") == step_id or s.get("name") == step_id)

    def run(self, step_id: str, inputs: Mapping[str, str] = {}, outputs: Mapping[str, str] = {},
            extra_env: Mapping[str, str] = {}, path: str | None = None) -> tuple[subprocess.CompletedProcess, dict]:
        step = self.step(step_id)
        values = action_inputs(self.action, inputs)

        def expr(e: str) -> str:
            m = re.fullmatch(r"inputs\.([\w-]+)", e)
            if m:
                return values[m.group(1)]
            m = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", e)
            if m:
                return outputs.get(m.group(2), str(self.bin) if m.group(2) == "bin" else "")
            raise AssertionError(f"unexpected expression {e!r} in {step_id}")

        out_file = self.tmp / f"{step_id}.out"
        summary = self.tmp / "summary.md"
        out_file.unlink(missing_ok=True)
        env = {"PATH": path or f"{self.bin}:/usr/bin:/bin", "HOME": str(self.tmp), "RUNNER_OS": "Linux",
               "RUNNER_ARCH": "X64", "RUNNER_TEMP": str(self.tmp), "GITHUB_OUTPUT": str(out_file),
               "GITHUB_STEP_SUMMARY": str(summary), "FAKE_LOG": str(self.log), **extra_env}
        env.update({k: expand(str(v), {}, expr) for k, v in (step.get("env") or {}).items()})
        script = self.tmp / f"{step_id}.sh"
        script.write_text(step["run"])
        cwd = self.work / expand(step.get("working-directory", "."), {}, expr)
        p = subprocess.run([BASH, "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=cwd, env=env,
                           capture_output=True, text=True, timeout=60)
        return p, read_outputs(out_file)

    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []


@pytest.fixture
def runner(action, tmp_path) -> ActionRunner:
    return ActionRunner(action, tmp_path)


def test_detect_finds_a_linux_engine(runner):
    p, out = runner.run("detect", extra_env={"FAKE_OSTYPE": "linux"})
    assert p.returncode == 0, p.stderr
    assert out["docker"] == "yes" and out["dtrace"] == "n/a"


def test_detect_does_not_take_a_windows_engine_for_one(runner):
    p, out = runner.run("detect", extra_env={"FAKE_OSTYPE": "windows"})
    assert p.returncode == 0, p.stderr
    assert out["docker"] == "no"
    assert "'windows' containers" in (runner.tmp / "summary.md").read_text()


def test_detect_on_macos_reports_dtrace(runner):
    p, out = runner.run("detect", extra_env={"RUNNER_OS": "macOS"}, path=str(runner.bin))
    assert p.returncode == 0, p.stderr
    assert out == {"docker": "no", "dtrace": "absent"}
    _executable(runner.bin / "dtrace", "#!/bin/sh\necho 'dtrace: system integrity protection is on, some features"
                                      " will not be available' >&2\n")
    _executable(runner.bin / "sudo", '#!/bin/sh\n[ "$1" = -n ] && shift\nexec "$@"\n')
    p, out = runner.run("detect", extra_env={"RUNNER_OS": "macOS"}, path=str(runner.bin))
    assert out["dtrace"] == "restricted", p.stderr
    _executable(runner.bin / "dtrace", "#!/bin/sh\nexit 0\n")
    p, out = runner.run("detect", extra_env={"RUNNER_OS": "macOS"}, path=str(runner.bin))
    assert out["dtrace"] == "usable", p.stderr


def test_run_with_docker_verifies_and_keeps_the_exit_code(runner):
    cfg = write_config(runner.work, EXAMPLE)
    cfg.write_text(cfg.read_text().replace(f'dir = "{runner.work / "reports"}"', 'dir = "reports"'))
    p, out = runner.run("run", inputs={"config": cfg.name}, outputs={"docker": "yes"}, extra_env={"FAKE_RC": "1"})
    assert p.returncode == 0, p.stderr  # the code is kept for the last step, after the uploads
    assert runner.calls() == [["verify", "-c", "fixproof.toml", "--junit", "reports/junit.xml",
                               "--evidence", "reports/evidence"]]
    assert fixproof_error(runner.calls()[0]) is None
    assert out["exit-code"] == "1" and out["mode"] == "verify"
    reports = runner.work / "reports"
    assert out["junit"] == str(reports / "junit.xml")  # the path the command wrote is the one published
    assert out["evidence"] == str(reports / "evidence")
    assert out["sarif"] == str(reports / "fixproof.sarif")
    assert set(out["paths"].splitlines()) == {str(reports / n) for n in
                                             ("junit.xml", "evidence", "summary.json", "fixproof.sarif")}
    summary = (runner.tmp / "summary.md").read_text()
    assert "**FAILED**: 3 checks, 1 failed" in summary and "GO-2024-2963" in summary


def test_run_gives_the_sarif_category_to_fixproof(runner):
    """#15.1: the sarif-category input went only to upload-sarif, which ignores it when the SARIF names its
    own automationDetails.id; fixproof must write the category into the SARIF."""
    cfg = write_config(runner.work, EXAMPLE)
    cfg.write_text(cfg.read_text().replace(f'dir = "{runner.work / "reports"}"', 'dir = "reports"'))
    p, out = runner.run("run", inputs={"sarif-category": "linux-arm64"}, outputs={"docker": "yes"})
    assert p.returncode == 0, p.stderr
    assert json.loads(Path(out["sarif"]).read_text()) == {"category": "linux-arm64"}
    upload = next(s for s in runner.action["runs"]["steps"]
                  if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@"))
    assert "category" not in upload["with"]  # a second, different category would only mislead


def test_run_uploads_each_fleet_apps_sarif(runner):
    """#15.1: a fleet config got no SARIF upload at all."""
    cfg = write_config(runner.work, EXAMPLE)
    cfg.write_text(cfg.read_text().replace(f'dir = "{runner.work / "reports"}"', 'dir = "reports"'))
    p, out = runner.run("run", outputs={"docker": "yes"}, extra_env={"FAKE_FLEET": "1"})
    assert p.returncode == 0, p.stderr
    assert out["sarif"] == str(runner.work / "reports" / "apps")
    assert str(runner.work / "reports" / "apps" / "edge" / "fixproof.sarif") in out["paths"].splitlines()


def test_run_passes_artifact_and_stages(runner):
    p, out = runner.run("run", inputs={"artifact": "dist/my app", "stages": "toolchain binary"},
                        outputs={"docker": "yes"})
    assert p.returncode == 0, p.stderr
    assert runner.calls() == [["verify", "--artifact", "dist/my app", "--junit", "reports/junit.xml",
                               "--evidence", "reports/evidence", "--only", "toolchain", "binary"]]
    assert out["exit-code"] == "0"


def test_run_does_not_upload_reports_left_by_an_earlier_run(runner):
    stale = runner.work / "reports" / "junit.xml"
    stale.parent.mkdir()
    stale.write_text("<testsuites/>")
    (stale.parent / "evidence").mkdir()
    for old in (stale, stale.parent / "evidence"):
        os.utime(old, (1_000_000_000, 1_000_000_000))
    p, out = runner.run("run", outputs={"docker": "yes"}, extra_env={"FAKE_RC": "2", "FAKE_WRITE": "0"})
    assert p.returncode == 0, p.stderr
    assert out["exit-code"] == "2" and out["junit"] == "" and out["evidence"] == "" and "paths" not in out


def test_run_without_docker_inspects_the_artifact(runner):
    p, out = runner.run("run", inputs={"artifact": "dist/app"}, outputs={"docker": "no"},
                        extra_env={"FAKE_RC_VULNS": "1"})
    assert p.returncode == 0, p.stderr
    calls = runner.calls()
    assert calls == [["inspect", "dist/app"], ["inspect", "--json", "dist/app"], ["vulns", "dist/app"],
                     ["vulns", "--json", "dist/app"]]
    assert all(fixproof_error(c) is None for c in calls)
    assert out["mode"] == "inspect" and out["exit-code"] == "1"  # the worst of the four
    assert out["junit"] == "" and out["sarif"] == ""  # nothing pretends verify ran
    assert {Path(p).name for p in out["paths"].splitlines()} == {"inspect.txt", "inspect.json", "vulns.txt",
                                                                "vulns.json"}
    assert "::warning" in p.stdout and "did not run" in p.stdout


def test_run_without_docker_or_artifact_is_a_usage_error(runner):
    p, out = runner.run("run", outputs={"docker": "no"})
    assert p.returncode == 0, p.stderr
    assert out["exit-code"] == "2" and runner.calls() == []
    assert "::error" in p.stdout and "artifact" in p.stdout


def test_run_rejects_an_unknown_mode(runner):
    p, out = runner.run("run", inputs={"mode": "fast"}, outputs={"docker": "yes"})
    assert out["exit-code"] == "2" and runner.calls() == []


@pytest.mark.parametrize("code", ["0", "1", "2", "3"])
def test_last_step_exits_with_fixproofs_code(runner, code):
    p, _ = runner.run("Exit with fixproof's code", outputs={"exit-code": code, "mode": "verify"})
    assert p.returncode == int(code)
    assert ("::error" in p.stdout) == (code != "0")


# -- GitHub: the example workflow ---------------------------------------------------------


def matrix_combinations(job: dict) -> list[dict]:
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    combos = [dict(c) for c in matrix.get("include", [])]
    axes = {k: v for k, v in matrix.items() if k not in ("include", "exclude")}
    if axes:
        base = [{}]
        for k, vs in axes.items():
            base = [{**b, k: v} for b in base for v in vs]
        combos = base + combos
    return combos or [{}]


def workflow_problems(wf: dict, action: dict) -> list[str]:
    problems: list[str] = []
    if not wf.get("on", wf.get(True)):
        problems.append("no triggers (on:)")
    for job_name, job in (wf.get("jobs") or {}).items():
        combos = matrix_combinations(job)
        oses = [str(c.get("os", "")) for c in combos]
        if "matrix.os" not in str(job.get("runs-on", "")):
            problems.append(f"{job_name}: runs-on does not use matrix.os")
        if not any(o.startswith("ubuntu") for o in oses) or not any(o.startswith("macos") for o in oses):
            problems.append(f"{job_name}: the matrix needs a Linux and a macOS runner, has {oses}")
        for combo in combos:
            def expr(e: str) -> str:
                m = re.fullmatch(r"matrix\.([\w-]+)", e)
                if m:
                    return str(combo.get(m.group(1), ""))
                m = re.fullmatch(r"env\.(\w+)", e)
                if m:
                    return str((job.get("env") or {}).get(m.group(1), plausible(m.group(1))))
                return "value"

            fixproof_steps = [s for s in job.get("steps", []) if str(s.get("uses", "")).split("@")[0].endswith("/fixproof")
                              or s.get("uses") == "./"]
            if len(fixproof_steps) != 1:
                problems.append(f"{job_name}: {len(fixproof_steps)} fixproof action steps, want 1")
                continue
            fp = fixproof_steps[0]
            given = {k: expand(str(v), {}, expr) for k, v in (fp.get("with") or {}).items()}
            for k in given:
                if k not in action["inputs"]:
                    problems.append(f"{job_name}: input {k!r} is not an input of action.yml")
            inputs = action_inputs(action, given)
            problems += check_commands(action_commands(action, inputs))
            for step in job.get("steps", []):
                if "run" in step:
                    env = {**(job.get("env") or {}), **(step.get("env") or {})}
                    problems += check_commands(shell_commands(step["run"], {k: str(v) for k, v in env.items()}, expr))
            publishers = [s for s in job.get("steps", []) if str(s.get("uses", "")).startswith(JUNIT_PUBLISHER + "@")]
            if not publishers:
                problems.append(f"{job_name}: no step publishes the JUnit ({JUNIT_PUBLISHER})")
            for pub in publishers:
                published = expand(str((pub.get("with") or {}).get("report_paths", "")), {}, expr)
                if norm(published) != norm(inputs["junit"]):
                    problems.append(f"{job_name}: publishes {published!r} but fixproof writes {inputs['junit']!r}")
                if "always()" not in str(pub.get("if", "")):
                    problems.append(f"{job_name}: the JUnit publisher must run if: always()")
    return problems


def test_workflow_matrix_commands_and_junit(action):
    wf = load_yaml(WORKFLOW)
    assert workflow_problems(wf, action) == []
    combos = matrix_combinations(next(iter(wf["jobs"].values())))
    assert {c["os"] for c in combos} == {"ubuntu-latest", "macos-latest"}


def test_workflow_grants_what_its_uploads_need():
    job = next(iter(load_yaml(WORKFLOW)["jobs"].values()))
    assert job["permissions"].get("security-events") == "write"
    assert job["permissions"].get("checks") == "write"
    assert job["strategy"]["fail-fast"] is False


# -- GitLab ------------------------------------------------------------------------------

GITLAB_KEYWORDS = {"stages", "variables", "default", "include", "workflow", "image", "services", "cache",
                   "before_script", "after_script"}
GITLAB_PREDEFINED = {"CI_PROJECT_DIR": "/builds/group/app"}


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def gitlab_job(doc: dict, name: str) -> dict:
    job = doc[name]
    parents = job.get("extends", [])
    merged: dict = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        merged = _merge(merged, gitlab_job(doc, parent))
    return _merge(merged, {k: v for k, v in job.items() if k != "extends"})


def gitlab_variables(doc: dict, job: dict) -> dict[str, str]:
    env = dict(GITLAB_PREDEFINED)
    for scope in (doc.get("variables") or {}, job.get("variables") or {}):
        for k, v in scope.items():
            env[k] = str(v.get("value", "") if isinstance(v, dict) else v)
    return {k: expand(v, env) for k, v in env.items()}


def gitlab_problems(doc: dict, *, makefile: Path = MAKEFILE) -> list[str]:
    problems: list[str] = []
    jobs = [n for n, v in doc.items() if n not in GITLAB_KEYWORDS and isinstance(v, dict)]
    verifying = 0
    for name in jobs:
        job = gitlab_job(doc, name)
        if not any(k in job for k in ("script", "before_script")):
            continue
        env = gitlab_variables(doc, job)
        commands: list[list[str]] = []
        for key in ("before_script", "script", "after_script"):
            for entry in job.get(key) or []:
                commands += shell_commands(str(entry), env)
        problems += [f"{name}: {e}" for e in check_commands(commands, makefile=makefile)]
        for args in fixproof_args(commands):
            if not args or args[0] != "verify":
                continue
            verifying += 1
            art = job.get("artifacts") or {}
            junit = flag_value(args, "--junit")
            published = (art.get("reports") or {}).get("junit")
            if junit is None or published is None or norm(junit) != norm(str(published)):
                problems.append(f"{name}: publishes JUnit {published!r} but fixproof verify writes {junit!r}")
            evidence = flag_value(args, "--evidence")
            if evidence is None or not covered(evidence, art.get("paths") or []):
                problems.append(f"{name}: the evidence bundle {evidence!r} is not in artifacts:paths")
            if art.get("when") != "always":
                problems.append(f"{name}: artifacts:when must be always")
            if not art.get("expire_in"):
                problems.append(f"{name}: artifacts:expire_in is missing")
    if not verifying:
        problems.append("no job runs fixproof verify")
    return problems


def test_gitlab_jobs_commands_and_artifacts():
    doc = load_yaml(GITLAB)
    assert gitlab_problems(doc) == []


def test_gitlab_dind_job_and_exit_codes():
    doc = load_yaml(GITLAB)
    job = gitlab_job(doc, "fixproof")
    assert any(str(s.get("name", s)).startswith("docker:") and "dind" in str(s) for s in job["services"])
    env = gitlab_variables(doc, job)
    assert env["DOCKER_HOST"].startswith("tcp://docker:")
    assert job["retry"]["exit_codes"] == 3  # only infrastructure errors are retried
    assert "allow_failure" not in job       # exit 1 (fix not shipped) fails the job
    script = "\n".join(job["script"])
    assert 'exit "$rc"' in script
    # Everything the dind engine bind-mounts must be under the shared /builds directory.
    before = "\n".join(job["before_script"])
    assert 'TMPDIR="$CI_PROJECT_DIR/' in before and 'venv "$CI_PROJECT_DIR/' in before
    assert gitlab_job(doc, ".fixproof-shell-runner")["tags"]


# -- Jenkins -----------------------------------------------------------------------------

_SH = re.compile(r"""\bsh\b\s*\(?(?:\s*\w+\s*:\s*(?:'[^'\n]*'|"[^"\n]*"|\w+)\s*,)*\s*(?:script\s*:\s*)?"""
                 r"""('''|\"\"\"|'|")(.*?)\1""", re.S)


def groovy_block(text: str, head: str) -> str:
    """The body of the first `head {` block, braces counted outside strings and comments."""
    m = re.search(head + r"\s*\{", text)
    if not m:
        return ""
    i, depth, quote = m.end(), 1, None
    while i < len(text) and depth:
        if quote:
            if text.startswith(quote, i):
                i += len(quote) - 1
                quote = None
        elif text.startswith("//", i):
            i = text.find("\n", i)
        elif text[i:i + 3] in ("'''", '"""'):
            quote = text[i:i + 3]
            i += 2
        elif text[i] in "'\"":
            quote = text[i]
        elif text[i] in "{}":
            depth += 1 if text[i] == "{" else -1
        i += 1
    return text[m.end():i - 1]


def jenkins_env(text: str) -> dict[str, str]:
    params = {m.group(1): m.group(2) for m in re.finditer(r"string\(name:\s*'(\w+)',\s*defaultValue:\s*'([^']*)'", text)}
    params.update({m.group(1): m.group(2) for m in re.finditer(r"choice\(name:\s*'(\w+)',\s*choices:\s*\['([^']*)'", text)})
    env = dict(params)
    for m in re.finditer(r"^\s*(\w+)\s*=\s*(['\"])(.*?)\2\s*$", groovy_block(text, r"\benvironment"), re.M):
        env[m.group(1)] = re.sub(r"\$\{params\.(\w+)\}", lambda p: params.get(p.group(1), ""), m.group(3))
    return env


def jenkins_problems(text: str, *, makefile: Path = MAKEFILE) -> list[str]:
    problems: list[str] = []
    code = re.sub(r"^\s*//.*$", "", text, flags=re.M)
    scripts = [m.group(2) for m in _SH.finditer(code)]
    if len(scripts) != code.count("'''") // 2 + len(re.findall(r"\bsh\s+['\"][^'\"]", code)):
        problems.append("a shell script is not in a form this checker reads (sh '''...''' or sh 'cmd')")
    env = jenkins_env(code)
    commands = [c for s in scripts for c in shell_commands(s, env)]
    problems += check_commands(commands, makefile=makefile)
    post_always = groovy_block(groovy_block(code, r"\bpost"), r"\balways")
    junit_steps = re.findall(r"\bjunit\b\s*(?:testResults:\s*)?'([^']+)'", post_always)
    archived = re.findall(r"\barchiveArtifacts\b\s*(?:artifacts:\s*)?'([^']+)'", post_always)
    verifies = [a for a in fixproof_args(commands) if a and a[0] == "verify"]
    if not verifies:
        problems.append("no stage runs fixproof verify")
    for args in verifies:
        junit, evidence = flag_value(args, "--junit"), flag_value(args, "--evidence")
        if junit is None or [norm(j) for j in junit_steps] != [norm(junit)]:
            problems.append(f"post/always publishes JUnit {junit_steps} but fixproof verify writes {junit!r}")
        if evidence is None or not covered(evidence, archived):
            problems.append(f"the evidence bundle {evidence!r} is not archived in post/always ({archived})")
    stage = groovy_block(code, r"stage\('fixproof verify'\)")
    for rc, step in (("1", "unstable"), ("2", "error"), ("3", "error")):
        branch = groovy_block(stage, rf"rc == {rc}\)")
        if not re.search(rf"\b{step}\(", branch):
            problems.append(f"exit {rc} is not handled with {step}()")
    if code.count("{") != code.count("}"):
        problems.append("unbalanced braces")
    return problems


def test_jenkinsfile_keeps_tool_files_out_of_the_checkout():
    """#15.6: the clone, venv, cache and temporary files were inside the workspace, so the clean rebuild
    was stamped vcs.modified=true; they go to WORKSPACE_TMP (the workspace's @tmp sibling)."""
    text = JENKINSFILE.read_text()
    code = re.sub(r"^\s*//.*$", "", text, flags=re.M)
    env = jenkins_env(code)
    for var in ("FIXPROOF_HOME", "FIXPROOF_CACHE_DIR", "TMPDIR"):
        assert "WORKSPACE_TMP" in env.get(var, ""), var
    commands = [c for m in _SH.finditer(code) for c in shell_commands(m.group(2), env)]
    clone = next(c for c in commands if c[:2] == ["git", "clone"])
    assert "WORKSPACE_TMP" in clone[-1]
    assert ".fixproof" not in code.replace("FIXPROOF", "")


def test_jenkinsfile_records_the_sarif_findings():
    """#15.7: Jenkins users saw only JUnit; warnings-ng's recordIssues reads the SARIF, whatever the outcome."""
    code = re.sub(r"^\s*//.*$", "", JENKINSFILE.read_text(), flags=re.M)
    post_always = groovy_block(groovy_block(code, r"\bpost"), r"\balways")
    m = re.search(r"recordIssues\b[^\n]*enabledForFailure:\s*true[\s\S]*?sarif\(pattern:\s*'([^']+)'", post_always)
    assert m and m.group(1) == "reports/fixproof.sarif"


def test_jenkinsfile_commands_junit_and_exit_codes():
    text = JENKINSFILE.read_text()
    assert jenkins_problems(text) == []
    assert re.search(r"^pipeline\s*\{", text, re.M)
    commands = [c for m in _SH.finditer(text) for c in shell_commands(m.group(2), jenkins_env(text))]
    assert make_targets(commands) == ["venv"]
    assert [a[0] for a in fixproof_args(commands)] == ["--version", "verify"]


# -- every config: at least the commands we expect were found ------------------------------


def test_every_config_runs_fixproof_verify():
    gitlab = load_yaml(GITLAB)
    job = gitlab_job(gitlab, "fixproof")
    found = fixproof_args(c for e in job["script"] for c in shell_commands(e, gitlab_variables(gitlab, job)))
    assert found == [["verify", "-c", "fixproof.toml", "--junit", "reports/junit.xml",
                      "--evidence", "reports/evidence"]]


# -- the checkers can fail ---------------------------------------------------------------


def test_checker_rejects_a_made_up_fixproof_command():
    assert fixproof_error(["verify", "--nope"]) is not None
    assert "unrecognized arguments: --nope" in fixproof_error(["verify", "--nope"])
    assert fixproof_error(["verify", "--only", "linking"]) is not None
    assert fixproof_error(["inspect"]) is not None
    assert fixproof_error(["frobnicate"]) is not None
    assert fixproof_error(["evidence", "verify", "reports/evidence"]) is None
    assert check_commands(shell_commands('fixproof verify --nope "$X"', {"X": "1"})) != []
    assert check_commands(shell_commands("make nope", {})) == ["make nope: no such target in Makefile"]
    assert check_commands(shell_commands("make -C .fixproof venv verify", {})) == []


def test_extraction_sees_through_quoting_and_operators():
    env = {"CFG": "my config.toml", "EMPTY": ""}
    cmds = shell_commands('x=1; if true; then rc=0; .venv/bin/fixproof verify -c "$CFG" ${EMPTY:+--artifact "$EMPTY"}'
                          ' > out.txt 2>&1 || rc=$?; fi  # fixproof vulns --nope', env)
    assert fixproof_args(cmds) == [["verify", "-c", "my config.toml"]]
    heredoc = "python - <<'PY'\nfixproof verify --nope\nPY\necho 'fixproof --nope'\n"
    assert fixproof_args(shell_commands(heredoc, {})) == []


def test_checkers_catch_broken_configs(action, tmp_path):
    gitlab = load_yaml(GITLAB)
    gitlab["fixproof"]["artifacts"] = {"when": "always", "expire_in": "1 week",
                                       "reports": {"junit": "out/junit.xml"}, "paths": ["out/"]}
    problems = gitlab_problems(gitlab)
    assert any("publishes JUnit 'out/junit.xml'" in p for p in problems)
    assert any("evidence bundle" in p for p in problems)

    bad_action = json.loads(json.dumps(action))
    bad_action["runs"]["steps"][1].pop("shell")
    bad_action["runs"]["steps"][2]["run"] += "\necho ${{ inputs.config }}\n"
    bad_action["runs"]["using"] = "node20"
    problems = composite_problems(bad_action)
    assert any("needs shell:" in p for p in problems)
    assert any("inside run:" in p for p in problems)
    assert any("not 'composite'" in p for p in problems)

    wf = load_yaml(WORKFLOW)
    job = next(iter(wf["jobs"].values()))
    job["strategy"]["matrix"]["include"] = [c for c in job["strategy"]["matrix"]["include"] if "ubuntu" in c["os"]]
    job["steps"][-1]["with"]["report_paths"] = "junit.xml"
    problems = workflow_problems(wf, action)
    assert any("Linux and a macOS" in p for p in problems)
    assert any("publishes 'junit.xml'" in p for p in problems)

    text = JENKINSFILE.read_text().replace("junit testResults: 'reports/junit.xml'", "junit testResults: 'x.xml'")
    text = text.replace("unstable(why)", "echo why")
    problems = jenkins_problems(text)
    assert any("publishes JUnit ['x.xml']" in p for p in problems)
    assert any("exit 1 is not handled" in p for p in problems)
    assert jenkins_problems(JENKINSFILE.read_text().replace('make -C "$FIXPROOF_HOME" venv',
                                                            'make -C "$FIXPROOF_HOME" vnev'))


# -- the sharded fleet templates: shard jobs, then `fixproof merge` -------------------------

WORKFLOW_SHARDS = ROOT / "ci" / "github" / "fixproof-shards.yml"
GITLAB_SHARDS = ROOT / "ci" / "gitlab" / ".gitlab-ci-shards.yml"
JENKINSFILE_SHARDS = ROOT / "ci" / "jenkins" / "Jenkinsfile.shards"


def shard_verify_problems(where: str, args: list[str], k: int, n: int) -> list[str]:
    """`verify --shard K/N` as shard job k of n runs it."""
    given = flag_value(args, "--shard")
    if given != f"{k}/{n}":
        return [f"{where}: runs verify --shard {given!r}, want '{k}/{n}' (shard job {k} of {n})"]
    return []


def merge_problems(where: str, args: list[str], shard_dirs: list[str]) -> tuple[str | None, list[str]]:
    """`fixproof merge OUT DIR...` must name every shard's directory (through its globs); its OUT."""
    if len(args) < 3 or args[0] != "merge":
        return None, [f"{where}: no `fixproof merge OUT DIR...`"]
    out, globs = args[1], args[2:]
    problems = [f"{where}: fixproof merge does not read {d!r} (its DIRs are {globs})" for d in shard_dirs
                if not any(fnmatch.fnmatch(norm(d), norm(g)) for g in globs)]
    return out, problems


def exit_cases_problems(where: str, script: str) -> list[str]:
    problems = [f"{where}: exit code {rc} is not handled" for rc in "0123" if not re.search(rf"^\s*{rc}\)", script, re.M)]
    if not re.search(r'exit "\$(rc|RC)"', script):
        problems.append(f"{where}: does not end with fixproof's exit code")
    return problems


def sharded_workflow_problems(wf: dict) -> list[str]:
    problems: list[str] = []
    jobs = wf.get("jobs") or {}
    env = {k: str(v) for k, v in (wf.get("env") or {}).items()}
    shard_name, shard = next(((n, j) for n, j in jobs.items() if "shard" in str((j.get("strategy") or {}).get("matrix"))),
                             (None, None))
    merge_name, merge = next(((n, j) for n, j in jobs.items() if "fixproof merge" in json.dumps(j)), (None, None))
    if shard is None or merge is None:
        return ["needs a job with a shard matrix and a job running fixproof merge"]
    values = [int(v) for v in shard["strategy"]["matrix"]["shard"]]
    n = len(values)
    if sorted(values) != list(range(1, n + 1)):
        problems.append(f"{shard_name}: the shard matrix {values} is not 1..{n}")
    if env.get("SHARDS") != str(n):
        problems.append(f"{shard_name}: SHARDS is {env.get('SHARDS')!r} but the matrix has {n} shards")
    if shard["strategy"].get("fail-fast") is not False:
        problems.append(f"{shard_name}: fail-fast must be false (one failing app must not cancel the other shards)")
    artifacts: list[str] = []
    for k in values:
        def expr(e: str, k=k) -> str:
            if e == "matrix.shard":
                return str(k)
            m = re.fullmatch(r"env\.(\w+)", e)
            return env.get(m.group(1), plausible(m.group(1))) if m else "value"

        commands = []
        for step in shard["steps"]:
            if "run" in step:
                step_env = {**env, **{a: expand(str(b), {}, expr) for a, b in (step.get("env") or {}).items()}}
                commands += shell_commands(step["run"], step_env, expr)
        problems += [f"{shard_name}: {e}" for e in check_commands(commands)]
        verifies = [a for a in fixproof_args(commands) if a and a[0] == "verify"]
        if len(verifies) != 1:
            problems.append(f"{shard_name}: {len(verifies)} fixproof verify commands, want 1")
        for a in verifies:
            problems += shard_verify_problems(shard_name, a, k, n)
        uploads = [s for s in shard["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
        if len(uploads) != 1 or "always()" not in str(uploads[0].get("if", "")):
            problems.append(f"{shard_name}: needs one upload-artifact step with if: always()")
            continue
        if not covered(env.get("FIXPROOF_REPORTS", "reports"), [uploads[0]["with"]["path"]]):
            problems.append(f"{shard_name}: uploads {uploads[0]['with']['path']!r}, not the report directory "
                            f"{env.get('FIXPROOF_REPORTS')!r}")
        artifacts.append(expand(str(uploads[0]["with"]["name"]), {}, expr))
    if len(set(artifacts)) != len(artifacts):
        problems.append(f"{shard_name}: shard artifacts share a name ({artifacts}); each shard needs its own")
    if shard_name not in ([merge.get("needs")] if isinstance(merge.get("needs"), str) else merge.get("needs") or []):
        problems.append(f"{merge_name}: does not need {shard_name}")
    if "always()" not in str(merge.get("if", "")):
        problems.append(f"{merge_name}: must run if: always() (a failing app still needs the fleet report)")
    downloads = [s for s in merge["steps"] if str(s.get("uses", "")).startswith("actions/download-artifact@")]
    if len(downloads) != 1:
        return problems + [f"{merge_name}: needs one download-artifact step"]
    dl = downloads[0]["with"]
    if not all(fnmatch.fnmatch(a, dl.get("pattern", "")) for a in artifacts):
        problems.append(f"{merge_name}: downloads {dl.get('pattern')!r}, which misses some of {artifacts}")
    script = "\n".join(s["run"] for s in merge["steps"] if "run" in s)
    commands = shell_commands(script, env)
    problems += [f"{merge_name}: {e}" for e in check_commands(commands)]
    merges = [a for a in fixproof_args(commands) if a and a[0] == "merge"]
    out, why = merge_problems(merge_name, merges[0] if merges else [], [f"{dl.get('path')}/{a}" for a in artifacts])
    problems += why
    for uses, key, want in ((JUNIT_PUBLISHER, "report_paths", "junit.xml"),
                            ("github/codeql-action/upload-sarif", "sarif_file", "fixproof.sarif")):
        pubs = [s for s in merge["steps"] if str(s.get("uses", "")).startswith(uses + "@")]
        if not pubs or out is None:
            problems.append(f"{merge_name}: no {uses} step")
            continue
        if norm(str(pubs[0]["with"][key])) != norm(f"{out}/{want}"):
            problems.append(f"{merge_name}: {uses} reads {pubs[0]['with'][key]!r} but fixproof merge writes "
                            f"{out}/{want}")
        if "always()" not in str(pubs[0].get("if", "")):
            problems.append(f"{merge_name}: {uses} must run if: always()")
    for name, job in ((shard_name, shard), (merge_name, merge)):
        last = job["steps"][-1]
        if "always()" not in str(last.get("if", "")):
            problems.append(f"{name}: the last step must run if: always()")
        problems += exit_cases_problems(name, last.get("run", ""))
    return problems


def sharded_gitlab_problems(doc: dict) -> list[str]:
    problems: list[str] = []
    names = [n for n, v in doc.items() if n not in GITLAB_KEYWORDS and isinstance(v, dict) and not n.startswith(".")]
    jobs = {n: gitlab_job(doc, n) for n in names}
    shard_name = next((n for n, j in jobs.items() if "parallel" in j), None)
    merge_name = next((n for n, j in jobs.items() if "fixproof merge" in "\n".join(j.get("script") or [])), None)
    if shard_name is None or merge_name is None:
        return ["needs a job with parallel: N and a job running fixproof merge"]
    shard, merge = jobs[shard_name], jobs[merge_name]
    n = shard["parallel"]
    if not isinstance(n, int) or n < 2:
        return [f"{shard_name}: parallel must be a number of shards (2 or more), is {n!r}"]
    art = shard.get("artifacts") or {}
    if art.get("when") != "always":
        problems.append(f"{shard_name}: artifacts:when must be always")
    dirs: list[str] = []
    for k in range(1, n + 1):
        env = {**gitlab_variables(doc, shard), "CI_NODE_INDEX": str(k), "CI_NODE_TOTAL": str(n)}
        commands = [c for key in ("before_script", "script") for e in shard.get(key) or [] for c in shell_commands(e, env)]
        problems += [f"{shard_name}: {e}" for e in check_commands(commands)]
        verifies = [a for a in fixproof_args(commands) if a and a[0] == "verify"]
        if len(verifies) != 1:
            problems.append(f"{shard_name}: {len(verifies)} fixproof verify commands, want 1")
        for a in verifies:
            problems += shard_verify_problems(shard_name, a, k, n)
        moves = [c for c in commands if c[:1] == ["mv"] and norm(c[1]) == norm(env.get("FIXPROOF_REPORTS", "reports"))]
        if len(moves) != 1:
            problems.append(f"{shard_name}: the report directory is not moved to a directory of shard {k}'s own")
            continue
        dest = moves[0][2]
        if not covered(dest, art.get("paths") or []):
            problems.append(f"{shard_name}: {dest!r} is not in artifacts:paths")
        dirs.append(dest)
    if len(set(dirs)) != len(dirs):
        problems.append(f"{shard_name}: shards keep their reports at the same path ({dirs}); they would overwrite "
                        "each other in the merge job")
    needs = [x if isinstance(x, str) else x.get("job") for x in merge.get("needs") or []]
    if shard_name not in needs:
        problems.append(f"{merge_name}: does not need {shard_name} (its artifacts)")
    if merge.get("when") != "always":
        problems.append(f"{merge_name}: when must be always (a failing app still needs the fleet report)")
    env = gitlab_variables(doc, merge)
    script = "\n".join(merge.get("script") or [])
    commands = [c for key in ("before_script", "script") for e in merge.get(key) or [] for c in shell_commands(e, env)]
    problems += [f"{merge_name}: {e}" for e in check_commands(commands)]
    merges = [a for a in fixproof_args(commands) if a and a[0] == "merge"]
    out, why = merge_problems(merge_name, merges[0] if merges else [], dirs)
    problems += why
    mart = merge.get("artifacts") or {}
    published = (mart.get("reports") or {}).get("junit")
    if out is None or published is None or norm(str(published)) != norm(f"{out}/junit.xml"):
        problems.append(f"{merge_name}: publishes JUnit {published!r} but fixproof merge writes {out}/junit.xml")
    if out is None or not covered(f"{out}/evidence", mart.get("paths") or []) or mart.get("when") != "always":
        problems.append(f"{merge_name}: the merged report and evidence ({out}) must be artifacts:paths, when always")
    problems += exit_cases_problems(merge_name, script)
    problems += exit_cases_problems(shard_name, "\n".join(shard.get("script") or []))
    return problems


def sharded_jenkins_problems(text: str, *, makefile: Path = MAKEFILE) -> list[str]:
    problems: list[str] = []
    code = re.sub(r"^\s*//.*$", "", text, flags=re.M)
    if code.count("{") != code.count("}"):
        problems.append("unbalanced braces")
    scripts = [m.group(2) for m in _SH.finditer(code)]
    if len(scripts) != code.count("'''") // 2 + len(re.findall(r"\bsh\s+['\"][^'\"]", code)):
        problems.append("a shell script is not in a form this checker reads (sh '''...''' or sh 'cmd')")
    env = jenkins_env(code)
    axis = re.search(r"name\s+'SHARD'\s*\n\s*values\s+((?:'\d+'\s*,?\s*)+)", code)
    values = [int(v) for v in re.findall(r"'(\d+)'", axis.group(1))] if axis else []
    n = len(values)
    if not values or sorted(values) != list(range(1, n + 1)):
        return problems + [f"the SHARD axis values {values} are not 1..N"]
    if env.get("SHARDS") != str(n):
        problems.append(f"SHARDS is {env.get('SHARDS')!r} but the SHARD axis has {n} values")
    shards_stage = groovy_block(code, r"stage\('shards'\)")
    merge_stage = groovy_block(code, r"stage\('fixproof merge'\)")
    reports = env.get("FIXPROOF_REPORTS", "reports")
    stash = re.search(r"""stash\s+name:\s*"([^"]+)",\s*includes:\s*'([^']+)'""", shards_stage)
    if not stash or not covered(f"{reports}/x", [stash.group(2)]):
        problems.append(f"the shards do not stash their report directory {reports!r}")
    for k in values:
        cmds = [c for m in _SH.finditer(shards_stage) for c in shell_commands(m.group(2), {**env, "SHARD": str(k)})]
        problems += check_commands(cmds, makefile=makefile)
        verifies = [a for a in fixproof_args(cmds) if a and a[0] == "verify"]
        if len(verifies) != 1:
            problems.append(f"shard {k}: {len(verifies)} fixproof verify commands, want 1")
        for a in verifies:
            problems += shard_verify_problems(f"shard {k}", a, k, n)
    unstash = re.search(r'dir\("([^"]*)\$\{k\}"\)\s*\{\s*unstash\s+"([^"]*)\$\{k\}"', merge_stage)
    if not unstash or not stash or stash.group(1) != unstash.group(2) + "${SHARD}":
        problems.append("the merge stage does not unstash every shard's stash into a directory of its own")
        dirs = []
    else:
        dirs = [f"{unstash.group(1)}{k}/{reports}" for k in values]
    cmds = [c for m in _SH.finditer(merge_stage) for c in shell_commands(m.group(2), env)]
    problems += check_commands(cmds, makefile=makefile)
    merges = [a for a in fixproof_args(cmds) if a and a[0] == "merge"]
    out, why = merge_problems("merge stage", merges[0] if merges else [], dirs)
    problems += why
    post_always = groovy_block(groovy_block(merge_stage, r"\bpost"), r"\balways")
    junit_steps = re.findall(r"\bjunit\b\s*(?:testResults:\s*)?'([^']+)'", post_always)
    if out is None or [norm(j) for j in junit_steps] != [norm(f"{out}/junit.xml")]:
        problems.append(f"post/always publishes JUnit {junit_steps} but fixproof merge writes {out}/junit.xml")
    archived = re.findall(r"\barchiveArtifacts\b\s*(?:artifacts:\s*)?'([^']+)'", post_always)
    if out is None or not covered(f"{out}/evidence", archived):
        problems.append(f"the merged evidence is not archived in post/always ({archived})")
    for where, block in (("shards", shards_stage), ("merge", merge_stage)):
        for rc, step in (("1", "unstable"), ("2", "error"), ("3", "error")):
            branch = groovy_block(block, rf"rc == {rc}\)")
            if not re.search(rf"\b{step}\(", branch):
                problems.append(f"{where}: exit {rc} is not handled with {step}()")
    return problems


def test_sharded_workflow_matrix_merge_and_publishing():
    assert sharded_workflow_problems(load_yaml(WORKFLOW_SHARDS)) == []


def test_sharded_gitlab_parallel_jobs_and_merge():
    assert sharded_gitlab_problems(load_yaml(GITLAB_SHARDS)) == []


def test_sharded_jenkinsfile_parallel_stages_and_merge():
    text = JENKINSFILE_SHARDS.read_text()
    assert sharded_jenkins_problems(text) == []
    cmds = [c for m in _SH.finditer(text) for c in shell_commands(m.group(2), {**jenkins_env(text), "SHARD": "1"})]
    assert [a[0] for a in fixproof_args(cmds)] == ["verify", "merge", "evidence"]


def test_sharded_checkers_catch_broken_copies():
    wf = load_yaml(WORKFLOW_SHARDS)
    wf["jobs"]["shard"]["strategy"]["matrix"]["shard"] = [1, 2, 3]
    wf["jobs"]["merge"]["steps"][2]["with"]["path"] = "downloads"
    wf["jobs"]["merge"]["steps"][4]["with"]["report_paths"] = "junit.xml"
    problems = sharded_workflow_problems(wf)
    assert any("SHARDS is '4' but the matrix has 3" in p for p in problems)
    assert any("runs verify --shard '1/4', want '1/3'" in p for p in problems)
    assert any("fixproof merge does not read 'downloads/fixproof-shard-1'" in p for p in problems)
    assert any("reads 'junit.xml' but fixproof merge writes merged/junit.xml" in p for p in problems)
    wf = load_yaml(WORKFLOW_SHARDS)
    wf["jobs"]["merge"].pop("if")
    wf["jobs"]["merge"]["steps"][3]["run"] = wf["jobs"]["merge"]["steps"][3]["run"].replace("fixproof merge", "fixproof merj")
    problems = sharded_workflow_problems(wf)
    assert any("must run if: always()" in p for p in problems)
    assert any("merj" in p for p in problems)

    doc = load_yaml(GITLAB_SHARDS)
    doc["fixproof-shard"]["script"] = [s.replace('"shards/$CI_NODE_INDEX"', "shards/all") for s in doc["fixproof-shard"]["script"]]
    doc["fixproof-merge"]["artifacts"]["reports"]["junit"] = "reports/junit.xml"
    doc["fixproof-merge"].pop("when")
    problems = sharded_gitlab_problems(doc)
    assert any("would overwrite each other" in p for p in problems)
    assert any("publishes JUnit 'reports/junit.xml'" in p for p in problems)
    assert any("when must be always" in p for p in problems)
    doc = load_yaml(GITLAB_SHARDS)
    doc["fixproof-merge"]["script"] = [s.replace("merged shards/*", "merged shard/*") for s in doc["fixproof-merge"]["script"]]
    assert any("does not read 'shards/1'" in p for p in sharded_gitlab_problems(doc))

    text = JENKINSFILE_SHARDS.read_text()
    assert any("SHARDS is '4' but the SHARD axis has 3" in p
               for p in sharded_jenkins_problems(text.replace("values '1', '2', '3', '4'", "values '1', '2', '3'")))
    assert any("publishes JUnit ['x.xml']" in p
               for p in sharded_jenkins_problems(text.replace("junit testResults: 'merged/junit.xml'", "junit testResults: 'x.xml'")))
    assert any("exit 1 is not handled with unstable()" in p
               for p in sharded_jenkins_problems(text.replace("unstable(why)", "echo(why)")))
    assert any("does not read 'shards/1/reports'" in p
               for p in sharded_jenkins_problems(text.replace("shards/*/reports", "shards/*/report")))
    assert sharded_jenkins_problems(text.replace('--shard "$SHARD/$SHARDS"', '--shard "$SHARD"'))
