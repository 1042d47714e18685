"""Train the math cascade's verifier (`cascade.Verifier`, v3: models/verifier_math_v3.json).

Two logistic heads over `cascade.VERIFIER_FEATURES` of the cheap (Mixtral) answer on GSM8K's
train rows (`difficulty.split_of` buckets 0-5): P(the cheap answer is wrong) and P(the strong
answer is right); and a least-squares model of the strong answer's log length from the prompt's and
the cheap answer's log lengths. `math_value.ValueHead` combines them into the escalation score
(expected gain per relative cost ** alpha). The regularisation and alpha were chosen by repeated
5-fold CV on train rows (`cv_report`, the larger of min(APGR calls, APGR $), cascade charged);
nothing here reads the held-out rows except the report. Deterministic (Newton's method).
GSM8K is an Apache-2.0 record of an MIT-licensed benchmark; AlpacaEval must never be used here.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from arbiter.cascade import VERIFIER_FEATURES, Verifier, verifier_features
from arbiter.difficulty import split_of
from arbiter.math_value import ValueHead
from arbiter.offline import cost_frontier as cf

VERIFIER_VERSION = "verifier-math-v3-f23-value"
STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
# Chosen by 20 x 5-fold CV on the 397 train rows (v2 P(wrong) alone: 0.809 calls / 0.773 $;
# + chained_equals: 0.818 / 0.783; + the strong head: 0.823 / 0.791; / relative cost: 0.826 /
# 0.804). L2 of the P(wrong) head as v2's (1e-2); the strong head wants more (1e-1).
L2_WRONG = 1e-2
L2_STRONG = 1e-1
ALPHA = 1.0
# GPT-4 Turbo's input/output price ratio ($10 / $30 per 1M tokens), the strong model it was fitted
# on: a prompt character weighs a third of an answer character in the strong call's cost.
INPUT_WEIGHT = 1 / 3
# v3 reads the features up to chained_equals (round nine's come after, for v5)
N_FEATURES = VERIFIER_FEATURES.index("chained_equals") + 1
_LOG_PROMPT = VERIFIER_FEATURES.index("log_prompt_len")
_LOG_ANSWER = VERIFIER_FEATURES.index("log_answer_len")


@dataclass(frozen=True, slots=True)
class VerifierData:
    ids: list[str]
    x: np.ndarray  # (n, len(VERIFIER_FEATURES)) of the weak model's answer
    q_strong: np.ndarray
    q_weak: np.ndarray
    c_strong: np.ndarray  # recorded cost of each model's call, USD
    c_weak: np.ndarray
    prompt_chars: np.ndarray
    strong_chars: np.ndarray  # length of the strong model's recorded answer


def load_verifier_data(data_dir: Path, table: str = "gsm8k.dev.jsonl.gz") -> VerifierData:
    if "alpaca" in table:
        raise ValueError("AlpacaEval is CC BY-NC: evaluation only, never training")
    models = {m["id"]: m for m in json.loads((data_dir / "routellm.models.json").read_text())
              ["models"]}  # fmt: skip
    ids, xs, cols = [], [], []
    with gzip.open(data_dir / table, "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            text = "\n\n".join(m["content"] for m in r["messages"])
            s, w = r["outcomes"][STRONG], r["outcomes"][WEAK]
            ids.append(r["id"])
            xs.append(verifier_features(text, w["response"] or ""))
            cost = [(o["prompt_tokens"] * models[m]["price_in_per_mtok"]
                     + o["completion_tokens"] * models[m]["price_out_per_mtok"]) / 1e6
                    for m, o in ((STRONG, s), (WEAK, w))]  # fmt: skip
            cols.append((s["quality"], w["quality"], *cost, len(text), len(s["response"] or "")))
    c = np.asarray(cols, np.float64)
    return VerifierData(ids, np.asarray(xs, np.float64), *(c[:, i] for i in range(6)))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
    return out


def fit_verifier(d: VerifierData, rows: np.ndarray, alpha: float = ALPHA) -> Verifier:
    """Both heads, the length model and the squash, fitted on `rows` (a boolean mask)."""
    x = d.x[rows][:, :N_FEATURES]
    mu, sd = x.mean(0), x.std(0)
    sd[sd < 1e-9] = 1.0

    def head(y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
        w, b = cf.fit_logistic(x, y, l2)  # raw scale -> the standardized scale Verifier reads
        return w * sd, float(b + w @ mu)

    ww, bw = head((d.q_weak[rows] < 0.5).astype(np.float64), L2_WRONG)
    ws, bs = head((d.q_strong[rows] >= 0.5).astype(np.float64), L2_STRONG)
    a = np.c_[np.ones(len(x)), x[:, _LOG_PROMPT], x[:, _LOG_ANSWER]]
    coef, *_ = np.linalg.lstsq(a, np.log1p(d.strong_chars[rows]), rcond=None)
    raw = INPUT_WEIGHT * d.prompt_chars[rows] + np.exp(a @ coef)
    z = (x - mu) / sd
    gain = _sigmoid(z @ ws + bs) - (1.0 - _sigmoid(z @ ww + bw))
    value = gain / (raw / raw.mean()) ** alpha
    # spread the training rows' values over (0, 1) with the escalating few in the upper half (the
    # replay sweeps the threshold in steps of 0.02): the 80th percentile -> 0.5, 1 sd -> 0.38
    squash = (float(2.0 / max(value.std(), 1e-6)), float(np.quantile(value, 0.8)))
    head_v = ValueHead(tuple(map(float, ws)), bs, (float(coef[0]), float(coef[1]),
                       float(coef[2])), INPUT_WEIGHT, float(raw.mean()), alpha, squash)  # fmt: skip
    return Verifier(VERIFIER_VERSION, tuple(map(float, mu)), tuple(map(float, sd)),
                    tuple(map(float, ww)), bw, head_v)  # fmt: skip


def scores(v: Verifier, d: VerifierData, rows: np.ndarray) -> np.ndarray:
    """The verifier's escalation score on `rows`, from the features already computed."""
    assert v.value is not None
    z = (d.x[rows][:, :N_FEATURES] - np.asarray(v.mean)) / np.asarray(v.std)
    p = _sigmoid(z @ np.asarray(v.weights) + v.bias)
    chars = np.rint(np.expm1(d.x[rows][:, _LOG_ANSWER]))  # the cheap answer's length
    head = v.value
    return np.asarray(
        [
            head.score(float(pi), list(zi), int(pc), int(ac))
            for pi, zi, pc, ac in zip(p, z, d.prompt_chars[rows], chars, strict=True)
        ]
    )


