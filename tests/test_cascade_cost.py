"""routing.cascade_cost_exponent / cascade_cost_reference_usd (issue 17, round eight): the math
cascade escalates by the verifier's doubt per dollar of the fix, in the sidecar and in its
replay alike (bench/results/routing.md, "Round eight: GSM8K per dollar")."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest

from arbiter.cascade import load_verifier
from arbiter.cascade_cost import DEFAULT_REFERENCE_USD, per_dollar, priced_escalation
from arbiter.cascade_gain import answer_rule
from arbiter.config import RoutingSettings
from arbiter.errors import ConfigError
from arbiter.offline import outcome_table as ot
from arbiter.offline import replay as rp
from arbiter.offline import replay_cli
from arbiter.routing_file import load_routing

GPT4 = "gpt-4-1106-preview"
MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
PROMPT = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in "
    "May. How many clips did Natalia sell altogether in April and May?"
)
NO_FINAL = "hi"  # no worked answer, no final number: the shipped verifier doubts it (~0.98)
CASCADE = 'cascade_tasks = ["math"]\ncascade_all = true\ncascade_math_verifier = 0.5\n'


def test_per_dollar_weighs_the_score_by_the_price_of_the_fix() -> None:
    assert per_dollar(0.6, 0.008, 0.004, 0.0) == 0.6  # exponent 0: the verifier alone
    assert per_dollar(0.6, 0.004, 0.004, 1.0) == pytest.approx(0.6)  # at the reference
    assert per_dollar(0.6, 0.008, 0.004, 1.0) == pytest.approx(0.3)  # twice: half the score
    assert per_dollar(0.6, 0.016, 0.004, 0.5) == pytest.approx(0.3)  # 4x at alpha 0.5: half
    assert per_dollar(0.6, 0.0001, 0.004, 1.0) == 1.0  # capped: still a threshold in [0, 1]
    for unknown in (0.0, -1.0, math.inf, math.nan):  # an unpriced fix leaves the score alone
        assert per_dollar(0.6, unknown, 0.004, 1.0) == 0.6


def test_the_cheaper_fix_escalates_first_at_equal_doubt() -> None:
    v = load_verifier()
    assert v is not None
    raw = v.score(PROMPT, NO_FINAL)
    assert raw > 0.9
    cheap = priced_escalation(v, 0.5, 0.004, 0.004, 1.0)
    dear = priced_escalation(v, 0.5, 0.012, 0.004, 1.0)  # a third of the score: under 0.5
    assert cheap("math", PROMPT, NO_FINAL, "stop", None)[0] is True
    esc, why = dear("math", PROMPT, NO_FINAL, "stop", None)
    assert esc is False and "per dollar" in why
    assert dear("math", PROMPT, None, "stop", None) == (True, "no complete answer")
    assert dear("math", PROMPT, "#### 72", "length", None)[0] is True  # a cut answer: escalate
    # the sidecar's rule: exponent 0 keeps the verifier alone, whatever the fix costs
    r = RoutingSettings(cascade_tasks=["math"], cascade_math_verifier=0.5)
    assert answer_rule(r, "math", v, 1e6)("math", PROMPT, NO_FINAL, "stop", None)[0] is True
    r = RoutingSettings(cascade_tasks=["math"], cascade_math_verifier=0.5,
                        cascade_cost_exponent=1.0)  # fmt: skip
    assert answer_rule(r, "math", v, 1e6)("math", PROMPT, NO_FINAL, "stop", None)[0] is False
    assert answer_rule(r, "math", v, 0.001)("math", PROMPT, NO_FINAL, "stop", None)[0] is True


def test_cost_settings_are_parsed_strictly(tmp_path: Path) -> None:
    p = tmp_path / "r.toml"
    ok = CASCADE + "cascade_cost_exponent = 0.5\ncascade_cost_reference_usd = 0.01\n"
    p.write_text("[routing]\n" + ok)
    r = load_routing(p, [GPT4, MIXTRAL])
    assert (r.cascade_cost_exponent, r.cascade_cost_reference_usd) == (0.5, 0.01)
    p.write_text("[routing]\n" + CASCADE)
    r = load_routing(p, [GPT4, MIXTRAL])
    assert (r.cascade_cost_exponent, r.cascade_cost_reference_usd) == (0.0, 0.004)
    assert RoutingSettings().cascade_cost_reference_usd == DEFAULT_REFERENCE_USD  # one default
    for bad, says in (
        ("cascade_cost_exponent = -0.5\n", r"cascade_cost_exponent.*\[0, 4\]"),
        ("cascade_cost_exponent = 5\n", r"cascade_cost_exponent.*\[0, 4\]"),
        ("cascade_cost_exponent = nan\n", r"cascade_cost_exponent.*\[0, 4\]"),
        ('cascade_cost_exponent = "1"\n', "cascade_cost_exponent"),
        ("cascade_cost_reference_usd = 0\n", "cascade_cost_reference_usd.*positive"),
        ("cascade_cost_reference_usd = -0.004\n", "cascade_cost_reference_usd.*positive"),
        ("cascade_cost_reference_usd = inf\n", "cascade_cost_reference_usd.*positive"),
        ("cascade_cost_reference_usd = true\n", "cascade_cost_reference_usd"),
        ("cascade_cost_exponant = 1\n", "cascade_cost_exponant"),
    ):
        p.write_text("[routing]\n" + CASCADE + bad)
        with pytest.raises(ConfigError, match=says):
            load_routing(p, [GPT4, MIXTRAL])


def test_check_config_warns_when_the_exponent_weighs_nothing(tmp_path: Path) -> None:
    from arbiter.config_warnings import config_warnings
    from tests.budget_harness import settings

    def warned(routing: str) -> list[str]:
        found = config_warnings(settings(tmp_path, None, routing=routing))
        return [w for w in found if "cascade_cost_exponent" in w]

    on = "cascade_cost_exponent = 0.5\n"
    assert warned(CASCADE + on) == []
    assert warned(CASCADE) == []  # off: nothing to say
    assert "cascade_math_verifier is 0" in warned(CASCADE.replace("= 0.5", "= 0.0") + on)[0]
    assert "math is not a cascade task" in warned('cascade_tasks = ["chat"]\n' + on)[0]
    lined = CASCADE + "cascade_expected_gain = { math = [0.0, 1.0] }\n" + on
    assert "cascade_expected_gain line" in warned(lined)[0]


@pytest.mark.parametrize(
    ("extra", "calls"),
    [
        ("", 2),  # the verifier alone: "hi" escalates
        ("cascade_cost_exponent = 1.0\ncascade_cost_reference_usd = 1e-9\n", 1),  # dear fix
        ("cascade_cost_exponent = 1.0\ncascade_cost_reference_usd = 1.0\n", 2),  # cheap fix
        ("cascade_cost_reference_usd = 1e-9\n", 2),  # no exponent: the reference is inert
    ],
)
def test_the_sidecar_weighs_its_math_escalation_by_the_price_of_the_fix(
    tmp_path: Path, extra: str, calls: int
) -> None:
    """A math request through the sidecar: the cheap model answers "hi"; whether it escalates
    follows the escalation target's predicted price against the reference (so the pipeline
    passes a positive predicted cost: a zero would leave the score, and escalate, as is)."""
    from tests.budget_harness import sidecar_calls

    routing = 'explore = 0.0\ncascade_first_model = "sim-small"\n' + CASCADE + extra
    status, models = sidecar_calls(tmp_path, routing, PROMPT)
    assert status == 200
    assert models[0] == "sim-small" and len(models) == calls


def _table(tmp: Path) -> tuple[Path, Path]:
    """Math rows whose cheap answers the verifier doubts alike; half with a short prompt (a
    cheap fix) and half with a very long one (a GPT-4 call ~10x dearer)."""
    models = tmp / "models.json"
    models.write_text(json.dumps({"models": [
        {"id": GPT4, "price_in_per_mtok": 10.0, "price_out_per_mtok": 30.0},
        {"id": MIXTRAL, "price_in_per_mtok": 0.24, "price_out_per_mtok": 0.24},
    ]}))  # fmt: skip
    lines = []
    for i in range(12):
        prompt = PROMPT.replace("48", str(40 + i))
        if i % 2:
            prompt = "Some context about the shop, which does not change the sums. " * 600 + prompt
        outs = {GPT4: {"quality": 1.0, "response": "In April 48, in May 24. " * 40 + "#### 72"},
                MIXTRAL: {"quality": 0.0, "response": NO_FINAL}}  # fmt: skip
        msgs = [{"role": "user", "content": prompt}]
        lines.append(json.dumps({"id": f"m-{i}", "task": "math", "outcomes": outs,
                                 "messages": msgs}))  # fmt: skip
    table = tmp / "t.jsonl.gz"
    table.write_bytes(gzip.compress("\n".join(lines).encode()))
    return table, models


def test_the_replay_cli_runs_the_cost_exponent(tmp_path: Path) -> None:
    """`arbiter replay TABLE --routing-config FILE --sweep` runs the setting and keeps its --out
    keys; at the configured threshold the replay escalates the cheap fixes and keeps the dear
    ones, as the sidecar would (no exponent: every doubted answer escalates)."""
    table, models = _table(tmp_path)
    cfg_path = tmp_path / "per_dollar.toml"
    cfg_path.write_text("[routing]\n" + CASCADE + "cascade_cost_exponent = 1.0\n"
                        "cascade_cost_reference_usd = 0.015\n")  # fmt: skip
    out = tmp_path / "r.json"
    args = [str(table), "--models", str(models), "--routing-config", str(cfg_path),
            "--sweep", "--out", str(out), "--no-progress"]  # fmt: skip
    assert replay_cli.main(args) == 0
    doc = json.loads(out.read_text())
    assert doc["sweep_knob"] == "verifier" and doc["feedback"] == "sidecar"
    for key in ("apgr", "cpt50", "cpt80", "curve", "aiq", "baselines", "model_share",
                "apgr_cost", "cpt50_cost_pct", "cpt80_cost_pct", "curve_cost"):  # fmt: skip
        assert key in doc
    t = replay_cli.classified(ot.load_table(table, ot.load_models(models)))
    assert all(row.task == "math" for row in t.rows)
    r = load_routing(cfg_path, [GPT4, MIXTRAL])
    cfg, _ = replay_cli.from_routing(r, t)
    res = rp.run(t, cfg)
    assert res.calls[MIXTRAL] == 12 and res.calls[GPT4] == 6  # the short prompts' fixes only
    plain = tmp_path / "plain.toml"
    plain.write_text("[routing]\n" + CASCADE)
    cfg, _ = replay_cli.from_routing(load_routing(plain, [GPT4, MIXTRAL]), t)
    assert rp.run(t, cfg).calls[GPT4] == 12
