"""arbiter replay on tiny synthetic tables (and on the shared tables in place, when present)."""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from arbiter.offline import outcome_table as ot
from arbiter.offline import replay as rp
from arbiter.offline import replay_cli
from arbiter.offline.routing_metrics import aiq, nondecreasing_hull
from arbiter.routing import Router
from tests.shared_data import ROUTING, require_shared
from tests.tables import essay_or_question

STRONG, WEAK, MID = "big", "small", "mid"
DATA = ROUTING


def _write(tmp: Path, n: int = 120, models: tuple[str, ...] = (STRONG, WEAK)) -> tuple[Path, Path]:
    prices = {STRONG: (10.0, 30.0), MID: (1.0, 2.0), WEAK: (0.2, 0.2)}
    mfile = tmp / "models.json"
    mfile.write_text(json.dumps({"models": [
        {"id": m, "price_in_per_mtok": prices[m][0], "price_out_per_mtok": prices[m][1]}
        for m in models
    ]}))  # fmt: skip
    rng = random.Random(7)
    lines = []
    for i in range(n):
        hard = i % 3 == 0
        q = {STRONG: 1.0 if rng.random() < 0.9 else 0.0,
             MID: 1.0 if rng.random() < 0.7 else 0.0,
             WEAK: 0.0 if hard else (1.0 if rng.random() < 0.9 else 0.0)}  # fmt: skip
        outs = {m: {"quality": q[m], "response": f"answer {i} #### {i}",
                    "prompt_tokens": 20, "completion_tokens": 40} for m in models}  # fmt: skip
        text = f"hard question {i} with many words" if hard else f"easy {i}"
        lines.append(
            json.dumps(
                {
                    "id": f"t-{i}",
                    "task": "math",
                    "messages": [{"role": "user", "content": text}],
                    "outcomes": outs,
                }
            )
        )
    tfile = tmp / "table.jsonl.gz"
    tfile.write_bytes(gzip.compress("\n".join(lines).encode()))
    return tfile, mfile


def test_load_table_costs_and_prompt(tmp_path: Path) -> None:
    tfile, mfile = _write(tmp_path, n=5)
    table = ot.load_table(tfile, ot.load_models(mfile))
    assert len(table.rows) == 5
    assert [m.id for m in table.models] == [STRONG, WEAK]
    assert table.rows[0].outcomes[STRONG].cost_usd == pytest.approx((20 * 10 + 40 * 30) / 1e6)
    assert ot.default_baseline(table) == STRONG
    assert ot.cheapest_model(table) == WEAK


def test_main_sweep_writes_report_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tfile, mfile = _write(tmp_path)
    out, png = tmp_path / "r.json", tmp_path / "c.png"
    args = [
        str(tfile),
        "--models",
        str(mfile),
        "--sweep",
        "--knobs",
        "0.01,0.5,0.8,1.0",
        "--difficulty",
        "none",
        "--out",
        str(out),
        "--plot",
        str(png),
        "--no-progress",
    ]
    assert replay_cli.main(args) == 0
    doc: dict[str, Any] = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == doc
    for key in (
        "requests",
        "cost_usd",
        "quality",
        "model_share",
        "baselines",
        "pgr",
        "curve",
        "apgr",
        "cpt50",
        "cpt80",
        "aiq",
        "aiq_hull",
        "aiq_oracle",
        "savings_first_500",
    ):
        assert key in doc, key
    assert set(doc["baselines"]) == {"always_baseline", "always_cheapest", "oracle"}
    assert doc["requests"] == 120
    assert sum(doc["model_share"].values()) == pytest.approx(100.0)
    ends = [p for p in doc["curve"] if p.get("anchor")]
    assert [p["strong_pct"] for p in ends] == [0.0, 100.0]
    for p in doc["curve"]:
        assert {"knob", "strong_pct", "cost_usd", "quality", "pgr"} <= set(p)
    assert doc["curve"][1]["strong_pct"] == 0.0  # target 0.01: always the cheap model
    assert png.stat().st_size > 1000
    assert 0.0 <= doc["aiq"] <= 1.0


