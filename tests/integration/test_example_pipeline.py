"""The bundled example, end to end, on every Go release fixproof supports as a
build pin: the fixed app passes every stage, and each unfixed variant fails at
exactly the stages the README documents, with everything else passing.

The configs are the repository's own (fixproof.toml, examples/configs/*.toml)
with only the app directory, the report directory and the toolchain pin
rewritten, so what is proven here is what a user runs. The app is a copy of
examples/fixdemo outside any git work tree, so the commit under test enters
neither the binary (no VCS stamp) nor the bundle (no git HEAD).

Golden files: every run's verdicts (each check's status, stage by stage, and
the exit code) and its evidence digest must equal what
tests/integration/golden/example-<variant>-<pin>.json records, so a refactor
that changes a verdict or what the evidence says fails here. The digest held
there is the bundle's evidence digest with what belongs to the machine rather
than to the run taken out (see :data:`ENVIRONMENT`); each covered file's hash
is kept too, so a mismatch names the files. To accept a change on purpose:
``FIXPROOF_UPDATE_GOLDEN=1`` rewrites the files (README, Development).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import EXAMPLE, ROOT, assert_no_traceback, verify
from fixproof.publish.evidence_digest import digest_of, in_digest, normalise_as
from fixproof.publish.evidence_layout import MANIFEST_JSON, VERSIONS

pytestmark = pytest.mark.docker

# The example's own pin and the newest release. A new Go release is added here first.
PINS = {"go1.22.5": ("1.22.5", "golang:1.22.5-bookworm"), "go1.27.4": ("1.27.4", "golang:1.27.4-bookworm")}

# config -> the stages that must fail (README, "Try it"); every other stage must pass.
VARIANTS = {
    "fixed": ("fixproof.toml", set()),
    "unfixed-runtime": ("examples/configs/unfixed-runtime.toml", {"test", "gdb", "trace", "race"}),
    "unfixed-xtext": ("examples/configs/unfixed-xtext.toml", {"modules", "test", "vulns"}),
}


GOLDEN = Path(__file__).with_name("golden")
UPDATE_GOLDEN = "FIXPROOF_UPDATE_GOLDEN"
# What of a bundle belongs to the machine, not to the run, and is left out of the golden digest: the ids
# and repo digests of the images (built locally, so each machine and each rebuild has its own), the gdb and
# bpftrace versions of the probe image, where the vulnerability DB snapshot lies, and of versions.json all
# but the Go toolchain, the stages, the binary, the image names and where each file came from (the Docker
# Engine, Python and its packages are the machine's).
ENVIRONMENT = ("image ids and repo digests", "probe tool versions", "the vulnerability DB's location",
               "versions.json: Docker Engine, Python and package versions, image facts")


def pinned_config(tmp: Path, source: str, go: str, image: str) -> Path:
    """The repository's config with its app dir (a copy of the example outside git), report dir and
    toolchain pin replaced."""
    app = tmp / "fixdemo"
    if not app.exists():
        shutil.copytree(EXAMPLE, app)
    text = (ROOT / source).read_text()
    text = re.sub(r'(?m)^dir = "[^"]*fixdemo"', f'dir = "{app}"', text)
    text = re.sub(r'(?ms)^\[report\]\ndir = "[^"]*"\n', "", text)
    text = re.sub(r'(?m)^go = "[^"]*"', f'go = "{go}"', text)
    text = re.sub(r'(?m)^image = "[^"]*"', f'image = "{image}"', text)
    text += f'\n[report]\ndir = "{tmp / "reports"}"\n'
    cfg = tmp / "fixproof.toml"
    cfg.write_text(text)
    return cfg


def verdicts(cfg: Path) -> dict[str, dict[str, str]]:
    """Each stage's checks ("<classname> :: <name>", or the name alone) and their status."""
    out: dict[str, dict[str, str]] = {}
    for f in sorted((cfg.parent / "reports" / "stages").glob("*.json")):
        checks: dict[str, str] = {}
        for c in json.loads(f.read_text())["checks"]:
            key = f"{c['classname']} :: {c['name']}" if c.get("classname") else c["name"]
            n = 2
            while key in checks:  # never seen, but two equal names must not hide one another
                key = f"{key} #{n}"
                n += 1
            checks[key] = c["status"]
        out[f.stem] = checks
    return out


