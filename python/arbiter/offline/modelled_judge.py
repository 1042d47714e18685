"""The cascade's in-request judge as `arbiter replay` models it (routing.cascade_judge_*).

The replay does not call a judge. It gives the sidecar's judge what a live one would see, the
first answer alone, and reads that answer's recorded quality through a documented noise model:
with probability `error` the verdict is uninformative, the quality of another row's answer by
the same model (a seeded draw per row), else the answer's own recorded quality
(`Outcome.judged`: its own label, which a shuffled-labels control leaves with the answer's text,
as a live judge would read it). That quality stands for the judge's score (judge.py's
(s - 1) / 9), so the task's judge line is in
the table's quality unit. `error` is `--judge-error` (default as_sidecar.JUDGE_ERROR, 0.15:
MT Bench's GPT-4 judge against human experts; a self-judge's default is
cascade_judge.SELF_JUDGE_ERROR, 0.45); bench/routing_round9_chat.py sweeps 0-0.3,
bench/routing_selfjudge.py the self-judge's 0.15-0.6.
Each reading is charged as the sidecar pays it: judge.py's prompt on the question and the answer
(tokens ceil(chars / 4), as the tables count them) plus JUDGE_OUT_TOKENS of reply, at the judge
model's prices from the models file.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from arbiter import judge
from arbiter.cascade_judge import SELF_JUDGE, judge_for
from arbiter.offline.outcome_table import Outcome, Row, Table

JUDGE_OUT_TOKENS = 40  # one sentence of rationale and the SCORE line (judge.py's instruction)


def judge_prompt_tokens(question: str, answer: str) -> int:
    return sum(
        math.ceil(len(m["content"]) / 4) for m in judge.build_judge_messages(question, answer)
    )


@dataclass(slots=True)
class ModelledJudge:
    """Noisy readings of first answers, and what they cost."""

    table: Table
    model: str  # routing.cascade_judge_model ("first": the answer's own): priced from the table
    error: float
    seed: int = 0
    calls: int = 0
    cost_usd: float = 0.0
    _quality: dict[str, Sequence[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.model != SELF_JUDGE and not any(m.id == self.model for m in self.table.models):
            raise ValueError(
                f"routing.cascade_judge_model {self.model!r} is not in the models file: the "
                "replay cannot price its calls"
            )

    def read(self, row: Row, model: str, out: Outcome) -> tuple[float, float]:
        """One verdict on `model`'s answer `out` to `row`, in [0, 1], and the call's cost (at
        the judge's price: `model`'s own under the self-judge)."""
        judge_id = judge_for(self.model, model)
        spec = next(m for m in self.table.models if m.id == judge_id)
        cost = spec.cost_usd(judge_prompt_tokens(row.prompt, out.response or ""), JUDGE_OUT_TOKENS)
        self.calls += 1
        self.cost_usd += cost
        rng = random.Random(f"{self.seed}:{row.id}:{model}:judge")
        if rng.random() >= self.error:
            return out.judged(), cost
        pool = self._qualities(model)
        return pool[rng.randrange(len(pool))], cost

    def _qualities(self, model: str) -> Sequence[float]:
        if model not in self._quality:
            self._quality[model] = [r.outcomes[model].judged() for r in self.table.rows]
        return self._quality[model]
