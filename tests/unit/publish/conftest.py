"""The made-up run the evidence tests bundle (see evidence_fixtures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from unit.publish.evidence_fixtures import make_sources


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    return make_sources(tmp_path / "src")
