"""Automatic graders for finished answers: pure functions of (task, prompt, answer), no I/O.

Runs off the request path. Never executes or evaluates answer text: code is only parsed (``ast``),
and the only arithmetic ever evaluated is a tiny whitelisted expression taken from the *prompt*.
Open-ended tasks get ``None`` (no automatic grade) so the caller may ask the LLM judge instead.
"""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Final

import orjson
from jsonschema.exceptions import SchemaError, best_match
from referencing.exceptions import Unresolvable

from arbiter import linear, mathcheck
from arbiter.classify import asks_for_code
from arbiter.json_depth import MAX_JSON_NESTING, nests_deeper_than
from arbiter.self_correction import after_correction

__all__ = [
    "FENCE",
    "INLINE_CHARS",
    "Grade",
    "extract_final_answer",
    "grade_answer",
    "offered_numbers",
    "parse_json_content",
]

# Prompt + answer up to this many characters are graded on the event loop: about 0.2 ms at most
# (a fenced code answer of 2,000 characters measured 0.23 ms here), less than handing the work to
# a thread costs. Longer ones are graded in a worker thread.
INLINE_CHARS = 2000
# Longer than these, an answer gets no parse check: CPython's parser (and orjson) hold the GIL
# for the whole parse, so the worker thread stalls the event loop as long (a 234 KiB code block
# stalled it 1.3 s on a loaded host: bench/grading_cost.py). The sandbox, a process of its own,
# may still run longer code; JSON that long is rarer than code.
MAX_PARSE_CHARS = 32 * 1024
MAX_JSON_CHARS = 4 * 1024 * 1024
# a math answer whose own worked arithmetic is wrong (cascade.arithmetic_errors): verified
# flawed, though the final number may survive a slip, so not 0
MATH_ARITHMETIC_WRONG: Final = 0.2

logger = logging.getLogger(__name__)


def _tags(spec: str) -> frozenset[str]:
    return frozenset(spec.split())


@dataclass(frozen=True, slots=True)
class Grade:
    """One automatic grade: ``score`` in [0, 1], the grader that gave it, a short reason."""

    score: float
    grader: str
    detail: str

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"grade score must be in [0, 1], got {self.score!r}")


