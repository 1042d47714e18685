"""In-request confidence cascade: decide whether a cheap model's answer looks too weak to return.

Pure functions over the answer text (the automatic graders of `arbiter.grading` plus answer-
confidence signals); the caller makes the escalation call and charges both. No I/O here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

from arbiter.grading import grade_answer

ESCALATE_BELOW = 0.5  # a grader score under this escalates
_NUM = r"-?\d[\d,]*(?:\.\d+)?"
# "12 * 3 = 36", "$4 + $5 + 2 = $11", "(40 - 4) / 2 = 18": a whole chain and its claimed result
_OPERAND = rf"\$?\(*\s*\$?{_NUM}\s*\)*"
_ARITH = re.compile(
    rf"(?<![\w.,)])((?:{_OPERAND}\s*[+\-*/×÷]\s*)+{_OPERAND})\s*=\s*\$?({_NUM})(?!\.?\d)"
)
_HEDGES = re.compile(
    r"\b(i'?m not (?:sure|certain)|i am not (?:sure|certain)|i don'?t know|it'?s unclear|"
    r"cannot be determined|can'?t be determined|not enough information|i think the answer might)\b",
    re.IGNORECASE,
)
_FINAL_NUMBER = re.compile(rf"(?:####|answer is|answer:)\s*\$?({_NUM})", re.IGNORECASE)


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


def arithmetic_errors(content: str) -> int:
    """How many `a op b ... = c` steps in the answer are wrong (a cheap self-consistency check).

    Expressions are parsed with `ast` and evaluated by hand (numbers and + - * / only), never
    eval'd; a claimed result within 1% (or matching after rounding to cents) counts as right.
    """
    bad = 0
    for expr, claimed in _ARITH.findall(content[:20000]):
        src = expr.replace("$", "").replace(",", "").replace("×", "*").replace("÷", "/")
        if len(src) > 200:
            continue
        try:
            v = _eval(ast.parse(src.strip(), mode="eval").body)
        except (ValueError, SyntaxError, ZeroDivisionError, RecursionError):
            continue
        z = _num(claimed)
        if abs(v - z) > max(1e-6, 0.01 * abs(v)) and abs(round(v, 2) - z) > 0.011:
            bad += 1
    return bad


def _repetitive(content: str) -> bool:
    lines = [ln.strip() for ln in content.splitlines() if len(ln.strip()) > 20]
    return len(lines) >= 6 and len(set(lines)) <= len(lines) // 2


def _conflicting_finals(content: str) -> bool:
    finals = {_num(m) for m in _FINAL_NUMBER.findall(content)}
    return len(finals) > 1


def should_escalate(
    task: str,
    prompt: str,
    content: str | None,
    finish_reason: str | None,
    response_format: Mapping[str, Any] | None,
) -> tuple[bool, str]:
    """(escalate?, why). Escalate when a grader fails the answer or it shows low confidence."""
    grade = grade_answer(
        task=task,
        prompt=prompt,
        content=content,
        finish_reason=finish_reason,
        response_format=response_format,
    )
    if grade is not None and grade.score < ESCALATE_BELOW:
        return True, f"grader {grade.grader}: {grade.detail}"[:200]
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
