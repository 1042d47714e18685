"""In-request confidence cascade: decide whether a cheap model's answer looks too weak to return.

Pure functions over the answer text (the automatic graders of `arbiter.grading` plus answer-
confidence signals, and for math a small logistic verifier shipped in `models/`); the caller makes
the escalation call and charges both. No I/O per request (the verifier's weights load once).
"""

from __future__ import annotations

import ast
import functools
import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arbiter import linear
from arbiter.grading import grade_answer
from arbiter.math_value import CostHead, ValueHead
from arbiter.step_check import check_steps
from arbiter.types import estimate_tokens

log = logging.getLogger(__name__)

ESCALATE_BELOW = 0.5  # a grader score under this escalates
# (task, prompt, answer, finish_reason, response_format) -> (escalate?, why)
Escalate = Callable[[str, str, str | None, str | None, Mapping[str, Any] | None], tuple[bool, str]]
_NUM = r"-?\d[\d,]*(?:\.\d+)?"
# "12 * 3 = 36", "$4 + $5 + 2 = $11", "(40 - 4) / 2 = 18", "2 x 60 = 120", "2/3 \\* 60 = 40": a
# whole chain and its claimed result. The result must be a lone number: "10 + 68 / 2 = 10 + 34"
# claims nothing about "10" and "1,350 + 6 * 350 = 3,450" is not "= 3"
_OP = r"(?:[+\-*/×÷]|\\\*|\s[xX]\s)"
_OPERAND = rf"\$?\(*\s*\$?{_NUM}\s*\)*"
# Linear-time patterns only (arbiter.linear): answers come from upstreams. Without lookaround,
# "not preceded by [\w.,)]" consumes that one character instead, and what follows the result
# is captured as `more` and refused in code (`arithmetic_errors`) rather than by a lookahead.
_ARITH = linear.compile(
    rf"(?:\A|[^\w.,)])((?:{_OPERAND}\s*{_OP}\s*)+{_OPERAND})\s*=\s*\$?({_NUM})"
    rf"(?P<more>[,.]?\d|\s*(?:[+\-*/×÷^(]|\\\*|[xX]\s*\$?\d))?"
)
# Patterns with \b look for ASCII words: ASCII boundaries keep the DFA on CJK text (1.1 ms per
# 4 KB for _PARTIAL with a Unicode one; linear.ascii_boundaries).
# "x * 2/5 = 12.8", "+ 2/3 = ...": the match is only the tail of a longer (or symbolic) expression
_PARTIAL = linear.compile_ascii_boundaries(r"(?:[+\-*/×÷^]|\\\*|\b[A-Za-z]\s*[*/+\-×÷])\s*\(*\s*$")
_CALC = linear.compile(r"<<([^<>=]*)=([^<>]*)>>")  # GSM8K's calculator annotations
_TIMES_X = linear.compile(r"\s[xX]\s")
_HEDGES = linear.compile_ascii_boundaries(
    r"(?i)\b(i'?m not (?:sure|certain)|i am not (?:sure|certain)|i don'?t know|it'?s unclear|"
    r"cannot be determined|can'?t be determined|not enough information|i think the answer might)\b"
)
_FINAL_NUMBER = linear.compile(rf"(?i)(?:####|answer is|answer:)\s*\$?({_NUM})")


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def _eval(node: ast.expr) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
        a, b = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Add):
            return a + b
        if isinstance(node.op, ast.Sub):
            return a - b
        if isinstance(node.op, ast.Mult):
            return a * b
        return a / b
    raise ValueError("not plain arithmetic")


def _value(expr: str) -> float | None:
    """A plain-arithmetic expression's value ($, thousands commas, x/×/÷/\\* allowed), else None."""
    src = expr.replace("$", "").replace(",", "").replace("×", "*").replace("÷", "/")
    src = _TIMES_X.sub(" * ", src.replace("\\*", "*")).strip()
    if not src or len(src) > 200:
        return None
    try:
        return _eval(ast.parse(src, mode="eval").body)
    except (ValueError, SyntaxError, ZeroDivisionError, RecursionError, OverflowError):
        return None


def _wrong(value: float, claimed: float) -> bool:
    return (
        abs(value - claimed) > max(1e-6, 0.01 * abs(value))
        and abs(round(value, 2) - claimed) > 0.011
    )


