"""A cascade keeps to the request's deadline (`failover.deadline_s`, "the whole request: every
attempt"): the cheap try and the in-request judge count against it, and the escalation gets only
what is left, not a fresh deadline of its own."""

from __future__ import annotations

import tomllib
from pathlib import Path

import httpx
import pytest

from arbiter.cascade_steps import JUDGE_CUT
from arbiter.offline.demo import DEMO_LATENCY, DEMO_LATENCY_SCALE, DEMO_POOL, demo_settings
from arbiter.toml_text import to_toml
from tests.conftest import Sidecar

CHAT = [{"role": "user", "content": "Tell me something nice about the sea."}]
JUDGED = """
cascade_tasks = ["chat"]
cascade_all = true
cascade_first_models = ["sim-tiny"]
cascade_judge_model = "judge"
cascade_judge_gain = { chat = [1.0, -2.0] }
cascade_min_expected_gain = 1.05
"""
DEADLINE_S = 1.5
# the open-ended tasks the sim grades the chat prompt as (demo.py's _OPEN_TASKS): at quality 1.0
# the cheap answer is never a refusal, a vague line or a cut answer, which the hard checks
# escalate before the judge is asked (a clean clone's CI drew one: the judge's cut never came)
OPEN_TASKS = ("summarization", "translation", "creative", "chat")


def _control(sim_url: str, **patch: object) -> None:
    httpx.post(sim_url.removesuffix("/v1") + "/_sim/control", json=patch).raise_for_status()


@pytest.mark.parametrize(
    ("cheap_ms", "judge_ms"),
    # the judge at 1.4 s: each under the 1.5 s deadline, together past it whatever the sim's
    # spread gives the cheap try (a CI run drew a cheap try fast enough to leave the 1 s judge
    # its full second: the cheap answer passed, and the cut never came)
    [(4000.0, 10.0), (1000.0, 1400.0)],
    ids=["a slow cheap try", "a cheap try and a judge each under the deadline"],
)
def test_a_slow_cascade_does_not_hold_the_request_past_its_deadline(
    tmp_path: Path, sim_url: str, cheap_ms: float, judge_ms: float
) -> None:
    cfg = tmp_path / "arbiter.toml"
    doc = demo_settings(sim_url, tmp_path / "a.db")
    doc["routing"].update(tomllib.loads(JUDGED))
    doc["routing"]["judge_sample_rate"] = 0.0  # only the cascade's judge calls the judge
    doc["failover"] = {"deadline_s": DEADLINE_S}
    cfg.write_text(to_toml(doc))
    sidecar = Sidecar(cfg).start()
    try:
        headers = {"authorization": f"Bearer {sidecar.create_key('cascade')['key']}"}
        # the demo pool's latency profiles run at DEMO_LATENCY_SCALE of their stated times
        _control(sim_url, model="sim-tiny", latency={"ttft_ms": cheap_ms / DEMO_LATENCY_SCALE})
        _control(sim_url, model="judge", latency_ms=judge_ms)
        _control(sim_url, model="sim-tiny", quality=dict.fromkeys(OPEN_TASKS, 1.0))
        r = httpx.post(
            f"{sidecar.base_url}/chat/completions",
            headers={**headers, "host": "127.0.0.1"},
            json={"model": "auto", "messages": CHAT},
            timeout=30.0,
        )
        assert r.status_code in (200, 504), r.text
        if r.status_code == 504:
            assert r.json()["error"]["type"]  # OpenAI's error shape
        row = httpx.get(
            f"{sidecar.root_url}/arbiter/decisions/{r.headers['x-arbiter-decision-id']}",
            headers=headers,
        ).json()
        assert row["attempts"][0]["model"] == "sim-tiny", row  # the cascade ran
        tries = [(a["model"], a["ok"], a["error"], a["status"]) for a in row["attempts"]]
        cut_cheap = [("sim-tiny", False, "upstream_timeout", None)]
        if cheap_ms > 2 * DEADLINE_S * 1000:
            # the slow cheap try was cut by the deadline before the sim answered it (no status),
            # and left no time for an escalation: an ordering against the sim's own 4 s, not a
            # wall-clock bound
            assert tries == cut_cheap, tries
        elif tries != cut_cheap:  # (on a loaded host the 1 s cheap try itself may be cut)
            # the cheap try answered within the deadline, and the judge, given only what was
            # left (not a fresh deadline), was cut by it: the record says so. A judge that ran
            # its full second leaves no mark (before, only a wall-clock bound told them apart)
            assert tries[0][:2] == ("sim-tiny", True), tries
            assert JUDGE_CUT in row["reason"], row["reason"]
    finally:
        _control(sim_url, model="judge", latency_ms=10.0)
        _control(sim_url, model="sim-tiny", latency={"ttft_ms": DEMO_LATENCY["sim-tiny"][0]})
        open_quality = DEMO_POOL["sim-tiny"][3][3]
        _control(sim_url, model="sim-tiny", quality=dict.fromkeys(OPEN_TASKS, open_quality))
        sidecar.stop()
