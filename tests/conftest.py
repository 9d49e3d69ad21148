"""Fixtures shared by several test modules (a module's own fixture of the same name overrides these)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from tests._agent_helpers import line_policy


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test writes into the user's ~/.cache/credo: CREDO_CACHE is a session folder unless a test sets its own."""
    patch = pytest.MonkeyPatch()
    patch.setenv("CREDO_CACHE", str(tmp_path_factory.mktemp("session_cache")))
    yield
    patch.undo()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CREDO_CACHE of the module's own, so the tiny model is built once per module and never shared."""
    return tmp_path_factory.mktemp("credo_cache")


@pytest.fixture(scope="module")
def policy(cache_dir: Path) -> Any:
    """The tiny default policy over the line test env."""
    return line_policy(cache_dir)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Small models (LaRe's decoder MLP) run slower with several threads on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def _tw_games(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private cache with games 0 and 1 of the Treasure Hunter L1 family, generated once per session."""
    from envs.textworld import pregenerate

    root = tmp_path_factory.mktemp("credo-cache")
    pregenerate("credo/TextWorld-TreasureHunter-L1-v0", [0, 1], workers=1, cache_dir=root)
    return root


@pytest.fixture
def tw_cache(_tw_games: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`_tw_games`, with `CREDO_CACHE` pointing at it for the test (other tests point it elsewhere)."""
    monkeypatch.setenv("CREDO_CACHE", str(_tw_games))
    return _tw_games


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """One private Ray cluster for the whole session (Ray's testing advice: starting one costs seconds)."""
    ray = pytest.importorskip("ray")
    from credo.ray_cluster import RayConfig, connect

    connect(RayConfig(address="local", num_cpus=2))
    yield ray
    ray.shutdown()