def arithmetic_errors(content: str) -> int:
    """How many `a op b ... = c` steps in the answer are wrong (a cheap self-consistency check).

    Both plain-text steps and `<<expr=value>>` calculator annotations are re-evaluated.
    Expressions are parsed with `ast` and evaluated by hand (numbers and + - * / only), never
    eval'd; a claimed result within 1% (or matching after rounding to cents) counts as right. A
    step that is only the tail of a longer or symbolic expression, or whose right side is itself
    an expression, is not checked (those were the checker's false alarms).
    """
    text = content[:20000]
    bad = 0
    calcs = []
    for calc in _CALC.finditer(text):
        calcs.append(calc.span())
        v, z = _value(calc.group(1)), _value(calc.group(2))
        if v is not None and z is not None and _wrong(v, z):
            bad += 1
    pos = 0
    while (m := _ARITH.search(text, pos)) is not None:
        start, chain, result = m.start(1), m.group(1), m.group(2)
        if m.group(3) is not None:  # `more`: what follows the result continues the expression
            result = _result_before_comma(text, m.start(2), result)
            if not result:
                # The "result" goes on ("= 36 + 4"): no claim here, and none from any start in
                # this chain (they reach the same "="). The next chain may start at the result.
                pos = m.end(1)
                continue
        pos = m.start(2) + len(result)
        if any(a <= start < b for a, b in calcs):
            continue
        if _PARTIAL.search(text[max(0, start - 12) : start]):
            continue
        v = _value(chain)
        if v is not None and _wrong(v, _num(result)):
            bad += 1
    return bad


def _result_before_comma(text: str, at: int, number: str) -> str:
    """The longest prefix of `number` (found at `at`) that ends before a comma not followed by a
    digit ("= 1,000,* 2" claims 1,000), else "": the claims the lookaheads of the former
    backtracking pattern accepted after refusing the whole number."""
    for i in range(len(number) - 1, 0, -1):
        after = at + i + 1
        if number[i] == "," and not (after < len(text) and text[after].isdecimal()):
            return number[:i]
    return ""


def _repetitive(content: str) -> bool:
    lines = [ln.strip() for ln in content.splitlines() if len(ln.strip()) > 20]
    return len(lines) >= 6 and len(set(lines)) <= len(lines) // 2


def _conflicting_finals(content: str) -> bool:
    finals = {_num(m) for m in _FINAL_NUMBER.findall(content)}
    return len(finals) > 1


def short_answer(content: str | None, min_tokens: int) -> str | None:
    """Why an answer is too short to keep, or None. For open-ended tasks a short answer is the
    cheapest confidence signal there is: judges (people and LLMs alike) prefer the fuller
    answer, so a cheap model's terse reply is the one most likely to lose to the strong one."""
    n = estimate_tokens(content or "")
    return f"a short answer ({n} < {min_tokens} tokens)" if n < min_tokens else None


def should_escalate(
    task: str,
    prompt: str,
    content: str | None,
    finish_reason: str | None,
    response_format: Mapping[str, Any] | None,
    min_answer_tokens: int = 0,
) -> tuple[bool, str]:
    """(escalate?, why). Escalate when a grader fails the answer or it shows low confidence;
    with `min_answer_tokens`, also when the answer is shorter than that."""
    grade = grade_answer(
        task=task,
        prompt=prompt,
        content=content,
        finish_reason=finish_reason,
        response_format=response_format,
    )
    if grade is not None and grade.score < ESCALATE_BELOW:
        return True, f"grader {grade.grader}: {grade.detail}"[:200]
    if min_answer_tokens and (why := short_answer(content, min_answer_tokens)):
        return True, why
    text = content or ""
    if task == "math":
        if (n := arithmetic_errors(text)) > 0:
            return True, f"{n} wrong arithmetic step(s)"
        if _conflicting_finals(text):
            return True, "conflicting final answers"
    if _HEDGES.search(text):
        return True, "the answer hedges"
    if _repetitive(text):
        return True, "the answer repeats itself"
    return False, "looks fine" if grade is None else f"grader {grade.grader}: {grade.score:.2f}"


