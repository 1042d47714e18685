"""route25 item 4: a restarted sidecar seeds each model's reported-cost ratio from the store's
recent decisions (cost_ratio.seed), but the decision kept only its token totals, so the seed
priced a prompt read from the upstream's cache at the input price: the usage's price read high,
the ratio low, and the restarted process held its first burst below the markup its predecessor
had learnt. The decision now keeps what its usage cost at the registry's prices (cache parts at
theirs), and the seed divides by that."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from arbiter.config import ModelSettings, Settings
from arbiter.types import ChatResult, Usage
from tests.budget_harness import HEADERS, Harness, Scripted, settings
from tests.pg import empty_store_url

PIN, POUT, READ = 15.0, 60.0, 1.5  # sim-premium's prices per million, its cache reads'
PROMPT, CACHED, OUT = 10_000, 9_000, 100
PRICED = ((PROMPT - CACHED) * PIN + CACHED * READ + OUT * POUT) / 1e6
MARKUP = 1.5


class Reporting(Scripted):
    """Each answer's usage: most of the prompt read from the cache, a reported cost 1.5x its
    price (a gateway's fee)."""

    async def complete(self, body: dict[str, Any], model: ModelSettings) -> ChatResult:
        self.bodies.append(body)
        usage = Usage(PROMPT, OUT, reported_cost_usd=MARKUP * PRICED, cache_read_tokens=CACHED)
        body_out = {"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]}
        return ChatResult(model.name, body_out, "hi", "stop", usage, 1.0)


def _settings(tmp_path: Path, url: str) -> Settings:
    s = settings(tmp_path, 100.0, store_url=url)
    models = dict(s.models)
    models["sim-premium"] = dataclasses.replace(
        s.models["sim-premium"], price_cache_read_per_mtok=READ
    )
    return dataclasses.replace(s, models=models)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_restarted_sidecar_seeds_the_ratio_its_predecessor_learnt(
    tmp_path: Path, backend: str
) -> None:
    with empty_store_url(backend, tmp_path / "seed.db") as url:
        _seeded(tmp_path, url)


def _seeded(tmp_path: Path, url: str) -> None:
    body = {"model": "sim-premium", "messages": [{"role": "user", "content": "hi"}]}

    async def first() -> float:
        async with Harness(_settings(tmp_path, url), Reporting()) as h:
            for _ in range(2):  # a ratio holds once seen twice
                r = await h.client.post("/v1/chat/completions", json=body, headers=HEADERS)
                assert r.status_code == 200, r.text
            await h.settled()
            h.services.recorder.flush(5.0)
            return h.services.cost_ratios.factor("sim-premium")

    async def restarted() -> float:
        async with Harness(_settings(tmp_path, url), Reporting()) as h:
            return h.services.cost_ratios.factor("sim-premium")

    learnt = asyncio.run(first())
    assert learnt == pytest.approx(MARKUP)
    assert asyncio.run(restarted()) == pytest.approx(learnt)  # base: 1.0 (priced at 15x)
