"""A mixed-traffic proxy for MT Bench, built in memory from the shared dev tables (never copied).

MT Bench has 8 categories x 10 questions. The proxy maps them onto the three tables held here:
- math + reasoning (2/8)                       -> GSM8K rows (math word problems, 0/1 labels)
- STEM + humanities (2/8)                      -> MMLU rows (knowledge questions, 0/1 labels)
- writing, roleplay, extraction, coding (4/8)  -> AlpacaEval rows, GPT-4 Turbo vs Mixtral-concise
                                                  (open-ended, judged preference)
Per split, every AlpacaEval row of the split is used and GSM8K / MMLU rows are drawn (seeded) to
half of that count each, so the three sources stand 1 : 1 : 2 as the categories do.

Quality on one scale. MT Bench grades each answer 1-10 with a GPT-4 judge and a question's
quality is the mean over its two turns; we map every source onto that 1-10 scale, then to
[0, 1] as (score - 1) / 9:
- 0/1 labels (GSM8K, MMLU): a right answer scores RIGHT (9), a wrong one WRONG (2): a
  reference-guided judge gives wrong math 1-3 and right answers 8-10.
- AlpacaEval: `quality` is the judged probability that the answer beats GPT-4 Turbo's, and GPT-4
  Turbo is the reference (0.5 on every row). GPT-4 Turbo's answer scores REF (9); another answer
  REF + 2 * OPEN_SPREAD * (q - 0.5): as good as the reference scores the same, one the judge
  surely prefers to it OPEN_SPREAD more, one it surely rejects OPEN_SPREAD less. OPEN_SPREAD =
  0.75 makes Mixtral's mean open-ended gap about 0.6 points, the size of the public MT Bench gap
  between GPT-4 and Mixtral on writing / roleplay / humanities (it is 2-4 points on math,
  reasoning and coding, which the 0/1 sources carry: 7 points per flipped answer x their
  error-rate gap). A larger spread (`spread=`) weighs open-ended prompts more.
Both models are priced as in routellm.models.json (the MT Bench pair's prices); AlpacaEval's
Mixtral-concise answers are recosted at those prices. One turn only: the table has one, so the
proxy is noisier per question than MT Bench's two-turn mean.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from arbiter.offline import outcome_table as ot

STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
ALPACA_WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1:concise"
RIGHT, WRONG, REF = 9.0, 2.0, 9.0
OPEN_SPREAD = 0.75


def normalized(score: float) -> float:
    """A 1-10 judge score as quality in [0, 1]."""
    return (min(10.0, max(1.0, score)) - 1.0) / 9.0


def labelled(row: ot.Row) -> ot.Row:
    """A 0/1-labelled row on the 1-10 scale, normalized."""
    outs = {
        m: replace(o, quality=normalized(RIGHT if o.quality >= 0.5 else WRONG))
        for m, o in row.outcomes.items()
    }
    return replace(row, outcomes=outs)


def _open_ended(row: ot.Row, spec: dict[str, ot.ModelSpec], spread: float) -> ot.Row:
    strong, weak = row.outcomes[STRONG], row.outcomes[ALPACA_WEAK]
    w = spec[WEAK]
    outs = {
        STRONG: replace(strong, quality=normalized(REF + 2 * spread * (strong.quality - 0.5))),
        WEAK: replace(
            weak,
            quality=normalized(REF + 2 * spread * (weak.quality - 0.5)),
            cost_usd=w.cost_usd(row.prompt_tokens, weak.completion_tokens),
        ),
    }
    return replace(row, outcomes=outs)


def source_of(row: ot.Row) -> str:
    return row.id.split("-", 1)[0]  # gsm8k / mmlu / alpaca


def load_sources(data: Path) -> dict[str, ot.Table]:
    rm = ot.load_models(data / "routellm.models.json")
    am = ot.load_models(data / "alpaca_eval.models.json")
    return {
        "gsm8k": ot.load_table(data / "gsm8k.dev.jsonl.gz", rm),
        "mmlu": ot.load_table(data / "mmlu.dev.jsonl.gz", rm),
        "alpaca": ot.load_table(data / "alpaca_eval.dev.jsonl.gz", am),
    }


def mixed(
    sources: dict[str, ot.Table], split: str, draw: int, spread: float = OPEN_SPREAD
) -> ot.Table:
    """The proxy's rows of one split (`difficulty.split_of`), GSM8K / MMLU drawn with `draw`."""
    rm = {m.id: m for m in sources["gsm8k"].models}
    alpaca = ot.select_split(sources["alpaca"], split).rows
    per = len(alpaca) // 2
    rng = random.Random(f"mixed:{split}:{draw}")
    rows = [_open_ended(r, rm, spread) for r in alpaca]
    for name in ("gsm8k", "mmlu"):
        pool = list(ot.select_split(sources[name], split).rows)
        rows += [labelled(r) for r in rng.sample(pool, per)]
    rng.shuffle(rows)
    return ot.Table(tuple(rows), (rm[STRONG], rm[WEAK]))


def round_args(argv: list[str] | None, saved: Path, render_saved: Callable[[Any], None]) -> Any:
    """The mixed-chat round benches' command line (--draws, --skip-replay, --render); with
    --render, `render_saved` gets the saved results (`saved`) and this returns None."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--skip-replay", action="store_true")
    ap.add_argument("--render", action="store_true", help="only rewrite routing.md from the JSON")
    args = ap.parse_args(argv)
    if args.render:
        render_saved(json.loads(saved.read_text()))
        return None
    return args


def split_sizes(sources: dict[str, ot.Table]) -> dict[str, int]:
    """How many mixed rows each split holds (one draw)."""
    return {f"rows_{split}": len(mixed(sources, split, 0).rows) for split in ("train", "heldout")}