def test_multi_model_table_has_aiq_but_no_pgr(tmp_path: Path) -> None:
    tfile, mfile = _write(tmp_path, n=60, models=(STRONG, MID, WEAK))
    table = ot.load_table(tfile, ot.load_models(mfile))
    doc = rp.replay(table, rp.ReplayConfig(), knobs=[0.01, 0.5, 0.9])
    assert "pgr" not in doc and "apgr" not in doc
    assert doc["aiq_oracle"] >= doc["aiq_hull"] - 1e-9


def test_replay_is_online_never_reads_unchosen_outcomes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tfile, mfile = _write(tmp_path)
    table = ot.load_table(tfile, ot.load_models(mfile))
    chosen: list[str] = []
    decide = Router.decide

    def spy(self: Router, req: Any, allowed: Any = None) -> Any:
        d = decide(self, req, allowed)
        chosen.append(d.chosen)
        return d

    monkeypatch.setattr(Router, "decide", spy)
    cfg = rp.ReplayConfig(knob=0.8, seed=3)
    first = rp.run(table, cfg)
    picks = list(chosen)
    # flip every outcome the router did not choose: an online replay cannot notice
    order = rp.replay_order(len(table.rows), cfg.seed)
    rows = list(table.rows)
    for i, model in zip(order, picks, strict=True):
        r = rows[i]
        outs = {m: (o if m == model else ot.Outcome(1.0 - o.quality, o.cost_usd, o.response))
                for m, o in r.outcomes.items()}  # fmt: skip
        rows[i] = ot.Row(r.id, r.task, r.prompt, r.prompt_tokens, outs)
    chosen.clear()
    second = rp.run(ot.Table(tuple(rows), table.models), cfg)
    assert chosen == picks
    assert second.cost_usd == pytest.approx(first.cost_usd)
    assert second.quality == pytest.approx(first.quality)


def test_same_seed_same_result_other_seed_other_order(tmp_path: Path) -> None:
    tfile, mfile = _write(tmp_path)
    table = ot.load_table(tfile, ot.load_models(mfile))
    a = rp.run(table, rp.ReplayConfig(knob=0.8, seed=1))
    b = rp.run(table, rp.ReplayConfig(knob=0.8, seed=1))
    assert a == b
    assert rp.replay_order(50, 1) != rp.replay_order(50, 2)


def test_cascade_charges_both_calls(tmp_path: Path) -> None:
    tfile, mfile = _write(tmp_path, n=30)
    table = ot.load_table(tfile, ot.load_models(mfile))
    cfg = rp.ReplayConfig(knob=0.01)  # always the cheap model first
    plain = rp.run(table, cfg)
    always = rp.run(table, cfg, escalate=lambda *_a: (True, "test"))
    assert plain.calls[STRONG] == 0 and always.escalations == 30
    assert always.cost_usd == pytest.approx(table.model_cost(STRONG) + table.model_cost(WEAK))
    assert always.quality == pytest.approx(table.model_quality(STRONG))


def test_cascade_sweep_cheap_first(tmp_path: Path) -> None:
    tfile, mfile = _write(tmp_path, n=60)
    table = ot.load_table(tfile, ot.load_models(mfile))

    def rule(t: float) -> rp.Escalate:
        # escalate the "hard" prompts always, the others when the threshold is low
        return lambda _task, prompt, *_a: ("hard" in prompt or t < 0.5, "test")

    doc = rp.cascade_sweep(table, rp.ReplayConfig(), (0.2, 0.8), rule)
    assert doc["first_model"] == WEAK and doc["baseline_model"] == STRONG
    by_knob = {p["knob"]: p for p in doc["curve"] if p["knob"] is not None}
    assert by_knob[0.2]["strong_pct"] == 100.0  # everything escalated
    assert by_knob[0.8]["strong_pct"] == pytest.approx(100 * 20 / 60, abs=1e-3)
    both = table.model_cost(STRONG) + table.model_cost(WEAK)
    assert by_knob[0.2]["cost_usd"] == pytest.approx(both, rel=1e-4)  # both calls charged
    assert doc["apgr"] > 0.5 and doc["cpt80"] < 80


