"""Routing bench, round eight: GSM8K per dollar (`routing.cascade_cost_exponent`).

math.toml's cascade asks Mixtral first on every math prompt and escalates to GPT-4 when the
shipped verifier (v2) says P(the cheap answer is wrong) >= the threshold. Round eight weighs that
doubt by the price of the fix: escalate when P(wrong) x (reference / predicted strong cost) **
alpha >= the threshold (`cascade_cost.py`; the predicted cost is the one the router priced the
escalation target at: prompt tokens x input price + the answer-length model's tokens x output
price). Levers, each measured on GSM8K's 397 train rows only (`difficulty.split_of` buckets 0-5):
- (b) are GPT-4's answer lengths predictable from the prompt? 20 x 5-fold CV correlation of the
  answer-length model (`output_length.fit_prior`, the 16 prompt statistics), of the prompt's
  length alone, and of the cheap answer's length (known at escalation time), with the true log
  length;
- (a) the exponent alpha: 20 x 5-fold CV static frontier (P(wrong) refitted out of fold, the
  answer-length model fitted out of fold), and the sidecar's own replay of the setting on the
  train rows (`arbiter replay --routing-config`, sidecar feedback; the answer-length model learnt
  online, or warm-started from an `output_length` priors file fitted on the train rows);
- (c) a max_tokens cap on the strong call (a cut answer has no final number: graded wrong, its
  output tokens capped), at the 90th-99th percentile of GPT-4's train answer lengths.
Chosen on train rows only, by a rule fixed before the held-out look: the alpha with the largest
CV min(APGR calls, APGR $), kept only if it beats alpha 0 by more than 0.005 there and does not
lose on the train replay. Read once on the 257 held-out rows: the sidecar's replay of every alpha
(the chosen one marked), each with its shuffled-labels control (PERMUTATIONS) and the random
router, and the static frontier with its shuffled control and the bootstrap sd of each alpha's
difference from alpha 0, in the same run.

Writes bench/results/routing_round8_gsm8k.json. Run: python bench/routing_round8_gsm8k.py
(`--train-only`: print the train-row measurements and the choice, read no held-out row;
`--render`: rewrite its section of bench/results/routing.md from the saved JSON).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import routing_round2 as r2
import routing_round4_math_chat as r4
from arbiter.cascade import VERIFIER_V2, load_verifier
from arbiter.cascade_cost import DEFAULT_REFERENCE_USD
from arbiter.difficulty import load_default, split_of
from arbiter.offline import cost_frontier as cf
from arbiter.offline import outcome_table as ot
from arbiter.offline import replay as rp
from arbiter.offline import replay_cli
from arbiter.offline import train_verifier as tv
from arbiter.offline import train_verifier_cost as tc
from arbiter.offline.routing_metrics import apgr, cpt
from arbiter.output_length import OutputLength, fit_prior
from results_page import write_section

DATA, OUT = r2.DATA, r2.OUT
STRONG, WEAK = tv.STRONG, tv.WEAK
KEYS = r4.KEYS
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
CV_REPS = 20
PERMUTATIONS = 5
BOOTSTRAP = 200
CAP_QUANTILES = (0.9, 0.95, 0.98, 0.99)
MIN_GAIN = 0.005  # a cost term must beat alpha 0 by this in CV min(calls, $) to count
NOTES = """\
(b) GPT-4's answer lengths are only weakly predictable from the prompt: the answer-length model
the router prices with reaches a CV correlation of 0.43 with the true log length, no better than
the prompt's length alone (0.44), so on GSM8K lever (a) reduces to dividing by (a power of) the
prompt's length, and its CV rows look alike on both sources. The cheap answer's length lifts the
correlation to 0.60, but only after the cheap call: that cost model is verifier v4's (round
five), which lost on these held-out rows.

