"""Linear-time bench: every check that reads client or upstream text, on adversarial inputs.

Each check (classifier, graders, math check, cascade rules, judge protocol, simulator) runs on
each adversarial shape (long whitespace, digit/operator runs, repeated separators, unclosed
fences/brackets/quotes, nested parentheses, ...) at growing sizes. A linear check takes ~4x the
time for 4x the text; a quadratic one 16x; a backtracking one never finishes (the cascade's
arithmetic check took 37.7 s on a 12-term sum before it moved to the linear-time engine). Prints
a table (the slowest shapes), then one JSON line. Bounded: a fixed set of calls, min of repeats.
Usage: python bench/redos.py [--quick] [--cpu] [--out bench/results/redos.json]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from arbiter import cascade, grading, judge, mathcheck, priors, step_check
from arbiter.answer_choices import OfferedTools, ToolCall
from arbiter.canonical import CanonicalRequest, Message, TextPart, Tool
from arbiter.classify import asks_for_code, classify
from arbiter.config_parse import _Locator
from arbiter.grading_tools import grade_tool_calls
from arbiter.listing import parse_page
from arbiter.offline.sim import content as sim_content
from arbiter.offline.sim import judge as sim_judge
from arbiter.offline.sim import tool_calls as sim_tool_calls
from arbiter.offline.workload import final_answer, parse_json_answer, recognise, terms_of
from arbiter.reference import ReferenceGrader
from arbiter.sandbox import examples as sandbox_examples
from arbiter.sandbox import extract as sandbox_extract

SIZES = (1_000, 4_000, 16_000, 64_000)
QUICK_SIZES = (1_000, 4_000, 16_000)


def _run(n: int, unit: str, head: str = "", tail: str = "") -> str:
    """About ``n`` characters: ``head``, ``unit`` repeated, ``tail``."""
    return head + unit * max(1, (n - len(head) - len(tail)) // len(unit)) + tail


# name -> text of about n characters. The shapes that made backtracking patterns blow up.
SHAPES: dict[str, Callable[[int], str]] = {
    "spaces after a verb": lambda n: _run(n, " ", "write", "x poem"),
    "newlines": lambda n: _run(n, "\n", "", "poem SCORE"),
    "tabs and spaces": lambda n: _run(n, " \t", "answer:", "x"),
    "plain sum": lambda n: _run(n, "12 + ", "", "12"),
    "sum claims": lambda n: _run(n, "1 + 2 = 3 + "),
    "digit run": lambda n: _run(n, "1"),
    "thousands run": lambda n: _run(n, "1,", "= "),
    "operators": lambda n: _run(n, "+-*/", "1"),
    "separators": lambda n: _run(n, ", ", "select a"),
    "dashes": lambda n: _run(n, "a-"),
    "unclosed fences": lambda n: _run(n, "```python\n"),
    "unclosed json fences": lambda n: _run(n, "```json\n{"),
    "unclosed parens": lambda n: _run(n, "("),
    "nested parens": lambda n: "(" * (n // 2) + "1" + ")" * (n // 2),
    "unclosed braces": lambda n: _run(n, "{"),
    "unclosed brackets": lambda n: _run(n, "[ "),
    "escaped quotes": lambda n: _run(n, '"\\"', "```js\n"),
    "block comments": lambda n: _run(n, "/*", "```js\n"),
    "boxed": lambda n: _run(n, "\\boxed{"),
    "answer stars": lambda n: _run(n, " *", "Answer: x", "y"),
    "score dots": lambda n: _run(n, " .", "SCORE: ", "x"),
    "markers": lambda n: _run(n, "[ /", "", "END"),
    "calc annotations": lambda n: _run(n, "<<1+2"),
    "in python language": lambda n: _run(n, "in python language "),
    "script for a video": lambda n: _run(n, "write a script for a video "),
    "how many": lambda n: _run(n, "how many "),
    "template words": lambda n: _run(n, "x has 1 y. "),
    "bracket, spaces": lambda n: _run(n, " ", "[", "x"),
}


def _grade(task: str, prompt: str = "Write it.") -> Callable[[str], object]:
    def run(text: str) -> object:
        return grading.grade_answer(
            task=task, prompt=prompt, content=text, finish_reason="stop", response_format=None
        )

    return run


def _json_answer(text: str) -> object:
    try:
        return parse_json_answer(text)
    except ValueError:
        return None


_REGISTRY = sim_judge.AnswerRegistry()


def _tool_request(text: str) -> CanonicalRequest:
    """A request offering a tool whose name is in no prompt: the sim scans the whole turn."""
    tool = Tool("get_unmentioned_weather_forecast", parameters={"type": "object"})
    turn = Message("user", (TextPart(text),))
    return CanonicalRequest("m", (turn,), "openai", tools=(tool,))


_PRIORS = priors.load(priors.BUILTIN)


def _listing(text: str) -> object:
    """An upstream's model listing with the text in every field the parser reads."""
    entry = {"id": text, "context_length": text, "pricing": {"prompt": text, "completion": text},
             "supported_parameters": [text], "capabilities": [text]}  # fmt: skip
    return parse_page({"data": [entry, {"id": text[:200].replace(" ", "-")}]})


