"""routing.cascade_judge_gain / cascade_judge_model (issue 17, round nine): the LLM judge grades
the cheap model's answer inside the request and the cascade escalates when its score, through the
task's line, reaches cascade_min_expected_gain; the judge's call is paid. The sidecar does it and
`arbiter replay --routing-config` models it (offline/modelled_judge.py: the answer's recorded
quality seen through a flip-noise judge, its call charged at the judge model's price)."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from arbiter.cascade_judge import hard_escalation, judged_escalation
from arbiter.config import ModelSettings
from arbiter.errors import ConfigError, UpstreamError
from arbiter.offline import outcome_table as ot
from arbiter.offline import replay as rp
from arbiter.offline import replay_cli
from arbiter.offline.modelled_judge import JUDGE_OUT_TOKENS, ModelledJudge, judge_prompt_tokens
from arbiter.routing_file import load_routing
from arbiter.types import ChatResult, Usage

GPT4 = "gpt-4-1106-preview"
MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
JUDGE = "gpt-3.5-turbo-1106"
ANSWER = "Dear neighbour, we would love to see you at our garden party on Saturday. " * 4


def test_the_judge_score_is_read_through_the_task_line() -> None:
    # a + b x score: 1 - 2 x 0.1 = 0.8 >= 0.5 escalates; 1 - 2 x 0.9 = -0.8 does not
    assert judged_escalation([1.0, -2.0], 0.5, 0.1)[0] is True
    assert judged_escalation([1.0, -2.0], 0.5, 0.9)[0] is False
    assert hard_escalation("chat", "Write a note.", "", "stop", None)[0] is True
    assert hard_escalation("chat", "Write a note.", ANSWER, "length", None)[0] is True
    assert hard_escalation("chat", "Write a note.", ANSWER, "stop", None)[0] is False


def test_cascade_judge_settings_are_checked(tmp_path: Path) -> None:
    p = tmp_path / "r.toml"
    ok = (
        'cascade_tasks = ["chat"]\ncascade_judge_gain = { chat = [1.0, -2.0] }\n'
        f'cascade_judge_model = "{JUDGE}"\n'
    )
    p.write_text("[routing]\n" + ok)
    r = load_routing(p, [GPT4, MIXTRAL, JUDGE])
    assert r.cascade_judge_gain == {"chat": [1.0, -2.0]} and r.cascade_judge_model == JUDGE
    for bad, says in (
        (ok.replace("[1.0, -2.0]", "[1.0]"), "two finite numbers"),
        (ok.replace("chat = [", "code = ["), "'code' is not in routing.cascade_tasks"),
        (ok.replace(f'cascade_judge_model = "{JUDGE}"\n', ""), "needs routing.cascade_judge_model"),
        (ok.replace(JUDGE, "no-such-model"), "unknown model 'no-such-model'"),
        (ok.replace("cascade_judge_gain = { chat = [1.0, -2.0] }\n", ""), "cascade_judge_gain"),
        (ok + "cascade_judge_cost_exponent = 5.0\n", "must be in \\[0, 4\\]"),
    ):
        p.write_text("[routing]\n" + bad)
        with pytest.raises(ConfigError, match=says):
            load_routing(p, [GPT4, MIXTRAL, JUDGE])


def _sidecar(tmp_path: Path, routing: str, judge_reply: str) -> tuple[int, list[str], str]:
    """One chat request through a sidecar whose judge (sim-tiny) replies `judge_reply`: its
    status, the models its upstream calls went to (in order) and the answer it returned."""
    from tests.budget_harness import HEADERS, Harness, Scripted, settings

    names: list[str] = []

    class Upstream(Scripted):
        async def complete(self, body: dict[str, Any], model: ModelSettings) -> ChatResult:
            names.append(model.name)
            grading = "[QUESTION]" in json.dumps(body.get("messages", []))
            if grading and judge_reply == "fail":
                raise UpstreamError(f"{model.name}: malformed answer from upstream")
            text = judge_reply if grading else f"{ANSWER} ({model.name})"
            out = {"choices": [{"message": {"content": text}, "finish_reason": "stop"}]}
            return ChatResult(model.name, out, text, "stop", Usage(100, 50), 1.0)

    body = {"model": "auto", "messages": [{"role": "user", "content": "Write a short note "
            "inviting a neighbour to a garden party."}]}  # fmt: skip

    async def go() -> tuple[int, str]:
        async with Harness(settings(tmp_path, None, routing=routing), Upstream()) as h:
            r = await h.client.post("/v1/chat/completions", json=body, headers=HEADERS)
            await h.settled()
            return r.status_code, r.json()["choices"][0]["message"]["content"]

    status, text = asyncio.run(go())
    return status, names, text


ROUTING = (
    'explore = 0.0\ncascade_tasks = ["chat", "creative"]\ncascade_all = true\n'
    'cascade_first_model = "sim-small"\ncascade_judge_model = "sim-tiny"\n'
    "cascade_judge_gain = { chat = [5.0, -10.0], creative = [5.0, -10.0] }\n"
    "cascade_min_expected_gain = 0.5\n"
)


@pytest.mark.parametrize(
    ("reply", "escalates"),
    [("Clear and complete.\nSCORE: 9", False), ("Thin and evasive.\nSCORE: 2", True)],
)
def test_the_sidecar_judges_the_cheap_answer_and_escalates_on_a_low_score(
    tmp_path: Path, reply: str, escalates: bool
) -> None:
    """Score 9 -> 0.89: 5 - 8.9 < 0.5, the cheap answer is returned; score 2 -> 0.11: 5 - 1.1
    >= 0.5, escalated to the baseline. The judge is called in the request, between the two."""
    status, calls, text = _sidecar(tmp_path, ROUTING, reply)
    assert status == 200
    assert calls[:2] == ["sim-small", "sim-tiny"]
    if escalates:
        assert len(calls) == 3 and calls[2] != "sim-small" and "sim-small" not in text
    else:
        assert calls == ["sim-small", "sim-tiny"] and "(sim-small)" in text


@pytest.mark.parametrize("reply", ["I cannot grade this.", "fail"])
def test_a_judge_without_a_score_falls_back_to_the_task_rule(tmp_path: Path, reply: str) -> None:
    """No SCORE line, or a failed judge call: the verdict is lost, never the request; the task's
    own rule decides (here none but the hard checks, which the answer passes: kept)."""
    status, calls, text = _sidecar(tmp_path, ROUTING, reply)
    assert status == 200 and calls[0] == "sim-small" and "sim-tiny" in calls
    assert "(sim-small)" in text and len(set(calls)) == 2  # never escalated


def _table(tmp: Path) -> tuple[ot.Table, Path]:
    """Open-ended notes; Mixtral's answer is bad (0.0) on even rows, good (0.9) on odd ones."""
    models = tmp / "models.json"
    models.write_text(json.dumps({"models": [
        {"id": GPT4, "price_in_per_mtok": 10.0, "price_out_per_mtok": 30.0},
        {"id": JUDGE, "price_in_per_mtok": 1.0, "price_out_per_mtok": 2.0},
        {"id": MIXTRAL, "price_in_per_mtok": 0.24, "price_out_per_mtok": 0.24},
    ]}))  # fmt: skip
    lines = []
    for i in range(20):
        prompt = f"Write a short, friendly note {i} inviting a neighbour to a garden party."
        outs = {GPT4: {"quality": 1.0, "response": ANSWER + " More."},
                JUDGE: {"quality": 0.5, "response": ANSWER},
                MIXTRAL: {"quality": 0.0 if i % 2 == 0 else 0.9, "response": ANSWER}}  # fmt: skip
        msgs = [{"role": "user", "content": prompt}]
        lines.append(json.dumps({"id": f"n-{i}", "task": "chat", "outcomes": outs,
                                 "messages": msgs}))  # fmt: skip
    path = tmp / "t.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    t = replay_cli.classified(ot.load_table(path, ot.load_models(models)))
    return t, models