(a) On train rows the per-dollar score trades calls for dollars: at alpha 0.5, -0.002 APGR calls
and +0.004 APGR $ in CV (CPT80 $ 35.9 -> 33.5%); min(calls, $) gains +0.0044, under the 0.005
bar, so it was not kept and math.toml is unchanged (alpha 0 = the verifier alone). The train
replay agrees in direction (in-sample: +0.003 calls, +0.005 $ online; +0.011 $ with train-fitted
length priors). Held-out, the same replay at alpha 0.25 gives 0.796 / 32.5% calls and 0.741 /
41.8% $ against math.toml's 0.798 / 31.4% and 0.739 / 40.3%; alpha 0.5-1 lose on both axes
(0.782-0.785 calls, 0.731-0.733 $); with train-fitted length priors alpha 0.5 gives 0.790 /
0.739 (calls lost, $ level). The static frontier loses at every alpha (-0.005 to -0.018 $;
bootstrap sd 0.008-0.017), inside one sd for alpha 0.25-0.5. This is the fourth time a cost term
on P(wrong) wins or ties on train rows and loses on these held-out rows (rounds three, four and
five, and now the sidecar setting). The oracle rows bound what a sharper length prediction could
buy: dividing by the true recorded GPT-4 cost lifts train CV to 0.80-0.82 $ (+0.03 to +0.04) and
even the call axis (+0.015), which says the strong answer's length also carries quality
information (on train rows GPT-4's median answer is 122 tokens where it is wrong, 85 where it is
right), not only price; no prompt-side predictor here gets near it (r 0.43).

(c) A max_tokens cap on the strong call never pays: GPT-4's longest answers are mostly right
(63-100% of the ones a cap would cut), and their tail is a small share of its cost (a cap at the
90th percentile saves 2.4% of GPT-4's cost and cuts 9.8% of its answers, losing 37% of the gap).
A cap that asks the strong model only to confirm the cheap answer's number cannot be measured on
recorded answers (it needs GPT-4 called with another instruction), so it is not claimed.

Goal (APGR >= 0.75 and CPT80 <= 40% on both axes): met on calls (0.798 / 31.4%), not on dollars
(0.739 / 40.3%; shuffled labels 0.48 calls / 0.41 $, random router 0.48 / 0.47: the gain is
quality prediction, not cost). `routing.cascade_cost_exponent` ships off (0), as a setting the
sidecar and its replay run, for pools where the strong call's price varies more from prompt to
prompt than GSM8K's (the answer is 84% of a GPT-4 call's cost here, and its length is what the
prompt does not predict). What limits GSM8K's dollar axis is still P(cheap wrong) (round five:
with the true labels the same cascade reaches 0.95-0.97 $)."""
BODY = 'cascade_tasks = ["math"]\ncascade_all = true\ncascade_math_verifier = 0.3\n'


def _minab(r: dict[str, Any]) -> float:
    return min(float(r["apgr"]), float(r["apgr_cost"]))


def _length_cost(test: ot.Table, fit: ot.Table) -> np.ndarray:
    """The strong call's price as the sidecar predicts it: prompt tokens x input price + the
    answer-length model (fitted on `fit`) x output price."""
    spec = {m.id: m for m in fit.models}[STRONG]
    return cf.expected_cost(test, fit, spec)


def _prompt_cost(test: ot.Table, fit: ot.Table) -> np.ndarray:
    """The same with the answer length from the prompt's length alone (log-log, on `fit`)."""
    spec = {m.id: m for m in fit.models}[STRONG]
    lp = np.log1p([r.prompt_tokens for r in fit.rows])
    ly = np.log1p([r.outcomes[STRONG].completion_tokens for r in fit.rows])
    b, a = np.polyfit(lp, ly, 1)
    tokens = np.expm1(a + b * np.log1p([r.prompt_tokens for r in test.rows]))
    return np.asarray([spec.cost_usd(r.prompt_tokens, t) for r, t in zip(test.rows, tokens,
                                                                         strict=True)])  # fmt: skip


def _rows(t: ot.Table, idx: np.ndarray) -> ot.Table:
    return ot.Table(tuple(t.rows[i] for i in idx), t.models)


