"""`arbiter replay` via a live sim + sidecar agrees with the in-process replay on a tiny table."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from arbiter import replay as rp
from arbiter.classify import classify
from arbiter.replay_http import replay_via_sidecar

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
    table = rp.load_table(table_path, rp.load_models(models_path))
    cfg = rp.ReplayConfig(knob=0.8, seed=3)
    easiness = rp._load_easiness("default", table)  # the sidecar scores prompts the same way
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