# -- the math verifier: P(cheap answer is wrong) from the answer text --------------------------
# v2 (P(cheap answer wrong) alone) is the default. Each cost-aware variant won on GSM8K's train
# rows and lost on the held-out rows (bench/results/routing.md, rounds three to five): v3 (gain
# per expected cost) and v4 (v2's P(wrong) / expected relative cost ** 0.5, `math_value.CostHead`)
# stay loadable by path
MODELS = Path(__file__).with_name("models")
VERIFIER_V2 = MODELS / "verifier_math_v2.json"
DEFAULT_VERIFIER = VERIFIER_V2
VERIFIER_V4 = MODELS / "verifier_math_v4.json"
VERIFIER_V3 = MODELS / "verifier_math_v3.json"
# v5 (round nine): v2's features plus the exact re-check of every step (`step_check`)
VERIFIER_V5 = MODELS / "verifier_math_v5.json"
# v6 (gsm13): v5's P(wrong) and a P(strong right) head over the same columns; escalates by the
# fix's expected gain, P(cheap wrong) - P(strong wrong) (bench/routing_gsm13_dollars.py)
VERIFIER_V6 = MODELS / "verifier_math_v6.json"
_GSM_FINAL = linear.compile(rf"####\s*\$?\s*({_NUM})")
_ANY_NUM = linear.compile(_NUM)
_LETTER = linear.compile(r"[A-Za-z]")
_SECOND_THOUGHTS = linear.compile_ascii_boundaries(
    r"(?i)\b(assum|approximately|round|however|but wait|actually|let's)\w*"
)
_RATIO_WORDS = linear.compile_ascii_boundaries(
    r"(?i)\b(percent|fraction|half|third|quarter|twice|ratio)\b"
)
VERIFIER_FEATURES = (
    "has_final", "unclosed_calc", "arith_errors", "conflicting_finals", "hedges", "log_answer_len",
    "log_prompt_len", "lines_10", "calcs_5", "final_not_integer", "final_negative",
    "final_in_prompt", "log_prompt_numbers", "log_distinct_answer_numbers",
    "unused_prompt_numbers", "final_is_last_calc", "finals_3", "second_thoughts",
    "prompt_percent", "prompt_ratio_words", "log_final_5", "final_has_words", "chained_equals",
    # round nine (`step_check`: every step re-checked in exact rational arithmetic)
    "exact_wrong_steps", "any_exact_wrong", "rounded_step_share", "checked_steps_5",
    "final_is_step_result", "final_vs_prompt_max",
)  # fmt: skip


def _maybe_num(text: str) -> float | None:
    try:
        return _num(text)
    except ValueError:
        return None


def _nums(text: str) -> list[float]:
    return [v for v in map(_maybe_num, _ANY_NUM.findall(text)) if v is not None]


def verifier_features(prompt: str, content: str, steps: bool = True) -> list[float]:
    """The verifier's input, in `VERIFIER_FEATURES` order (answer format, checks, sizes);
    without `steps`, only the features before round nine's (what v2-v4 read: the exact step
    re-check is skipped where no verifier reads it)."""
    text = content[:20000]
    finals = _GSM_FINAL.findall(text)
    fv = _maybe_num(finals[-1]) if finals else None
    p_nums, a_nums = _nums(prompt), _nums(text)
    calcs = [m.group(2) or "" for m in _CALC.finditer(text)]
    last_calc = _maybe_num(calcs[-1]) if calcs else None
    distinct_p = set(p_nums)
    used = set(a_nums)
    return [
        1.0 if finals else 0.0,
        1.0 if text.count("<<") > text.count(">>") else 0.0,
        float(min(arithmetic_errors(text), 3)),
        1.0 if _conflicting_finals(text) else 0.0,
        1.0 if _HEDGES.search(text) else 0.0,
        math.log1p(len(text)),
        math.log1p(len(prompt)),
        sum(1 for ln in text.splitlines() if ln.strip()) / 10,
        len(calcs) / 5,
        1.0 if fv is not None and fv != int(fv) else 0.0,
        1.0 if fv is not None and fv < 0 else 0.0,
        1.0 if fv is not None and fv in distinct_p else 0.0,
        math.log1p(len(p_nums)),
        math.log1p(len(used)),
        sum(1 for x in distinct_p if x not in used) / max(1, len(distinct_p)),
        1.0 if fv is not None and last_calc is not None and abs(fv - last_calc) < 1e-6 else 0.0,
        min(len(finals), 3) / 3,
        1.0 if _SECOND_THOUGHTS.search(text) else 0.0,
        1.0 if "%" in prompt else 0.0,
        1.0 if _RATIO_WORDS.search(prompt) else 0.0,
        math.log1p(abs(fv)) / 5 if fv is not None else 0.0,
        1.0 if finals and _LETTER.search(text.rsplit("####", 1)[1]) else 0.0,
        _chained_equals(text),
        *(_step_features(fv, p_nums, text) if steps else ()),
    ]