def lengths_cv(train: ot.Table) -> dict[str, float]:
    """(b): CV Pearson r of each predictor of log(1 + GPT-4 answer tokens) with the truth."""
    n = len(train.rows)
    y = np.log1p([r.outcomes[STRONG].completion_tokens for r in train.rows])
    lp = np.log1p([r.prompt_tokens for r in train.rows])
    lw = np.log1p([r.outcomes[WEAK].completion_tokens for r in train.rows])
    acc: dict[str, list[float]] = {}
    for rep in range(CV_REPS):
        fold = np.random.default_rng(100 + rep).permutation(n) % 5
        pred = {k: np.zeros(n) for k in ("model", "prompt", "prompt_and_cheap_answer")}
        for k in range(5):
            tr, te = np.where(fold != k)[0], np.where(fold == k)[0]
            prior = fit_prior(
                [train.rows[i].stats or b"" for i in tr],
                [train.rows[i].outcomes[STRONG].completion_tokens for i in tr],
            )
            lengths = OutputLength(350, {STRONG: prior})
            pred["model"][te] = np.log1p(
                [lengths.expected(STRONG, train.rows[i].stats or b"") for i in te]
            )
            b, a = np.polyfit(lp[tr], y[tr], 1)
            pred["prompt"][te] = a + b * lp[te]
            x = np.c_[np.ones(n), lp, lw]
            w = np.linalg.lstsq(x[tr], y[tr], rcond=None)[0]
            pred["prompt_and_cheap_answer"][te] = x[te] @ w
        for name, p in pred.items():
            acc.setdefault(name, []).append(float(np.corrcoef(p, y)[0, 1]))
    return {
        "cv_r_answer_length_model": round(statistics.mean(acc["model"]), 3),
        "cv_r_prompt_length": round(statistics.mean(acc["prompt"]), 3),
        "cv_r_prompt_and_cheap_answer_length": round(
            statistics.mean(acc["prompt_and_cheap_answer"]), 3
        ),
        "answer_share_of_strong_cost": round(
            float(
                np.mean(
                    [
                        r.outcomes[STRONG].cost_usd
                        - r.prompt_tokens
                        * {m.id: m for m in train.models}[STRONG].price_in_per_mtok
                        / 1e6
                        for r in train.rows
                    ]
                )
                / np.mean([r.outcomes[STRONG].cost_usd for r in train.rows])
            ),
            3,
        ),
    }


def cv_alpha(d: tv.VerifierData, train: ot.Table, train_idx: np.ndarray) -> dict[str, Any]:
    """(a): 20 x 5-fold CV, static frontier (cheap call on every prompt), per cost source and
    alpha; P(wrong) and both cost models refitted out of fold."""
    n = len(train_idx)
    pair = tv.pair(d, np.isin(np.arange(len(d.ids)), train_idx))
    acc: dict[str, list[dict[str, Any]]] = {}
    for rep in range(CV_REPS):
        fold = np.random.default_rng(100 + rep).permutation(n) % 5
        p = np.zeros(n)
        cost = {"answer-length model": np.zeros(n), "prompt length": np.zeros(n),
                # the ceiling of (b), not shippable: the strong call's true recorded cost
                "true cost (oracle)": pair.c_strong.copy()}  # fmt: skip
        for k in range(5):
            tr, te = np.where(fold != k)[0], np.where(fold == k)[0]
            fd = tc._subset(d, train_idx[tr])
            v = tc.fit(fd, np.ones(len(tr), bool), alpha=0.0)
            td = tc._subset(d, train_idx[te])
            p[te] = tc.scores(v, td, np.ones(len(te), bool))
            fit_t, test_t = _rows(train, tr), _rows(train, te)
            cost["answer-length model"][te] = _length_cost(test_t, fit_t)
            cost["prompt length"][te] = _prompt_cost(test_t, fit_t)
        for src, c in cost.items():
            for a in ALPHAS:
                score = p * (DEFAULT_REFERENCE_USD / c) ** a
                name = "alpha 0 (math.toml)" if a == 0 else f"{src}, alpha {a:g}"
                if a == 0 and src != "answer-length model":
                    continue
                acc.setdefault(name, []).append(cf.sweep_direct(pair, score, np.zeros(n, bool)))
    return {
        name: {k: round(statistics.mean(r[k] for r in runs), 4) for k in KEYS}
        for name, runs in acc.items()
    }


