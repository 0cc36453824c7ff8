"""Stage test's go command (no engine): the tests prove the variant that is built."""

import dataclasses

from fixproof import config
from fixproof.stages.build import build_flags
from fixproof.stages.gotest import go_test_args

from conftest import EXAMPLE, ROOT, write_config


def test_go_test_uses_the_builds_tags_flags_and_ldflags_and_no_test_cache(tmp_path):
    cfg = config.load(write_config(tmp_path, EXAMPLE, extra='[build]\nflags = ["-trimpath"]\nldflags = "-X main.v=1"\n'
                                   'tags = ["a", "b"]\n[test]\nflags = ["-v"]\npackages = ["./internal/..."]\n'))
    args = go_test_args(cfg)
    assert args[:4] == ["go", "test", "-json", "-count=1"]
    assert args[4:] == ["-trimpath", "-ldflags", "-X main.v=1", "-tags", "a,b", "-v", "./internal/..."]
    assert build_flags(cfg.build) == args[4:-2]


def test_a_configured_count_is_kept(tmp_path):
    cfg = config.load(write_config(tmp_path, EXAMPLE, extra='[test]\nflags = ["-count=3"]\n'))
    args = go_test_args(cfg)
    assert "-count=1" not in args and "-count=3" in args


def test_the_unfixed_runtime_example_tests_its_tags():
    cfg = config.load(ROOT / "examples" / "configs" / "unfixed-runtime.toml")
    args = go_test_args(cfg)
    assert "-tags" in args and args[args.index("-tags") + 1] == ",".join(cfg.build.tags)
    assert "fixdemo_unfixed_cache" in cfg.build.tags