def pair(d: VerifierData, rows: np.ndarray) -> cf.Pair:
    return cf.Pair(d.q_strong[rows], d.q_weak[rows], d.c_strong[rows], d.c_weak[rows])


def cv_report(d: VerifierData, rows: np.ndarray, reps: int = 20) -> dict[str, Any]:
    """Repeated 5-fold CV of the score (static sweep, cascade charged) over `rows`, per alpha."""
    idx = np.where(rows)[0]
    out: dict[str, Any] = {}
    for alpha in (0.0, 0.5, 1.0, 1.5):
        runs = []
        for rep in range(reps):
            fold = np.random.default_rng(100 + rep).permutation(len(idx)) % 5
            s = np.zeros(len(idx))
            for k in range(5):
                fit = np.zeros(len(d.ids), bool)
                fit[idx[fold != k]] = True
                test = np.zeros(len(d.ids), bool)
                test[idx[fold == k]] = True
                s[fold == k] = scores(fit_verifier(d, fit, alpha), d, test)
            order = np.argsort(-s, kind="stable")
            runs.append(cf.sweep(pair(d, rows), order, cascade=True))
        keys = ("apgr", "cpt80", "apgr_cost", "cpt80_cost_pct")
        out[f"alpha {alpha:g}"] = {
            k: round(float(np.mean([float(r[k] or 100) for r in runs])), 4) for k in keys
        }
    return out


def train_verifier(data_dir: Path, out: Path, cv_reps: int = 0) -> dict[str, object]:
    """Fit on GSM8K train rows, write the JSON, report (optionally) CV and held-out sweeps."""
    d = load_verifier_data(data_dir)
    split = np.asarray([split_of(i) for i in d.ids])
    fit, ho = split != "heldout", split == "heldout"
    model = fit_verifier(d, fit)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(model.to_json())
    order = np.argsort(-scores(model, d, ho), kind="stable")
    report: dict[str, object] = {
        "version": VERIFIER_VERSION,
        "fit_rows": int(fit.sum()),
        "heldout": {"rows": int(ho.sum()), **cf.sweep(pair(d, ho), order, cascade=True)},
    }
    if cv_reps:
        report["cv_train"] = cv_report(d, fit, cv_reps)
    return report