def _environment_subs(versions: dict) -> list[tuple[re.Pattern[str], str]]:
    """Substitutions for what in the bundle's text is the machine's (see ENVIRONMENT). The names are
    plain text like the roots' ($IMAGE_ID...), so a substituted JSON or XML file still parses as one."""
    subs = []
    ids = set()
    for facts in (versions.get("images") or {}).values():
        ids.update(re.findall(r"sha256:([0-9a-f]{64})", json.dumps(facts)))
    for hex_id in sorted(ids):  # the whole id, "sha256:<12 hex>" in messages, 16 hex in cache volume names
        subs.append((re.compile(rf"(?:sha256:)?{hex_id[:12]}[0-9a-f]*"), "$IMAGE_ID"))
    for tool, version in sorted((versions.get("probe_tools") or {}).items()):
        if version and not str(version).startswith("not recorded"):
            subs.append((re.compile(re.escape(str(version))), f"${tool.upper()}_VERSION"))
    db = os.environ.get("FIXPROOF_VULNDB", "")
    if db:
        subs.append((re.compile(re.escape(db.rstrip("/")) + r"(?![\w.-])"), "$VULNDB"))
    return subs


def _versions_view(versions: dict) -> bytes:
    """What of versions.json is the run's, not the machine's (see ENVIRONMENT)."""
    keep = {k: versions.get(k) for k in ("format", "go", "stages", "binary", "sources")}
    keep["images"] = sorted(versions.get("images") or {})
    keep["probe_tools"] = sorted(versions.get("probe_tools") or {})
    return json.dumps(keep, sort_keys=True).encode()


def golden_evidence(bundle: Path) -> dict:
    """The evidence digest of a bundle with the machine's part taken out: each file the digest covers,
    normalised as the bundle's own digest does it after the ENVIRONMENT substitutions."""
    manifest = json.loads((bundle / MANIFEST_JSON).read_text())
    roots = manifest["evidence_digest"]["roots"]
    versions = json.loads((bundle / VERSIONS).read_text())
    subs = _environment_subs(versions)
    files = {}
    for rel in manifest["evidence_digest"]["covers"]["files"]:
        assert in_digest(rel), rel
        data = _versions_view(versions) if rel == VERSIONS else (bundle / rel).read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass  # the binary: as it is
        else:
            for pattern, name in subs:
                text = pattern.sub(name, text)
            data = text.encode("utf-8")
        clean, view = normalise_as(rel, data, roots)
        if rel != VERSIONS:  # normalised as the bundle's own digest did (an XML file still XML...)
            assert view == manifest["files"][rel]["normalised_as"], (rel, view)
        files[rel] = hashlib.sha256(clean).hexdigest()
    return {"digest": digest_of(files), "files": files}


def check_golden(name: str, source: str, go: str, cfg: Path, exit_code: int) -> None:
    """This run's verdicts and evidence against tests/integration/golden/<name>.json (see the module doc);
    with FIXPROOF_UPDATE_GOLDEN=1, write them there instead."""
    path = GOLDEN / f"{name}.json"
    got = {"config": source, "pin": f"go{go}", "exit_code": exit_code, "verdicts": verdicts(cfg),
           "evidence": golden_evidence(cfg.parent / "reports" / "evidence")}
    how = (f"If the change is intended, rewrite the golden files with {UPDATE_GOLDEN}=1 (e.g. `{UPDATE_GOLDEN}=1 "
           f"python -m pytest tests/integration/test_example_pipeline.py`), and commit them with the change.")
    if os.environ.get(UPDATE_GOLDEN) == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
        return
    if not path.is_file():
        pytest.fail(f"no golden file {path.relative_to(ROOT)} for this run. {how}", pytrace=False)
    want = json.loads(path.read_text())
    problems = []
    if got["exit_code"] != want["exit_code"]:
        problems.append(f"exit code {got['exit_code']}, golden {want['exit_code']}")
    for stage in sorted(set(got["verdicts"]) | set(want["verdicts"])):
        now, then = got["verdicts"].get(stage), want["verdicts"].get(stage)
        if now is None or then is None:
            problems.append(f"stage {stage}: {'missing' if now is None else 'new'} (golden: {then is not None})")
            continue
        for check in sorted(set(now) | set(then)):
            if now.get(check) != then.get(check):
                problems.append(f"{stage} / {check}: {now.get(check, 'absent')}, golden {then.get(check, 'absent')}")
    if got["evidence"]["digest"] != want["evidence"]["digest"]:
        a, b = got["evidence"]["files"], want["evidence"]["files"]
        changed = sorted(r for r in set(a) | set(b) if a.get(r) != b.get(r))
        problems.append(f"evidence digest {got['evidence']['digest']}, golden {want['evidence']['digest']}; "
                        f"files that differ: {', '.join(changed) or 'none (the digest rule changed)'}")
    if problems:
        pytest.fail(f"{name}: this run differs from {path.relative_to(ROOT)}:\n  " + "\n  ".join(problems)
                    + f"\n{how}", pytrace=False)