_APOLOGY = (
    r"(?:i['’]m sorry|i am sorry|sorry|i apologi[sz]e|unfortunately|i['’]m afraid|i am afraid|"
    r"as an ai(?: language model| assistant)?)"
)
_NEGATION = (
    r"(?:i\s+(?:can['’]?not|can['’]t|won['’]t|will not|am unable to|am not able to|must decline|"
    r"do not feel comfortable|don['’]t feel comfortable)|i['’]m (?:unable to|not able to))"
)
_REFUSAL_VERBS = (
    r"(?:help|assist|provide|do|comply|fulfill?|create|generate|write|answer|share|support|"
    r"engage|complete|give|offer|produce|discuss|process|continue|participate|respond|make)"
)
# Every pattern here is linear-time (arbiter.linear, Rust): answers come from upstreams. Those
# with \b look for ASCII words: ASCII boundaries keep the DFA on CJK text (linear.ascii_boundaries).
_REFUSAL_START = linear.compile_ascii_boundaries(
    r"(?i)^\W{0,3}(?:" + _APOLOGY + r"\b[^.!?\n]{0,60}?[,.!]?\s*(?:but\s+)?" + _NEGATION + r"\b"
    r"|" + _NEGATION + r"\s+" + _REFUSAL_VERBS + r"\b"
    r"|i['’]m (?:unable|not able) to\b|i must decline\b)"
)
_HELPFUL_AFTER_REFUSAL = linear.compile(r"(?i)here(?:'s| is| are)|however|```|that said")
# A fence closes at a ``` that starts a line (indented or not) or ends one, as Markdown's does
# (CommonMark: a line of its own): one inside a line ('s.replace("```", "")') is code. Closing at
# any ``` cut such a program there, and its parse check and its run graded a right answer 0.
_CLOSE = r"(?:(?m:^)[ \t]*```|```[ \t]*(?m:$)|\z)"
FENCE = linear.compile(r"(?s)```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)" + _CLOSE)
_PYTHON_TAGS: Final = frozenset({"python", "py", "python3", "py3", "ipython", "pycon", "sage"})
_JSON_TAGS: Final = frozenset({"json", "jsonc", "json5", "geojson"})
_PROSE_TAGS: Final = frozenset(
    {"text", "txt", "plaintext", "output", "console", "log", "markdown", "md", "csv", "diff"}
)
_PYTHONISH = linear.compile(
    r"(?m)^\s*(?:def |class |import |from \S+ import |async def |@\w+|print\(|if __name__)"
)
_STRING_LITERAL = linear.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|`(?:\\.|[^`\\])*`')
_DOUBLE_QUOTED = linear.compile(r'"(?:\\.|[^"\\\n])*"')
_BLOCK_COMMENT = linear.compile(r"(?s)/\*.*?\*/")
_HASH_COMMENT_TAGS: Final = _tags(
    "bash sh shell zsh ruby rb perl pl r yaml yml toml dockerfile makefile make powershell "
    "ps1 elixir ex nim julia jl coffee tcl conf ini cmake"
)
_SLASH_COMMENT_TAGS: Final = _tags(
    "js javascript ts typescript jsx tsx java c h cpp c++ cc cxx hpp cs csharp c# go golang "
    "rust rs swift kotlin kt scala php dart groovy objc objective-c zig solidity sol proto"
)
_DASH_COMMENT_TAGS: Final = _tags(
    "sql postgresql postgres mysql sqlite plsql tsql lua haskell hs elm"
)
_NO_SINGLE_QUOTE_TAGS: Final = _tags("rust rs ocaml ml clojure clj lisp scheme elisp")
_SQL_START = linear.compile_ascii_boundaries(
    r"(?i)^\s*(?:select|with|insert|update|delete|create|alter)\b"
)
_CLOSERS: Final = {")": "(", "]": "[", "}": "{"}
_JSON_ASK = linear.compile_ascii_boundaries(
    r"(?is)\bjson\b.{0,40}\b(?:only|format|object|array|output)\b|\b(?:as|return|in|into|output|"
    r"respond with|reply with|valid)\s+(?:a\s+|only\s+|valid\s+)?json\b"
)
_JSON_FENCE = linear.compile(r"(?s)```[ \t]*(?:json\w*)?[ \t]*\n(.*?)" + _CLOSE)

# --- final-answer extraction for math -------------------------------------------------------
# thousands grouped by a space ("4 200"; a thin or no-break space as SI and French write them)
# come first, whole groups only ("4 2000" is 4, then 2000)
_GROUPED = "(?:\\d{1,3}(?:[ \u00a0\u2009\u202f]\\d{3})+(?-u:\\b))"
_NUMBER = (
    r"[-−]?\$?\s?(?:" + _GROUPED + r"(?:\.\d+)?|\d[\d,]*(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?"
    r"(?:\s?/\s?\d+)?\s?%?"
)
_ANY_NUMBER = linear.compile(_NUMBER)
# what may stand between the numbers of a list of alternatives, LaTeX and emphasis dropped
_NOT_LIST = linear.compile(r"\\boxed|[\s{}$*]+")
_BOXED = linear.compile(r"\\boxed\s*\{((?:[^{}]|\{[^{}]*\})*)\}")
_HASHES = linear.compile(r"(?m)^\s*####\s*(" + _NUMBER + r")\s*$")
_ANSWER_LINE = linear.compile(
    r"(?im)(?:final answer|answer)\s*(?:is)?\s*[:=]\s*\**\s*(.+?)\s*\**\s*$"
)
_ANSWER_IS = linear.compile_ascii_boundaries(
    r"(?i)\b(?:the |my )?(?:final )?answer is\s*[:=]?\s*\**\s*(" + _NUMBER + r"|[^.\n]{1,60})"
)
_EQUALS_END = linear.compile(r"=\s*\**\s*(" + _NUMBER + r")\s*\**\s*[.!]?\s*$")
_LONE_NUMBER = linear.compile(r"^\s*\**\s*(" + _NUMBER + r")\s*\**\s*[.!]?\s*$")
_LEADING_NUMBER = linear.compile(r"^\s*(" + _NUMBER + r")")
_FRAC = linear.compile(
    r"\\[dt]?frac\s*(?:\{([^{}]*)\}\s*\{([^{}]*)\}|(\d)\s*(\d))"  # \frac{1}{2}, \tfrac12
)
_LATEX_TEXT = linear.compile(
    r"\\(?:text|textbf|textrm|mathrm|mathbf|mbox|bm|boldsymbol)\s*\{([^{}]*)\}"
)
# written money and thousands as LaTeX writes them ("\$18", "4{,}200"); inline math delimiters
_LATEX_MARKS: Final = (
    ("\\$", "$"),
    ("{,}", ","),
    ("\\(", ""),
    ("\\)", ""),
    ("\\[", ""),
    ("\\]", ""),
)
_VARIABLE_IS = linear.compile(r"^[a-zA-Z]\s*=\s*")


