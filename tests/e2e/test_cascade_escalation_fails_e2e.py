"""When a cascade's escalation fails on every strong model, the client gets the cheap answer it
already paid for (named as such in the decision), not a second, unchecked call to the cheap
model through failover (paid twice), and not an error."""

from __future__ import annotations

import tomllib
from pathlib import Path

import httpx
import openai

from arbiter.offline.demo import demo_settings
from arbiter.toml_text import to_toml
from tests.conftest import Sidecar
from tests.e2e.test_cascade_e2e import _control

CHAT = 'cascade_tasks = ["chat"]\ncascade_all = true\ncascade_first_models = ["sim-tiny"]\n'
STRONG = ("sim-small", "sim-medium", "sim-premium")


def test_a_failed_escalation_serves_the_first_answer_once_paid(
    tmp_path: Path, sim_url: str
) -> None:
    cfg = tmp_path / "arbiter.toml"
    doc = demo_settings(sim_url, tmp_path / "a.db")
    doc["routing"].update(tomllib.loads(CHAT))
    doc["routing"]["judge_sample_rate"] = 0.0
    cfg.write_text(to_toml(doc))
    sidecar = Sidecar(cfg).start()
    key = str(sidecar.create_key("escalation")["key"])
    client = openai.OpenAI(api_key=key, base_url=sidecar.base_url, max_retries=0, timeout=30)
    _control(sim_url, model="sim-tiny", quality={"chat": 0.0})  # weak first answers
    for model in STRONG:
        _control(sim_url, model=model, error_5xx=1.0)  # and no escalation gets through
    try:
        for i in range(20):
            raw = client.chat.completions.with_raw_response.create(
                model="auto",
                messages=[{"role": "user", "content": f"Tell me something nice about lake {i}."}],
            )
            row = httpx.get(
                f"{sidecar.root_url}/arbiter/decisions/{raw.headers['x-arbiter-decision-id']}",
                headers={"authorization": f"Bearer {key}"},
            ).json()
            if "escalated (" in row["reason"]:
                break
        else:
            raise AssertionError("no weak first answer escalated")
        answer = raw.parse()  # a 200: the openai SDK raised on an error
        tried = [a["model"] for a in row["attempts"]]
        assert tried.count("sim-tiny") == 1, row["attempts"]  # one cheap call, not two
        assert any(m in STRONG for m in tried[1:])  # the escalation was tried
        assert raw.headers["x-arbiter-model"] == "sim-tiny" == row["chosen_model"]
        assert "the escalation failed" in row["reason"] and row["status"] == "ok"
        assert answer.choices[0].message.content
        # billed once: the cheap call at its usage, and the failed strong tries nothing (whole
        # 5xx error answers: money20), the same in the header as in the decision
        assert abs(float(raw.headers["x-arbiter-cost-usd"]) - row["cost_usd"]) < 1e-7
        usage = answer.usage
        assert usage is not None
        cheap = (usage.prompt_tokens * 0.10 + usage.completion_tokens * 0.20) / 1e6
        assert abs(row["cost_usd"] - cheap) < 1e-12, (row["cost_usd"], cheap)
        failed = [a for a in row["attempts"] if not a["ok"]]
        assert failed and all(a["billed"] is False for a in failed), row["attempts"]
        client.close()
    finally:
        _control(sim_url, model="sim-tiny", quality={"chat": 0.85})
        for model in STRONG:
            _control(sim_url, model=model, error_5xx=0.0)
        sidecar.stop()
