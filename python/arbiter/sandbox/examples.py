"""Worked examples written in a prompt's prose, turned into checks for the sandbox.

Besides ``>>>`` doctests (extract.doctests_of), prompts state examples inline, one per line:

    search([4, 1, 2, 2, 3, 1]) == 2          is_simple_power(1, 4) => true
    solution([5, 8, 7, 1]) ==> 12            encrypt('hi') returns 'lm'
    Input: arr = [-3, -4, 5], k = 3          For lst = [0, 81, 12] the output should be 3
    Output: [-4, -3, 5]

Each becomes a doctest-shaped pair ``("f(args) == expected", "True")`` run by the harness next to
the request's tests. Only unambiguous examples are kept: the callee is a top-level function the
answer defines, every argument and the expected value are Python literals (``ast.literal_eval``,
never run here), and in the keyword form the names are exactly that function's parameters. A
line that does not fit is skipped, never guessed at: a wrong example would fail a right answer.

Client text, so linear work only: lines are scanned with ``str`` operations (no regex), and the
parser only ever sees a line or an argument list of at most ``_MAX_LINE`` characters (CPython's
parser is superlinear on long operator chains).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

__all__ = ["MAX_EXAMPLES", "functions_of", "inline_examples"]

MAX_EXAMPLES = 64
_MAX_LINE = 1000
_MAX_LINES = 2000  # prompt lines looked at
_MAX_FUNCTIONS = 32
# after the call, what says "gives": longest first, so "==>" is not read as "==" + ">"
_SEPARATORS = (
    "==>", "=>", "==", "->", "\u279e", "\u2192", "=",
    "returns", "should return", "should be", "is equal to",
)  # fmt: skip
# prose writes JSON/JS constants too ("=> true")
_WORDS = {"true": "True", "false": "False", "null": "None", "none": "None"}


def functions_of(code: str) -> dict[str, tuple[str, ...]]:
    """The answer's top-level functions and their parameter names, from its ``def`` lines (read
    line by line: the answer itself is not parsed here)."""
    found: dict[str, tuple[str, ...]] = {}
    for line in code.splitlines():
        if len(found) >= _MAX_FUNCTIONS:
            break
        head = line[10:] if line.startswith("async def ") else line[4:]
        if not line.startswith(("def ", "async def ")) or len(line) > _MAX_LINE:
            continue
        close = head.rfind(")")
        if close < 0:
            continue
        try:
            tree = ast.parse(f"def {head[: close + 1]}: pass")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        fn = tree.body[0]
        if isinstance(fn, ast.FunctionDef):
            a = fn.args
            found[fn.name] = tuple(p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs))
    return found


def inline_examples(
    prompt: str, functions: Mapping[str, tuple[str, ...]]
) -> tuple[tuple[str, str], ...]:
    """The prompt's inline examples of `functions`, as (source, "True") pairs."""
    if not functions:
        return ()
    out: list[tuple[str, str]] = []
    lines = prompt.splitlines()[:_MAX_LINES]
    for i, raw in enumerate(lines):
        if len(out) >= MAX_EXAMPLES:
            break
        line = raw.strip()
        if not line or len(line) > _MAX_LINE or line.startswith(">>>"):
            continue  # doctests are extract.doctests_of's
        example = _keyword_example(line, lines[i + 1 : i + 4], functions)
        if example is None:
            example = _call_example(line, functions)
        if example is not None and example not in out:
            out.append(example)
    return tuple(out)


def _call_example(line: str, functions: Mapping[str, tuple[str, ...]]) -> tuple[str, str] | None:
    """``name(literals) SEP literal`` anywhere in the line."""
    for name in functions:
        at = _call_at(line, name)
        if at < 0:
            continue
        end = _after_parens(line, at + len(name))
        if end < 0:
            continue
        call = line[at:end]
        if not _literal_call(call, name):
            continue
        rest = line[end:].strip().lstrip("#").strip()
        for sep in _SEPARATORS:
            if rest.startswith(sep):
                return _check(call, rest[len(sep) :])
        return None
    return None


def _keyword_example(
    line: str, following: list[str], functions: Mapping[str, tuple[str, ...]]
) -> tuple[str, str] | None:
    """``Input: a = 1, b = 2`` then ``Output: 3`` (within the next lines), or
    ``For a = 1 the output should be 3``."""
    lowered = line.lower()
    if lowered.startswith("input:"):
        arguments = line[len("input:") :]
        outputs = [s.strip() for s in following if s.strip()]
        if not outputs or not outputs[0].lower().startswith("output:"):
            return None
        expected = outputs[0][len("output:") :]
    elif lowered.startswith("for ") and " the output should be " in lowered:
        cut = lowered.index(" the output should be ")
        arguments = line[4:cut]
        expected = line[cut + len(" the output should be ") :]
    else:
        return None
    try:
        call = ast.parse(f"_({arguments.strip()})", mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if not isinstance(call, ast.Call) or call.args or not call.keywords:
        return None
    names = {k.arg for k in call.keywords}
    matching = [f for f, params in functions.items() if set(params) == names]
    if len(matching) != 1 or not all(_is_literal(k.value) for k in call.keywords):
        return None
    source = f"{matching[0]}({arguments.strip()})"
    return _check(source, expected)


def _check(call: str, expected_text: str) -> tuple[str, str] | None:
    """``call == expected`` when the expected text is a literal (a parenthesised single value
    also matches the 1-tuple: prose writes ``("Venus")`` for ``("Venus",)``)."""
    text = expected_text.strip().rstrip(".,;").strip()
    text = _WORDS.get(text.lower(), text)
    if not text:
        return None
    try:
        tree = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if not _is_literal(tree):
        return None
    if text.startswith("(") and not isinstance(tree, ast.Tuple):
        return f"{call} in ({text}, ({text},))", "True"
    return f"{call} == {text}", "True"


def _literal_call(source: str, name: str) -> bool:
    try:
        call = ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == name
        and all(_is_literal(a) for a in call.args)
        and all(k.arg is not None and _is_literal(k.value) for k in call.keywords)
    )


def _is_literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return False
    return True


def _call_at(line: str, name: str) -> int:
    """Where ``name(`` starts in `line` as a whole name (not ``my_name(``), else -1."""
    start = 0
    while True:
        at = line.find(name + "(", start)
        if at < 0:
            return -1
        before = line[at - 1] if at else " "
        if not (before.isalnum() or before in "_."):
            return at
        start = at + 1


def _after_parens(line: str, open_at: int) -> int:
    """The index just past the parenthesis that closes the one at `open_at` (quotes and nested
    brackets skipped), else -1. One pass."""
    depth = 0
    quote = ""
    i = open_at
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1
