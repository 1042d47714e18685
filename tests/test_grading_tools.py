"""grading_tools / answer_choices / answer_grading: tool calls graded as calls, bounded; choices
read from both protocols' answers; the judge shown the tools and the call."""

from __future__ import annotations

import orjson

from arbiter.answer_choices import Choice, OfferedTools, ToolCall, choices_of, offered_tools
from arbiter.answer_grading import JUDGE_MAX_CHOICES, combine, judge_asks, signals
from arbiter.grading import Grade
from arbiter.grading_tools import MAX_ARGUMENT_CHARS, grade_tool_calls
from arbiter.reference import ReferenceGrader

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
    "required": ["city"],
}
TOOLS = OfferedTools({"get_weather": WEATHER})


def score(calls: list[ToolCall], tools: OfferedTools | None = TOOLS) -> Grade:
    return grade_tool_calls(calls, tools)


def test_a_valid_call_is_high_and_each_fault_is_low() -> None:
    assert score([ToolCall("get_weather", '{"city": "Paris"}')]).score == 1.0
    assert score([ToolCall("get_weather", "")]).score == 0.2  # {} lacks city
    assert score([ToolCall("get_weather", '{"city": "Paris", "unit": "kelvin"}')]).score == 0.2
    assert score([ToolCall("get_weather", "[1]")]).score == 0.0
    assert score([ToolCall("get_weather", "{'city': 'Paris'}")]).score == 0.0
    assert score([ToolCall("get_time", "{}")]).score == 0.0
    assert score([ToolCall("get_weather", '{"city": "x"}')], None).score == 0.0
    two = [ToolCall("get_weather", '{"city": "a"}'), ToolCall("get_weather", '{"city": 1}')]
    assert score(two).score == 0.2  # one bad call spoils the turn
    assert score(two[:1] * 2).score == 1.0


def test_tool_choice_forcing_a_function_is_checked() -> None:
    forced = OfferedTools({"get_weather": WEATHER, "get_time": None}, forced="get_time")
    assert score([ToolCall("get_weather", '{"city": "Paris"}')], forced).score == 0.0
    assert score([ToolCall("get_time", "{}")], forced).score == 1.0  # no schema: parse only


def test_work_is_bounded() -> None:
    huge = '{"city": "' + "x" * MAX_ARGUMENT_CHARS + '"}'
    assert score([ToolCall("get_weather", huge)]).detail.startswith("get_weather: arguments too")
    big = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(3000)}}
    g = score([ToolCall("f", '{"p1": 3}')], OfferedTools({"f": big}))
    assert g.score == 1.0 and "schema not validated" in g.detail
    deep: dict[str, object] = {"type": "object"}
    for _ in range(40):
        deep = {"type": "object", "properties": {"a": deep}}
    assert "deeper than" in score([ToolCall("f", "{}")], OfferedTools({"f": deep})).detail


def test_schema_patterns_run_on_the_linear_matcher() -> None:
    # (a+)+$ backtracks exponentially in Python's re on "aaa...!": here it is linear
    evil = {"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a+)+$"}}}
    args = orjson.dumps({"s": "a" * 40 + "!"}).decode()
    assert score([ToolCall("f", args)], OfferedTools({"f": evil})).score == 0.2
    ok = orjson.dumps({"s": "a" * 40}).decode()
    assert score([ToolCall("f", ok)], OfferedTools({"f": evil})).score == 1.0
    # lookaround needs backtracking: not checked (lenient) rather than run in `re`
    look = {"type": "object", "properties": {"s": {"type": "string", "pattern": "^(?!a)"}}}
    assert score([ToolCall("f", ok)], OfferedTools({"f": look})).score == 1.0
    pp = {"type": "object", "patternProperties": {"^(a+)+$": {"type": "string"}}}
    assert "patternProperties" in score([ToolCall("f", "{}")], OfferedTools({"f": pp})).detail