def _is_refusal(text: str) -> bool:
    head = text.lstrip()[:200]
    if not _REFUSAL_START.match(head):
        return False
    return len(text) < 300 or _HELPFUL_AFTER_REFUSAL.search(text) is None


def grade_answer(
    *,
    task: str,
    prompt: str,
    content: str | None,
    finish_reason: str | None,
    response_format: Mapping[str, Any] | None,
) -> Grade | None:
    """Grade one answer, or return None when no automatic grader applies (judge it instead)."""
    if finish_reason in ("tool_calls", "function_call"):
        return None  # a tool call is not a text answer; the caller grades it on the tool outcome
    if content is None or not content.strip():
        return Grade(0.0, "empty", "empty answer")
    if finish_reason == "length":
        return Grade(0.1, "truncated", "finish_reason=length: answer cut off")
    if finish_reason == "content_filter":
        return Grade(0.05, "refusal", "finish_reason=content_filter")
    if _is_refusal(content):
        return Grade(0.05, "refusal", f"refusal: {_first_line(content)}")
    if task == "code":
        return _grade_code(prompt, content)
    if task == "extraction":
        return _grade_extraction(prompt, content, response_format)
    if task == "math":
        return _grade_math(prompt, content)
    return None


def _first_line(text: str, limit: int = 80) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --- code ------------------------------------------------------------------------------------


class _TooLong(Exception):
    """Past MAX_PARSE_CHARS (MAX_JSON_CHARS) for a parser that holds the GIL: no parse grade."""


def _bounded(source: str, limit: int) -> str:
    if len(source) > limit:
        raise _TooLong
    return source


def _python_error(source: str) -> str | None:
    try:
        ast.parse(_bounded(source, MAX_PARSE_CHARS))
    except SyntaxError as err:
        return f"SyntaxError line {err.lineno}: {err.msg}"
    except ValueError as err:  # e.g. source contains NUL bytes
        return f"ValueError: {err}"
    except (RecursionError, MemoryError):  # deep nesting ("((((...") in an upstream's answer
        return "nested too deeply to parse"
    return None


def _json_error(source: str) -> str | None:
    try:
        _loads(_bounded(source, MAX_JSON_CHARS))
    except json.JSONDecodeError as err:
        return f"JSONDecodeError line {err.lineno}: {err.msg}"
    except ValueError as err:
        return str(err)
    return None


def _code_only(line: str, tag: str) -> str:
    """A line without its string literals and trailing comment (by the block's language)."""
    if tag in _NO_SINGLE_QUOTE_TAGS:
        line = _DOUBLE_QUOTED.sub("", line)
    else:
        line = _STRING_LITERAL.sub("", line)
    if tag in _HASH_COMMENT_TAGS:
        return line.partition("#")[0]
    if tag in _SLASH_COMMENT_TAGS:
        return line.partition("//")[0]
    if tag in _DASH_COMMENT_TAGS:
        return line.partition("--")[0]
    return line


def _bracket_error(source: str, tag: str = "") -> str | None:
    if tag in _SLASH_COMMENT_TAGS or tag in _DASH_COMMENT_TAGS:
        source = _BLOCK_COMMENT.sub(lambda m: "\n" * (m.group(0) or "").count("\n"), source)
    stack: list[tuple[str, int]] = []
    for lineno, line in enumerate(source.splitlines(), start=1):
        for char in _code_only(line, tag):
            if char in "([{":
                stack.append((char, lineno))
            elif char in _CLOSERS:
                if not stack or stack[-1][0] != _CLOSERS[char]:
                    return f"unbalanced '{char}' line {lineno}"
                stack.pop()
    if stack:
        char, lineno = stack[-1]
        return f"unclosed '{char}' line {lineno}"
    return None