def test_slope_var_reaches_the_router(tmp_path: Path) -> None:
    tfile, mfile = _write(tmp_path, n=10)
    table = ot.load_table(tfile, ot.load_models(mfile))
    default = rp._router(table, rp.ReplayConfig(), STRONG).params
    pinned = rp._router(table, rp.ReplayConfig(slope_var=1e-4), STRONG).params
    assert default.slope_prior_var == 0.25
    assert pinned.slope_prior_var == 1e-4 and pinned.slope_precision_cap >= 1e4
    easy = [1.0 if "easy" in r.prompt else -1.0 for r in table.rows]
    a = rp.run(table, rp.ReplayConfig(knob=0.8, slope_var=1e-4), easiness=easy)
    assert a == rp.run(table, rp.ReplayConfig(knob=0.8, slope_var=1e-4), easiness=easy)


def test_priors_change_cold_start(tmp_path: Path) -> None:
    tfile, mfile = _write(tmp_path)
    table = ot.load_table(tfile, ot.load_models(mfile))
    pessimistic = {WEAK: {"math": 0.05}, STRONG: {"math": 0.95}}
    a = rp.run(table, rp.ReplayConfig(knob=0.9))
    b = rp.run(table, rp.ReplayConfig(knob=0.9, priors=pessimistic))
    assert b.calls[STRONG] > a.calls[STRONG]


def test_table_priors_are_mean_quality_and_write_priors_round_trips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tfile, mfile = _write(tmp_path, models=(STRONG, MID, WEAK))
    table = ot.load_table(tfile, ot.load_models(mfile))
    train = ot.select_split(table, "train")
    priors = rp.table_priors(train)
    assert set(priors) == {STRONG, MID, WEAK}
    for m in (STRONG, MID, WEAK):
        assert priors[m] == {"math": pytest.approx(train.model_quality(m), abs=1e-6)}
    out = tmp_path / "priors.json"
    args = [str(tfile), "--models", str(mfile), "--split", "train", "--write-priors", str(out)]
    assert replay_cli.main(args) == 0
    doc = json.loads(out.read_text())
    assert doc == json.loads(capsys.readouterr().out)
    assert doc["quality"] == priors
    assert set(doc["output_length"]) == {STRONG, MID, WEAK}
    quality, lengths = rp.parse_priors(doc)
    assert quality == priors and set(lengths) == {STRONG, MID, WEAK}
    assert rp.parse_priors(priors) == (priors, {})  # a bare model -> task -> quality map
    # the file is a valid --priors input for a replay of the other split
    assert replay_cli.main([str(tfile), "--models", str(mfile), "--split", "heldout", "--priors",
                    str(out), "--prior-strength", "50", "--difficulty", "none",
                    "--no-progress"]) == 0  # fmt: skip


def test_prior_strength_reaches_the_router_and_the_sidecar_config(tmp_path: Path) -> None:
    import tomllib

    from arbiter.offline.replay_http import sidecar_toml

    tfile, mfile = _write(tmp_path, n=10)
    table = ot.load_table(tfile, ot.load_models(mfile))
    assert rp._router(table, rp.ReplayConfig(), STRONG).params.prior_strength == 8.0
    cfg = rp.ReplayConfig(prior_strength=50.0)
    assert rp._router(table, cfg, STRONG).params.prior_strength == 50.0
    doc = tomllib.loads(sidecar_toml(table, cfg, STRONG, "http://127.0.0.1:1", tmp_path / "d"))
    assert doc["routing"]["prior_strength"] == 50.0
    plain = tomllib.loads(sidecar_toml(table, rp.ReplayConfig(), STRONG, "http://x", tmp_path))
    assert "prior_strength" not in plain["routing"]


def test_random_hull_mix_lies_on_the_hull_in_expectation(tmp_path: Path) -> None:
    tfile, mfile = _write(tmp_path, n=300, models=(STRONG, MID, WEAK))
    table = ot.load_table(tfile, ot.load_models(mfile))
    singles = [(table.model_cost(m.id), table.model_quality(m.id)) for m in table.models]
    hull = nondecreasing_hull(singles)
    hx, hy = [p[0] for p in hull], [p[1] for p in hull]
    draws = [rp.random_hull_mix(table, 9, s) for s in range(30)]
    assert all(len(d) == 9 for d in draws)
    for k in range(9):
        cost = sum(d[k][0] for d in draws) / len(draws)
        qual = sum(d[k][1] for d in draws) / len(draws)
        assert hx[0] <= cost <= hx[-1]
        assert qual == pytest.approx(float(np.interp(cost, hx, hy)), abs=0.01)
    # one draw's hull keeps its lucky points: above the single-model hull, never below it
    c_min, c_max = min(hx), max(c for c, _ in singles)
    assert aiq([*singles, *draws[0]], c_min, c_max) >= aiq(singles, c_min, c_max) - 1e-12
    (tmp_path / "two").mkdir()
    tf2, mf2 = _write(tmp_path / "two", n=5)
    doc = rp.replay(ot.load_table(tf2, ot.load_models(mf2)), rp.ReplayConfig(), knobs=[0.5])
    assert "aiq_random_hull" not in doc  # two-model tables: the random router is PGR = c