def _config(tmp: Path, t: ot.Table, judge_error: float) -> rp.ReplayConfig:
    p = tmp / "judge.toml"
    tasks = sorted({r.task for r in t.rows})
    lines = ", ".join(f"{k} = [1.0, -2.0]" for k in tasks)
    p.write_text(
        f"[routing]\ncascade_tasks = {json.dumps(tasks)}\ncascade_all = true\n"
        f'cascade_first_model = "{MIXTRAL}"\ncascade_judge_model = "{JUDGE}"\n'
        f"cascade_judge_gain = {{ {lines} }}\ncascade_min_expected_gain = 0.5\n"
    )
    cfg, _ = replay_cli.from_routing(
        load_routing(p, [m.id for m in t.models]), t, judge_error=judge_error
    )
    return cfg


def test_the_replay_escalates_what_the_modelled_judge_reads_as_weak_and_pays_for_it(
    tmp_path: Path,
) -> None:
    t, _ = _table(tmp_path)
    res = rp.run(t, _config(tmp_path, t, 0.0))
    # a noiseless judge: exactly the ten bad answers escalate (1 - 2 x 0 >= 0.5 > 1 - 1.8)
    assert res.escalations == 10 and res.calls[GPT4] == 10 and res.calls[MIXTRAL] == 20
    assert res.quality == pytest.approx((10 * 1.0 + 10 * 0.9) / 20)
    judge_price = next(m for m in t.models if m.id == JUDGE)
    judged = sum(
        judge_price.cost_usd(judge_prompt_tokens(r.prompt, ANSWER), JUDGE_OUT_TOKENS)
        for r in t.rows
    )
    calls = sum(r.outcomes[MIXTRAL].cost_usd for r in t.rows) + sum(
        r.outcomes[GPT4].cost_usd for i, r in enumerate(t.rows) if r.outcomes[MIXTRAL].quality == 0
    )
    assert res.cost_usd == pytest.approx(calls + judged)  # every judge call charged
    # a judge that always errs reads another row's answer: its verdicts no longer follow quality
    noisy = rp.run(t, _config(tmp_path, t, 1.0))
    assert noisy.quality < res.quality


