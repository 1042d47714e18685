"""What the sidecar would do, offline: its feedback and its cascade, for `arbiter replay`.

Feedback. The sidecar never sees a table's true label. It grades the answer it returned, and only
that one: an automatic grader where one applies to the task (grading.grade_answer: a math answer
gets 0.75 when a final answer is found and cannot be checked, 1/0 only when the prompt is an
expression it can evaluate; empty, cut-off and refusing answers get their low scores), else the
LLM judge on a sample (`routing.judge_sample_rate`, only with `routing.judge_model`), else
nothing. The judge is modelled as noisy: its verdict on an answer of recorded quality q is good
with probability q (q is itself a judged probability on AlpacaEval), flipped with probability
JUDGE_ERROR. q is the label of the answer's text (`Outcome.judged`): the shuffled-labels control
moves the scored label to another row and leaves the judge reading the text it was given, as
offline/modelled_judge.py does for the cascade's judge, so neither judge is handed the control's
labels. JUDGE_ERROR = 0.15 is MT-Bench's measured GPT-4-judge disagreement with human experts
on pairs without ties (Zheng et al. 2023, "Judging LLM-as-a-judge", Table 2: 85% agreement), the
best published figure for a strong judge; a weaker judge is noisier (`--judge-error`).

Cascade. `routing.cascade_*` as pipeline.py applies it: route first; for a cascade task try the
first model when it is cheaper than the choice (every request with `cascade_all`, the choice
then being the baseline, unless the first model cannot cascade to it: the router's choice), and
escalate to the choice when the answer fails the check.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from arbiter import grading, judge
from arbiter.cascade import Escalate, Verifier, min_answer_rule, verified_escalation
from arbiter.cascade_cost import DEFAULT_REFERENCE_USD, priced_escalation
from arbiter.cascade_gain import gain_escalation

if TYPE_CHECKING:
    from arbiter.offline.outcome_table import Outcome, Row

JUDGE_ERROR = 0.15


@dataclass(slots=True)
class SidecarGrader:
    """The grade the sidecar would learn from one returned answer (None: no grade at all)."""

    seed: int
    judge_rate: float
    judge_error: float = JUDGE_ERROR
    judged: int = 0  # judge calls made (each one is a paid call in the sidecar)
    auto: int = 0
    # (row id, model) -> the automatic grade of that recorded answer (None: none applies),
    # shared by every run of one replay: the grade reads only the row's task, prompt and answer
    # text, which no knob and no control changes, and on long prompts it was most of a sweep's
    # time (the code grader lowercases and scans the whole prompt, once per run)
    auto_grades: dict[tuple[str, str], float | None] | None = None

    def grade(self, row: Row, model: str, out: Outcome) -> float | None:
        if out.response is not None:  # a table without text (MMLU's letters): no auto grader
            score = self._auto(row, model, out.response)
            if score is not None:
                self.auto += 1
                return score
        decision = f"{self.seed}:{row.id}:{model}"
        if not judge.should_judge(decision, self.judge_rate):
            return None
        self.judged += 1
        rng = random.Random(decision)  # the same verdict for the same answer in every run
        # the judge reads the answer's text: under the shuffled-labels control that is the
        # answer's own label (Outcome.judged), not the one the control moved onto the row, as
        # the cascade's modelled judge and every automatic grader read it
        good = rng.random() < out.judged()
        if rng.random() < self.judge_error:
            good = not good
        return 1.0 if good else 0.0

    def _auto(self, row: Row, model: str, response: str) -> float | None:
        key = (row.id, model)
        if self.auto_grades is not None and key in self.auto_grades:
            return self.auto_grades[key]
        g = grading.grade_answer(
            task=row.task, prompt=row.prompt, content=response, finish_reason="stop",
            response_format=None,
        )  # fmt: skip
        score = None if g is None else g.score
        if self.auto_grades is not None:
            self.auto_grades[key] = score
        return score


@dataclass(frozen=True, slots=True)
class SidecarCascade:
    """routing.cascade_tasks / _first_model(s) / _all / _min_answer_tokens / _math_verifier /
    _expected_gain / _cost_exponent."""

    tasks: frozenset[str]
    first: str = ""  # "" = the cheapest eligible model for the request
    all: bool = False
    min_answer_tokens: Mapping[str, int] = field(default_factory=dict)
    verifier_threshold: float = 0.0  # 0 = off
    verifier: Verifier | None = None
    # routing.cascade_expected_gain / _min_expected_gain (cascade_gain.py)
    gain_lines: Mapping[str, Sequence[float]] = field(default_factory=dict)
    min_gain: float = 0.0
    # routing.cascade_prompt_gain: per task, the prompt's line (difficulty) on the same scale
    prompt_lines: Mapping[str, Sequence[float]] = field(default_factory=dict)
    # routing.cascade_cost_exponent / _reference_usd: the verifier's score per dollar of the fix
    cost_exponent: float = 0.0
    cost_reference_usd: float = DEFAULT_REFERENCE_USD
    # routing.cascade_judge_gain / _judge_model: per task, the judge's score's line on the same
    # scale (cascade_judge.py; modelled in offline/modelled_judge.py)
    judge_lines: Mapping[str, Sequence[float]] = field(default_factory=dict)
    judge_model: str = ""
    judge_cost_exponent: float = 0.0

    def rule(
        self,
        task: str,
        verifier_knob: float | None,
        min_knob: float | None,
        gain_knob: float | None = None,
        strong_cost_usd: float = 0.0,
    ) -> Escalate:
        """The check a first answer must pass; a swept knob replaces the configured value.
        `strong_cost_usd`: the escalation target's predicted cost, as the router priced it."""
        if task in self.gain_lines:
            at = self.min_gain if gain_knob is None else gain_knob
            return gain_escalation(self.gain_lines, at, self.verifier)
        threshold = self.verifier_threshold if verifier_knob is None else verifier_knob
        if task == "math" and self.verifier is not None and threshold > 0:
            if self.cost_exponent > 0:
                return priced_escalation(self.verifier, threshold, strong_cost_usd,
                                         self.cost_reference_usd, self.cost_exponent)  # fmt: skip
            return verified_escalation(self.verifier, threshold)
        n = self.min_answer_tokens.get(task, 0) if min_knob is None else min_knob
        return min_answer_rule(n)
