"""Outcome-table serving: recorded replies, token counts and quality for known prompts."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from arbiter.errors import ConfigError
from arbiter.offline.sim import SimServer, load_config
from arbiter.offline.sim.outcomes import OutcomeTable
from tests.shared_data import ROUTING, require_shared

from .helpers import AUTH, sse_data

SHARED = ROUTING
ROWS: list[dict[str, Any]] = [
    {"id": "toy-1", "task": "math", "subject": None,
     "messages": [{"role": "user", "content": "Toy question one: what is 2 + 2?"}],
     "outcomes": {
         "strong": {"quality": 1.0, "response": "2 + 2 = 4. #### 4", "prompt_tokens": 9,
                    "completion_tokens": 5},
         "weak": {"quality": 0.0, "response": "It is 5. #### 5", "prompt_tokens": 9,
                  "completion_tokens": 4}}},
    {"id": "toy-2", "task": "knowledge", "subject": "anatomy",
     "messages": [{"role": "user", "content": "Toy question two?\nA. x\nB. y\nAnswer:"}],
     "outcomes": {
         "strong": {"quality": 1.0, "response": None, "prompt_tokens": 10, "completion_tokens": 1},
         "weak": {"quality": 0.25, "response": None, "prompt_tokens": 10,
                  "completion_tokens": 1}}},
]  # fmt: skip
MODELS = {"models": [
    {"id": "strong", "price_in_per_mtok": 10.0, "price_out_per_mtok": 30.0, "role": "strong"},
    {"id": "weak", "price_in_per_mtok": 0.24, "price_out_per_mtok": 0.24, "role": "weak"},
]}  # fmt: skip


def _write_table(tmp: Path) -> tuple[Path, Path]:
    table, models = tmp / "toy.jsonl.gz", tmp / "toy.models.json"
    with gzip.open(table, "wt", encoding="utf-8") as fh:
        for row in ROWS:
            fh.write(json.dumps(row) + "\n")
    models.write_text(json.dumps(MODELS))
    return table, models


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    tmp = tmp_path_factory.mktemp("outcomes")
    _write_table(tmp)
    (tmp / "sim.toml").write_text(
        'outcome_table = "toy.jsonl.gz"\noutcome_models = "toy.models.json"\n'
        '[models.strong]\nlatency_ms = 0\nlatency_jitter_ms = 0\nms_per_chunk = 0\n'
        'report_cost = "body"\nprice_in_per_mtok = 99.0\n'
        "[models.judge]\nlatency_ms = 0\n"
    )  # fmt: skip
    config = load_config(tmp / "sim.toml")
    with SimServer(config) as sim, httpx.Client(base_url=sim.root_url, headers=AUTH) as c:
        yield c


def _ask(client: httpx.Client, model: str, messages: list[dict[str, str]]) -> httpx.Response:
    return client.post("/v1/chat/completions", json={"model": model, "messages": messages})


def test_pool_is_the_tables_models_plus_configured_ones(client: httpx.Client) -> None:
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert sorted(ids) == ["judge", "strong", "weak"]


def test_known_prompt_returns_the_recorded_outcome(client: httpx.Client) -> None:
    for model, row in (("strong", ROWS[0]), ("weak", ROWS[0])):
        r = _ask(client, model, row["messages"])
        recorded = row["outcomes"][model]
        data = r.json()
        assert data["choices"][0]["message"]["content"] == recorded["response"]
        assert data["usage"]["prompt_tokens"] == recorded["prompt_tokens"]
        assert data["usage"]["completion_tokens"] == recorded["completion_tokens"]
        assert float(r.headers["x-sim-quality"]) == recorded["quality"]
        assert r.headers["x-sim-row-id"] == "toy-1"
    assert client.get("/_sim/stats").json()["models"]["weak"]["recorded"] >= 1


def test_prices_come_from_the_models_file(client: httpx.Client) -> None:
    usage = _ask(client, "strong", ROWS[0]["messages"]).json()["usage"]
    assert usage["cost"] == pytest.approx((9 * 10.0 + 5 * 30.0) / 1e6)  # not the toml's 99.0


def test_null_response_is_an_empty_string(client: httpx.Client) -> None:
    r = _ask(client, "weak", ROWS[1]["messages"])
    assert r.json()["choices"][0]["message"]["content"] == ""
    assert r.json()["usage"]["completion_tokens"] == 1
    assert r.headers["x-sim-quality"] == "0.25"


def test_match_survives_an_added_system_prompt(client: httpx.Client) -> None:
    messages = [{"role": "system", "content": "Be brief."}, *ROWS[0]["messages"]]
    r = _ask(client, "strong", messages)
    assert r.headers["x-sim-row-id"] == "toy-1"


def test_unknown_prompt_gets_a_generic_answer(client: httpx.Client) -> None:
    r = _ask(client, "weak", [{"role": "user", "content": "Tell me about lighthouses."}])
    assert r.status_code == 200
    assert "x-sim-row-id" not in r.headers
    assert r.json()["choices"][0]["message"]["content"]


def test_streamed_recorded_outcome(client: httpx.Client) -> None:
    body = {"model": "strong", "messages": ROWS[0]["messages"], "stream": True,
            "stream_options": {"include_usage": True}}  # fmt: skip
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.headers["x-sim-row-id"] == "toy-1"
        payloads = sse_data(list(r.iter_lines()))
    chunks = [json.loads(p) for p in payloads[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == ROWS[0]["outcomes"]["strong"]["response"]
    assert chunks[-1]["usage"]["completion_tokens"] == 5


def test_bad_tables_are_config_errors(tmp_path: Path) -> None:
    table, models = _write_table(tmp_path)
    with pytest.raises(ConfigError):
        OutcomeTable.load(tmp_path / "missing.jsonl.gz", models)
    (tmp_path / "bad.models.json").write_text('{"models": [{"id": "x"}]}')
    with pytest.raises(ConfigError, match="prices"):
        OutcomeTable.load(table, tmp_path / "bad.models.json")
    with gzip.open(tmp_path / "bad.jsonl.gz", "wt") as fh:
        fh.write('{"id": "r"}\n')
    with pytest.raises(ConfigError, match="outcomes"):
        OutcomeTable.load(tmp_path / "bad.jsonl.gz", models)


def test_the_shared_gsm8k_table_loads_in_place() -> None:
    table, models = SHARED / "gsm8k.dev.jsonl.gz", SHARED / "routellm.models.json"
    require_shared(table)
    loaded = OutcomeTable.load(table, models)
    assert len(loaded) > 600
    with gzip.open(table, "rt", encoding="utf-8") as fh:
        row = json.loads(fh.readline())
    recorded = loaded.lookup(row["messages"], "gpt-4-1106-preview")
    assert recorded is not None and recorded.row_id == row["id"]
    assert recorded.response == row["outcomes"]["gpt-4-1106-preview"]["response"]


def test_table_models_keep_every_setting_of_their_sim_profile(tmp_path: Path) -> None:
    """Prices come from the models file; everything else the sim config says of a table model
    (its protocol, token parameter, ...) stands, not only the fields a copy listed."""
    from arbiter.offline.sim.config import ModelProfile

    table = OutcomeTable.load(*_write_table(tmp_path))
    override = ModelProfile("strong", price_in_per_mtok=99.0, protocol="anthropic",
                            token_param="max_completion_tokens", latency_ms=3.0)  # fmt: skip
    strong, weak = table.profiles({"strong": override})
    assert (strong.name, strong.price_in_per_mtok, strong.price_out_per_mtok) == (
        "strong",
        10.0,
        30.0,
    )
    assert strong.protocol == "anthropic" and strong.token_param == "max_completion_tokens"
    assert strong.latency_ms == 3.0
    assert weak == ModelProfile("weak", price_in_per_mtok=0.24, price_out_per_mtok=0.24)