def test_the_replay_cli_sweeps_the_judge_threshold(tmp_path: Path) -> None:
    t, models = _table(tmp_path)
    path = tmp_path / "t.jsonl.gz"
    _config(tmp_path, t, 0.0)  # writes judge.toml
    out = tmp_path / "r.json"
    args = [str(path), "--models", str(models), "--routing-config", str(tmp_path / "judge.toml"),
            "--sweep", "--out", str(out), "--no-progress", "--judge-error", "0"]  # fmt: skip
    assert replay_cli.main(args) == 0
    doc = json.loads(out.read_text())
    assert doc["sweep_knob"] == "gain"


def test_a_judge_model_missing_from_the_models_file_is_a_clear_error(tmp_path: Path) -> None:
    t, _ = _table(tmp_path)
    pool = ot.Table(t.rows, tuple(m for m in t.models if m.id != JUDGE))
    with pytest.raises(ValueError, match="cannot price its calls"):
        ModelledJudge(pool, JUDGE, 0.0)


def test_the_shuffled_control_leaves_the_judges_reading_with_the_answer(tmp_path: Path) -> None:
    """A live judge reads the answer's text, which a shuffled-labels control does not move: the
    modelled judge reads the answer's own label there, not the label the control gave the row
    (else the control would hand the judge the shuffled labels and measure nothing)."""
    t, _ = _table(tmp_path)
    judge = ModelledJudge(ot.shuffled_labels(t, 3), JUDGE, 0.0)
    moved = 0
    for orig, row in zip(t.rows, judge.table.rows, strict=True):
        out = row.outcomes[MIXTRAL]
        moved += out.quality != orig.outcomes[MIXTRAL].quality
        assert judge.read(row, MIXTRAL, out)[0] == orig.outcomes[MIXTRAL].quality
    assert moved > 0


def test_a_judged_gain_can_be_weighed_per_dollar_of_the_fix() -> None:
    """cascade_judge_cost_exponent: at the same grade the cheaper escalation clears the bar and
    the dearer one does not (gain 0.8 x (0.004 / cost) ** 1)."""
    assert judged_escalation([1.0, -2.0], 0.5, 0.1, 0.004, 1.0)[0] is True
    assert judged_escalation([1.0, -2.0], 0.5, 0.1, 0.016, 1.0)[0] is False
    assert judged_escalation([1.0, -2.0], 0.5, 0.1, 0.016, 0.0)[0] is True  # off: the grade alone


def test_chat_judge_toml_judges_the_open_ended_tasks_and_needs_its_judge_in_the_pool() -> None:
    examples = Path(__file__).resolve().parents[1] / "examples" / "routing"
    pool = [GPT4, MIXTRAL + ":concise", JUDGE]
    r = load_routing(examples / "chat_judge.toml", pool)
    assert r.cascade_judge_model == JUDGE and "math" not in r.cascade_judge_gain
    assert set(r.cascade_judge_gain) == set(r.cascade_tasks) - {"math"}
    assert r.cascade_judge_cost_exponent == 1.0 and not r.cascade_prompt_gain
    with pytest.raises(ConfigError, match=r"unknown model 'gpt-3\.5-turbo-1106'"):
        load_routing(examples / "chat_judge.toml", [GPT4, MIXTRAL])  # MT Bench's pair: no judge


def test_a_later_choice_gets_the_judges_hard_checks() -> None:
    """n > 1 under the in-request judge: the judge grades the first choice, and the later ones
    go through its hard checks (cascade_choices.py): an empty or cut-off one escalates."""
    from arbiter.answer_choices import Choice
    from arbiter.cascade_choices import later_choices_escalation

    good = Choice("The sea is calm and vast, and its light changes all day long.", "stop")
    prompt = "Tell me something nice about the sea."
    assert later_choices_escalation(hard_escalation, "chat", prompt, [good, good], None) is None
    for weak in (Choice("", "stop"), Choice("The sea is", "length")):
        verdict = later_choices_escalation(hard_escalation, "chat", prompt, [good, weak], None)
        assert verdict == (True, "choice 2: no complete answer")
    # the first choice is not the function's to judge (the judge grades it)
    assert (
        later_choices_escalation(hard_escalation, "chat", prompt, [Choice("", None)], None) is None
    )
