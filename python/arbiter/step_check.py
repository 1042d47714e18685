"""Every "a op b ... = c" step of an answer, re-checked in exact rational arithmetic.

One left-to-right pass over each line that holds an "=" (no regex, so nothing can backtrack)
cuts it into runs of arithmetic tokens (numbers, + - * / × ÷ \\* " x ", parentheses, %, $,
"="); a letter or any other character ends a run. Each run is split at "=" into parts; a part
that is a lone number is a claimed result of the nearest earlier part that holds an operator
("10 + 68 / 2 = 10 + 34 = 44" checks 44 against 10 + 34). A part is evaluated over
`Fraction`s by a shunting-yard pass (linear in its tokens), never eval'd. Bounds keep the work
linear in the text: the first `MAX_CHARS` characters, numbers of at most `MAX_DIGITS` digits,
parts of at most `MAX_TOKENS` tokens (longer ones are not checked), so no intermediate value
grows past a few thousand digits.

A claim is right when it equals the exact value, or is within one unit of its own last decimal
place ("10 / 3 = 3.33", "7 / 2 = 3": rounding and flooring are the answer's choice). The cascade
verifier reads `StepCheck`'s counts (`cascade.verifier_features`).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

MAX_CHARS = 20000
MAX_DIGITS = 24  # digits in one number (both sides of the point); longer numbers end the run
MAX_TOKENS = 64  # tokens in one part; a longer part is not checked
_OPS = {"+": "+", "-": "-", "*": "*", "/": "/", "×": "*", "÷": "/", "−": "-"}
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}


@dataclass(frozen=True, slots=True)
class StepCheck:
    """What one answer's steps say: `steps` claims checked, `wrong` of them off by more than a
    unit in their last place, `inexact` right only after rounding, `results` the claimed
    values in order (the final answer can be looked up among them)."""

    steps: int
    wrong: int
    inexact: int
    results: tuple[Fraction, ...]


def _number(text: str, i: int) -> tuple[Fraction | None, int]:
    """The number starting at text[i] (a digit): "1,234.5" (commas only before 3 digits), its
    end; None when it has more than MAX_DIGITS digits."""
    n = len(text)
    j = i
    digits = []  # none for ".5"
    while j < n:
        c = text[j]
        if "0" <= c <= "9":
            digits.append(c)
            j += 1
        elif c == "," and _group_of_three(text, j + 1):
            j += 1
        else:
            break
    frac = ""
    if j + 1 < n and text[j] == "." and _ascii_digit(text, j + 1):
        k = j + 1
        while _ascii_digit(text, k):
            k += 1
        frac, j = text[j + 1 : k], k
    if len(digits) + len(frac) > MAX_DIGITS:
        return None, j
    value = Fraction(int("".join(digits) + frac or "0"), 10 ** len(frac))
    return value, j


def _ascii_digit(text: str, i: int) -> bool:
    return i < len(text) and "0" <= text[i] <= "9"


def _group_of_three(text: str, i: int) -> bool:
    """Exactly three digits at text[i]: what a thousands comma precedes ("1,234" but "3,45")."""
    return all(_ascii_digit(text, i + k) for k in range(3)) and not _ascii_digit(text, i + 3)


def _tokens(text: str) -> list[list[object]]:
    """Runs of arithmetic tokens: each a list of Fraction, operator str, "(", ")", "%", "="."""
    runs: list[list[object]] = []
    run: list[object] = []
    has_eq = False  # only a run with an "=" claims anything
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if "0" <= c <= "9" or (c == "." and _ascii_digit(text, i + 1)):
            value, i = _number(text, i)
            if value is None or (run and type(run[-1]) is Fraction):
                # an over-long number, or two numbers with nothing between them: the run ends
                if has_eq:
                    runs.append(run)
                run, has_eq = [], False
                if value is None:
                    continue
            run.append(value)
            continue
        if c in " \t$":
            i += 1
            continue
        if c in _OPS:
            run.append(_OPS[c])
        elif c == "\\" and i + 1 < n and text[i + 1] == "*":  # Markdown's escaped "\*"
            run.append("*")
            i += 1
        elif (
            c in "xX"
            and run
            and (type(run[-1]) is Fraction or run[-1] == ")")
            and (i > 0 and text[i - 1] == " " and i + 1 < n and text[i + 1] == " ")
        ):
            run.append("*")  # "2 x 60"
        elif c in "()%=":
            run.append(c)
            has_eq = has_eq or c == "="
        elif run:  # a letter, punctuation: the run ends
            if has_eq:
                runs.append(run)
            run, has_eq = [], False
        i += 1
    if has_eq:
        runs.append(run)
    return runs


def _runs(text: str) -> list[list[object]]:
    """`_tokens` of each line that holds an "=": a line break ends a run anyway, so lines of
    prose without one cannot claim a step, and are not scanned character by character."""
    return [run for line in text.splitlines() if "=" in line for run in _tokens(line)]


def _evaluate(part: list[object]) -> Fraction | None:
    """A part's exact value (shunting-yard over + - * / with unary minus, parentheses and a
    postfix %), or None when it is not plain arithmetic or divides by zero."""
    if not part or len(part) > MAX_TOKENS:
        return None
    values: list[Fraction] = []
    ops: list[str] = []

    def apply() -> bool:
        op = ops.pop()
        if op == "neg":
            if not values:
                return False
            values.append(-values.pop())
            return True
        if len(values) < 2:
            return False
        b, a = values.pop(), values.pop()
        if op == "/" and b == 0:
            return False
        values.append(a + b if op == "+" else a - b if op == "-" else a * b if op == "*" else a / b)
        return True

    expect_operand = True
    for tok in part:
        if type(tok) is Fraction:
            if not expect_operand:
                return None
            values.append(tok)
            expect_operand = False
        elif tok == "(":
            if not expect_operand:
                return None
            ops.append("(")
        elif tok == ")":
            if expect_operand:
                return None
            while ops and ops[-1] != "(":
                if not apply():
                    return None
            if not ops:
                return None
            ops.pop()
        elif tok == "%":
            if expect_operand:
                return None
            values[-1] = values[-1] / 100
        elif expect_operand:
            if tok != "-":
                return None
            ops.append("neg")
        else:
            assert isinstance(tok, str)
            while ops and ops[-1] != "(" and (ops[-1] == "neg" or _PREC[ops[-1]] >= _PREC[tok]):
                if not apply():
                    return None
            ops.append(tok)
            expect_operand = True
    if expect_operand:
        return None
    while ops:
        if ops[-1] == "(" or not apply():
            return None
    return values[0] if len(values) == 1 else None


def _has_operator(part: list[object]) -> bool:
    return any(type(t) is str and t in _PREC for t in part)


def _decimals(claim: Fraction) -> int:
    """Decimal places the claim was written with (its denominator's power of ten)."""
    d, places = claim.denominator, 0
    while d > 1 and places < MAX_DIGITS:
        d //= 10
        places += 1
    return places


def check_steps(content: str) -> StepCheck:
    """Re-check every claimed step of `content` (see the module docstring)."""
    steps = wrong = inexact = 0
    results: list[Fraction] = []
    for run in _runs(content[:MAX_CHARS]):
        parts: list[list[object]] = [[]]
        for tok in run:
            if type(tok) is str and tok == "=":  # (a Fraction's == is slow)
                parts.append([])
            else:
                parts[-1].append(tok)
        last: Fraction | None = None  # the nearest earlier part with an operator, evaluated
        for k, part in enumerate(parts):
            claim = _lone_number(part)
            if claim is not None and k > 0 and last is not None:
                steps += 1
                results.append(claim)
                # "0.1 * 100 = 10%" and "50 * 20% = 10%"... a percent claim may mean either
                verdict = min(_verdict(last, c) for c in _readings(claim, part))
                wrong += verdict == 2
                inexact += verdict == 1
                last = None
            elif _has_operator(part) and claim is None:
                last = _evaluate(part) if k > 0 or not _continues(part) else None
            else:
                last = None
    return StepCheck(steps, wrong, inexact, tuple(results))


def _lone_number(part: list[object]) -> Fraction | None:
    """The number a part claims when it is one ("36", "-2", "25%": 25), else None."""
    sign, body = (-1, part[1:]) if _is(part[:1], "-") else (1, part)
    if _is(body[-1:], "%"):
        body = body[:-1]
    if len(body) == 1 and type(body[0]) is Fraction:
        return sign * body[0]
    return None


def _readings(claim: Fraction, part: list[object]) -> tuple[Fraction, ...]:
    """What a claim may stand for: "25%" is 25 (a percentage worked out as a number) or 0.25."""
    return (claim, claim / 100) if _is(part[-1:], "%") else (claim,)


def _is(tokens: list[object], symbol: str) -> bool:
    """`tokens` is the one symbol (typed first: comparing a Fraction with a str is slow)."""
    return len(tokens) == 1 and type(tokens[0]) is str and tokens[0] == symbol


def _verdict(value: Fraction, claim: Fraction) -> int:
    """0: the claim is exact; 1: right to within a unit of its last decimal place; 2: wrong."""
    if claim == value:
        return 0
    return 1 if abs(value - claim) < Fraction(1, 10 ** _decimals(claim)) else 2


def _continues(part: list[object]) -> bool:
    """A run's first part that starts with an operator ("* 2/5 = 12.8" after "x", "- 3 = 5"
    after "y") is the tail of a longer or symbolic expression: its value is unknown."""
    return bool(part) and isinstance(part[0], str) and part[0] in _PREC