def _step_features(final: float | None, prompt_numbers: list[float], text: str) -> list[float]:
    """Round nine's features: what the exact re-check of every step says (`step_check`), and
    whether the final number is one of the steps' results, and its size against the prompt's
    largest number (log10, clipped to +-3)."""
    steps = check_steps(text)
    results = {float(r) for r in steps.results}
    largest = max((abs(x) for x in prompt_numbers), default=0.0)
    return [
        float(min(steps.wrong, 3)),
        1.0 if steps.wrong else 0.0,
        steps.inexact / max(1, steps.steps),
        min(steps.steps, 10) / 5,
        1.0 if final is not None and final in results else 0.0,
        max(-3.0, min(3.0, math.log10((abs(final) + 1) / (largest + 1))))
        if final is not None
        else 0.0,
    ]


_STEPS = VERIFIER_FEATURES.index("exact_wrong_steps")  # round nine's first
_LOG_PROMPT = VERIFIER_FEATURES.index("log_prompt_len")
_LOG_ANSWER = VERIFIER_FEATURES.index("log_answer_len")


def _chained_equals(text: str) -> float:
    """The most "=" signs on one line, capped at 4, / 4: "42 - 18 = 24 - 4 = 20" rewrites a step
    mid-line, which on GSM8K's train rows goes with a wrong cheap answer (CV: +0.01 APGR)."""
    return min(4, max((ln.count("=") for ln in text.splitlines()), default=0)) / 4