def _block_error(tag: str, body: str, prompt_lower: str) -> str | None:
    if tag in _PYTHON_TAGS:
        return _python_error(body)
    if tag in _JSON_TAGS:
        return _json_error(body)
    if not tag:
        stripped = body.lstrip()
        if stripped[:1] in ("{", "[") and _json_error(body) is None:
            return None
        if _SQL_START.match(body):
            return _bracket_error(body, "sql")
        if _PYTHONISH.search(body) or "python" in prompt_lower:
            return _python_error(body)
    return _bracket_error(body, tag)


def _looks_like_python_program(text: str) -> bool:
    try:
        tree = ast.parse(_bounded(text, MAX_PARSE_CHARS))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return any(
        not isinstance(node, ast.Expr) or isinstance(node.value, ast.Call) for node in tree.body
    )


def _grade_code(prompt: str, content: str) -> Grade | None:
    prompt_lower = prompt.lower()
    blocks = [(m.group(1).lower(), m.group(2)) for m in FENCE.finditer(content)]
    code_blocks = [(tag, body) for tag, body in blocks if tag not in _PROSE_TAGS and body.strip()]
    try:
        return _code_grade(prompt, content, prompt_lower, code_blocks)
    except _TooLong:
        return None  # the sandbox's or the judge's to grade


def _code_grade(
    prompt: str, content: str, prompt_lower: str, code_blocks: list[tuple[str, str]]
) -> Grade | None:
    if not code_blocks:
        if _looks_like_python_program(content):
            return Grade(1.0, "code_parse", "unfenced answer parses as Python")
        if _SQL_START.match(content) and _bracket_error(content, "sql") is None:
            return Grade(1.0, "code_parse", "unfenced answer looks like balanced SQL")
        if asks_for_code(prompt):
            return Grade(0.3, "code_parse", "code was asked for but the answer has no code block")
        return None
    for index, (tag, body) in enumerate(code_blocks, start=1):
        error = _block_error(tag, body, prompt_lower)
        if error is not None:
            return Grade(0.0, "code_parse", f"{tag or 'untagged'} block {index}: {error}")
    return Grade(1.0, "code_parse", f"{len(code_blocks)} code block(s) parsed")


# --- extraction ------------------------------------------------------------------------------


def _loads(text: str) -> Any:
    """orjson when it can, else ``json`` for its line-numbered error; deep nesting: ValueError
    (found by a linear scan before any parser reads it: json_depth)."""
    if nests_deeper_than(text):
        raise ValueError(f"JSON nested more than {MAX_JSON_NESTING} levels deep")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    return json.loads(text, parse_constant=_not_json)


def _not_json(name: str) -> Any:
    """`json` reads NaN and Infinity, which JSON has not (a client's JSON.parse refuses them):
    an answer holding one is not valid JSON. (1e999 is: JSON's grammar has no number bound.)"""
    raise ValueError(f"{name} is not a JSON value")


def parse_json_content(text: str) -> Any:
    """Parse an answer that should be JSON, tolerating whitespace and a ```json fence.

    Raises ``ValueError`` (``json.JSONDecodeError`` included) when no JSON can be read.
    """
    stripped = text.strip()
    if not nests_deeper_than(stripped):  # else _loads says so, for the whole or the fence
        try:
            return orjson.loads(stripped)
        except orjson.JSONDecodeError:
            pass
    fence = _JSON_FENCE.search(stripped)
    if fence is None:
        return _loads(stripped)  # raises JSONDecodeError with a line number
    return _loads(fence.group(1))


def _parse_lenient(text: str) -> Any:
    """parse_json_content, then the outermost {...} / [...] span of a prose answer."""
    try:
        return parse_json_content(text)
    except ValueError:
        starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
        if not starts:
            raise
        start = min(starts)
        end = text.rfind("}" if text[start] == "{" else "]")
        if end <= start:
            raise
        return _loads(text[start : end + 1])


