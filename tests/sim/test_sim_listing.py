"""The simulator's model listing can change during a run (discovery tests, bench/lifecycle.py): a
control patch or a [[schedule]] entry lists or hides a model, hides its prices, changes them."""

from __future__ import annotations

import httpx
import pytest

from arbiter.errors import ConfigError
from arbiter.listing import parse_page
from arbiter.offline.sim import SimServer
from arbiter.offline.sim.config import parse_config
from arbiter.offline.sim.state import SimState

from .helpers import AUTH

CONFIG = {
    "models": {
        "old": {"price_in_per_mtok": 1.0, "price_out_per_mtok": 2.0, "context_window": 8000},
        "new": {"price_in_per_mtok": 0.1, "price_out_per_mtok": 0.2, "listed": False},
    },
    "schedule": [
        {"after_requests": 3, "model": "old", "price_out_per_mtok": 4.0},
        {"after_requests": 2, "model": "new", "listed": True},
    ],
}
HI = [{"role": "user", "content": "Hello there"}]


def _listed(client: httpx.Client) -> dict[str, tuple[float | None, float | None, int | None]]:
    r = client.get("/v1/models")
    assert r.status_code == 200
    page = parse_page(r.json())
    return {
        m.id: (m.price_in_per_mtok, m.price_out_per_mtok, m.context_window) for m in page.models
    }


def test_listing_follows_control_and_schedule() -> None:
    with (
        SimServer(parse_config(CONFIG)) as sim,
        httpx.Client(base_url=sim.root_url, headers=AUTH) as client,
    ):
        assert _listed(client) == {"old": (1.0, 2.0, 8000)}
        for _ in range(2):
            client.post("/v1/chat/completions", json={"model": "old", "messages": HI})
        assert set(_listed(client)) == {"old", "new"}  # the schedule listed it
        client.post("/v1/chat/completions", json={"model": "new", "messages": HI})
        assert _listed(client)["old"] == (1.0, 4.0, 8000)  # and then doubled a price
        r = client.post("/_sim/control", json={"model": "new", "list_price": False})
        assert r.status_code == 200
        assert _listed(client)["new"][:2] == (None, None)
        r = client.post("/_sim/control", json={"model": "old", "listed": False})
        assert set(_listed(client)) == {"new"}
        # a hidden model still answers when called (deprecated, not shut down)
        r = client.post("/v1/chat/completions", json={"model": "old", "messages": HI})
        assert r.status_code == 200
        client.post("/_sim/reset")
        assert set(_listed(client)) == {"old"}
        bad = client.post("/_sim/control", json={"model": "old", "price_in_per_mtok": "x"})
        assert bad.status_code == 400


def test_a_bad_schedule_fails_at_start() -> None:
    for entry in ({"after_requests": 1, "model": "nope", "listed": True},
                  {"after_requests": 1, "model": "old", "colour": 1},
                  {"model": "old", "listed": True}):  # fmt: skip
        with pytest.raises(ConfigError):
            SimState(parse_config({"models": CONFIG["models"], "schedule": [entry]}))