def test_train_priors_bring_a_multi_model_replay_to_the_hull(tmp_path: Path) -> None:
    tfile, mfile = _write(tmp_path, n=300, models=(STRONG, MID, WEAK))
    table = ot.load_table(tfile, ot.load_models(mfile))
    train, heldout = ot.select_split(table, "train"), ot.select_split(table, "heldout")
    knobs = [0.01, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    cold = rp.replay(heldout, rp.ReplayConfig(), knobs=knobs)
    warm_cfg = rp.ReplayConfig(explore=0.1, priors=rp.table_priors(train), prior_strength=50.0)
    warm = rp.replay(heldout, warm_cfg, knobs=knobs)
    assert "aiq_random_hull" in warm and warm["aiq_random_hull"] >= warm["aiq_hull"]
    assert warm["aiq"] >= warm["aiq_hull"] - 0.01
    assert warm["aiq"] > cold["aiq"]


def _write_lengthy(tmp: Path, n: int) -> tuple[Path, Path]:
    """Three models; the strong one answers essays at length and questions briefly. The mid
    model is nearly as good at a tenth of the price: where the strong answer is long, it is
    the better value."""
    mfile = tmp / "models.json"
    prices = {STRONG: (10.0, 30.0), MID: (1.0, 3.0), WEAK: (0.1, 0.1)}
    mfile.write_text(json.dumps({"models": [
        {"id": m, "price_in_per_mtok": p[0], "price_out_per_mtok": p[1]} for m, p in prices.items()
    ]}))  # fmt: skip
    rng = random.Random(3)
    lines = []
    for i in range(n):
        essay, text = essay_or_question(i)
        strong_len = 1500 if essay else 10
        outs = {
            STRONG: {"quality": float(rng.random() < 0.9), "prompt_tokens": 30,
                     "completion_tokens": strong_len + rng.randint(-5, 5)},
            MID: {"quality": float(rng.random() < 0.8), "prompt_tokens": 30,
                  "completion_tokens": strong_len // 2 + rng.randint(0, 5)},
            WEAK: {"quality": float(rng.random() < 0.2), "prompt_tokens": 30,
                   "completion_tokens": 20},
        }  # fmt: skip
        for o in outs.values():  # an answer as long as its token count (4 characters a token)
            o["response"] = "word " * (4 * int(o["completion_tokens"]) // 5)
        line = {"id": f"l-{i}", "task": "chat", "outcomes": outs,
                "messages": [{"role": "user", "content": text}]}  # fmt: skip
        lines.append(json.dumps(line))
    tfile = tmp / "lengthy.jsonl.gz"
    tfile.write_bytes(gzip.compress("\n".join(lines).encode()))
    return tfile, mfile


def test_best_value_with_learned_lengths_beats_the_single_model_hull(tmp_path: Path) -> None:
    tfile, mfile = _write_lengthy(tmp_path, 400)
    table = ot.load_table(tfile, ot.load_models(mfile))
    train, heldout = ot.select_split(table, "train"), ot.select_split(table, "heldout")
    base = rp.ReplayConfig(explore=0.1, priors=rp.table_priors(train), prior_strength=50.0)
    by_target = rp.replay(heldout, base, knobs=list(rp.DEFAULT_SWEEP))
    fitted = replace(base, objective="cost_weight", knob=0.1, length_priors=rp.length_priors(train))
    by_value = rp.replay(heldout, fitted, knobs=list(rp.COST_WEIGHT_SWEEP))
    online = rp.replay(heldout, replace(fitted, length_priors={}), knobs=list(rp.COST_WEIGHT_SWEEP))
    hull, gap = by_value["aiq_hull"], by_value["aiq_oracle"] - by_value["aiq_hull"]
    closed = {k: (d["aiq"] - hull) / gap for k, d in
              [("target", by_target), ("value", by_value), ("online", online)]}  # fmt: skip
    # The quality-target rule can only mix single models; the best-value rule sends essays to
    # the mid model and questions to the strong one. (The oracle also knows each answer's luck,
    # so no router closes most of the gap here; seeds 0-2 closed 0.25-0.31, 0.19-0.22 online,
    # the target rule 0-0.07 with plain Thompson draws (0.13 here with the optimistic ones,
    # which stop paying for the strong model when the mid one's draw dips), a random mix along
    # the hull 0.18 by its lucky points alone.)
    assert closed["target"] < 0.15, closed
    assert closed["value"] > 0.2 and by_value["aiq"] > by_value["aiq_random_hull"], closed
    assert closed["online"] > closed["target"] + 0.1, closed


def test_cost_weight_objective_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tfile, mfile = _write_lengthy(tmp_path, 40)
    args = [str(tfile), "--models", str(mfile), "--objective", "cost_weight", "--sweep",
            "--knobs", "0.01,0.1,1,10", "--difficulty", "none", "--no-progress"]  # fmt: skip
    assert replay_cli.main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["knob"] == rp.DEFAULT_COST_WEIGHT
    assert [p["knob"] for p in doc["curve"] if p["knob"] is not None] == [0.01, 0.1, 1.0, 10.0]
    # more weight on cost: a cheaper answer mix
    costs = [p["cost_usd"] for p in doc["curve"] if p["knob"] is not None]
    assert costs[-1] < costs[0]
    bad = [str(tfile), "--models", str(mfile), "--objective", "cost_weight", "--sweep",
           "--knobs", "0,1", "--difficulty", "none", "--no-progress"]  # fmt: skip
    assert replay_cli.main(bad) == 2  # weights must be > 0
    assert "cost weights must be > 0" in capsys.readouterr().err


def test_cascade_first_sweeps_the_short_answer_cut_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tfile, mfile = _write_lengthy(
        tmp_path, 40
    )  # mid answers ~750 tokens to essays, 5-10 to questions
    args = [str(tfile), "--models", str(mfile), "--cascade", "--cascade-first", MID,
            "--cascade-min-tokens", "100", "--difficulty", "none", "--no-progress"]  # fmt: skip
    assert replay_cli.main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["cascade_first"], doc["cascade_min_tokens"]) == (MID, 100)
    # every prompt asked mid first; its 5-token answers to the 20 questions escalated
    assert doc["model_share"][MID] == 50.0 and doc["model_share"][STRONG] == 50.0
    assert doc["escalations_pct"] == 50.0
    assert replay_cli.main([*args, "--sweep", "--knobs", "1,100,1000"]) == 0
    swept = json.loads(capsys.readouterr().out)
    esc = [p["escalations_pct"] for p in swept["curve"] if p["knob"] is not None]
    assert esc == [0.0, 50.0, 100.0]  # the knob is the cut-off in tokens
    assert "aiq" in swept
    bad = [*args[:5], "nope", *args[6:]]
    assert replay_cli.main(bad) == 2
    assert replay_cli.main([str(tfile), "--models", str(mfile), "--cascade-first", MID]) == 2


def test_bad_inputs_exit_2(tmp_path: Path) -> None:
    tfile, mfile = _write(tmp_path, n=3)
    assert replay_cli.main([str(tmp_path / "missing.gz"), "--models", str(mfile)]) == 2
    assert replay_cli.main([str(tfile), "--models", str(mfile), "--baseline", "nope",
                    "--difficulty", "none", "--no-progress"]) == 2  # fmt: skip


def test_real_gsm8k_reference_figures() -> None:
    require_shared(DATA / "gsm8k.dev.jsonl.gz")
    table = ot.load_table(
        DATA / "gsm8k.dev.jsonl.gz", ot.load_models(DATA / "routellm.models.json")
    )
    doc = rp.replay(table, rp.ReplayConfig(), knobs=[0.01, 0.8])
    b = doc["baselines"]
    assert b["always_baseline"]["cost_usd"] == pytest.approx(2.4034, abs=1e-4)
    assert b["always_cheapest"]["cost_usd"] == pytest.approx(0.0211, abs=1e-4)
    assert b["oracle"]["quality"] == pytest.approx(0.9373, abs=1e-4)
    assert b["oracle"]["cost_usd"] == pytest.approx(0.7683, abs=1e-4)
    assert doc["requests"] == 654


def test_plot_as_svg_needs_no_plotting_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import builtins
    import xml.etree.ElementTree as ET

    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] == "matplotlib":
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)  # a plain install
    tfile, mfile = _write(tmp_path)
    base = [str(tfile), "--models", str(mfile), "--sweep", "--knobs", "0.5,1.0",
            "--difficulty", "none", "--no-progress"]  # fmt: skip
    svg = tmp_path / "curve.svg"
    assert replay_cli.main([*base, "--plot", str(svg)]) == 0
    root = ET.fromstring(svg.read_text())  # well-formed, every label escaped
    assert root.tag.endswith("svg") and root.findall(".//{http://www.w3.org/2000/svg}path")
    capsys.readouterr()
    # a PNG without matplotlib: a clear message before any replay work, not a traceback after
    assert replay_cli.main([*base, "--plot", str(tmp_path / "curve.png")]) == 2
    err = capsys.readouterr().err
    assert "needs matplotlib (pip install 'arbiter[plot]')" in err and "--plot curve.svg" in err
    assert not (tmp_path / "curve.png").exists()


