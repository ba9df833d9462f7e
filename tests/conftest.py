"""Test setup shared by all tests: real data files come from ../shared/data, which
may be read-only, and anything derived goes to a temporary cache directory."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def data_environment(tmp_path_factory):
    """Point ZOO_DATA_DIR at the shared data and ZOO_CACHE_DIR at a fresh folder for the session."""
    patch = pytest.MonkeyPatch()
    patch.setenv("ZOO_DATA_DIR", str(SHARED_DATA))
    patch.setenv("ZOO_CACHE_DIR", str(tmp_path_factory.mktemp("zoo-cache")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder holding the published data files (jsb_chorales.pickle, tiny_shakespeare.txt)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"no shared data folder at {SHARED_DATA}")
    return SHARED_DATA
