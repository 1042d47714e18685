"""A stream its client closes part way is billed, as a provider bills it, for what the sim made
by then (the pieces sent and the one being made), not the whole answer; it stops sending. A
stream read to its end is billed in full, as before. Both wires (OpenAI chat, Anthropic)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from arbiter.offline.sim import SimServer

from .helpers import AUTH, fast_config, fast_model

PRICES = {"price_in_per_mtok": 1.0, "price_out_per_mtok": 1000.0}
HEADERS = {**AUTH, "x-api-key": "test-key", "anthropic-version": "2023-06-01"}
ASK = [{"role": "user", "content": "Tell me about the history of tides in a few sentences."}]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    slow = fast_model(**PRICES, chars_per_chunk=4, ms_per_chunk=30)
    config = fast_config({"slow": slow, "claude": {**slow, "protocol": "anthropic"}})
    with SimServer(config) as server:
        yield server


def _stats(sim: SimServer, model: str) -> dict[str, float]:
    stats: dict[str, float] = httpx.get(f"{sim.root_url}/_sim/stats").json()["models"][model]
    return stats


def _read(sim: SimServer, path: str, body: dict[str, object], events: int | None) -> None:
    with httpx.stream("POST", f"{sim.root_url}{path}", json=body, headers=HEADERS,
                      timeout=10) as r:  # fmt: skip
        got = 0
        for line in r.iter_lines():
            got += line.startswith("data:")
            if events is not None and got >= events:
                break


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"model": "slow", "messages": ASK, "stream": True}),
        ("/v1/messages", {"model": "claude", "messages": ASK, "stream": True, "max_tokens": 500}),
    ],
)
def test_a_stream_its_client_left_is_billed_for_what_was_made(
    sim: SimServer, path: str, body: dict[str, object]
) -> None:
    httpx.post(f"{sim.root_url}/_sim/reset").raise_for_status()
    _read(sim, path, body, None)
    model = str(body["model"])
    whole = _stats(sim, model)
    assert whole["streams_left"] == 0 and whole["completion_tokens"] > 20, whole
    httpx.post(f"{sim.root_url}/_sim/reset").raise_for_status()  # the same draws again
    _read(sim, path, body, 6)
    deadline = time.monotonic() + 5
    while (left := _stats(sim, model))["streams_left"] < 1:
        assert time.monotonic() < deadline, "the sim never saw the client leave"
        time.sleep(0.01)
    # 6 events read: a few pieces of 4 characters (one token each), one more being made
    assert 1 <= left["completion_tokens"] <= 8, left
    assert left["prompt_tokens"] == whole["prompt_tokens"]
    prompt_cost = whole["prompt_tokens"] * PRICES["price_in_per_mtok"] / 1e6
    out_cost = left["completion_tokens"] * PRICES["price_out_per_mtok"] / 1e6
    assert left["true_cost_usd"] == pytest.approx(prompt_cost + out_cost)
    assert left["true_cost_usd"] < whole["true_cost_usd"] / 3
