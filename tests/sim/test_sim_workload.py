"""The project's own workload: reproducible, varied, all task types, truths that check."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from arbiter.offline.workload import TASKS, final_answer, make_workload, recognise


def test_same_seed_same_workload_other_seed_other_workload() -> None:
    assert make_workload(50, seed=1) == make_workload(50, seed=1)
    assert make_workload(50, seed=1) != make_workload(50, seed=2)


def test_mixed_and_varied() -> None:
    items = make_workload(1000, seed=3)
    tasks = Counter(i.task for i in items)
    assert set(tasks) == set(TASKS)
    assert min(tasks.values()) >= 50
    assert len({i.messages[-1]["content"] for i in items}) >= 400
    assert len({i.family for i in items}) >= 18
    assert any(i.messages[0]["role"] == "system" for i in items)
    assert any(i.max_tokens for i in items)


def test_every_item_is_recognised_with_its_truth() -> None:
    for item in make_workload(600, seed=4):
        solution = recognise(item.messages[-1]["content"])
        assert solution is not None, item
        assert (solution.task, solution.family, solution.truth) == (
            item.task,
            item.family,
            item.truth,
        )
        assert 0.0 <= solution.difficulty <= 1.0


def test_unknown_prompts_are_not_recognised() -> None:
    assert recognise("What is the capital of France?") is None
    assert recognise("Write a Python function `launch(rocket)` that launches it.") is None


def test_truths_by_task() -> None:
    items = make_workload(400, seed=6)
    for item in items:
        if item.task == "math":
            assert item.truth is not None and item.truth.lstrip("-").isdigit()
            assert item.check(f"Some steps.\nAnswer: {item.truth}") == 1.0
            assert item.check(f"Answer: {int(item.truth) + 1}") == 0.0
            assert item.check("No final line at all.") == 0.0
        elif item.task == "extraction":
            assert item.response_format is not None and item.truth is not None
            assert item.check(item.truth) == 1.0
            assert item.check("```json\n" + item.truth + "\n```") == 1.0
            assert item.check('{"name": "nobody"}') == 0.0
            assert item.check("not json") == 0.0
        elif item.truth is None:
            assert item.check("anything") is None


@pytest.mark.parametrize(
    ("text", "number"),
    [("Answer: 42", "42"), ("**Answer:** $1,250", "1250"), ("answer = 3.50", "3.5"),
     ("Answer: 1\nAnswer: 2", "2"), ("the answer is 7", None)],
)  # fmt: skip
def test_final_answer_extraction(text: str, number: str | None) -> None:
    assert final_answer(text) == number


def test_extraction_truth_matches_the_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    for item in make_workload(200, seed=7, tasks=("extraction",)):
        rf = item.response_format
        assert rf is not None and item.truth is not None
        if rf["type"] == "json_schema":
            jsonschema.validate(json.loads(item.truth), rf["json_schema"]["schema"])