def evidence_digest(cfg: Path, output: str) -> str:
    """The evidence digest the run recorded in its bundle, checked against the one it printed."""
    recorded = json.loads((cfg.parent / "reports" / "evidence" / "manifest.json").read_text())
    digest = recorded["evidence_digest"]["sha256"]
    assert f"evidence digest sha256:{digest}" in output, output
    return digest


def stage_statuses(cfg: Path) -> dict[str, set[str]]:
    out = {}
    for f in (cfg.parent / "reports" / "stages").glob("*.json"):
        out[f.stem] = {c["status"] for c in json.loads(f.read_text())["checks"]}
    return out


@pytest.fixture(scope="module", params=list(PINS))
def pin(request, engine):
    from fixproof.engine.images import ensure_image
    from fixproof.progress import Progress

    go, image = PINS[request.param]
    ensure_image(engine, image, timeout=1800, progress=Progress("test-setup"))
    return go, image


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_example_verdict_on_each_pin(variant, pin, tmp_path):
    go, image = pin
    source, failing = VARIANTS[variant]
    cfg = pinned_config(tmp_path, source, go, image)
    p = verify(cfg, timeout=1200)
    out = p.stdout + p.stderr
    assert_no_traceback(p)
    statuses = stage_statuses(cfg)
    every = {"toolchain", "modules", "build", "test", "binary", "vulns", "gdb", "trace", "race"}
    assert every <= set(statuses), (sorted(statuses), out)
    failed = {s for s, st in statuses.items() if "failed" in st}
    errors = {s: st for s, st in statuses.items() if "error" in st}
    assert not errors, out
    if failing:
        assert p.returncode == 1, out
        # a stage downstream of a failed one may be skipped; none may pass without running
        assert failing <= failed, (failed, out)
        assert failed <= failing, (failed, out)
    else:
        assert p.returncode == 0, out
        assert not failed, out
        # every stage ran and passed something (skips: an unset digest, packages without tests)
        assert all("passed" in statuses[s] for s in every), (statuses, out)
    check_golden(f"example-{variant}-go{go}", source, go, cfg, p.returncode)
    if variant == "fixed" and go == "1.22.5":
        assert_serial_run_agrees(tmp_path, source, go, image, p)


def assert_serial_run_agrees(tmp_path: Path, source: str, go: str, image: str, parallel) -> None:
    """#14: stages run side by side by default (the run above); one at a time (-n 1) the same config
    gives the same verdict of every check and the same evidence digest."""
    serial_dir = tmp_path / "serial"
    serial_dir.mkdir()
    par_cfg = tmp_path / "fixproof.toml"
    cfg = pinned_config(serial_dir, source, go, image)
    # the same config file but for where its reports go (the digest names that directory $REPORTS)
    assert cfg.read_text().replace(str(serial_dir), str(tmp_path)) == par_cfg.read_text()
    p = verify(cfg, "-n", "1", timeout=1200)
    out = p.stdout + p.stderr
    assert_no_traceback(p)
    assert p.returncode == parallel.returncode, out
    assert verdicts(cfg) == verdicts(par_cfg), out
    assert evidence_digest(cfg, out) == evidence_digest(par_cfg, parallel.stdout + parallel.stderr)


def test_old_image_fails_at_toolchain_on_each_pin(pin, tmp_path):
    """The CI image still on an older golang tag than the pin: a toolchain failure, nothing built."""
    go, _ = pin
    source = "examples/configs/unfixed-image.toml"
    cfg = pinned_config(tmp_path, source, go, "golang:1.22.4-bookworm" if go == "1.22.5" else "golang:1.22.5-bookworm")
    p = verify(cfg, "--only", "toolchain", "modules", "build")
    assert_no_traceback(p)
    assert p.returncode == 1, p.stdout + p.stderr
    statuses = stage_statuses(cfg)
    assert "failed" in statuses["toolchain"]
    assert statuses["build"] == {"skipped"}
    check_golden(f"example-unfixed-image-go{go}", source, go, cfg, p.returncode)
