"""In-request cascade: the cheapest model answers first; a weak answer escalates, both charged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from arbiter.demo import demo_config
from tests.conftest import Sidecar

CODE = [{"role": "user", "content": "Write a Python function add(a, b) that returns the sum."}]


@pytest.fixture
def cascading(tmp_path: Path, sim_url: str) -> Iterator[Sidecar]:
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(
        demo_config(sim_url, tmp_path / "a.db").replace(
            "[routing]", '[routing]\ncascade_tasks = ["code"]'
        )
    )
    s = Sidecar(cfg).start()
    yield s
    s.stop()


def _control(sim_url: str, **patch: object) -> None:
    httpx.post(sim_url.removesuffix("/v1") + "/_sim/control", json=patch).raise_for_status()


def test_cascade_keeps_a_good_cheap_answer_and_escalates_a_bad_one(
    cascading: Sidecar, sim_url: str
) -> None:
    key = str(cascading.create_key("cascade")["key"])
    headers = {"authorization": f"Bearer {key}"}
    try:
        _control(sim_url, model="sim-tiny", quality={"code": 1.0})
        r = httpx.post(
            f"{cascading.base_url}/chat/completions",
            headers=headers,
            json={"model": "auto", "messages": CODE},
        )
        assert r.headers["x-arbiter-model"] == "sim-tiny"  # the cheap answer passed: kept
        row = httpx.get(
            f"{cascading.root_url}/arbiter/decisions/{r.headers['x-arbiter-decision-id']}",
            headers=headers,
        ).json()
        assert "answered first and its answer passed" in row["reason"]
        assert [a["model"] for a in row["attempts"]] == ["sim-tiny"]

        _control(sim_url, model="sim-tiny", quality={"code": 0.0})
        r = httpx.post(
            f"{cascading.base_url}/chat/completions",
            headers=headers,
            json={"model": "auto", "messages": CODE},
        )
        assert r.status_code == 200 and r.headers["x-arbiter-model"] != "sim-tiny"
        row = httpx.get(
            f"{cascading.root_url}/arbiter/decisions/{r.headers['x-arbiter-decision-id']}",
            headers=headers,
        ).json()
        first, final = row["attempts"][0], row["attempts"][-1]
        assert first["model"] == "sim-tiny" and first["error"].startswith("escalated")
        assert final["model"] == row["chosen_model"] and final["ok"]
        assert "escalated" in row["reason"]
        # both calls are charged: the recorded cost exceeds the final model's own share
        usage = r.json()["usage"]
        prices = {"sim-small": (0.5, 1.5), "sim-medium": (2.5, 10.0), "sim-premium": (15.0, 60.0)}
        pin, pout = prices[row["chosen_model"]]
        own = (usage["prompt_tokens"] * pin + usage["completion_tokens"] * pout) / 1e6
        assert row["cost_usd"] > own
    finally:
        _control(sim_url, model="sim-tiny", quality={"code": 0.35})
