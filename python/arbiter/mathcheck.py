"""Numbers in answers and the arithmetic a prompt itself states, evaluated exactly and safely.

Pure functions for the math grader: parse a number as a Fraction, compare an answer with an exact
value, and evaluate a prompt's plain arithmetic with `ast` under bounds (never eval or exec).
"""

from __future__ import annotations

import ast
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Final

from arbiter import linear

# Linear-time patterns (arbiter.linear): answers and prompts are untrusted text. "\n?\z" is
# what re's "$" meant (a final newline allowed; Fraction() ignores it).
_THOUSANDS = linear.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?\n?\z")
_PLAIN = linear.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d{1,3})?\n?\z")
_MAX_MAGNITUDE: Final = Fraction(10) ** 30
MAX_NUMBER_CHARS: Final = 200
_EXPR_CANDIDATE = linear.compile(r"-?[\d(.][\d\s.+\-*/%()]*[\d)]")
_EXPR_OPERATOR = linear.compile(r"[\d)]\s*(?:\*\*|//|[-+*/%])\s*[-(\d.]")
_WORD_OPERATORS: Final = (  # ASCII \b: the DFA stays on CJK text (linear.ascii_boundaries)
    (linear.compile_ascii_boundaries(r"\bmultiplied by\b"), "*"),
    (linear.compile_ascii_boundaries(r"\bdivided by\b"), "/"),
    (linear.compile_ascii_boundaries(r"\btimes\b"), "*"),
    (linear.compile_ascii_boundaries(r"\bplus\b"), "+"),
    (linear.compile_ascii_boundaries(r"\bminus\b"), "-"),
)
_TIMES_X = linear.compile(r"\s+x\s+")  # "3 x 4", checked for digits around it in `_times_x`
_THOUSANDS_SEP = linear.compile(r"(\d),(\d{3})\b")
_WORDS = linear.compile(r"[a-z']+|\d")
_LEAD_IN_WORDS: Final = frozenset(
    [
        "what",
        "whats",
        "what's",
        "is",
        "compute",
        "calculate",
        "evaluate",
        "the",
        "value",
        "of",
        "find",
        "please",
        "solve",
        "simplify",
        "how",
        "much",
        "result",
        "answer",
        "give",
        "me",
        "tell",
        "only",
        "just",
        "number",
        "exact",
        "exactly",
        "and",
        "show",
        "your",
        "work",
        "steps",
        "step",
        "by",
        "final",
        "a",
        "an",
        "with",
        "explain",
        "briefly",
        "quickly",
        "work",
        "out",
        "can",
        "you",
        "i",
        "need",
        "to",
        "get",
        "do",
        "this",
    ]
)
_ALLOWED_BINOPS: Final = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)


def _times_x(text: str) -> str:
    """ "3 x 4" -> "3 * 4": an "x" between whitespace runs, with a digit on both sides."""

    def times_or_keep(m: linear.Match) -> str:
        s, e = m.start(), m.end()
        digits = s > 0 and text[s - 1].isdecimal() and e < len(text) and text[e].isdecimal()
        return " * " if digits else m.group(0) or ""

    return _TIMES_X.sub(times_or_keep, text)


def to_fraction(raw: str) -> Fraction | None:
    """Exact value of "1,234", "$12.50", "-3/4", "1e3", "50%" (as 50); None if not a number.

    Longer than ``MAX_NUMBER_CHARS``: None (an answer, not a number; int() is quadratic in
    digits and refuses over 4,300 of them)."""
    if len(raw) > MAX_NUMBER_CHARS:
        return None
    text = raw.strip().replace("−", "-").replace("$", "").rstrip("%").lower()
    text = "".join(text.split())  # "4 200", "4\u2009200": thousands grouped by any space
    sign = 1
    if text.startswith("-"):
        sign, text = -1, text[1:]
    if "/" in text:
        num, _, den = text.partition("/")
        top, bottom = to_fraction(num), to_fraction(den)
        if top is None or bottom is None or bottom == 0:
            return None
        return sign * top / bottom
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    if not _PLAIN.match(text):
        return None
    return sign * Fraction(text)


def format_fraction(value: Fraction) -> str:
    """Canonical text: "1234", "12.5", "0.75"; "1/3" when no finite decimal exists."""
    if value.denominator == 1:
        return str(value.numerator)
    den = value.denominator
    for factor in (2, 5):
        while den % factor == 0:
            den //= factor
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    with localcontext() as ctx:
        ctx.prec = 60
        decimal = Decimal(value.numerator) / Decimal(value.denominator)
    return format(decimal.normalize(), "f")


def answers_match(answer: str, expected: Fraction) -> bool:
    """Exact match, or a decimal answer that is ``expected`` correctly rounded (3.33 for 10/3)."""
    value = to_fraction(answer)
    if value is None:
        return False
    if value == expected:
        return True
    decimals = len(answer.partition(".")[2]) if "." in answer and "e" not in answer else 0
    if decimals == 0:
        return False
    return abs(value - expected) <= Fraction(1, 2 * 10**decimals)


def _eval_node(node: ast.AST, budget: list[int]) -> Fraction:
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError("expression too long")
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return Fraction(str(node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _eval_node(node.operand, budget)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and isinstance(node.op, _ALLOWED_BINOPS):
        left, right = _eval_node(node.left, budget), _eval_node(node.right, budget)
        result = _apply(node.op, left, right)
        if abs(result) > _MAX_MAGNITUDE:
            raise ValueError("result too large")
        return result
    raise ValueError(f"unsupported expression node {type(node).__name__}")


def _apply(op: ast.operator, left: Fraction, right: Fraction) -> Fraction:
    if isinstance(op, ast.Add):
        return left + right
    if isinstance(op, ast.Sub):
        return left - right
    if isinstance(op, ast.Mult):
        return left * right
    if isinstance(op, ast.Pow):
        if right.denominator != 1 or abs(right) > 64 or abs(left) > 10**6:
            raise ValueError("exponent out of bounds")
        if left == 0 and right < 0:
            raise ValueError("zero to a negative power")
        return left ** int(right)
    if right == 0:
        raise ValueError("division by zero")
    if isinstance(op, ast.Div):
        return left / right
    if isinstance(op, ast.FloorDiv):
        return Fraction(left // right)
    return left % right


def evaluate_prompt_expression(prompt: str) -> Fraction | None:
    """Value of a prompt that is plainly one arithmetic expression ("What is 17 * 23?").

    Only numbers, parentheses and + - * / // % ** (small bounds) are allowed, parsed with ``ast``
    and evaluated exactly over fractions; anything else in the prompt beyond a short lead-in
    ("what is", "compute", "show your work") means the prompt is not plain arithmetic -> None.
    """
    if len(prompt) > 300:
        return None
    text = prompt.lower().replace("×", "*").replace("÷", "/").replace("−", "-").replace("^", "**")
    for pattern, replacement in _WORD_OPERATORS:
        text = pattern.sub(replacement, text)
    text = _times_x(text)
    text = _THOUSANDS_SEP.sub(lambda m: f"{m.group(1)}{m.group(2)}", text)
    candidates = [m for m in _EXPR_CANDIDATE.finditer(text) if _EXPR_OPERATOR.search(m.group(0))]
    if len(candidates) != 1:
        return None
    match = candidates[0]
    residual = text[: match.start()] + " " + text[match.end() :]
    words = _WORDS.findall(residual)
    if any(word not in _LEAD_IN_WORDS for word in words):
        return None
    try:
        tree = ast.parse(match.group(0).strip(), mode="eval")
        return _eval_node(tree.body, [64])
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError):
        return None