@dataclass(frozen=True, slots=True)
class Verifier:
    """Logistic model over standardized `verifier_features`: P(the cheap answer is wrong); with a
    `value` head (`math_value`), the escalation score is the strong call's expected gain per
    relative cost instead (v3; v6: on named columns, alpha 0, the expected gain alone); with a
    `cost` head, P(wrong) / relative cost ** alpha (v4); otherwise P(wrong) itself (v2, v5)."""

    version: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    value: ValueHead | None = None
    cost: CostHead | None = None
    # which of VERIFIER_FEATURES it reads, by index; empty: the first len(weights) (v2-v4)
    columns: tuple[int, ...] = ()

    def _standardized(self, prompt: str, content: str) -> list[float]:
        return self._standardize(self.features(prompt, content))

    def features(self, prompt: str, content: str) -> list[float]:
        return verifier_features(prompt, content, steps=max(self.columns, default=0) >= _STEPS)

    def _standardize(self, features: list[float]) -> list[float]:
        # v2 and v4 read the first 22, v3 the first 23, v5 and v6 the columns they name
        x = [features[i] for i in self.columns] if self.columns else features[: len(self.weights)]
        return [(v - m) / s for v, m, s in zip(x, self.mean, self.std, strict=True)]

    @property
    def feature_names(self) -> tuple[str, ...]:
        if self.columns:
            return tuple(VERIFIER_FEATURES[i] for i in self.columns)
        return VERIFIER_FEATURES[: len(self.weights)]

    def _p_wrong(self, z: list[float]) -> float:
        t = self.bias + sum(w * v for w, v in zip(self.weights, z, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, t))))

    def p_wrong(self, prompt: str, content: str) -> float:
        return self._p_wrong(self._standardized(prompt, content))

    def score(self, prompt: str, content: str) -> float:
        """What `routing.cascade_math_verifier` is compared with (higher escalates first)."""
        x = self.features(prompt, content)
        z = self._standardize(x)
        p = self._p_wrong(z)
        if self.value is not None:
            return self.value.score(p, z, len(prompt), len(content[:20000]))
        if self.cost is not None:
            return self.cost.score(p, x[_LOG_PROMPT], x[_LOG_ANSWER])
        return p

    def to_json(self) -> str:
        names = list(self.feature_names)
        doc: dict[str, Any] = {"version": self.version, "features": names,
                               "mean": self.mean, "std": self.std, "weights": self.weights,
                               "bias": self.bias}  # fmt: skip
        if self.value is not None:
            doc["value"] = self.value.to_dict()
        if self.cost is not None:
            doc["cost"] = self.cost.to_dict()
        return json.dumps(doc, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Verifier:
        d = json.loads(text)
        names = tuple(d["features"])  # a prefix of this code's features (v2-v4), or a subset
        if not names or len(set(names)) != len(names) or not set(names) <= set(VERIFIER_FEATURES):
            raise ValueError("verifier features do not match this code")
        prefix = names == VERIFIER_FEATURES[: len(names)]
        columns = () if prefix else tuple(VERIFIER_FEATURES.index(n) for n in names)
        mean, std, weights = (tuple(map(float, d[k])) for k in ("mean", "std", "weights"))
        if not len(mean) == len(std) == len(weights) == len(names):
            raise ValueError("verifier shapes do not match its feature list")
        value = ValueHead.from_dict(d["value"], len(weights)) if "value" in d else None
        cost = CostHead.from_dict(d["cost"]) if "cost" in d else None
        if value is not None and cost is not None:
            raise ValueError("a verifier has a value head or a cost head, not both")
        # a value head reads the standardized columns the verifier names (v6) and the raw
        # lengths; no cost head was ever fitted on named columns, so none is accepted
        if columns and cost is not None:
            raise ValueError("a verifier with a cost head reads a prefix of the features")
        return cls(str(d["version"]), mean, std, weights, float(d["bias"]), value, cost, columns)


SHIPPED_VERIFIERS = {"builtin": DEFAULT_VERIFIER, "v2": VERIFIER_V2, "v3": VERIFIER_V3,
                     "v4": VERIFIER_V4, "v5": VERIFIER_V5, "v6": VERIFIER_V6}  # fmt: skip


def verifier_path(spec: str) -> Path:
    """`routing.cascade_math_verifier_file`: a shipped verifier's name, or a path."""
    return SHIPPED_VERIFIERS.get(spec) or Path(spec)


def configured_verifier(spec: str) -> Verifier:
    """The verifier a config names, read strictly (ValueError/OSError say why it is unusable)."""
    return Verifier.from_json(verifier_path(spec).read_text())


def load_verifier(path: Path = DEFAULT_VERIFIER) -> Verifier | None:
    """The shipped math verifier, or None when missing or unreadable (hard rules still apply)."""
    try:
        return Verifier.from_json(path.read_text())
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.warning("math verifier %s not loaded: %s", path, err)
        return None


def min_answer_rule(min_tokens: float) -> Escalate:
    """`should_escalate` with `min_answer_tokens` = min_tokens: the sidecar's cascade check
    under `routing.cascade_min_answer_tokens`, and the knob a replay sweeps (higher escalates
    more: more cost, more quality)."""
    return functools.partial(should_escalate, min_answer_tokens=int(min_tokens))


def verified_escalation(
    verifier: Verifier,
    threshold: float,
    weigh: Callable[[float], tuple[float, str]] | None = None,
) -> Escalate:
    """An escalation rule: for math, the verifier's score (P(wrong); with a cost head over the
    relative strong cost ** alpha; with a value head the expected gain per relative cost,
    squashed) >= threshold; other tasks use `should_escalate`.

    The threshold is the cascade's knob: lower escalates more (more cost, more quality).
    """

    def decide(
        task: str,
        prompt: str,
        content: str | None,
        finish_reason: str | None,
        response_format: Mapping[str, Any] | None,
    ) -> tuple[bool, str]:
        if task != "math":
            return should_escalate(task, prompt, content, finish_reason, response_format)
        if not content or finish_reason == "length":
            return True, "no complete answer"
        p = verifier.score(prompt, content)
        if weigh is None:
            return p >= threshold, f"verifier score={p:.2f} vs {threshold:.2f}"
        weighed, note = weigh(p)  # e.g. cascade_cost.per_dollar: the score and what weighed it
        return weighed >= threshold, f"verifier score={p:.2f}, {note} vs {threshold:.2f}"

    return decide