# -- round two: --routing-config, the dollar axis, sidecar feedback ------------------------------
CONTRACT_KEYS = ("apgr", "cpt50", "cpt80", "curve", "aiq", "aiq_hull", "aiq_oracle", "baselines",
                 "model_share", "cpt50_usd", "cpt80_usd", "apgr_cost", "cpt50_cost_pct",
                 "cpt80_cost_pct", "curve_cost", "feedback")  # fmt: skip


def _routing_toml(tmp: Path, body: str) -> Path:
    p = tmp / "routing.toml"
    p.write_text("[routing]\n" + body)
    return p


def test_routing_config_replay_keeps_the_contract_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tfile, mfile = _write(tmp_path)
    cfg = _routing_toml(tmp_path, 'priors_file = ""\ncost_weight = 0.5\n')
    out = tmp_path / "r.json"
    args = [str(tfile), "--models", str(mfile), "--routing-config", str(cfg), "--sweep",
            "--knobs", "0.01,1,100", "--difficulty", "none", "--out", str(out),
            "--no-progress"]  # fmt: skip
    assert replay_cli.main(args) == 0
    doc = json.loads(out.read_text())
    assert all(k in doc for k in CONTRACT_KEYS), [k for k in CONTRACT_KEYS if k not in doc]
    assert doc["feedback"] == "sidecar" and doc["sweep_knob"] == "cost_weight"
    assert len(doc["curve_cost"]) == 5  # both ends and the three knobs
    ends = sorted(p["cost_pct"] for p in doc["curve_cost"])
    assert ends[-1] == pytest.approx(100.0)


