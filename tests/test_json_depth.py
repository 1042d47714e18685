"""json_depth: one linear pre-scan bounds how deeply any parser of a model's or a client's JSON
text recurses. Before it, Python's `json` (and the walks over what orjson read: jsonschema's
validation, the character mending of lenient_json) went down to the interpreter's recursion
limit on an answer nested hundreds or tens of thousands deep: a RecursionError escaped the
mending of a stream chunk, and validation "recursed too deeply" and was graded as a schema
miss, not as JSON no one reads."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest

from arbiter.answer_choices import OfferedTools, ToolCall
from arbiter.grading import grade_answer, parse_json_content
from arbiter.grading_tools import MAX_ARGUMENT_CHARS, grade_tool_calls
from arbiter.json_depth import MAX_JSON_NESTING, nests_deeper_than
from arbiter.offline.workload._base import parse_json_answer
from arbiter.upstream import lenient_json
from arbiter.upstream.stream_characters import SurrogateJoiner

DEEPEST = 100_000
RECURSIVE = {"type": "array", "items": {"$ref": "#"}}  # validation descends with the document


def _nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize(
    ("text", "deeper"),
    [
        (_nested(MAX_JSON_NESTING), False),
        (_nested(MAX_JSON_NESTING + 1), True),
        ('{"a":' * (MAX_JSON_NESTING + 1) + "1" + "}" * (MAX_JSON_NESTING + 1), True),
        ("[]" * 10_000, False),  # many brackets, none deep
        ('"' + "[" * 10_000 + '"', False),  # in a string: text, not nesting
        ('["\\"' + "[" * 10_000 + '"]', False),  # an escaped quote does not end the string
        ('["\\\\"' + "[" * 1_000, True),  # an escaped backslash does not escape the quote
        ('"\\' + "[" * 1_000, False),  # an unclosed string is text to the end
        ("]" * 1_000 + "[" * 100, False),  # closing first does not make room below zero
        (_nested(DEEPEST), True),
    ],
)
def test_depth_is_counted_outside_strings(text: str, deeper: bool) -> None:
    assert nests_deeper_than(text) is deeper
    assert nests_deeper_than(text.encode()) is deeper


def _reference_depth(text: str) -> int:
    """The deepest nesting, one character at a time (what the array passes must agree with).
    A backslash escapes the next character; outside strings, where JSON has none, it still
    keeps a quote from opening one (a parser stops there: what came before counts the same)."""
    depth = deepest = 0
    in_string = escaped = False
    for c in text:
        if escaped:
            escaped = False
            if in_string or c == '"' or c == "\\":
                continue
        if c == "\\":
            escaped = True
        elif c == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth = max(depth - 1, 0)
    return deepest


def test_the_scan_agrees_with_a_character_by_character_reading() -> None:
    rng = random.Random(11)
    for _ in range(2_000):
        text = "".join(rng.choice('[[{]}"\\ xé') for _ in range(rng.randrange(1, 40)))
        for limit in (0, 1, 2, 3):
            assert nests_deeper_than(text, limit) is (_reference_depth(text) > limit), text


@contextmanager
def _shallow_stack(frames: int = 80) -> Iterator[None]:
    """The interpreter's recursion limit `frames` above the current depth: a parser that
    recursed per level of its input would raise RecursionError here."""
    depth, frame = 0, sys._getframe()
    while frame.f_back is not None:
        depth, frame = depth + 1, frame.f_back
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + frames)
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def _refused(read: Callable[[], Any], *errors: type[Exception]) -> bool:
    try:
        read()
    except errors:
        return True
    return False


@pytest.mark.parametrize("depth", [MAX_JSON_NESTING + 1, 300, 900, DEEPEST])
def test_no_parser_recurses_into_deep_text(depth: int) -> None:
    deep = _nested(depth)
    with_half = '{"a": "x\\ud800", "b": ' + deep + "}"  # mended by Python's json, not orjson
    chunk = '{"choices": [{"index": 0, "delta": {"content": "\\ud83d"}, "b": ' + deep + "}]}"
    with _shallow_stack():
        assert _refused(lambda: parse_json_content(deep), ValueError)
        assert _refused(lambda: parse_json_content(f"```json\n{deep}\n```"), ValueError)
        assert _refused(lambda: parse_json_answer(deep), ValueError)
        assert _refused(lambda: lenient_json.loads(with_half.encode()), orjson.JSONDecodeError)
        joiner = SurrogateJoiner()
        assert joiner.event(chunk.encode()) == chunk.encode()  # not read: relayed, refused later
        grade = grade_tool_calls([ToolCall("f", '{"a": ' + deep + "}")], OfferedTools({"f": None}))
        if len(deep) <= MAX_ARGUMENT_CHARS:  # longer: not read at all ("too long to check")
            assert grade.score == 0.0 and "nested more than" in grade.detail


def test_a_document_past_the_bound_is_not_valid_json_whatever_the_schema() -> None:
    # 300 levels: orjson reads it; validating it against a recursive schema went past the
    # interpreter's limit and was graded 0.2, "nested too deeply to validate"
    rf = {"type": "json_schema", "json_schema": {"schema": RECURSIVE}}
    grade = grade_answer(
        task="extraction",
        prompt="q",
        content=_nested(300, ""),
        finish_reason="stop",
        response_format=rf,
    )
    assert grade is not None
    assert (grade.score, grade.grader) == (0.0, "json_schema")
    assert "invalid JSON" in grade.detail
    shallow = grade_answer(
        task="extraction",
        prompt="q",
        content=_nested(MAX_JSON_NESTING, ""),
        finish_reason="stop",
        response_format=rf,
    )
    assert shallow is not None and shallow.score == 1.0  # at the bound: read and validated


def test_deep_tool_arguments_are_not_json_to_the_tool_grader() -> None:
    args = '{"a": ' + _nested(300, "") + "}"
    schema = {"type": "object", "properties": {"a": RECURSIVE}}
    grade = grade_tool_calls([ToolCall("f", args)], OfferedTools({"f": schema}))
    assert grade.score == 0.0
    assert "arguments are not JSON" in grade.detail