def _json_path(path: Any) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _grade_schema(content: str, schema: Any) -> Grade:
    from arbiter.grading_tools import linear_validator, unchecked_schema  # (it imports Grade)

    try:
        document = parse_json_content(content)
    except ValueError as err:
        return Grade(0.0, "json_schema", f"invalid JSON: {err}"[:160])
    why = unchecked_schema(schema)
    if why is not None:  # too big, too deep, or regex keys only `re` would run: parse only
        return Grade(1.0, "json_parse", f"valid JSON (schema not validated: {why})"[:160])
    try:
        canonical = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS).decode()
        validator = linear_validator(canonical)
        error = best_match(validator.iter_errors(document))
    except RecursionError:
        return Grade(0.2, "json_schema", "document nested too deeply to validate")
    except (SchemaError, Unresolvable, TypeError, orjson.JSONEncodeError) as err:
        logger.warning("json_schema grader: unusable schema (%s); parse check only", err)
        return Grade(1.0, "json_parse", "valid JSON (schema unusable, not validated)")
    if error is None:
        return Grade(1.0, "json_schema", "valid against schema")
    return Grade(
        0.2, "json_schema", f"schema error at {_json_path(error.path)}: {error.message}"[:200]
    )


def _grade_extraction(
    prompt: str, content: str, response_format: Mapping[str, Any] | None
) -> Grade | None:
    if len(content) > MAX_JSON_CHARS:
        return None  # too long to parse here (MAX_JSON_CHARS)
    kind = response_format.get("type") if response_format is not None else None
    if kind == "json_schema" and response_format is not None:
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if isinstance(schema, Mapping):
            return _grade_schema(content, schema)
        kind = "json_object"  # a schema-less json_schema: at least it must be a JSON object
    if kind == "json_object":
        try:
            document = parse_json_content(content)
        except ValueError as err:
            return Grade(0.0, "json_object", f"invalid JSON: {err}"[:160])
        if not isinstance(document, dict):
            return Grade(0.2, "json_object", f"JSON is a {type(document).__name__}, not an object")
        return Grade(1.0, "json_object", "valid JSON object")
    if _JSON_ASK.search(prompt[:4000]) or _JSON_ASK.search(prompt[-1000:]):
        try:
            _parse_lenient(content)
        except ValueError as err:
            return Grade(0.0, "json_parse", f"JSON was asked for but: {err}"[:160])
        return Grade(1.0, "json_parse", "JSON was asked for and parses")
    return None


# --- math ------------------------------------------------------------------------------------


def _clean_answer(raw: str) -> str:
    boxed = _BOXED.match(raw.strip())
    while boxed is not None and boxed.end() == len(raw.strip()):  # \boxed{\boxed{42}}
        raw = boxed.group(1) or ""
        boxed = _BOXED.match(raw.strip())
    text = _FRAC.sub(lambda m: f"{m.group(1) or m.group(3)}/{m.group(2) or m.group(4)}", raw)
    for mark, replacement in _LATEX_MARKS:
        text = text.replace(mark, replacement)
    text = text.replace("\\!", "").replace("\\,", "")
    text = _LATEX_TEXT.sub(lambda m: m.group(1) or "", text)
    text = text.strip().strip("*").strip()
    text = _VARIABLE_IS.sub("", text)  # "x = 5" -> "5"
    leading = _LEADING_NUMBER.match(text)
    if leading is not None:
        number = mathcheck.to_fraction(leading.group(1))
        shown = None if number is None else mathcheck.format_fraction(number)
        if shown is not None and len(shown) <= mathcheck.MAX_NUMBER_CHARS:
            return shown
        if shown is not None:  # 1e999 stays as written: its 1,000 digits are no number to read
            return leading.group(1).strip()
    return text.rstrip(".").strip()


def extract_final_answer(text: str) -> str | None:
    """The final answer of a worked solution, numbers normalised ("1,234.50" -> "1234.5").

    Looks, in order, for ``\\boxed{..}``, ``#### N``, ``Answer: N``, "the answer is N", and a
    last line ending in ``= N`` or consisting of a lone number. The last occurrence wins, and
    an answer that corrects itself after it ("... no wait, 41") is the last number it states
    after the correction (arbiter.self_correction).
    """
    stated = _stated_answer(text)
    corrected = after_correction(text)
    if corrected is not None and (stated is None or corrected[0] > stated[1]):
        numbers = _ANY_NUMBER.findall(corrected[1])
        answer = _clean_answer(numbers[-1]) if numbers else ""
        if answer:
            return answer
    return None if stated is None else stated[0]


