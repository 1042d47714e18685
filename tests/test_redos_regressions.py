"""Regression tests for catastrophic backtracking found on untrusted text (issue 11, item 1).

Each vulnerable call runs in a child process under a hard timeout, so a regression fails the
test instead of hanging the suite. The bound is generous (seconds for work that takes
milliseconds when linear): it separates linear from exponential, it does not measure speed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

_LIMIT_S = 20.0


def _finishes(code: str) -> bool:
    """True when ``code`` runs to completion within the limit in a fresh interpreter."""
    env = dict(os.environ)
    try:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            timeout=_LIMIT_S,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    assert done.returncode == 0, done.stderr
    return True


@pytest.mark.parametrize("terms", [14, 40])
def test_cascade_arithmetic_check_on_a_long_plain_sum(terms: int) -> None:
    # Issue 11: a 12-term sum took 37.7 s in cascade._ARITH (each term multiplied the time by 4).
    assert _finishes(
        f"""
        from arbiter.cascade import arithmetic_errors, should_escalate
        text = " + ".join(["12"] * {terms})
        assert arithmetic_errors(text) == 0
        assert arithmetic_errors(text + " = 5 +") == 0
        assert arithmetic_errors("$(" + " + ".join(["1"] * {terms}) + ") = 7") == 1
        should_escalate("math", "What is the total?", text + " = 9999", "stop", None)
        """
    )


def test_classify_on_whitespace_runs_stays_fast() -> None:
    # "write" + 3,900 spaces + "x poem": 1.7 s per request with re (quadratic in the run; the
    # classifier runs on every request). Twenty such requests must not take the limit.
    assert _finishes(
        """
        from arbiter.classify import classify
        for shape in ("write" + " " * 3900 + "x poem", "\\n" * 3996 + "poem"):
            for _ in range(20):
                assert classify([{"role": "user", "content": shape}]) in ("chat", "creative")
        """
    )


@pytest.mark.parametrize("task", ["code", "math", "extraction", "chat"])
def test_graders_survive_answers_python_cannot_parse(task: str) -> None:
    # A 3,200-term sum as an answer: ast.parse raised RecursionError (a long "how many how many
    # ..." a MemoryError) out of the code grader, and the cascade runs the graders inside a
    # request: a 500 for the client, caused by upstream text. A 16,000-digit answer made
    # Fraction() raise ValueError (int digit limit) out of the math grader.
    from arbiter.cascade import should_escalate
    from arbiter.grading import grade_answer

    shapes = ("12 + " * 3200 + "12", "how many " * 1800, "1" * 16000, "(" * 300 + ")" * 300)
    for shape in shapes:
        for content in (shape, f"```python\n{shape}\n```", f"Answer: {shape}"):
            grade_answer(
                task=task, prompt="Write a python function", content=content,
                finish_reason="stop", response_format=None,
            )  # fmt: skip
            should_escalate(task, "Write a python function", content, "stop", None)


@pytest.mark.timeout(30)
def test_a_response_format_pattern_never_backtracks_on_the_answer() -> None:
    """A client's json_schema `pattern` was run by jsonschema with Python's backtracking `re`
    on the upstream's answer: (a+)+$ against 40 a's and a '!' takes ~2^40 steps. The grader
    now checks patterns with the linear-time matcher (and regex keys not at all)."""
    from arbiter.grading import grade_answer

    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a+)+$"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    answer = '{"s": "' + "a" * 40 + '!"}'
    g = grade_answer(task="extraction", prompt="p", content=answer, finish_reason="stop",
                     response_format=fmt)  # fmt: skip
    assert g is not None and g.score < 1.0 and "does not match" in g.detail
    keyed = {"type": "object", "patternProperties": {"^(a+)+$": {"type": "string"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": keyed}}
    g = grade_answer(task="extraction", prompt="p", content='{"' + "a" * 40 + '!": 1}',
                     finish_reason="stop", response_format=fmt)  # fmt: skip
    assert g is not None and g.grader == "json_parse"
