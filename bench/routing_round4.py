"""Routing bench, round four: MMLU, a better per-prompt gain predictor.

The lever round three found: on MMLU the frontier between the call axis and the dollar axis is set
by how well the router predicts each prompt's gain g = P(strong right) - P(cheap right). Here the
gain model (two L2-regularised logistic regressions, `cost_frontier.gain_model`) reads, besides
or instead of round three's features, the question's static MiniLM embedding (`Embedder.embed`,
the request path's ~0.2 ms one; the subject and topic live there, and GPT-4's lead over Mixtral
differs a lot by subject).

Part 1, static frontier (as round three): the k top-ranked prompts go to the strong model, for
every k, ranked by g / extra_cost**alpha (alpha 0: by gain; 1: the knapsack order). Per feature
set, L2 and alpha are chosen by 5-fold CV on the train rows (`difficulty.split_of` buckets 0-5,
4,091 rows; `train_knowledge_embed.cv_grid`), by the larger of min(APGR calls, APGR $); every
alpha at the chosen L2 is printed on the held-out rows (2,803), each with its shuffled-labels
control (the same ranking, labels permuted among the rows, mean of PERMUTATIONS) and a random
ranking, in the same run. Round three's knowledge model was fitted on the train rows, so its CV
figures there flatter it (its held-out rows do not).

Part 2, the sidecar: `arbiter replay --routing-config` as the sidecar runs it (classifier tasks,
priors, the best-value rule over its per-prompt slope, greedy), with the shipped
`difficulty_knowledge_embed.onnx` (the 64 features + the embedding, L2 from part 1; the
sidecar's own rule, not alpha, then orders the prompts),
both feedbacks, each with its shuffled-labels control (mean of 2 permutations), and a random
router. The model's output scale (how steeply the sidecar's slope reads the score, which sets
where its best-value rule lands between the gain order and the knapsack order) was chosen by
replaying the sidecar on the train rows (in sample: the model was fitted there).

Writes bench/results/routing_round4.json and a round-four section at the end of
bench/results/routing.md. Run: python bench/routing_round4.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from results_page import write_section

sys.path.insert(0, str(Path(__file__).resolve().parent))
import routing_round2 as r2
from arbiter.difficulty import load
from arbiter.offline import cost_frontier as cf
from arbiter.offline import outcome_table as ot
from arbiter.offline import replay as rp
from arbiter.offline import replay_cli
from arbiter.offline import train_knowledge_embed as tk

OUT = r2.OUT
DATA = r2.DATA
MARK = "<!-- round four -->"
PERMUTATIONS = 5
RANDOM_SEEDS = 5
KEYS = ("apgr", "cpt80", "apgr_cost", "cpt80_cost_pct")
FEATURES = {  # name -> the columns of the 448 (64 prompt features, then 384 of the embedding)
    "64 prompt features": slice(0, 63),  # the last prompt feature is the constant 1.0
    "MiniLM embedding": slice(64, 448),
    "64 features + MiniLM embedding (shipped)": slice(0, 448),
}
SCALES = (0.5, 0.75, 1.0, 1.5, 2.0)
SHIPPED = "knowledge_embed"


def _pick(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r[k] for k in KEYS}


def _score(r: dict[str, Any]) -> float:
    return min(float(r["apgr"]), float(r["apgr_cost"]))


def _controls(held: tk.Rows, order: np.ndarray) -> dict[str, float]:
    runs = [cf.sweep(tk.pair_of(ot.shuffled_labels(held.table, p)), order)
            for p in range(PERMUTATIONS)]  # fmt: skip
    return {k: round(statistics.mean(float(r[k] or 100.0) for r in runs), 4) for k in KEYS}


def _random(held: tk.Rows) -> dict[str, float]:
    n = len(held.x)
    runs = [cf.sweep(held.pair, np.random.default_rng(s).permutation(n))
            for s in range(RANDOM_SEEDS)]  # fmt: skip
    return {k: round(statistics.mean(float(r[k] or 100.0) for r in runs), 4) for k in KEYS}


def _with_x(rows: tk.Rows, x: np.ndarray) -> tk.Rows:
    return tk.Rows(rows.table, x, rows.pair, rows.extra)


def frontier(train: tk.Rows, held: tk.Rows) -> dict[str, Any]:
    knowledge = load("knowledge")  # round three's model, as a one-column feature

    def k_col(rows: tk.Rows) -> np.ndarray:
        return np.asarray([[knowledge.easiness(r.prompt)] for r in rows.table.rows])

    sets = {"knowledge model (round three)": (k_col(train), k_col(held))}
    sets |= {name: (train.x[:, cols], held.x[:, cols]) for name, cols in FEATURES.items()}
    out: dict[str, Any] = {}
    for name, (x_tr, x_ho) in sets.items():
        tr, ho = _with_x(train, x_tr), _with_x(held, x_ho)
        grid = tk.cv_grid(tr)
        chosen = max(grid, key=lambda k: _score(grid[k]))
        l2 = float(chosen.split(",")[0].split()[1])
        model = cf.gain_model(tr.x, tr.pair, l2)
        g = cf.predicted_gain(ho.x, model)
        rows = {}
        for a in tk.ALPHAS:
            order = cf.knapsack_order(g, ho.extra, a)
            rows[f"l2 {l2:g}, alpha {a:g}"] = {
                "cv_train": grid[f"l2 {l2:g}, alpha {a:g}"],
                "heldout": _pick(cf.sweep(ho.pair, order)),
                "heldout_shuffled": _controls(ho, order),
            }
        out[name] = {"cv_grid": grid, "chosen_on_train": chosen, "rankings": rows}
    return {"features": out, "random_ranking": _random(held)}


def _replay_rows(table: ot.Table, body: str, easy: list[float | None],
                 controls: bool, feedbacks: tuple[str, ...]) -> dict[str, Any]:  # fmt: skip
    shuffled = [ot.shuffled_labels(table, p) for p in range(2)] if controls else []
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fb in feedbacks:
            cfg, _ = r2._config(body, table, Path(tmp), feedback=fb)
            real = r2._sweep(table, cfg, easy)
            ctrl = [r2._sweep(t, cfg, easy) for t in shuffled]
            row: dict[str, Any] = {"real": real, "sweep": cfg.objective}
            if ctrl:
                row["shuffled_labels"] = {
                    k: round(statistics.mean(c[k] for c in ctrl), 4) for k in KEYS
                }
            out[fb] = row
    return out


def sidecar(full: ot.Table) -> dict[str, Any]:
    tables = {s: replay_cli.classified(ot.select_split(full, s)) for s in ("train", "heldout")}
    shipped, old = load(SHIPPED), load("knowledge")
    easy = {s: [shipped.easiness(r.prompt) for r in t.rows] for s, t in tables.items()}
    easy_old = [old.easiness(r.prompt) for r in tables["heldout"].rows]
    body = r2._body("knowledge.toml", "")
    res: dict[str, Any] = {"scale_on_train": {}, "scale_heldout": {}, "configs": {}}
    for s in SCALES:  # the ONNX's output is linear in the scale: the same as re-exporting
        for split, key in (("train", "scale_on_train"), ("heldout", "scale_heldout")):
            e = [None if v is None else s * v / tk.SCALE for v in easy[split]]
            res[key][f"{s:g}"] = _replay_rows(tables[split], body, e, False, ("sidecar",))
    ho = tables["heldout"]
    round3 = body.replace(f'"{SHIPPED}"', '"knowledge"')
    calls = r2._body("knowledge_calls.toml", "")
    for name, b, e in (
        ("knowledge.toml (knowledge_embed, shipped)", body, easy["heldout"]),
        ("round-three knowledge.toml (knowledge model)", round3, easy_old),
        ("knowledge_calls.toml (knowledge_embed, shipped)", calls, easy["heldout"]),
    ):
        res["configs"][name] = _replay_rows(ho, b, e, True, tuple(rp.FEEDBACK))
    res["random_router"] = r2._random_router(ho, tk.STRONG, tk.WEAK)
    res["rows"] = {s: len(t.rows) for s, t in tables.items()}
    return res


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def _line(name: str, r: dict[str, Any], ctrl: dict[str, Any] | None) -> str:
    cells = [r[k] for k in KEYS] + ([ctrl["apgr"], ctrl["apgr_cost"]] if ctrl else ["-", "-"])
    return f"| {name} | " + " | ".join(map(_fmt, cells)) + " |"


HEAD = ("| {} | APGR calls | CPT80 % calls | APGR $ | CPT80 % $ | shuffled: APGR calls | "
        "shuffled: APGR $ |\n|---|---|---|---|---|---|---|")  # fmt: skip


def render(res: dict[str, Any], notes: dict[str, str]) -> str:
    doc = __doc__.split("Writes")[0].strip()
    lines = [MARK, "", "# Round four: MMLU", "", doc, "", "## Reproduce", "", notes["reproduce"]]
    f = res["frontier"]
    lines += ["", "## Static frontier (2,803 held-out rows)", "", HEAD.format("ranking")]
    for kind, v in f["features"].items():
        for name, r in v["rankings"].items():
            mark = " (chosen on train)" if name == v["chosen_on_train"] else ""
            cv = r["cv_train"]
            label = f"{kind}: {name}{mark} [CV train {cv['apgr']:.3f} / {cv['apgr_cost']:.3f}]"
            lines.append(_line(label, r["heldout"], r["heldout_shuffled"]))
    lines.append(_line("random ranking", f["random_ranking"], None))
    lines += ["", notes["frontier"]]
    s = res["sidecar"]
    lines += ["", f"## The sidecar ({s['rows']['heldout']} held-out rows)", "",
              HEAD.format("configuration [feedback]")]  # fmt: skip
    for name, by_fb in s["configs"].items():
        for fb, r in by_fb.items():
            lines.append(_line(f"{name} [{fb}]", r["real"], r.get("shuffled_labels")))
    lines.append(_line(f"random router ({r2.RANDOM_SEEDS} draws)", s["random_router"], None))
    lines += ["", "The output scale, sidecar feedback (train rows: in sample; held-out: read "
              "only):", "", HEAD.format("scale")]  # fmt: skip
    for sc in s["scale_on_train"]:
        chosen = " (chosen)" if float(sc) == tk.SCALE else ""
        lines.append(
            _line(f"{sc}{chosen}, train", s["scale_on_train"][sc]["sidecar"]["real"], None)
        )
        lines.append(_line(f"{sc}, held-out", s["scale_heldout"][sc]["sidecar"]["real"], None))
    lines += ["", notes["sidecar"]]
    return "\n".join(lines).rstrip() + "\n"


NOTES = {
    "reproduce": (
        "`python -m arbiter.offline.train_knowledge_embed --out "
        "python/arbiter/models/difficulty_knowledge_embed.onnx` (byte-identical; `--cv` prints "
        "the CV grid), then `python bench/routing_round4.py`; the shipped config: `arbiter replay "
        "mmlu.dev.jsonl.gz --models routellm.models.json --split heldout --sweep "
        "--routing-config examples/routing/knowledge.toml`."
    ),
    "frontier": (
        "The embedding moves the whole frontier. At the alpha chosen on train rows (0.3) the 64 "
        "features + the embedding reach 0.672 calls / 0.683 $ (shuffled 0.492 / 0.499), against "
        "0.636 / 0.638 for round three's knowledge model and 0.636 / 0.639 for the 64 features "
        "alone; by gain alone (alpha 0) 0.702 calls (round three 0.673); the knapsack order "
        "(alpha 1) 0.557 / 0.694, most of whose dollar figure is cost (shuffled 0.660). The "
        "embedding alone (chosen: L2 3, alpha 0.2: 0.649 / 0.651) is below the combination: the "
        "64 features carry the question's length and format. The CV figures (fitted on 4/5 of "
        "the train rows) run lower than the held-out ones for every feature set (0.60 / 0.61 "
        "against 0.67 / 0.68 for the chosen one), so nothing here was picked by a flattering "
        "number; round three's knowledge model is the exception (it was fitted on the train "
        "rows, so its CV figures there are in sample)."
    ),
    "sidecar": (
        "Goal (dollar-axis APGR >= call-axis APGR >= 0.65) met on the held-out rows by one "
        "shipped config, knowledge.toml, with sidecar feedback (the honest one for live use): "
        "0.675 calls (CPT80 58.7%) / 0.692 $ (CPT80 57.0%). Its shuffled-labels control is "
        "0.496 / 0.506 and the random router 0.498 / 0.488: the gain is quality prediction, not "
        "cost. The replay's order of requests barely moves it (`--seed 1`: 0.679 / 0.699, "
        "`--seed 2`: 0.674 / 0.694). Round three's knowledge.toml on the same rows: "
        "0.631 / 0.628. The sidecar's "
        "best-value rule lands next to the static frontier's alpha 0.3 point (0.672 / 0.683): "
        "with the score standardized and the per-prompt slope prior at 1.0, the gain it implies "
        "is steeper than the fitted one, which is what an exponent below 1 does. The output "
        "scale was chosen on the train rows (in sample; scale 1 has the largest min(calls, $) "
        "with dollars >= calls there: 0.715 / 0.742); on the held-out rows 0.75-1 keep dollars "
        ">= calls and 1.5-2 trade dollars for calls. Label feedback hurts (0.596 / 0.665; "
        "shuffled 0.488 / 0.628, so its dollar figure is mostly cost): learning every answer's "
        "true label moves the online slope and means across the model's ranking, as in round "
        "two. With sidecar feedback and no judge the router learns nothing here (no grader "
        "applies to a one-letter answer) and keeps the shipped ranking. knowledge_calls.toml "
        "(the quality target with the same model; train 0.728 against 0.649 with the knowledge "
        "model, so it switched too) reaches 0.701 calls (CPT80 50.6%) / 0.588 $ (round three's "
        "0.669 / 0.532). Round two's knowledge.toml rows above are round three's model (the "
        "'round-three knowledge.toml' row here). Request path: knowledge_embed adds ~0.16 ms of "
        "CPU per routed request (0.18 against 0.02 ms per prompt to score, load average ~6; the "
        "tokenizer is 0.14 ms of it), only where a config names it."
    ),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--render-only", action="store_true", help="re-render the saved results")
    args = ap.parse_args(argv)
    if args.render_only:
        res = json.loads((OUT / "routing_round4.json").read_text())
    elif not DATA.exists():
        print(f"no data at {DATA}", file=sys.stderr)
        return 1
    else:
        t0 = time.perf_counter()
        train, held = tk.load_rows(DATA)
        full = ot.load_table(DATA / tk.TABLE, ot.load_models(DATA / tk.MODELS))
        res = {"frontier": frontier(train, held), "sidecar": sidecar(full)}
        res["seconds"] = round(time.perf_counter() - t0, 1)
    md = render(res, NOTES)
    print(md)
    if not args.no_write:
        (OUT / "routing_round4.json").write_text(json.dumps(res, indent=1) + "\n")
        write_section(OUT / "routing.md", MARK, md)
    ship = res["sidecar"]["configs"]["knowledge.toml (knowledge_embed, shipped)"]["sidecar"]
    print(json.dumps({"knowledge.toml heldout": ship["real"],
                      "shuffled": ship.get("shuffled_labels")}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