def offered_numbers(text: str) -> list[str]:
    """The final answer's alternatives ("The answer is 41 or 42", "\\boxed{41} or
    \\boxed{42}", a last line "41, 42 or 43"): the distinct numbers of the run that holds the
    stated answer (or makes the whole last line), joined by "or" or commas (three or more);
    [] when the answer states one number."""
    corrected = after_correction(text)
    if corrected is not None:
        text = corrected[1]
    stated = _stated_answer(text)
    if stated is not None:
        first = text.rfind("\n", 0, stated[1]) + 1
        end = text.find("\n", stated[1])
        line, at = text[first : len(text) if end < 0 else end], stated[1] - first
    else:
        lines = [ln for ln in text[-2000:].splitlines() if ln.strip()]
        line, at = (lines[-1] if lines else ""), 0
    found = list(_ANY_NUMBER.finditer(line[:500]))
    if stated is None and found:
        outside = line[: found[0].start()] + line[found[-1].end() :]
        if _NOT_LIST.sub("", outside).strip(".!"):
            return []  # the last line holds more than the numbers
    runs: list[list[Any]] = []
    for number in found:
        gap = "" if not runs else line[runs[-1][-1].end() : number.start()]
        gap = _NOT_LIST.sub("", gap).casefold()
        if runs and gap in ("", ",", "or", ",or"):
            runs[-1].append(number)
        else:
            runs.append([number])
    run = next((r for r in runs if r[-1].end() > at), [])
    texts = [(m.group(0) or "").strip().rstrip(",") for m in run]
    values = {mathcheck.to_fraction(t) for t in texts}
    joined = [_NOT_LIST.sub("", line[a.end() : b.start()]) for a, b in pairwise(run)]
    hedged = any("or" in g for g in joined) or len(values) >= 3
    if not hedged or None in values or len(values) < 2:
        return []
    return list(dict.fromkeys(_clean_answer(t) for t in texts))


def _stated_answer(text: str) -> tuple[str, int] | None:
    """The final answer as stated, and where its statement starts."""
    for pattern in (_BOXED, _HASHES, _ANSWER_LINE, _ANSWER_IS):
        matches = list(pattern.finditer(text))
        if matches:
            last = matches[-1]
            answer = _clean_answer(last.group(1) or "")
            if answer:
                return answer, last.start()
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    for pattern in (_EQUALS_END, _LONE_NUMBER):
        match = pattern.search(lines[-1])
        if match is not None:
            return _clean_answer(match.group(1)), text.rfind(lines[-1])
    return None


def _grade_math(prompt: str, content: str) -> Grade | None:
    """A grade only from a check that verifies: the prompt's own expression evaluated, or a
    worked step whose arithmetic is wrong (the answer contradicts itself). An answer that
    cannot be verified gets NO grade, so the sampled judge grades it (a fixed "unverified"
    grade for every model taught nothing about math quality). A missing final answer is a
    defect of the answer's form whatever its reasoning, and is graded."""
    answer = extract_final_answer(content)
    value = mathcheck.evaluate_prompt_expression(prompt)
    if value is not None:
        expected = mathcheck.format_fraction(value)
        offered = offered_numbers(content)
        if offered:  # "41 or 42": guessing among k is worth 1/k
            hit = any(mathcheck.answers_match(n, value) for n in offered)
            score = 1.0 / len(offered) if hit else 0.0
            return Grade(score, "math_checked", f"answer {' or '.join(offered)[:40]}, one of them")
        if answer is None:
            return Grade(0.0, "math_checked", f"expected {expected}, no final answer found")
        if mathcheck.answers_match(answer, value):
            return Grade(1.0, "math_checked", f"answer {answer} matches {expected}")
        return Grade(0.0, "math_checked", f"answer {answer[:40]}, expected {expected}")
    if answer is None:
        return Grade(0.2, "math_answer", "no final answer found")
    from arbiter.cascade import arithmetic_errors  # (cascade imports this module)

    wrong = arithmetic_errors(content)
    if wrong:
        return Grade(
            MATH_ARITHMETIC_WRONG,
            "math_arithmetic",
            f"{wrong} wrong arithmetic step(s); answer {answer[:40]}",
        )
    return None  # unverifiable: the judge's to grade
