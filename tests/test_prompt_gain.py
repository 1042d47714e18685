"""routing.cascade_prompt_gain (issue 17, round seven): the prompt's difficulty on the cascade's
expected-gain scale. A request whose prompt line reaches cascade_min_expected_gain skips the cheap
try and goes straight to the routed choice, in the sidecar and in its replay alike; examples/
routing/chat.toml ships the line the mixed proxy's train rows chose (bench/routing_round7.py)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from arbiter.cascade_gain import skips_first_model
from arbiter.errors import ConfigError
from arbiter.offline import outcome_table as ot
from arbiter.offline import replay as rp
from arbiter.offline import replay_cli
from arbiter.routing_file import load_routing

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "routing"
GPT4 = "gpt-4-1106-preview"
MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
OPEN_TASKS = {"chat", "creative", "summarization", "translation", "extraction", "code"}


def test_the_prompt_line_is_read_on_the_expected_gain_scale() -> None:
    lines = {"chat": [0.5, 1.0]}
    # difficulty = 1 - easiness: 0.5 + 1.0 x 0.6 = 1.1
    assert skips_first_model(lines, 1.05, "chat", 0.4) is True
    assert skips_first_model(lines, 1.15, "chat", 0.4) is False
    assert skips_first_model(lines, 1.05, "math", 0.4) is False  # no line for the task
    assert skips_first_model(lines, -9.0, "chat", None) is False  # no difficulty score: cascade


def test_prompt_gain_settings_are_checked(tmp_path: Path) -> None:
    p = tmp_path / "r.toml"
    ok = 'cascade_tasks = ["chat", "math"]\ncascade_prompt_gain = { chat = [0.9, 0.5] }\n'
    p.write_text("[routing]\n" + ok)
    assert load_routing(p, [GPT4, MIXTRAL]).cascade_prompt_gain == {"chat": [0.9, 0.5]}
    for bad, says in (
        (ok.replace("[0.9, 0.5]", "[0.9]"), "two finite numbers"),
        (ok.replace("chat = [", "code = ["), "'code' is not in routing.cascade_tasks"),
        (ok.replace("[0.9, 0.5]", '["a", 0.5]'), "cascade_prompt_gain"),
    ):
        p.write_text("[routing]\n" + bad)
        with pytest.raises(ConfigError, match=says):
            load_routing(p, [GPT4, MIXTRAL])


def test_chat_toml_ships_a_prompt_line_for_the_open_ended_tasks() -> None:
    r = load_routing(EXAMPLES / "chat.toml", [GPT4, MIXTRAL])
    assert set(r.cascade_prompt_gain) == OPEN_TASKS  # math keeps its verifier: no prompt line
    assert set(r.cascade_prompt_gain) <= set(r.cascade_tasks)


def test_check_config_warns_when_no_prompt_has_a_difficulty_score(tmp_path: Path) -> None:
    from arbiter.config_warnings import config_warnings
    from tests.budget_harness import settings

    lined = 'cascade_tasks = ["chat"]\ncascade_prompt_gain = { chat = [0.9, 0.5] }\n'
    off = config_warnings(settings(tmp_path, None, routing=lined))  # the harness: difficulty off
    assert any("cascade_prompt_gain" in w and "difficulty is off" in w for w in off)
    on = config_warnings(settings(tmp_path, None, routing=lined + "difficulty = true\n"))
    assert not any("cascade_prompt_gain" in w for w in on)


def _sidecar_calls(tmp_path: Path, routing: str) -> tuple[int, list[str]]:
    """One chat request through the sidecar (difficulty scored); its upstream calls' models."""
    from tests.budget_harness import sidecar_calls

    return sidecar_calls(
        tmp_path,
        routing,
        "Which of these is a noble gas? A. Nitrogen B. Argon C. Oxygen D. Chlorine",
    )