_REFERENCES = ReferenceGrader(None)
_PATTERNED = OfferedTools(
    {"f": {"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a+)+$"}}}}
)


def _tool_args(text: str) -> object:
    return grade_tool_calls([ToolCall("f", json.dumps({"s": text}))], _PATTERNED)


# name -> the check, called on one untrusted text (as a prompt, an answer or a judge reply).
CHECKS: dict[str, Callable[[str], object]] = {
    "classify": lambda t: classify([{"role": "user", "content": t}]),
    "classify system": lambda t: classify(
        [{"role": "system", "content": t}, {"role": "user", "content": "hi"}]
    ),
    "asks_for_code": asks_for_code,
    "grade code": _grade("code", "Write a python function"),
    "grade math": _grade("math", "What is 2 + 2?"),
    "grade extraction": _grade("extraction", "Return JSON only."),
    "grade extraction prompt": lambda t: grading.grade_answer(
        task="extraction", prompt=t, content="{}", finish_reason="stop", response_format=None
    ),
    "grade refusal": lambda t: grading.grade_answer(
        task="chat",
        prompt="hi",
        content="I'm sorry, " + t,
        finish_reason="stop",
        response_format=None,
    ),
    "extract_final_answer": grading.extract_final_answer,
    "mathcheck prompt": mathcheck.evaluate_prompt_expression,
    "mathcheck number": mathcheck.to_fraction,
    "cascade arithmetic": cascade.arithmetic_errors,
    "cascade math": lambda t: cascade.should_escalate(
        "math", "What is it?", t + "\n#### 4", "stop", None
    ),
    "cascade chat": lambda t: cascade.should_escalate("chat", "hi", t, "stop", None),
    "cascade verifier": lambda t: cascade.verifier_features(t, t),
    "cascade step check": step_check.check_steps,
    "judge prompt": lambda t: judge.build_judge_messages(t, t),
    "judge reply": judge.parse_judge_reply,
    "sim detect_task": lambda t: sim_content.detect_task(t, None),
    "sim arithmetic": sim_content._eval_arithmetic,
    "sim judge": lambda t: sim_judge.verdict(sim_judge.JudgeRequest(t, t), _REGISTRY),
    "sim judge prompt": sim_judge.parse_judge_prompt,
    "sim tool call": lambda t: sim_tool_calls.pick(_tool_request(t), random.Random(1)),
    "sandbox code_of": sandbox_extract.code_of,
    "sandbox doctests": sandbox_extract.doctests_of,
    "sandbox inline examples": lambda t: sandbox_examples.inline_examples(t, {"f": ("a", "b")}),
    "sandbox answer functions": sandbox_examples.functions_of,
    "workload recognise": recognise,
    "workload final_answer": final_answer,
    "workload json": _json_answer,
    "workload terms": terms_of,
    "listing entry": _listing,
    "family globs": _PRIORS.family_of,
    "reference letter": lambda t: _REFERENCES.grade(t, "B"),
    "reference number": lambda t: _REFERENCES.grade(t, "42"),
    "reference short": lambda t: _REFERENCES.grade(t, "Paris"),
    "reference given": lambda t: _REFERENCES.grade("The answer is B, 42, Paris.", t),
    "tool call arguments": _tool_args,
    # the operator's own text, but every problem check-config names scans the whole file with
    # it (a multi-line string may hold any line): cubic on "[" and spaces until it was linear
    "config locator": lambda t: _Locator(t, "arbiter.toml").where(["routing", "baseline"]),
}


