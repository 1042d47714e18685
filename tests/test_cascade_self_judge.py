"""routing.cascade_judge_model = "first" (issue 17, sixteenth session): the self-judge. A
two-model pool (MT Bench's GPT-4 + Mixtral) holds no third, cheap judge; the cascade's first
model grades its own answer. The sidecar calls it as the judge, and `arbiter replay
--routing-config` replays a two-model table with it, charging each reading at the first model's
price, with a larger default judge error (SELF_JUDGE_ERROR); a judge that is neither a model
of the pool nor "first" stays a clear config error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arbiter.cascade_judge import SELF_JUDGE, SELF_JUDGE_ERROR, judge_for
from arbiter.errors import ConfigError
from arbiter.offline import outcome_table as ot
from arbiter.offline import replay as rp
from arbiter.offline import replay_cli
from arbiter.offline.modelled_judge import JUDGE_OUT_TOKENS, judge_prompt_tokens
from arbiter.routing_file import load_routing
from tests.test_cascade_judge import ANSWER, GPT4, JUDGE, MIXTRAL, ROUTING, _sidecar, _table

SELF_ROUTING = ROUTING.replace('cascade_judge_model = "sim-tiny"', 'cascade_judge_model = "first"')


def _pair(tmp: Path) -> tuple[ot.Table, Path]:
    """test_cascade_judge's table without its third model: GPT-4 and Mixtral only."""
    t, models = _table(tmp)
    doc = json.loads(models.read_text())
    doc["models"] = [m for m in doc["models"] if m["id"] != JUDGE]
    pair_models = tmp / "pair.models.json"
    pair_models.write_text(json.dumps(doc))
    return ot.Table(t.rows, tuple(m for m in t.models if m.id != JUDGE)), pair_models


def _self_config(tmp: Path, t: ot.Table) -> Path:
    p = tmp / "self.toml"
    tasks = sorted({r.task for r in t.rows})
    lines = ", ".join(f"{k} = [1.0, -2.0]" for k in tasks)
    p.write_text(
        f"[routing]\ncascade_tasks = {json.dumps(tasks)}\ncascade_all = true\n"
        f'cascade_first_model = "{MIXTRAL}"\ncascade_judge_model = "first"\n'
        f"cascade_judge_gain = {{ {lines} }}\ncascade_min_expected_gain = 0.5\n"
    )
    return p


def test_first_is_accepted_in_a_two_model_pool_and_an_unknown_judge_is_a_clear_error(
    tmp_path: Path,
) -> None:
    p = tmp_path / "r.toml"
    ok = 'cascade_tasks = ["chat"]\ncascade_judge_gain = { chat = [1.0, -2.0] }\n'
    p.write_text(f'[routing]\n{ok}cascade_judge_model = "first"\n')
    assert load_routing(p, [GPT4, MIXTRAL]).cascade_judge_model == SELF_JUDGE
    p.write_text(f'[routing]\n{ok}cascade_judge_model = "{JUDGE}"\n')
    with pytest.raises(ConfigError, match=r"unknown model 'gpt-3\.5-turbo-1106' \(a model of the "):
        load_routing(p, [GPT4, MIXTRAL])
    assert judge_for(SELF_JUDGE, MIXTRAL) == MIXTRAL and judge_for(JUDGE, MIXTRAL) == JUDGE
    p.write_text(f'[routing]\n{ok}cascade_judge_model = "first"\n')
    with pytest.raises(ConfigError, match="both a model of the pool and the self-judge"):
        load_routing(p, [GPT4, "first"])  # a model named "first": ambiguous, refused


def test_a_two_model_table_replays_with_the_self_judge_and_pays_its_calls(tmp_path: Path) -> None:
    t, _ = _pair(tmp_path)
    routing = load_routing(_self_config(tmp_path, t), [m.id for m in t.models])
    cfg, _ = replay_cli.from_routing(routing, t, cascade_judge_error=0.0)
    res = rp.run(t, cfg)
    # a noiseless self-judge: exactly the ten bad answers escalate
    assert res.escalations == 10 and res.calls[GPT4] == 10 and res.calls[MIXTRAL] == 20
    price = next(m for m in t.models if m.id == MIXTRAL)  # the judge is Mixtral: its price
    judged = sum(
        price.cost_usd(judge_prompt_tokens(r.prompt, ANSWER), JUDGE_OUT_TOKENS) for r in t.rows
    )
    calls = sum(r.outcomes[MIXTRAL].cost_usd for r in t.rows) + sum(
        r.outcomes[GPT4].cost_usd for r in t.rows if r.outcomes[MIXTRAL].quality == 0
    )
    assert judged > 0 and res.cost_usd == pytest.approx(calls + judged)


def test_a_self_judge_is_modelled_with_the_larger_error_unless_one_is_set(tmp_path: Path) -> None:
    t, _ = _pair(tmp_path)
    routing = load_routing(_self_config(tmp_path, t), [m.id for m in t.models])
    cfg, _ = replay_cli.from_routing(routing, t)
    assert rp.cascade_judge_error(cfg) == SELF_JUDGE_ERROR > cfg.judge_error
    cfg, _ = replay_cli.from_routing(routing, t, judge_error=0.1, cascade_judge_error=0.1)
    assert rp.cascade_judge_error(cfg) == 0.1


def test_the_replay_cli_sweeps_a_two_model_table_with_the_self_judge(tmp_path: Path) -> None:
    t, models = _pair(tmp_path)
    out = tmp_path / "r.json"
    config = str(_self_config(tmp_path, t))
    args = [str(tmp_path / "t.jsonl.gz"), "--models", str(models), "--routing-config", config,
            "--sweep", "--out", str(out), "--no-progress"]  # fmt: skip
    assert replay_cli.main(args) == 0
    doc = json.loads(out.read_text())
    assert doc["sweep_knob"] == "gain" and doc["apgr_cost"] is not None


@pytest.mark.parametrize(
    ("reply", "escalates"),
    [("Clear and complete.\nSCORE: 9", False), ("Thin and evasive.\nSCORE: 2", True)],
)
def test_the_sidecar_asks_the_first_model_to_judge_its_own_answer(
    tmp_path: Path, reply: str, escalates: bool
) -> None:
    status, calls, text = _sidecar(tmp_path, SELF_ROUTING, reply)
    assert status == 200
    assert calls[:2] == ["sim-small", "sim-small"]  # the answer, then its own model's grade
    if escalates:
        assert len(calls) == 3 and calls[2] != "sim-small" and "sim-small" not in text
    else:
        assert calls == ["sim-small", "sim-small"] and "(sim-small)" in text
