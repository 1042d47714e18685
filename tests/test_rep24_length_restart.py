"""rep24: the answer-length model is learned state, kept across a restart. A sidecar's SLO
prediction is its latency model (stored) at the answer length its length model expects; the
length model lived in memory only, so right after a restart the first SLO decision predicted a
model at the configured default length against a speed learned from short answers (probe24d:
2,126 ms against 112 ms learned). Now each replica's regressions are written at the policy sync
(store/length_fits.py) and a start seeds from them: the restarted sidecar's first routed
decision predicts the same model within a small factor of what its predecessor had learnt."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from arbiter.difficulty import prompt_stats
from arbiter.output_length import OutputLength
from arbiter.store import open_store
from tests.inproc import InProcess, recorded_decision, sidecar_in_process
from tests.pg import empty_store_url

pytestmark = pytest.mark.timeout(90)

CHAT = {"model": "auto", "messages": [{"role": "user", "content": "Say hello to the team."}]}
SLO = {"x-arbiter-max-latency-ms": "60000"}
_SAID = re.compile(r"latency p90: (\S+) (\d+) ms fits")


async def _predicted(sc: InProcess) -> tuple[str, float]:
    """The routed decision's chosen model and its predicted p90 total, from its reason."""
    r = await sc.client.post("/v1/chat/completions", json=CHAT, headers={**sc.auth, **SLO})
    assert r.status_code == 200, r.text
    reason = (await recorded_decision(sc, r.headers["x-arbiter-decision-id"]))["reason"]
    said = _SAID.search(reason)
    assert said is not None, reason
    return said.group(1), float(said.group(2))


def test_a_restarted_sidecar_predicts_answer_lengths_as_learned(tmp_path: Path) -> None:
    async def main() -> tuple[str, float, str, float]:
        async with sidecar_in_process(tmp_path) as sc:
            for _ in range(8):  # every model's short answers teach latency and length
                for m in ("sim-tiny", "sim-small", "sim-medium", "sim-premium"):
                    r = await sc.client.post(
                        "/v1/chat/completions", json={**CHAT, "model": m}, headers=sc.auth
                    )
                    assert r.status_code == 200
            learned = await _predicted(sc)
        # stopped: its last policy sync wrote the regressions
        async with sidecar_in_process(tmp_path) as sc:  # the same store, a new process state
            first = await _predicted(sc)
        return (*learned, *first)

    model, learned_ms, first_model, first_ms = asyncio.run(main())
    assert first_model == model
    print(f"learned {learned_ms:.0f} ms, first after the restart {first_ms:.0f} ms")
    assert learned_ms / 2 <= first_ms <= learned_ms * 2, (learned_ms, first_ms)


def test_the_seeded_regressions_predict_as_the_learnt_ones() -> None:
    """Seeded from `states`, a fresh model predicts every prompt as the one that learnt (its
    mean and its spread: the precision travels whole); a malformed part is refused by name and
    leaves that part as it was."""
    prompts = [prompt_stats(t) for t in ("Say hi.", "Write an essay on rivers. " * 20, "2+2?")]
    learnt = OutputLength(256.0)
    for i in range(30):
        learnt.observe("m", prompts[i % 3], 5 + 40 * (i % 3))
        learnt.observe("n", prompts[i % 3], 300)
    docs = dict(learnt.states())
    assert set(docs) == {"pool", "offset:m", "offset:n"}
    assert learnt.states() == []  # nothing observed since
    fresh = OutputLength(256.0)
    assert fresh.seed({**docs, "offset:n": {"weights": [1.0]}}) == ["offset:n"]
    for stats in prompts:
        assert fresh.expected("m", stats) == pytest.approx(learnt.expected("m", stats), rel=1e-4)
        for got, want in zip(
            fresh.log_moments("m", stats), learnt.log_moments("m", stats), strict=True
        ):
            assert got == pytest.approx(want, rel=1e-3)
    # n's refused offset left none: n reads as the pool, as a model never answered does
    assert fresh.expected("n", prompts[0]) == fresh.expected("unseen", prompts[0])
    assert fresh.expected("n", prompts[0]) != pytest.approx(learnt.expected("n", prompts[0]))


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_start_reads_each_parts_newest_row(backend: str, tmp_path: Path) -> None:
    """Two replicas' rows of the pool: the newer wins; rows older than the horizon are not
    read; a replica's second write replaces its row."""
    with empty_store_url(backend, tmp_path / "fits.db") as url:
        store = open_store(url)
        try:
            store.migrate()
            store.write_length_fits("r1", [("pool", {"v": 1}), ("offset:m", {"v": 1})], 100.0)
            store.write_length_fits("r2", [("pool", {"v": 2})], 200.0)
            assert store.load_length_fits() == {"pool": {"v": 2}, "offset:m": {"v": 1}}
            assert store.load_length_fits(150.0) == {"pool": {"v": 2}}
            store.write_length_fits("r1", [("pool", {"v": 3})], 300.0)
            assert store.load_length_fits(150.0) == {"pool": {"v": 3}}
        finally:
            store.close()
