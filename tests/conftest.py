"""Test setup shared by all tests: real data files come from ../shared/data, which
may be read-only, anything derived goes to a temporary cache directory, and every test
starts from the same random state and an empty Pyro parameter store."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pyro
import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def data_environment(tmp_path_factory):
    """Point ZOO_DATA_DIR at the shared data and ZOO_CACHE_DIR at a fresh folder for the session."""
    patch = pytest.MonkeyPatch()
    patch.setenv("ZOO_DATA_DIR", str(SHARED_DATA))
    patch.setenv("ZOO_CACHE_DIR", str(tmp_path_factory.mktemp("zoo-cache")))
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the suite's workers share the cores: one thread each
        torch.set_num_threads(1)
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def seeded():
    """Seed torch, numpy, random and Pyro, and empty the parameter store, before each test:
    a test's draws are the same whichever tests ran before it."""
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    pyro.set_rng_seed(0)
    pyro.clear_param_store()


@pytest.fixture(scope="module")
def one_thread():
    """A tiny network is a long string of small ops: one thread runs them fastest, and a second
    one waiting on a busy core can slow them by orders of magnitude."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder holding the published data files (jsb_chorales.pickle, tiny_shakespeare.txt)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"no shared data folder at {SHARED_DATA}")
    return SHARED_DATA