def _capped_curve(base: cf.Pair, q_s: np.ndarray, c_s: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """APGR / CPT80 on both axes of the cascade (cheap call on every prompt, escalations in order
    of `p`) whose strong answers are `q_s` at price `c_s`, read against the UNcapped gap and
    all-strong cost: a cap must beat the model it caps, not a weaker one."""
    n = len(p)
    order = np.argsort(-p, kind="stable")
    qw, gap = float(base.q_weak.mean()), float(base.q_strong.mean() - base.q_weak.mean())
    pgr = (base.q_weak.sum() + np.r_[0.0, np.cumsum(q_s[order] - base.q_weak[order])]) / n - qw
    pgr = pgr / gap
    usd = (base.c_weak.sum() + np.r_[0.0, np.cumsum(c_s[order])]) / base.c_strong.sum()
    calls = list(zip((np.arange(n + 1) / n).tolist(), pgr.tolist(), strict=True))
    dollars = [(0.0, 0.0), *zip(usd.tolist(), pgr.tolist(), strict=True)]

    def pct(points: list[tuple[float, float]]) -> float:
        c = cpt(points, 0.8)
        return 100.0 if c is None else round(100 * c, 2)

    return {"apgr": round(apgr(calls), 4), "cpt80": pct(calls),
            "apgr_cost": round(apgr(dollars), 4), "cpt80_cost_pct": pct(dollars),
            "pgr_all_escalated": round(float(pgr[-1]), 4)}  # fmt: skip


def caps(d: tv.VerifierData, train: ot.Table, train_idx: np.ndarray) -> dict[str, Any]:
    """(c): a max_tokens cap on the strong call at quantiles of GPT-4's train answer lengths. A
    cut answer loses its final number (graded wrong) and is charged the capped tokens. Read
    with v2's out-of-fold P(wrong) order (one 5-fold CV), cascade charged."""
    n = len(train_idx)
    fold = np.random.default_rng(100).permutation(n) % 5
    p = np.zeros(n)
    for k in range(5):
        tr, te = np.where(fold != k)[0], np.where(fold == k)[0]
        v = tc.fit(tc._subset(d, train_idx[tr]), np.ones(len(tr), bool), alpha=0.0)
        p[te] = tc.scores(v, tc._subset(d, train_idx[te]), np.ones(len(te), bool))
    spec = {m.id: m for m in train.models}[STRONG]
    tokens = np.asarray([r.outcomes[STRONG].completion_tokens for r in train.rows])
    base = tv.pair(d, np.isin(np.arange(len(d.ids)), train_idx))
    out: dict[str, Any] = {"no cap": _capped_curve(base, base.q_strong, base.c_strong, p)}
    for qt in CAP_QUANTILES:
        cap = int(np.quantile(tokens, qt))
        cut = tokens > cap
        c_s = np.asarray([spec.cost_usd(r.prompt_tokens, min(t, cap))
                          for r, t in zip(train.rows, tokens, strict=True)])  # fmt: skip
        q_s = np.where(cut, 0.0, base.q_strong)
        out[f"cap {cap} tokens (p{round(100 * qt)})"] = {
            **_capped_curve(base, q_s, c_s, p),
            "cut_pct": round(100 * float(cut.mean()), 2),
            "cut_strong_right_pct": round(100 * float(base.q_strong[cut].mean()), 1),
            "strong_cost_saved_pct": round(100 * float(1 - c_s.sum() / base.c_strong.sum()), 2),
        }
    return out


def _replay_rows(
    table: ot.Table, alphas: tuple[float, ...], priors: Path | None, controls: bool
) -> dict[str, Any]:
    """The sidecar's replay (sidecar feedback, classifier tasks) of math.toml with each alpha;
    with `controls`, each with its shuffled-labels control."""
    diff = load_default()
    easy = [diff.easiness(r.prompt) for r in table.rows] if diff else None
    shuffled = [ot.shuffled_labels(table, s) for s in range(PERMUTATIONS)] if controls else []
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for a in alphas:
            body = BODY + f"cascade_cost_exponent = {a}\n"
            if priors is not None:
                body += f'priors_file = "{priors}"\n'
            cfg, _ = r2._config(body, table, Path(tmp), feedback="sidecar")
            real = r2._sweep(table, cfg, easy)
            row: dict[str, Any] = {"real": {k: real[k] for k in KEYS}}
            if controls:
                row["shuffled_labels"] = r4._mean([r2._sweep(t, cfg, easy) for t in shuffled])
            out[f"alpha {a:g}"] = row
    return out


def _write_length_priors(train: ot.Table, path: Path) -> None:
    """(b) in the sidecar: an `output_length` priors file fitted on the train rows only."""
    path.write_text(json.dumps({"output_length": {
        m: p.to_json() for m, p in rp.length_priors(train).items()}}))  # fmt: skip


def bench(train_only: bool = False) -> dict[str, Any]:
    models = ot.load_models(DATA / "routellm.models.json")
    full = ot.load_table(DATA / "gsm8k.dev.jsonl.gz", models)
    d = tv.load_verifier_data(DATA)
    assert [r.id for r in full.rows] == d.ids
    fit_mask = np.asarray([split_of(i) != "heldout" for i in d.ids])
    train_idx, held_idx = np.where(fit_mask)[0], np.where(~fit_mask)[0]
    train, held = _rows(full, train_idx), _rows(full, held_idx)
    res: dict[str, Any] = {"rows": {"train": len(train_idx), "heldout": len(held_idx)}}
    res["lengths_train"] = lengths_cv(train)
    res["cv_train"] = cv = cv_alpha(d, train, train_idx)
    res["caps_train"] = caps(d, train, train_idx)
    with tempfile.TemporaryDirectory() as tmp:
        priors = Path(tmp) / "gsm8k_train_lengths.json"
        _write_length_priors(train, priors)
        ctrain = replay_cli.classified(train)
        res["replay_train"] = {
            "online lengths": _replay_rows(ctrain, ALPHAS, None, False),
            "train-fitted length priors": _replay_rows(ctrain, ALPHAS, priors, False),
        }
        # the rule, fixed before the held-out look (module docstring)
        base = cv["alpha 0 (math.toml)"]
        best = max((k for k in cv if "answer-length model" in k), key=lambda k: _minab(cv[k]))
        alpha = float(best.rsplit(" ", 1)[1])
        rep = res["replay_train"]["online lengths"]
        keep = _minab(cv[best]) > _minab(base) + MIN_GAIN and _minab(
            rep[f"alpha {alpha:g}"]["real"]
        ) >= _minab(rep["alpha 0"]["real"])
        res["chosen_on_train"] = {"alpha": alpha if keep else 0.0, "best_cv": best, "kept": keep}
        if train_only:
            return res
        # held-out, read once: every alpha (chosen marked), controls, random router
        chel = replay_cli.classified(held)
        res["replay_heldout"] = {
            "online lengths": _replay_rows(chel, ALPHAS, None, True),
            "train-fitted length priors": _replay_rows(chel, (0.0, 0.5, 1.0), priors, False),
        }
    res["random_router_heldout"] = r2._random_router(chel, STRONG, WEAK)
    v2 = load_verifier(VERIFIER_V2)
    assert v2 is not None
    p = np.asarray([v2.p_wrong(r.prompt, r.outcomes[WEAK].response or "") for r in held.rows])
    c = _length_cost(held, train)
    static: dict[str, Any] = {}
    for a in ALPHAS:
        score = p * (DEFAULT_REFERENCE_USD / c) ** a
        none = np.zeros(len(p), bool)
        ctrl = [
            cf.sweep_direct(r4._pair(ot.shuffled_labels(held, s)), score, none)
            for s in range(PERMUTATIONS)
        ]
        static[f"alpha {a:g}"] = {
            "real": cf.sweep_direct(r4._pair(held), score, none),
            "shuffled_labels": r4._mean(ctrl),
        }
    res["static_heldout"] = static
    res["bootstrap_heldout"] = _bootstrap(held, p, c)
    return res


def _bootstrap(held: ot.Table, p: np.ndarray, c: np.ndarray) -> dict[str, Any]:
    """Held-out noise (read, chosen on nothing): over BOOTSTRAP resamples of the held-out rows,
    the static difference APGR(alpha) - APGR(alpha 0) on both axes."""
    pair = r4._pair(held)
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {}
    draws = [rng.integers(0, len(p), len(p)) for _ in range(BOOTSTRAP)]
    for a in ALPHAS[1:]:
        diffs: dict[str, list[float]] = {"apgr": [], "apgr_cost": []}
        for i in draws:
            sub = cf.Pair(pair.q_strong[i], pair.q_weak[i], pair.c_strong[i], pair.c_weak[i])
            if sub.q_strong.mean() == sub.q_weak.mean():
                continue
            none = np.zeros(len(i), bool)
            base = cf.sweep_direct(sub, p[i], none)
            alt = cf.sweep_direct(sub, p[i] * (DEFAULT_REFERENCE_USD / c[i]) ** a, none)
            for k in diffs:
                diffs[k].append(float(alt[k]) - float(base[k]))
        out[f"alpha {a:g} - alpha 0"] = {
            f"{k}_{stat}": round(float(f(v)), 4)
            for k, v in diffs.items()
            for stat, f in (("mean", np.mean), ("sd", np.std))
        }
    return out


MARK = "<!-- round eight: gsm8k per dollar -->"
HEAD = """# Round eight: GSM8K per dollar

(`python bench/routing_round8_gsm8k.py`, results in `routing_round8_gsm8k.json`;
`--render` rewrites this section from them.) New setting: `routing.cascade_cost_exponent` =
alpha (and `cascade_cost_reference_usd`, default $0.004): the math cascade escalates when the
verifier's score x (reference / the escalation target's predicted cost) ** alpha >= the threshold
(`cascade_cost.py`), so at equal doubt the cheaper fix goes first. The predicted cost is the one
the router already priced the strong call at: prompt tokens x input price + the answer-length
model's expected tokens x output price (`output_length.py`, learnt online, or warm-started from
an `output_length` priors file). The sidecar's cascade runs it, and so does `arbiter replay
--routing-config`. Everything chosen on GSM8K's 397 train rows (`difficulty.split_of` buckets
0-5) by a rule fixed before the held-out look: the alpha with the largest 20 x 5-fold CV
min(APGR calls, APGR $) on the answer-length model's cost, kept only if it beats alpha 0 by more
than 0.005 there and does not lose on the train replay. Read once on the 257 held-out rows."""


def _f(v: Any) -> str:
    if isinstance(v, float):  # APGRs to 4 places, percentages to 2
        return f"{round(v, 2 if abs(v) > 1.5 else 4):g}"
    return "-" if v is None else str(v)


def _line(name: str, r: dict[str, Any], extra: tuple[Any, ...] = ()) -> str:
    return "| " + " | ".join([name, *(_f(r[k]) for k in KEYS), *map(_f, extra)]) + " |"


def render(res: dict[str, Any], notes: str) -> str:
    head4 = "APGR calls | CPT80 % calls | APGR $ | CPT80 % $"
    ln = res["lengths_train"]
    out = [MARK, "", HEAD, "", "## (b) Is GPT-4's answer length predictable from the prompt? "
           "(train rows, 20 x 5-fold CV)", "",
           "| predictor of log(1 + GPT-4 answer tokens) | CV Pearson r |", "|---|---|",
           f"| the answer-length model (16 prompt statistics; what the router prices with) | "
           f"{ln['cv_r_answer_length_model']} |",
           f"| the prompt's length alone | {ln['cv_r_prompt_length']} |",
           f"| the prompt's and the cheap answer's lengths (known only after the cheap call: "
           f"verifier v4's cost model, round five) | {ln['cv_r_prompt_and_cheap_answer_length']} |",
           "", f"The answer is {100 * ln['answer_share_of_strong_cost']:.1f}% of a GPT-4 call's "
           "cost on these rows, so the strong call's price is mostly its answer's length.", "",
           "## (a) The exponent: train rows, 20 x 5-fold CV, static frontier (cascade charged; "
           "P(wrong) and the cost models refitted out of fold)", "",
           f"| escalation score | {head4} |", "|---|---|---|---|---|"]  # fmt: skip
    out += [_line(k, r) for k, r in res["cv_train"].items()]
    ch = res["chosen_on_train"]
    out += ["", f"Best on the answer-length model's cost: {ch['best_cv']}; kept: {ch['kept']} "
            f"(chosen alpha: {ch['alpha']:g}). The 'true cost (oracle)' rows divide by the strong "
            "call's recorded cost, which no router knows before the call: the ceiling of (b).", "",
            "The sidecar's replay on the train rows (`arbiter replay --split train "
            "--routing-config`, sidecar feedback; v2 was fitted on these rows, so in-sample):", "",
            f"| configuration | {head4} |", "|---|---|---|---|---|"]  # fmt: skip
    for src, rows in res["replay_train"].items():
        out += [_line(f"{k}, {src}", r["real"]) for k, r in rows.items()]
    out += ["", "## (c) A max_tokens cap on the strong call (train rows; v2's out-of-fold order; "
            "read against the uncapped gap and all-strong cost)", "",
            f"| cap | {head4} | PGR with every prompt escalated | % of GPT-4 answers cut | "
            "% of those that were right | % of GPT-4 cost saved |",
            "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for k, r in res["caps_train"].items():
        cut = (r.get("cut_pct"), r.get("cut_strong_right_pct"), r.get("strong_cost_saved_pct"))
        out.append(_line(k, r, (r["pgr_all_escalated"], *cut)))
    out += ["", "## Held-out rows (257), read once", "",
            "The sidecar's replay (`arbiter replay gsm8k.dev.jsonl.gz --models "
            "routellm.models.json --split heldout --routing-config FILE --sweep`: math.toml plus "
            "`cascade_cost_exponent = alpha`; sidecar feedback, classifier tasks), with the "
            f"shuffled-labels control (mean of {PERMUTATIONS} permutations):", "",
            f"| configuration | {head4} | shuffled: APGR calls | shuffled: APGR $ |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for src, rows in res["replay_heldout"].items():
        for k, r in rows.items():
            sh = r.get("shuffled_labels") or {}
            name = f"{k}, {src}" + (" (math.toml)" if k == "alpha 0" else "")
            name += " (chosen)" if k == f"alpha {ch['alpha']:g}" and src == "online lengths" else ""
            out.append(_line(name, r["real"], (sh.get("apgr"), sh.get("apgr_cost"))))
    rr = res["random_router_heldout"]
    out += [f"| random router (5 draws) | {_f(rr['apgr'])} | {_f(rr['cpt80'])} | "
            f"{_f(rr['apgr_cost'])} | {_f(rr['cpt80_cost_pct'])} | - | - |", "",
            "Static frontier (v2 and the answer-length model fitted on train rows; cascade "
            "charged), with the shuffled-labels control and the bootstrap of the difference "
            "from alpha 0 (200 resamples of the held-out rows):", "",
            f"| score | {head4} | shuffled: APGR calls | shuffled: APGR $ | "
            "minus alpha 0: APGR calls (sd) | minus alpha 0: APGR $ (sd) |",
            "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for k, r in res["static_heldout"].items():
        b = res["bootstrap_heldout"].get(f"{k} - alpha 0")
        d = ((f"{b['apgr_mean']:+g} ({b['apgr_sd']:g})", f"{b['apgr_cost_mean']:+g} "
              f"({b['apgr_cost_sd']:g})") if b else ("-", "-"))  # fmt: skip
        sh = r["shuffled_labels"]
        out.append(_line(k, r["real"], (sh["apgr"], sh["apgr_cost"], *d)))
    out += ["", "## Reading", "", notes]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = OUT / "routing_round8_gsm8k.json"
    if "--train-only" in args:
        print(json.dumps(bench(train_only=True), indent=1))  # no held-out row is read
        return 0
    if "--render" in args:
        res = json.loads(path.read_text())
    else:
        t0 = time.perf_counter()
        res = bench()
        res["seconds"] = round(time.perf_counter() - t0, 1)
        path.write_text(json.dumps(res, indent=1) + "\n")
    write_section(OUT / "routing.md", MARK, render(res, NOTES))
    a = res["chosen_on_train"]["alpha"]
    rows = res["replay_heldout"]["online lengths"]
    print(json.dumps({
        "bench": "routing_round8_gsm8k",
        "chosen_on_train": res["chosen_on_train"],
        "math_toml_heldout": rows["alpha 0"],
        "chosen_heldout": rows[f"alpha {a:g}"],
        "random_router": res["random_router_heldout"],
        "seconds": res.get("seconds"),
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