@dataclass(frozen=True, slots=True)
class Growth:
    check: str
    shape: str
    seconds: tuple[float, ...]  # per size, min of repeats

    @property
    def ratio(self) -> float:
        """Worst time ratio between consecutive sizes (4x apart): ~4 linear, ~16 quadratic."""
        floor = 2e-5  # below this, timer noise and call overhead dominate: not growth
        return max(max(b, floor) / max(a, floor) for a, b in pairwise(self.seconds))


def _time(
    fn: Callable[[str], object], text: str, repeats: int, clock: Callable[[], float]
) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = clock()
        fn(text)
        best = min(best, clock() - t0)
    return best


def measure(
    check: str,
    shape: str,
    sizes: tuple[int, ...] = SIZES,
    repeats: int = 3,
    clock: Callable[[], float] = time.perf_counter,
) -> Growth:
    """`clock`: wall time for the bench's numbers; tests/test_linear_time.py passes the thread's
    CPU time (`time.thread_time`), which a loaded machine's preemptions do not inflate."""
    fn, make = CHECKS[check], SHAPES[shape]
    texts = [make(n) for n in sizes]
    fn(texts[0])  # warm up (lazy compiles, caches)
    return Growth(check, shape, tuple(_time(fn, t, repeats, clock) for t in texts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes up to 16k characters")
    parser.add_argument("--out", type=Path, help="also write the full results here (JSON)")
    parser.add_argument(
        "--cpu", action="store_true",
        help="time by the thread's CPU time (as tests/test_linear_time.py): on a shared, loaded "
        "host a preempted repeat's wait is not the check's",
    )  # fmt: skip
    args = parser.parse_args()
    sizes = QUICK_SIZES if args.quick else SIZES
    clock = time.thread_time if args.cpu else time.perf_counter
    started = time.perf_counter()
    results = [measure(c, s, sizes, clock=clock) for c in CHECKS for s in SHAPES]
    per_check: dict[str, Any] = {}
    for check in CHECKS:
        rows = [r for r in results if r.check == check]
        worst = max(rows, key=lambda r: r.ratio)
        slowest = max(rows, key=lambda r: r.seconds[-1])
        per_check[check] = {
            "worst_growth_ratio": round(worst.ratio, 2),
            "worst_shape": worst.shape,
            "max_ms": round(slowest.seconds[-1] * 1e3, 3),
            "slowest_shape": slowest.shape,
        }
    print(f"{'check':26} {'worst shape':22} {'ratio/4x':>8}   ms at " + " / ".join(map(str, sizes)))
    for check, row in per_check.items():
        worst = next(r for r in results if r.check == check and r.shape == row["worst_shape"])
        ms = " / ".join(f"{s * 1e3:.3f}" for s in worst.seconds)
        print(f"{check:26} {worst.shape:22} {worst.ratio:8.2f}   {ms}")
    summary = {
        "bench": "linear_time",
        "clock": "thread CPU" if args.cpu else "wall",
        "sizes": list(sizes),
        "checks_run": len(CHECKS),
        "shapes": len(SHAPES),
        "worst_growth_ratio": round(max(r.ratio for r in results), 2),
        "max_ms": round(max(r.seconds[-1] for r in results) * 1e3, 3),
        "checks": per_check,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if args.out is not None:
        rows = [[r.check, r.shape, [round(x, 7) for x in r.seconds]] for r in results]
        body = ",\n".join(json.dumps(row) for row in rows)  # one row a line: readable diffs
        args.out.write_text(json.dumps(summary)[:-1] + ', "rows": [\n' + body + "\n]}\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
