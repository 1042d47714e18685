"""grade_answer() and its helpers: universal checks, code, extraction (JSON/schema), math."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from arbiter.grading import Grade, extract_final_answer, grade_answer, parse_json_content


def _grade(
    task: str,
    content: str | None,
    *,
    prompt: str = "question",
    finish_reason: str | None = "stop",
    response_format: dict[str, Any] | None = None,
) -> Grade | None:
    return grade_answer(
        task=task,
        prompt=prompt,
        content=content,
        finish_reason=finish_reason,
        response_format=response_format,
    )


# --- Grade -----------------------------------------------------------------------------------


def test_grade_is_frozen_and_bounded() -> None:
    grade = Grade(0.5, "x", "y")
    with pytest.raises(dataclasses.FrozenInstanceError):
        grade.score = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="score"):
        Grade(1.5, "x", "y")
    with pytest.raises(ValueError, match="score"):
        Grade(-0.1, "x", "y")


# --- universal checks ------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["code", "math", "extraction", "chat", "creative"])
@pytest.mark.parametrize("content", [None, "", "   \n\t "])
def test_empty_answers_score_zero(task: str, content: str | None) -> None:
    assert _grade(task, content) == Grade(0.0, "empty", "empty answer")


@pytest.mark.parametrize("task", ["code", "math", "chat", "translation"])
def test_truncated_answers(task: str) -> None:
    grade = _grade(task, "The answer starts here and then", finish_reason="length")
    assert grade is not None
    assert (grade.score, grade.grader) == (0.1, "truncated")


def test_tool_calls_are_not_graded_here() -> None:
    assert _grade("extraction", None, finish_reason="tool_calls") is None
    assert _grade("chat", None, finish_reason="function_call") is None


def test_content_filter_counts_as_refusal() -> None:
    grade = _grade("chat", "partial", finish_reason="content_filter")
    assert grade is not None
    assert (grade.score, grade.grader) == (0.05, "refusal")


@pytest.mark.parametrize(
    "content",
    [
        "I'm sorry, but I can't help with that.",
        "I’m sorry, I can’t assist with that request.",
        "As an AI language model, I cannot browse the internet.",
        "I cannot help with that.",
        "Sorry, but I can't do that.",
        "Unfortunately, I am unable to provide that information.",
        "I won't write malware.",
        "I'm unable to comply with this request.",
        "  I apologize, but I cannot fulfill this request.",
        "I must decline this request.",
    ],
)
@pytest.mark.parametrize("task", ["chat", "code", "math"])
def test_refusals(task: str, content: str) -> None:
    grade = _grade(task, content)
    assert grade is not None
    assert (grade.score, grade.grader) == (0.05, "refusal")


@pytest.mark.parametrize(
    "content",
    [
        "I can't believe how good this question is! Paris is the capital.",
        "Sorry for the delay! The capital is Paris.",
        "I cannot stress enough how important tests are.",
        "The model said: I'm sorry, but I can't help with that.",
        "I'm sorry, but I can't find a bug in this code. However, here is a cleaner version:\n"
        + "```python\nx = 1\n```\n"
        + "Some more explanation. " * 20,
    ],
)
def test_not_refusals(content: str) -> None:
    grade = _grade("chat", content)
    assert grade is None or grade.grader != "refusal"


@pytest.mark.parametrize("task", ["summarization", "translation", "creative", "chat", "unknown"])
def test_open_ended_tasks_return_none(task: str) -> None:
    assert _grade(task, "A perfectly fine answer.") is None


# --- code ------------------------------------------------------------------------------------

GOOD_CODE = [
    "```python\ndef add(a, b):\n    return a + b\n```",
    "Here you go:\n```py\nimport os\nprint(os.getcwd())\n```\nHope it helps.",
    "```python3\nclass A:\n    pass\n```",
    '```json\n{"a": [1, 2, {"b": null}]}\n```',
    "```sql\nSELECT name, COUNT(*) FROM users WHERE (age > 3) GROUP BY name;\n```",
    "```js\nfunction f(x) { return [x, (x + 1)]; } // done (really\n```",
    "```rust\nfn longest<'a>(x: &'a str, y: &'a str) -> &'a str { if x.len() > y.len() { x } else "
    "{ y } }\n```",
    "```bash\necho 'it''s ok' # don't (worry\n```",
    '```c\n/* a (comment */\nint main(void) { printf("%s)", "x"); return 0; }\n```',
    "```\ndef f(x):\n    return x * 2\n```",
    '```\n{"untagged": "json"}\n```',
    "```python\ndef f():\n    return 1\n```\n\n```python\nprint(f())\n```",
    "```python\nx = 1\n```\nOutput:\n```text\n(unbalanced output is fine\n```",
]


@pytest.mark.parametrize("content", GOOD_CODE)
def test_code_blocks_that_parse(content: str) -> None:
    grade = _grade("code", content, prompt="Write a function")
    assert grade is not None
    assert (grade.score, grade.grader) == (1.0, "code_parse"), grade.detail


BAD_CODE = [
    ("```python\ndef f(:\n    pass\n```", "python block 1: SyntaxError line 1"),
    ("```py\nx = 1\nif x\n    print(x)\n```", "SyntaxError line 2"),
    ('```json\n{"a": 1,}\n```', "JSONDecodeError line 1"),
    ("```js\nfunction f(x) { return [x; }\n```", "unbalanced '}' line 1"),
    ('```go\nfunc main() {\n\tfmt.Println("hi")\n```', "unclosed '{' line 1"),
    ("```\nSELECT a FROM t WHERE (x = 1\n```", "unclosed '('"),
    (
        "```python\ndef ok():\n    return 1\n```\n```python\ndef broken(\n```",
        "python block 2",
    ),
    ("```python\ndef truncated(x):\n    return (x +", "SyntaxError"),
]


@pytest.mark.parametrize(("content", "detail"), BAD_CODE)
def test_code_blocks_that_fail(content: str, detail: str) -> None:
    grade = _grade("code", content, prompt="Write a function")
    assert grade is not None
    assert (grade.score, grade.grader) == (0.0, "code_parse")
    assert detail in grade.detail


def test_untagged_block_is_python_when_the_prompt_says_python() -> None:
    content = "```\nx = [1, 2\n```"
    grade = _grade("code", content, prompt="Write Python code for a list")
    assert grade is not None
    assert grade.score == 0.0
    assert "SyntaxError" in grade.detail


def test_unfenced_python_counts_as_code() -> None:
    content = "def square(x):\n    return x * x\n"
    grade = _grade("code", content, prompt="Write a Python function that squares a number")
    assert grade == Grade(1.0, "code_parse", "unfenced answer parses as Python")


def test_unfenced_sql_counts_as_code() -> None:
    grade = _grade("code", "SELECT id FROM users WHERE age > 30;", prompt="Write a SQL query")
    assert grade is not None
    assert grade.score == 1.0


def test_prose_answer_when_code_was_asked_for() -> None:
    grade = _grade("code", "You could use a loop over the list.", prompt="Write a function")
    assert grade is not None
    assert (grade.score, grade.grader) == (0.3, "code_parse")


def test_single_word_is_not_python_code() -> None:
    grade = _grade("code", "Recursion", prompt="Write a function")
    assert grade is not None
    assert grade.score == 0.3


def test_prose_answer_to_a_code_question_goes_to_the_judge() -> None:
    assert (
        _grade("code", "It is slow because of the nested loop.", prompt="Why is it slow?") is None
    )


def test_code_grader_never_executes_code(tmp_path: Any) -> None:
    marker = tmp_path / "pwned"
    content = f"```python\nopen({str(marker)!r}, 'w').write('x')\n```"
    grade = _grade("code", content, prompt="Write a function")
    assert grade is not None
    assert grade.score == 1.0
    assert not marker.exists()


# --- extraction ------------------------------------------------------------------------------

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}
RF_SCHEMA: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "person", "strict": True, "schema": SCHEMA},
}


@pytest.mark.parametrize(
    "content",
    [
        '{"name": "Ada", "age": 36}',
        '  {"name": "Ada", "age": 36, "tags": ["math"]}\n',
        '```json\n{"name": "Ada", "age": 36}\n```',
        '```\n{"name": "Ada", "age": 36}\n```',
    ],
)
def test_schema_valid(content: str) -> None:
    grade = _grade("extraction", content, response_format=RF_SCHEMA)
    assert grade == Grade(1.0, "json_schema", "valid against schema")


@pytest.mark.parametrize(
    ("content", "path"),
    [
        ('{"name": "Ada", "age": "36"}', "$.age"),
        ('{"name": "Ada", "age": 36, "tags": ["a", 2]}', "$.tags[1]"),
        ('{"name": "Ada", "age": -1}', "$.age"),
        ('{"name": "Ada"}', "$"),
        ('{"name": "Ada", "age": 1, "extra": true}', "$"),
        ('["Ada", 36]', "$"),
    ],
)
def test_schema_violations(content: str, path: str) -> None:
    grade = _grade("extraction", content, response_format=RF_SCHEMA)
    assert grade is not None
    assert (grade.score, grade.grader) == (0.2, "json_schema")
    assert f"schema error at {path}:" in grade.detail


@pytest.mark.parametrize(
    "content",
    ['{"name": "Ada", "age": 36', "name: Ada, age: 36", "Sure! Here it is.", "{'name': 'Ada'}"],
)
def test_schema_invalid_json(content: str) -> None:
    grade = _grade("extraction", content, response_format=RF_SCHEMA)
    assert grade is not None
    assert (grade.score, grade.grader) == (0.0, "json_schema")
    assert grade.detail.startswith("invalid JSON")


def test_schema_key_order_shares_one_validator() -> None:
    reordered: dict[str, Any] = {"json_schema": {"schema": dict(reversed(list(SCHEMA.items())))}}
    reordered["type"] = "json_schema"
    assert _grade("extraction", '{"name": "A", "age": 1}', response_format=reordered) == Grade(
        1.0, "json_schema", "valid against schema"
    )


@pytest.mark.parametrize(
    "schema",
    [{"type": "bogus"}, {"$ref": "https://example.invalid/schema.json"}],
)
def test_unusable_schema_falls_back_to_parse_check(schema: dict[str, Any]) -> None:
    rf = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    grade = _grade("extraction", '{"a": 1}', response_format=rf)
    assert grade is not None
    assert (grade.score, grade.grader) == (1.0, "json_parse")
    bad = _grade("extraction", "{nope", response_format=rf)
    assert bad is not None
    assert bad.score == 0.0


def test_json_schema_without_schema_means_object() -> None:
    rf = {"type": "json_schema", "json_schema": {"name": "x"}}
    grade = _grade("extraction", '{"a": 1}', response_format=rf)
    assert grade == Grade(1.0, "json_object", "valid JSON object")


@pytest.mark.parametrize(
    ("content", "score"),
    [('{"a": 1}', 1.0), ('```json\n{"a": 1}\n```', 1.0), ("[1, 2]", 0.2), ("{a: 1}", 0.0)],
)
def test_json_object_mode(content: str, score: float) -> None:
    grade = _grade("extraction", content, response_format={"type": "json_object"})
    assert grade is not None
    assert (grade.score, grade.grader) == (score, "json_object")


@pytest.mark.parametrize(
    ("content", "score"),
    [
        ('{"people": ["Bob"]}', 1.0),
        ('Here is the JSON you asked for:\n{"people": ["Bob"]}\nAnything else?', 1.0),
        ('```json\n["Bob", "Alice"]\n```', 1.0),
        ("people: Bob, Alice", 0.0),
        ('{"people": ["Bob"', 0.0),
    ],
)
def test_prompt_asking_for_json(content: str, score: float) -> None:
    grade = _grade("extraction", content, prompt="List the people as JSON.")
    assert grade is not None
    assert (grade.score, grade.grader) == (score, "json_parse")


def test_extraction_without_json_goes_to_the_judge() -> None:
    assert _grade("extraction", "Bob, Alice", prompt="Extract the names: Bob met Alice.") is None


def test_parse_json_content() -> None:
    assert parse_json_content(' {"a": 1} ') == {"a": 1}
    assert parse_json_content('```json\n{"a": [1]}\n```') == {"a": [1]}
    assert parse_json_content("Result:\n```json\n[1, 2]\n```\nDone.") == [1, 2]
    assert parse_json_content("42") == 42
    with pytest.raises(ValueError):
        parse_json_content("not json")
    with pytest.raises(ValueError):
        parse_json_content("```json\n{broken\n```")


# --- math ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Step 1... so the total is 12.\nAnswer: 12", "12"),
        ("Natalia sold 48 + 24 = 72 clips.\n#### 72", "72"),
        ("Thus $\\boxed{42}$.", "42"),
        ("So \\boxed{\\frac{3}{4}}", "0.75"),
        ("\\boxed{x = 5}", "5"),
        ("The answer is 1,234.", "1234"),
        ("the final answer is $12.50.", "12.5"),
        ("Final answer: 3/4", "0.75"),
        ("Answer: 1e3", "1000"),
        ("**Answer:** -7", "-7"),
        ("We add them: 17 + 25 = 42", "42"),
        ("Working...\n\n391", "391"),
        ("Answer: 1/3", "1/3"),
        ("So my answer is 50%", "50"),
        ("Answer: Paris", "Paris"),
        ("Answer: 7\n... wait, recompute.\nAnswer: 8", "8"),
        ("#### 5\n\\boxed{6}", "6"),
    ],
)
def test_extract_final_answer(text: str, answer: str) -> None:
    assert extract_final_answer(text) == answer


@pytest.mark.parametrize(
    "text", ["", "I think it is somewhere around there.", "#### Step 2: combine terms"]
)
def test_extract_final_answer_none(text: str) -> None:
    assert extract_final_answer(text) is None


@pytest.mark.parametrize(
    ("prompt", "content"),
    [
        ("What is 17 * 23?", "17 * 23 = 391"),
        ("What is 17 * 23?", "Answer: 391"),
        ("Compute (12+8)/4", "#### 5"),
        ("What is 2^10?", "\\boxed{1024}"),
        ("What is 1,234 + 5?", "The answer is 1,239."),
        ("What is 7 divided by 2?", "Answer: 3.5"),
        ("What is 10 / 4?", "Answer: 5/2"),
        ("What is 10/3?", "Answer: 3.33"),
        ("Calculate 15 plus 27.", "Answer: 42"),
        ("what's 6 x 7", "42"),
        ("What is -3 * -3?", "Answer: 9"),
        ("What is 17 % 5?", "Answer: 2"),
        ("What is 17 // 5? Show your work.", "17 = 3*5 + 2, so\nAnswer: 3"),
    ],
)
def test_math_checked_right(prompt: str, content: str) -> None:
    grade = _grade("math", content, prompt=prompt)
    assert grade is not None
    assert (grade.score, grade.grader) == (1.0, "math_checked"), grade.detail


@pytest.mark.parametrize(
    ("prompt", "content"),
    [
        ("What is 17 * 23?", "Answer: 392"),
        ("Compute (12+8)/4", "#### 6"),
        ("What is 10/3?", "Answer: 3"),
        ("What is 10/3?", "Answer: 3.3333339"),
        ("What is 17 * 23?", "It is a big number."),
        ("What is 17 * 23?", "Answer: many"),
    ],
)
def test_math_checked_wrong(prompt: str, content: str) -> None:
    grade = _grade("math", content, prompt=prompt)
    assert grade is not None
    assert (grade.score, grade.grader) == (0.0, "math_checked"), grade.detail


@pytest.mark.parametrize(
    "prompt",
    [
        "Tom has 3 apples and buys 5 more. How many apples does he have?",
        "Compute 2+3 and then double it.",
        "What is 15% of 80?",
        "What is 2**1000?",
        "What is 5 / 0?",
        "What is 2 ** 0.5?",
        "What is 1+1? And 2+2?",
        "Solve 3x + 5 = 20",
    ],
)
def test_math_unverifiable_answers_get_no_grade(prompt: str) -> None:
    """Regression: these got a fixed 0.75 "unverified", which outranked the judge, so math
    quality could not be learned. A check that cannot verify gives no grade."""
    assert _grade("math", "Reasoning...\nAnswer: 8", prompt=prompt) is None


def test_math_answer_with_wrong_arithmetic_is_graded() -> None:
    """Its own worked step is wrong: verified flawed, whatever the prompt."""
    content = "He buys 3 * 12 = 38 pens and gives 5 away: 38 - 5 = 33.\nAnswer: 33"
    grade = _grade("math", content, prompt="Tom buys 3 dozen pens and gives 5 away. How many?")
    assert grade is not None
    assert (grade.score, grade.grader) == (0.2, "math_arithmetic"), grade.detail
    right = "He buys 3 * 12 = 36 pens and gives 5 away: 36 - 5 = 31.\nAnswer: 31"
    assert _grade("math", right, prompt="Tom buys 3 dozen pens and gives 5 away.") is None


def test_math_without_final_answer() -> None:
    grade = _grade("math", "Hmm, let me think about apples.", prompt="How many apples are left?")
    assert grade == Grade(0.2, "math_answer", "no final answer found")


def test_math_prompt_is_never_executed() -> None:
    prompt = "What is __import__('os').system('echo hi') + 1?"
    assert _grade("math", "Answer: 1", prompt=prompt) is None  # not evaluated: unverifiable


# --- hostile inputs --------------------------------------------------------------------------


def test_deeply_nested_json_is_a_failed_grade_not_a_crash() -> None:
    deep = "[" * 100_000
    grade = _grade("extraction", deep, response_format={"type": "json_object"})
    assert grade is not None
    assert grade.score == 0.0
    code = _grade("code", f"```json\n{deep}\n```", prompt="Write JSON")
    assert code is not None
    assert code.score == 0.0
    # (under grading.MAX_PARSE_CHARS: longer Python gets no parse check at all)
    python = _grade("code", "```python\n" + "(" * 30_000 + "\n```", prompt="Write a function")
    assert python is not None
    assert python.score == 0.0


def test_deeply_nested_document_against_recursive_schema() -> None:
    rf = {
        "type": "json_schema",
        "json_schema": {"schema": {"type": "array", "items": {"$ref": "#"}}},
    }
    grade = _grade("extraction", "[" * 900 + "]" * 900, response_format=rf)
    assert grade is not None
    assert grade.grader == "json_schema"
    # past json_depth's bound: not valid JSON, never handed to the (recursive) validator
    assert (grade.score, grade.detail) == (
        0.0,
        "invalid JSON: JSON nested more than 128 levels deep",
    )