def test_routing_config_is_parsed_strictly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tfile, mfile = _write(tmp_path)
    for body, says in (
        ("cost_wieght = 0.5\n", "unknown key 'cost_wieght'"),
        ("cascade_math_verifier = 2.0\n", "cascade_math_verifier"),
        ('baseline = "nope"\n', "unknown model 'nope'"),
        ('cascade_tasks = ["knowledge"]\n', "unknown task 'knowledge'"),
        ('cascade_math_verifier_file = "/nonexistent.json"\n', "cascade_math_verifier_file"),
    ):
        cfg = _routing_toml(tmp_path, body)
        assert (
            replay_cli.main([str(tfile), "--models", str(mfile), "--routing-config", str(cfg)]) == 2
        )
        assert says in capsys.readouterr().err


def test_routing_config_cascade_all_asks_the_first_model_every_time(tmp_path: Path) -> None:
    tfile, mfile = _write(tmp_path, n=60)
    table = ot.load_table(tfile, ot.load_models(mfile))
    from arbiter.routing_file import load_routing

    body = 'priors_file = ""\ncascade_tasks = ["math"]\ncascade_all = true\n'
    routing = load_routing(_routing_toml(tmp_path, body), [STRONG, WEAK])
    cfg, _ = replay_cli.from_routing(routing, table)
    res = rp.run(table, cfg)
    assert res.calls[WEAK] == 60  # every request, whatever the router would have chosen
    # the sidecar's check (no verifier, no cut-off) escalates "answer i #### i": its final
    # answer is not on a line of its own, so the math grader finds none
    assert res.escalations == 60 and res.calls[STRONG] == 60