@pytest.mark.parametrize(("line", "skips"), [("[5.0, 0.0]", True), ("[-5.0, 0.0]", False)])
def test_the_sidecar_skips_the_cheap_try_when_the_prompt_line_says_so(
    tmp_path: Path, line: str, skips: bool
) -> None:
    """A prompt line at or over the threshold: one call, to the baseline (no cheap try paid);
    under it: the cascade as before (the cheap model first; its answer "ok" is short enough
    for the answer line [5, 0] to escalate)."""
    routing = (
        'explore = 0.0\ndifficulty = true\ncascade_tasks = ["chat"]\ncascade_all = true\n'
        'cascade_first_model = "sim-small"\ncascade_expected_gain = { chat = [5.0, 0.0] }\n'
        f"cascade_prompt_gain = {{ chat = {line} }}\ncascade_min_expected_gain = 0.5\n"
    )
    status, calls = _sidecar_calls(tmp_path, routing)
    assert status == 200
    if skips:
        assert len(calls) == 1 and calls[0] != "sim-small"
    else:
        assert calls[0] == "sim-small" and len(calls) == 2


def _table(tmp: Path) -> tuple[Path, Path]:
    """Knowledge questions (no answer text recorded, as MMLU's letters) and open-ended ones."""
    models = tmp / "models.json"
    models.write_text(json.dumps({"models": [
        {"id": GPT4, "price_in_per_mtok": 10.0, "price_out_per_mtok": 30.0},
        {"id": MIXTRAL, "price_in_per_mtok": 0.24, "price_out_per_mtok": 0.24},
    ]}))  # fmt: skip
    lines = []
    for i in range(12):
        knowledge = i % 2 == 0
        prompt = (
            f"Question {i}: which element has atomic number {i + 3}? A. H B. He C. Li D. Be"
            if knowledge
            else f"Write a short, friendly note {i} inviting a neighbour to a garden party."
        )
        weak: dict[str, Any] = {"quality": 0.2 if knowledge else 0.8}
        if not knowledge:
            weak["response"] = "Dear neighbour, please come to our garden party. " * 8
        outs = {GPT4: {"quality": 0.9, "response": None if knowledge else "A note. " * 40},
                MIXTRAL: weak}  # fmt: skip
        msgs = [{"role": "user", "content": prompt}]
        lines.append(json.dumps({"id": f"k-{i}", "task": "chat", "outcomes": outs,
                                 "messages": msgs}))  # fmt: skip
    table = tmp / "t.jsonl.gz"
    table.write_bytes(gzip.compress("\n".join(lines).encode()))
    return table, models


def test_the_replay_cli_runs_chat_toml_and_skips_by_the_prompt_line(tmp_path: Path) -> None:
    """`arbiter replay TABLE --routing-config chat.toml --sweep` runs on a small synthetic table;
    with a prompt line that always reaches the threshold, no request pays the cheap try (rows
    without answer text too, which the cascade otherwise keeps with the cheap model)."""
    table, models = _table(tmp_path)
    out = tmp_path / "r.json"
    args = [str(table), "--models", str(models), "--routing-config", str(EXAMPLES / "chat.toml"),
            "--sweep", "--out", str(out), "--no-progress"]  # fmt: skip
    assert replay_cli.main(args) == 0
    doc = json.loads(out.read_text())
    assert doc["sweep_knob"] == "gain" and doc["apgr_cost"] is not None
    t = replay_cli.classified(ot.load_table(table, ot.load_models(models)))
    p = tmp_path / "always.toml"  # chat.toml, at a threshold every prompt line reaches
    body = (EXAMPLES / "chat.toml").read_text().split("[routing]", 1)[1]
    p.write_text("[routing]" + body.replace("cascade_min_expected_gain = 1.05", "") + "\n"
                 "cascade_min_expected_gain = -99.0\n")  # fmt: skip
    r = load_routing(p, [m.id for m in t.models])
    cfg, _ = replay_cli.from_routing(r, t)
    from arbiter.difficulty import load_default

    scorer = load_default()
    assert scorer is not None
    easy = [scorer.easiness(row.prompt) for row in t.rows]
    res = rp.run(t, cfg, easiness=easy)
    lined = sum(row.task in r.cascade_prompt_gain for row in t.rows)
    assert lined >= 6  # the open-ended notes at least
    assert res.calls[MIXTRAL] == len(t.rows) - lined and res.calls[GPT4] == len(t.rows)
    res = rp.run(t, cfg, easiness=None)  # no difficulty score: every request tries Mixtral
    assert res.calls[MIXTRAL] == len(t.rows)
