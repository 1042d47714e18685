"""A cascade with n > 1 reads every choice of the cheap answer: a refusal, an empty or a cut-off
second choice escalates as a first one would (the rules used to read only the first choice, so
a cheap answer half refusals was kept and billed as a good one)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import httpx
import openai
import pytest

from arbiter.grading import grade_answer
from arbiter.offline.demo import demo_settings
from arbiter.toml_text import to_toml
from tests.conftest import Sidecar
from tests.e2e.test_cascade_e2e import _control

CHAT = 'cascade_tasks = ["chat"]\ncascade_all = true\ncascade_first_models = ["sim-tiny"]\n'


def _weak(task: str, prompt: str, content: str | None, finish: str | None) -> bool:
    grade = grade_answer(
        task=task, prompt=prompt, content=content, finish_reason=finish, response_format=None
    )
    return not content or finish == "length" or (grade is not None and grade.score < 0.5)


@pytest.mark.parametrize("n", [2, 3])
def test_a_weak_later_choice_escalates_the_cheap_answer(
    tmp_path: Path, sim_url: str, n: int
) -> None:
    cfg = tmp_path / "arbiter.toml"
    doc = demo_settings(sim_url, tmp_path / "a.db")
    doc["routing"].update(tomllib.loads(CHAT))
    doc["routing"]["judge_sample_rate"] = 0.0
    cfg.write_text(to_toml(doc))
    sidecar = Sidecar(cfg).start()
    # half the cheap model's answers are weak: with n choices, most cheap answers hold one
    _control(sim_url, model="sim-tiny", quality={"chat": 0.5})
    try:
        key = str(sidecar.create_key("choices")["key"])
        client = openai.OpenAI(api_key=key, base_url=sidecar.base_url, max_retries=0, timeout=30)
        kept = later = 0
        for i in range(30):
            prompt = f"Tell me something nice about the sea, number {i}."
            raw = client.chat.completions.with_raw_response.create(
                model="auto", messages=[{"role": "user", "content": prompt}], n=n
            )
            answer = raw.parse()
            assert len(answer.choices) == n
            if raw.headers["x-arbiter-model"] != "sim-tiny":
                row = httpx.get(
                    f"{sidecar.root_url}/arbiter/decisions/{raw.headers['x-arbiter-decision-id']}",
                    headers={"authorization": f"Bearer {key}"},
                ).json()
                later += "escalated (choice " in row["reason"]
                continue
            kept += 1
            for choice in answer.choices:  # a kept cheap answer is good in every choice
                content, finish = choice.message.content, choice.finish_reason
                assert not _weak("chat", prompt, content, finish), (choice.index, content)
        client.close()
        assert kept > 0  # the cheap model still answers where all its choices are good
        assert later > 0  # ... and a weak later choice is what escalated some (P(none) < 1e-3)
    finally:
        _control(sim_url, model="sim-tiny", quality={"chat": 0.85})
        sidecar.stop()
