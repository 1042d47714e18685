"""`arbiter replay` via a live sim + sidecar agrees with the in-process replay on a tiny table."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from arbiter.classify import classify
from arbiter.offline import outcome_table as ot
from arbiter.offline import replay as rp
from arbiter.offline import replay_cli
from arbiter.offline.replay_http import replay_via_sidecar
from tests.tables import essay_or_question

MODELS = [
    {"id": "cheap", "price_in_per_mtok": 0.1, "price_out_per_mtok": 0.2},
    {"id": "mid", "price_in_per_mtok": 1.0, "price_out_per_mtok": 2.0},
    {"id": "strong", "price_in_per_mtok": 10.0, "price_out_per_mtok": 30.0},
]
TOPICS = ["the sea", "a city at night", "an old tree", "the first snow", "a lost key", "a train"]


def _write_table(tmp: Path, n: int) -> tuple[Path, Path]:
    """A synthetic table: "cheap" is good on 85% of prompts, "mid" 50%, "strong" always."""
    lines = []
    for i in range(n):
        content = f"Write a short poem about {TOPICS[i % len(TOPICS)]}, version {i}."
        messages = [{"role": "user", "content": content}]
        task = classify(messages)  # the sidecar classifies; give the replay the same task
        qual = {"cheap": float(i % 20 >= 3), "mid": float(i % 2), "strong": 1.0}
        outcomes = {
            m: {"quality": q, "response": f"{m} answer {i}", "prompt_tokens": 12,
                "completion_tokens": 40}
            for m, q in qual.items()
        }  # fmt: skip
        lines.append(
            json.dumps({"id": f"syn-{i}", "task": task, "messages": messages, "outcomes": outcomes})
        )
    table = tmp / "syn.jsonl.gz"
    table.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    models = tmp / "syn.models.json"
    models.write_text(json.dumps({"models": MODELS}))
    return table, models


@pytest.mark.timeout(180)
def test_replay_via_sidecar_agrees_with_in_process(tmp_path: Path) -> None:
    table_path, models_path = _write_table(tmp_path, 120)
    table = ot.load_table(table_path, ot.load_models(models_path))
    cfg = rp.ReplayConfig(knob=0.8, seed=3)
    easiness = replay_cli._load_easiness(
        "default", table
    )  # the sidecar scores prompts the same way
    local = rp.replay(table, cfg, easiness=easiness)
    work = tmp_path / "stack"
    work.mkdir()
    http = replay_via_sidecar(table, table_path, models_path, cfg, work, deadline_s=120)

    assert http["requests"] == local["requests"] == 120
    assert set(http) >= {"cost_usd", "quality", "model_share", "baselines", "savings_pct"}
    assert http["baselines"] == local["baselines"]  # the same table, the same reference points
    # Both learn online from the same grades but draw from different RNG streams (the sidecar seeds
    # its own) and the sidecar learns asynchronously, so compare shares and outcomes, not choices.
    for m in ("cheap", "mid", "strong"):
        assert abs(http["model_share"][m] - local["model_share"][m]) <= 15.0, (m, http, local)
    assert abs(http["quality"] - local["quality"]) <= 0.08
    assert http["model_share"]["cheap"] >= 50.0  # both found the cheap model that suffices
    # the sidecar billed the recorded token counts at registry prices, as the table does
    assert http["sidecar_billed_usd"] == pytest.approx(http["cost_usd"], rel=0.02)


def _write_lengthy_table(tmp: Path, n: int) -> tuple[Path, Path]:
    """Essays and yes/no questions: "strong" writes 1,500 tokens for an essay and 10 for a
    question, "mid" half as much on essays and is a bit worse; "cheap" is poor."""
    prices = {"cheap": (0.1, 0.1), "mid": (1.0, 3.0), "strong": (10.0, 30.0)}
    lines = []
    for i in range(n):
        essay, content = essay_or_question(i)
        messages = [{"role": "user", "content": content}]
        tokens = {"strong": 1500 if essay else 10, "mid": 700 if essay else 10, "cheap": 20}
        quality = {"strong": 1.0, "mid": 0.85 if essay else float(i % 4 != 1), "cheap": 0.1}
        outcomes = {
            m: {"quality": quality[m], "response": f"{m} answer {i}", "prompt_tokens": 30,
                "completion_tokens": tokens[m]}
            for m in prices
        }  # fmt: skip
        row = {"id": f"len-{i}", "task": classify(messages), "messages": messages,
               "outcomes": outcomes}  # fmt: skip
        lines.append(json.dumps(row))
    table = tmp / "lengthy.jsonl.gz"
    table.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    models = tmp / "lengthy.models.json"
    models.write_text(json.dumps({"models": [
        {"id": m, "price_in_per_mtok": p[0], "price_out_per_mtok": p[1]} for m, p in prices.items()
    ]}))  # fmt: skip
    return table, models


@pytest.mark.timeout(180)
def test_best_value_through_the_sidecar_learns_each_models_answer_length(tmp_path: Path) -> None:
    """routing.cost_weight: the live sidecar learns output lengths from the usage it relays,
    so the strong model keeps the questions it answers in ten tokens and the essays, where it
    writes 1,500, go to the mid model: far cheaper than always-strong at nearly its quality."""
    table_path, models_path = _write_lengthy_table(tmp_path, 120)
    table = ot.load_table(table_path, ot.load_models(models_path))
    priors = {"strong": {"chat": 0.95}, "mid": {"chat": 0.8}, "cheap": {"chat": 0.1}}
    cfg = rp.ReplayConfig(knob=0.03, seed=1, priors=priors, objective="cost_weight")
    local = rp.replay(table, cfg)
    work = tmp_path / "stack"
    work.mkdir()
    http = replay_via_sidecar(table, table_path, models_path, cfg, work, deadline_s=120)
    strong = http["baselines"]["always_baseline"]
    for doc in (local, http):  # in process (seed 1) and through the sidecar (its own seed)
        assert 25.0 <= doc["model_share"]["strong"] <= 75.0, doc["model_share"]
        assert 25.0 <= doc["model_share"]["mid"] <= 75.0, doc["model_share"]
        assert doc["cost_usd"] < 0.35 * strong["cost_usd"]
        assert doc["quality"] >= 0.8
    assert http["sidecar_billed_usd"] == pytest.approx(http["cost_usd"], rel=0.02)
