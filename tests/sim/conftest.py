"""Fixtures for the simulator tests: a running simulator and a client for it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from arbiter.offline.sim import SimServer

from .helpers import ALL_BAD, ALL_GOOD, AUTH, fast_config, fast_model


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    """One simulator per test module: a perfect model, a hopeless one, and a judge."""
    config = fast_config(
        {
            "always": fast_model(quality=ALL_GOOD, chars_per_chunk=8),
            "never": fast_model(quality=ALL_BAD),
            "judge": fast_model(),
        }
    )
    with SimServer(config) as server:
        yield server


@pytest.fixture
def client(sim: SimServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.root_url, headers=AUTH, timeout=10) as c:
        yield c