def test_choices_and_tools_from_both_protocols() -> None:
    openai_body = {
        "choices": [
            {"message": {"content": "hi"}, "finish_reason": "stop"},
            {
                "message": {
                    "content": None,
                    "tool_calls": [
                        {"type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
                "finish_reason": "tool_calls",
            },
            "garbage",
        ]
    }
    assert choices_of(openai_body, "openai") == [
        Choice("hi", "stop"),
        Choice("", "tool_calls", (ToolCall("f", "{}"),)),
    ]
    anthropic_body = {
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}},
        ],
        "stop_reason": "tool_use",
    }
    assert choices_of(anthropic_body, "anthropic") == [
        Choice("Checking.", "tool_calls", (ToolCall("f", '{"a":1}'),))
    ]
    req = {
        "tools": [
            {"type": "function", "function": {"name": "f", "parameters": WEATHER}},
            {"type": "function", "function": {"name": "g"}},
        ],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
    }
    assert offered_tools(req, "openai") == OfferedTools(
        {"f": WEATHER, "g": {"type": "object"}}, "f", required=True
    )
    areq = {"tools": [{"name": "f", "input_schema": WEATHER}, {"type": "web_search_20250305",
            "name": "web_search"}], "tool_choice": {"type": "tool", "name": "f"}}  # fmt: skip
    assert offered_tools(areq, "anthropic") == OfferedTools(
        {"f": WEATHER, "web_search": None}, "f", required=True
    )
    assert offered_tools({"messages": []}, "openai") is None


def test_the_judge_sees_the_tools_and_the_call_never_an_empty_answer() -> None:
    call = Choice("", "tool_calls", (ToolCall("get_weather", '{"city": "Paris"}'),))
    [(question, answer)] = judge_asks([call], "Weather in Paris?", TOOLS)
    assert question.startswith("Weather in Paris?") and "get_weather: {" in question
    assert answer == '(tool call) get_weather({"city": "Paris"})'
    # a streamed call whose arguments were not captured is not judged on its empty text
    assert judge_asks([Choice("", "tool_calls")], "q", TOOLS) == []
    many = [Choice(f"answer {i}", "stop") for i in range(20)]
    assert len(judge_asks(many, "q", None)) == JUDGE_MAX_CHOICES


def test_signals_need_every_choice_and_combine_by_the_callers_rule() -> None:
    grades = [Grade(1.0, "math_checked", "ok"), Grade(0.0, "math_checked", "no")]
    assert combine(grades, "mean")[0] == 0.5 and combine(grades, "best")[0] == 1.0
    both = [Choice("The answer is 42", "stop"), Choice("I think 40", "stop")]
    found = signals(
        both, task="math", prompt="What is 40 + 2?", response_format=None, tools=None,
        reference="42", references=ReferenceGrader(None), pick="mean",
    )  # fmt: skip
    assert [(s.grader, s.score) for s in found] == [("reference", 0.5), ("auto", 0.5)]
    # open-ended and no embedder: no reference grade, no automatic grade: the judge decides
    prose = [Choice("Tides follow the moon's pull on the oceans.", "stop")]
    assert signals(
        prose, task="chat", prompt="Why tides?", response_format=None, tools=None,
        reference="The moon's gravity raises bulges of water that the earth turns through.",
        references=ReferenceGrader(None), pick="mean",
    ) == []  # fmt: skip


def test_streamed_calls_are_reassembled_and_bounded() -> None:
    from arbiter.answer_choices import STREAMED_ARGS_CAP, StreamedCalls

    calls = StreamedCalls()
    calls.openai_delta(
        [{"index": 0, "id": "c", "function": {"name": "get_weather", "arguments": ""}}]
    )
    for piece in ('{"ci', 'ty": "Pa', 'ris"}'):
        calls.openai_delta([{"index": 0, "function": {"arguments": piece}}])
    calls.openai_delta([{"index": 1, "function": {"name": "f"}}, "junk", {"index": "x"}])
    assert calls.calls() == (ToolCall("get_weather", '{"city": "Paris"}'), ToolCall("f", ""))
    assert score(list(calls.calls()[:1])).score == 1.0
    big = StreamedCalls()
    big.start(0, "get_weather")
    for _ in range(3):
        big.args(0, "x" * (STREAMED_ARGS_CAP // 2))
    [kept] = big.calls()
    assert kept.truncated and len(kept.arguments) <= STREAMED_ARGS_CAP
    assert "too long to check" in score([kept]).detail