def test_routing_config_cascade_all_without_a_cascade_keeps_the_routers_choice(
    tmp_path: Path,
) -> None:
    """probe27b: a first model that cannot cascade to the baseline (here the baseline itself)
    leaves the router's choice, as the sidecar's route_plan does; every request went to the
    baseline alone."""
    tfile, mfile = _write(tmp_path, n=60)
    table = ot.load_table(tfile, ot.load_models(mfile))
    from arbiter.routing_file import load_routing

    body = (
        f'priors_file = ""\nbaseline = "{STRONG}"\ncascade_tasks = ["math"]\n'
        f'cascade_all = true\ncascade_first_model = "{STRONG}"\n'
    )
    routing = load_routing(_routing_toml(tmp_path, body), [STRONG, WEAK])
    cfg, _ = replay_cli.from_routing(routing, table)
    plain, _ = replay_cli.from_routing(
        load_routing(_routing_toml(tmp_path, f'priors_file = ""\nbaseline = "{STRONG}"\n'),
                     [STRONG, WEAK]), table,
    )  # fmt: skip
    res = rp.run(table, cfg)
    assert res.escalations == 0
    assert res.calls[WEAK] > 0  # the router's cheap picks stand
    assert res.calls == rp.run(table, plain).calls  # as with no cascade at all


def test_sidecar_feedback_grades_the_returned_answer_not_the_label(tmp_path: Path) -> None:
    from arbiter.offline.as_sidecar import SidecarGrader

    tfile, mfile = _write(tmp_path, n=30)
    table = ot.load_table(tfile, ot.load_models(mfile))
    row = table.rows[0]  # the math grader finds no final answer: 0.2, whatever the label
    g = SidecarGrader(seed=0, judge_rate=0.0)
    assert {row.outcomes[m].quality for m in (STRONG, WEAK)} == {0.0, 1.0}
    assert g.grade(row, WEAK, row.outcomes[WEAK]) == 0.2
    assert g.grade(row, STRONG, row.outcomes[STRONG]) == 0.2
    nochat = replace(row, task="chat")  # no grader applies and no judge: no grade at all
    assert g.grade(nochat, WEAK, row.outcomes[WEAK]) is None
    truthful = SidecarGrader(seed=0, judge_rate=1.0, judge_error=0.0)
    liar = SidecarGrader(seed=0, judge_rate=1.0, judge_error=1.0)
    for r in table.rows:
        o = replace(r.outcomes[WEAK], response=None)  # not gradable: the judge is asked
        assert truthful.grade(r, WEAK, o) == o.quality
        assert liar.grade(r, WEAK, o) == 1.0 - o.quality


def test_labels_and_sidecar_feedback_differ_and_are_reported(tmp_path: Path) -> None:
    tfile, mfile = _write(tmp_path)
    table = ot.load_table(tfile, ot.load_models(mfile))
    docs = {
        fb: rp.replay(table, rp.ReplayConfig(feedback=fb), knobs=[0.5, 0.9]) for fb in rp.FEEDBACK
    }
    assert {d["feedback"] for d in docs.values()} == set(rp.FEEDBACK)
    # labels teach the router that the weak model fails hard prompts; 0.2 for every answer
    # teaches nothing, so the two runs route differently
    assert docs["labels"]["model_share"] != docs["sidecar"]["model_share"]


