"""Good and bad answers are distinguishable the way Arbiter's graders tell them apart, and the
simulated judge agrees with how each answer was generated."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from random import Random
from typing import Any

import httpx
import jsonschema
import pytest

from arbiter.judge import build_judge_messages, parse_judge_reply
from arbiter.offline.sim import content
from arbiter.offline.sim.judge import AnswerRegistry, JudgeRequest, parse_judge_prompt, verdict
from arbiter.offline.workload import WorkItem, make_workload, recognise

_PY_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
_CHECKS: dict[str, Callable[[Callable[..., Any]], bool]] = {
    "add": lambda f: f(2, 3) == 5,
    "reverse_string": lambda f: f("abc") == "cba",
    "is_palindrome": lambda f: f("Level") is True and f("abc") is False,
    "factorial": lambda f: f(0) == 1 and f(5) == 120,
    "celsius_to_fahrenheit": lambda f: f(100) == 212,
    "count_vowels": lambda f: f("Education") == 5,
    "max_of_list": lambda f: f([3, 9, 2]) == 9,
    "fizzbuzz": lambda f: f(15)[2] == "Fizz" and f(15)[4] == "Buzz" and f(15)[-1] == "FizzBuzz",
    "fibonacci": lambda f: f(0) == 0 and f(1) == 1 and f(10) == 55,
    "is_prime": lambda f: f(13) and not f(15) and not f(1),
    "gcd": lambda f: f(12, 18) == 6,
    "word_count": lambda f: f("a b A") == {"a": 2, "b": 1},
    "flatten": lambda f: f([[1], [2, 3]]) == [1, 2, 3],
}


def _reply(client: httpx.Client, model: str, item: WorkItem) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": item.messages}
    if item.response_format:
        body["response_format"] = item.response_format
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 200
    data: dict[str, Any] = r.json()
    return data


def _text(data: dict[str, Any]) -> str:
    text: str = data["choices"][0]["message"]["content"]
    return text


def _items(task: str, n: int = 40) -> list[WorkItem]:
    return make_workload(n, seed=21, tasks=(task,))  # type: ignore[arg-type]


def test_good_code_parses_and_works_bad_code_does_not_parse(client: httpx.Client) -> None:
    for item in _items("code"):
        good, bad = _text(_reply(client, "always", item)), _text(_reply(client, "never", item))
        if item.truth is not None:  # a JSON-data request: ```json blocks
            assert good.startswith("```json") and item.check(good) == 1.0
            assert bad.startswith("```json") and item.check(bad) == 0.0
            continue
        (source,) = _PY_BLOCK.findall(good)
        namespace: dict[str, Any] = {}
        exec(compile(ast.parse(source), "<sim>", "exec"), namespace)  # our own generated code
        name = next(n for n in _CHECKS if n in namespace)
        assert _CHECKS[name](namespace[name]), source
        blocks = _PY_BLOCK.findall(bad)
        if blocks:
            with pytest.raises(SyntaxError):
                ast.parse(blocks[0])
        else:
            assert "```python" in bad  # truncated: the block never closes


def test_extraction_good_validates_bad_does_not(client: httpx.Client) -> None:
    for item in _items("extraction"):
        rf = item.response_format
        assert rf is not None
        good, bad = _text(_reply(client, "always", item)), _text(_reply(client, "never", item))
        assert item.check(good) == 1.0
        assert item.check(bad) == 0.0
        schema = rf["json_schema"]["schema"] if rf["type"] == "json_schema" else None
        if schema is not None:
            jsonschema.validate(json.loads(good), schema)
            with pytest.raises((json.JSONDecodeError, jsonschema.ValidationError)):
                jsonschema.validate(json.loads(bad), schema)


def test_math_good_has_the_right_answer_line_bad_a_wrong_one(client: httpx.Client) -> None:
    for item in _items("math"):
        good, bad = _text(_reply(client, "always", item)), _text(_reply(client, "never", item))
        assert good.splitlines()[-1] == f"Answer: {item.truth}"
        assert item.check(good) == 1.0
        assert item.check(bad) == 0.0
        assert len(bad.splitlines()) >= 2  # worked steps either way


@pytest.mark.parametrize("task", ["summarization", "translation", "creative", "chat"])
def test_open_ended_good_is_substantive_bad_is_not(client: httpx.Client, task: str) -> None:
    finish_reasons = set()
    for item in _items(task, 30):
        question = item.messages[-1]["content"]
        good, bad = _reply(client, "always", item), _reply(client, "never", item)
        good_text, bad_text = _text(good), _text(bad)
        assert verdict(JudgeRequest(question, good_text), AnswerRegistry())[0] is True
        assert verdict(JudgeRequest(question, bad_text), AnswerRegistry())[0] is False
        if task != "translation":
            assert len(re.findall(r"[.!?;,](\s|$)", good_text)) >= 3, good_text  # several clauses
        finish_reasons.add(bad["choices"][0]["finish_reason"])
    if task != "translation":
        assert finish_reasons == {"stop", "length"}  # some bad answers are cut short


def test_unknown_prompts_get_heuristic_tasks() -> None:
    assert content.detect_task("Write a python function to parse dates", None) == "code"
    assert content.detect_task("Please translate 'cat' to French", None) == "translation"
    assert content.detect_task("What is 12 * (3 + 4)?", None) == "math"
    assert content.detect_task("Tell me about Rome", {"type": "json_object"}) == "extraction"
    assert content.detect_task("How are you?", None) == "chat"
    answer = content.generate("What is 12 * (3 + 4)?", None, "math", None, True, Random(1))
    assert answer.content.endswith("Answer: 84")
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "tags": {
        "type": "array", "items": {"type": "string"}}}, "required": ["n", "tags"]}  # fmt: skip
    rf = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    good = content.generate("Give me data", None, "extraction", rf, True, Random(2))
    jsonschema.validate(json.loads(good.content), schema)


def test_judge_scores_agree_with_generation_over_http(client: httpx.Client) -> None:
    scores: dict[bool, list[float]] = {True: [], False: []}
    for item in make_workload(70, seed=5):
        for model, good in (("always", True), ("never", False)):
            answer = _text(_reply(client, model, item))
            messages = build_judge_messages(item.messages[-1]["content"], answer)
            reply = client.post(
                "/v1/chat/completions", json={"model": "judge", "messages": messages}
            )
            text = _text(reply.json())
            assert re.search(r"\nSCORE: (10|[1-9])$", text), text
            score = parse_judge_reply(text)
            assert score is not None
            scores[good].append(score)
    assert min(scores[True]) >= (7 - 1) / 9
    assert max(scores[False]) <= (4 - 1) / 9
    stats = client.get("/_sim/stats").json()["models"]["judge"]
    assert stats["judged"] >= 140


def test_judge_heuristics_agree_without_the_registry() -> None:
    for i, item in enumerate(make_workload(400, seed=8)):
        prompt = item.messages[-1]["content"]
        for good in (True, False):
            answer = content.generate(prompt, recognise(prompt), item.task, item.response_format,
                                      good, Random(i))  # fmt: skip
            assert verdict(JudgeRequest(prompt, answer.content), AnswerRegistry())[0] is good


def test_judge_prompt_parsing_and_non_judge_models(client: httpx.Client) -> None:
    messages = build_judge_messages("What is 2 + 2?", "Answer: 4")
    parsed = parse_judge_prompt(messages[-1]["content"])
    assert parsed == JudgeRequest("What is 2 + 2?", "Answer: 4")
    assert parse_judge_prompt("What is 2 + 2?") is None
    reply = _text(client.post("/v1/chat/completions",
                              json={"model": "always", "messages": messages}).json())  # fmt: skip
    assert "SCORE:" not in reply  # only the judge model judges


def test_registry_is_bounded() -> None:
    registry = AnswerRegistry(capacity=3)
    for i in range(5):
        registry.record(f"answer {i}", i % 2 == 0)
    assert len(registry) == 3
    assert registry.lookup("answer 0") is None
    assert registry.lookup("answer   4") is True  # whitespace does not matter