def test_cost_axis_credits_cheap_strong_calls() -> None:
    """Half the calls to the strong model recover half the gap; on the dollar axis it matters
    whether those were the cheap or the expensive half of the prompts."""
    cheap_half = [
        {"knob": None, "cost_pct": 1.0, "pgr": 0.0},
        {"knob": 1.0, "cost_pct": 20.0, "pgr": 0.5},
        {"knob": None, "cost_pct": 100.0, "pgr": 1.0},
    ]
    dear_half = [dict(p, cost_pct=80.0) if p["knob"] else p for p in cheap_half]
    assert rp.cost_axis(cheap_half)["apgr_cost"] > 0.6 > rp.cost_axis(dear_half)["apgr_cost"]
    assert rp.cost_axis(cheap_half)["cpt50_cost_pct"] == pytest.approx(20.0)


def test_shuffled_labels_keep_costs_and_the_labels_multiset(tmp_path: Path) -> None:
    tfile, mfile = _write(tmp_path, n=50)
    table = ot.load_table(tfile, ot.load_models(mfile))
    sh = ot.shuffled_labels(table, seed=3)
    for a, b in zip(table.rows, sh.rows, strict=True):
        assert a.prompt == b.prompt
        assert all(a.outcomes[m].cost_usd == b.outcomes[m].cost_usd for m in a.outcomes)
    for m in (STRONG, WEAK):
        assert sorted(r.outcomes[m].quality for r in table.rows) == sorted(
            r.outcomes[m].quality for r in sh.rows
        )
    assert [r.outcomes[WEAK].quality for r in table.rows] != [
        r.outcomes[WEAK].quality for r in sh.rows
    ]


def test_cascade_verifier_flag_sweeps_the_threshold(tmp_path: Path) -> None:
    tfile, mfile = _write(tmp_path, n=40)
    out = tmp_path / "v.json"
    args = [str(tfile), "--models", str(mfile), "--cascade", "--cascade-first", WEAK,
            "--cascade-verifier", "0.3", "--sweep", "--knobs", "0.05,0.95", "--difficulty",
            "none", "--out", str(out), "--no-progress"]  # fmt: skip
    assert replay_cli.main(args) == 0
    doc = json.loads(out.read_text())
    low, high = (p for p in doc["curve"] if p["knob"] is not None)
    assert low["escalations_pct"] >= high["escalations_pct"]  # a lower threshold escalates more
    assert "apgr_cost" in doc


def test_shipped_example_routing_configs_parse_strictly() -> None:
    from arbiter.routing_file import load_routing

    examples = Path(__file__).resolve().parents[1] / "examples" / "routing"
    models = ["gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1:concise"]
    math = load_routing(examples / "math.toml", models)
    assert (
        math.cascade_all and math.cascade_math_verifier == 0.26 and math.cascade_tasks == ["math"]
    )
    assert math.cascade_math_verifier_file == "v6"  # gsm13 (round nine: v5 at 0.3)
    knowledge = load_routing(examples / "knowledge.toml", models)
    assert knowledge.cost_weight > 0 and knowledge.explore == 0.0
    assert knowledge.difficulty_model == "knowledge_embed"  # round four: + the embedding
    calls = load_routing(examples / "knowledge_calls.toml", models)
    assert calls.cost_weight == 0.0 and calls.difficulty_model == "knowledge_embed"
    chat = load_routing(examples / "chat.toml", models)
    assert chat.cascade_all and chat.first_models()[0] == models[1]
    assert set(chat.cascade_expected_gain) == set(chat.cascade_tasks)  # round six


def test_routing_config_replays_the_difficulty_model_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arbiter.offline import replay_cli

    tfile, mfile = _write(tmp_path)
    seen: list[str] = []
    real = replay_cli._load_easiness

    def spy(spec: str, table: ot.Table) -> list[float | None] | None:
        seen.append(spec)
        return real(spec, table)

    monkeypatch.setattr(replay_cli, "_load_easiness", spy)
    base = [str(tfile), "--models", str(mfile), "--no-progress", "--routing-config"]
    cfg = _routing_toml(tmp_path, 'priors_file = ""\ndifficulty_model = "knowledge"\n')
    assert replay_cli.main([*base, str(cfg)]) == 0
    assert seen[-1].endswith("difficulty_knowledge.onnx")  # what the sidecar would load
    assert replay_cli.main([*base, str(cfg), "--difficulty", "none"]) == 0  # the flag still wins
    assert seen[-1] == "none"
    cfg = _routing_toml(tmp_path, 'priors_file = ""\n')
    assert replay_cli.main([*base, str(cfg)]) == 0
    assert seen[-1] == "default"
