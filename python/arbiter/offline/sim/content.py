"""Answer text for the simulated models: a good or a bad answer to a prompt, per task.

Good and bad answers differ in ways Arbiter's graders can check (ast.parse, JSON schema, the
`Answer:` line, relevance). Pure functions of their inputs and the Random they are handed.
"""

from __future__ import annotations

import ast
import json
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from random import Random
from typing import Any, Literal

from arbiter import linear
from arbiter.offline.sim import prose
from arbiter.offline.sim.tool_calls import local_ref
from arbiter.offline.workload import Solution, Task, terms_of

FinishReason = Literal["stop", "length", "tool_calls"]
REFUSAL = "I'm sorry, but I can't help with that."
_VAGUE = (
    "That's a great question! It really depends on many factors, and there is no single answer "
    "that fits everyone. Let me know if you have any other questions.",
    "There are many ways to look at this. It is a complex topic and opinions differ.",
    "Sure. In general, it depends on the situation.",
)
# Linear-time patterns (arbiter.linear): prompts come from the sidecar's clients.
_TASK_HINTS: tuple[tuple[Task, linear.Pattern], ...] = (
    ("code", linear.compile(r"(?i)\b(python|function|def |code|implement|script|regex|sql)\b")),
    ("translation", linear.compile(r"(?i)\btranslat")),
    ("summarization", linear.compile(r"(?i)\b(summari[sz]e|summary|tl;?dr)\b")),
    ("creative", linear.compile(r"(?i)\b(poem|haiku|story|limerick|verse|lyrics)\b")),
    ("math", linear.compile(r"(?i)\d\s*[-+*/×x÷]\s*\d|\bhow (many|much)\b.*\d|\bcalculate\b")),
)
_EXPR_RE = linear.compile(r"[\d(][\d\s.+\-*/()]*[\d)]")
_FUNCTION_NAME = linear.compile(r"\b(?:def\s+|function\s+`?|named\s+`?)([A-Za-z_]\w*)")
_OPS: Mapping[type[ast.AST], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


@dataclass(frozen=True, slots=True)
class Answer:
    content: str
    good: bool
    task: Task
    finish_reason: FinishReason = "stop"


def detect_task(prompt: str, response_format: Mapping[str, Any] | None) -> Task:
    """The task of a prompt that the workload does not know: simple keyword heuristics."""
    if response_format and response_format.get("type") in ("json_schema", "json_object"):
        return "extraction"
    for task, pattern in _TASK_HINTS:
        if pattern.search(prompt):
            return task
    return "chat"


def generate(
    prompt: str,
    solution: Solution | None,
    task: Task,
    response_format: Mapping[str, Any] | None,
    good: bool,
    rng: Random,
) -> Answer:
    """A good or bad answer to `prompt`; `solution` is the workload's when it recognised it."""
    if task == "math":
        return _math(prompt, solution, good, rng)
    if task == "code":
        return _code(prompt, solution, good, rng)
    if task == "extraction":
        return _extraction(solution, response_format, good, rng)
    if task == "translation" and solution is not None:
        return _translation(solution, good, rng)
    return _open(prompt, solution, task, good, rng)


# ---------------------------------------------------------------------------------------------


def _wrong_number(truth: int, rng: Random) -> int:
    delta = rng.choice((1, 2, 3, 5, 10, -1, -2, -10))
    wrong = truth + delta
    return wrong if wrong >= 0 and wrong != truth else truth + 7


def _math(prompt: str, solution: Solution | None, good: bool, rng: Random) -> Answer:
    if solution is not None and solution.truth is not None:
        truth, steps = int(solution.truth), solution.reference.split("\n")
    else:
        value = _eval_arithmetic(prompt)
        truth = int(value) if value is not None else len(prompt) % 97
        steps = [f"Working through the numbers in the question gives {truth}."]
    intro = "Let's work through it step by step."
    if good:
        return Answer("\n".join([intro, *steps, f"Answer: {truth}"]), True, "math")
    wrong = _wrong_number(truth, rng)
    last = steps[-1]
    cut = last.rfind(str(truth))
    slipped = (
        [*steps[:-1], last[:cut] + str(wrong) + last[cut + len(str(truth)) :]]
        if cut >= 0
        else steps
    )
    if rng.random() < 0.2:
        text = "\n".join([intro, *slipped[:-1], "I am not sure how to finish this one."])
        return Answer(text, False, "math")
    return Answer("\n".join([intro, *slipped, f"Answer: {wrong}"]), False, "math")


def _eval_arithmetic(prompt: str) -> float | None:
    """The value of the longest plain arithmetic expression in the prompt (+ - * / only)."""
    text = prompt.replace("×", "*").replace("÷", "/")
    candidates = sorted(_EXPR_RE.findall(text), key=len, reverse=True)
    for expr in candidates:
        try:
            value = _eval_node(ast.parse(expr.strip(), mode="eval").body)
        except (SyntaxError, ValueError, ArithmeticError, RecursionError, MemoryError):
            continue
        if value is not None and any(op in expr for op in "+-*/"):
            return value
    return None


def _eval_node(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return float(_OPS[type(node.op)](_eval_node(node.left), _eval_node(node.right)))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval_node(node.operand)
    raise ValueError("not plain arithmetic")


# ---------------------------------------------------------------------------------------------


def _code(prompt: str, solution: Solution | None, good: bool, rng: Random) -> Answer:
    if solution is not None and solution.truth is not None:  # a JSON-data request
        body = solution.reference
        if not good:
            body = body.rstrip().rstrip("]}").rstrip() + ("," if rng.random() < 0.5 else "")
        return Answer(f"```json\n{body}\n```", good, "code")
    if solution is not None:
        source, name = solution.reference, solution.key_terms[0]
    else:
        name = _function_name(prompt)
        source = (
            f'def {name}(*args):\n    """Handle the request described in the prompt."""\n'
            "    result = list(args)\n    return result"
        )
    explain = f"The function `{name}` handles the edge cases and runs in linear time or better."
    if good:
        return Answer(
            f"Here is an implementation:\n\n```python\n{source}\n```\n\n{explain}", True, "code"
        )
    if rng.random() < 0.5:
        broken = source.replace("):\n", ")\n", 1)  # the def line loses its colon
        return Answer(
            f"Here is an implementation:\n\n```python\n{broken}\n```\n\n{explain}", False, "code"
        )
    half = source[: max(12, len(source) // 2)]
    return Answer(f"Here is an implementation:\n\n```python\n{half}", False, "code", "length")


def _function_name(prompt: str) -> str:
    match = _FUNCTION_NAME.search(prompt)
    return (match.group(1) or "solve") if match else "solve"


# ---------------------------------------------------------------------------------------------


def _extraction(
    solution: Solution | None,
    response_format: Mapping[str, Any] | None,
    good: bool,
    rng: Random,
) -> Answer:
    if solution is not None and solution.truth is not None:
        value: Any = json.loads(solution.truth)
    else:
        value = _instance(_schema_of(response_format), rng)
    if good:
        return Answer(json.dumps(value), True, "extraction")
    roll = rng.random()
    if roll < 0.35 or not isinstance(value, dict) or not value:
        text = json.dumps(value)
        return Answer(text[: max(1, len(text) - rng.randint(2, 6))], False, "extraction")
    broken = dict(value)
    key = sorted(broken)[rng.randrange(len(broken))]
    if roll < 0.7:
        del broken[key]  # a required key is missing
    else:
        broken[key] = str(broken[key]) if not isinstance(broken[key], str) else None
    return Answer(json.dumps(broken), False, "extraction")


def _schema_of(response_format: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if response_format and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema")
        if isinstance(spec, Mapping) and isinstance(spec.get("schema"), Mapping):
            schema: Mapping[str, Any] = spec["schema"]
            return schema
    return {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


def _instance(schema: Mapping[str, Any], rng: Random, depth: int = 0, root: Any = None) -> Any:
    """A small value that validates against a JSON schema as clients' SDKs write them: a local
    `$ref` is followed (pydantic's nested models, `#/$defs/X`) and `anyOf`/`oneOf` take their
    first branch that is not null (pydantic's Optional), without a draw: the draws of schemas
    without them stay as they were."""
    root = schema if root is None else root
    if "$ref" in schema and depth < 8:
        return _instance(local_ref(schema, root), rng, depth + 1, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        branches = [b for b in schema.get(key) or () if isinstance(b, Mapping)]
        if branches and depth < 8:
            branch = next((b for b in branches if b.get("type") != "null"), branches[0])
            return _instance(branch, rng, depth + 1, root)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" and depth < 4:
        props = schema.get("properties", {})
        return {
            k: _instance(v, rng, depth + 1, root)
            for k, v in props.items()
            if isinstance(v, Mapping)
        }
    if kind == "array" and depth < 4:
        items = schema.get("items", {})
        return [_instance(items, rng, depth + 1, root)] if isinstance(items, Mapping) else []
    if kind == "null":
        return None
    defaults: dict[str, Any] = {
        "string": "example",
        "integer": rng.randint(1, 99),
        "number": round(rng.uniform(1, 99), 2),
        "boolean": True,
    }
    return defaults.get(str(kind))


# ---------------------------------------------------------------------------------------------


def _translation(solution: Solution, good: bool, rng: Random) -> Answer:
    lang = solution.params["lang"]
    if good:
        return Answer(f'In {lang}: "{solution.reference}"', True, "translation")
    roll = rng.random()
    if roll < 0.4:
        return Answer(f'In {lang}: "{solution.params["sentence"]}"', False, "translation")
    if roll < 0.7:
        return Answer(REFUSAL, False, "translation")
    return Answer("Translation is difficult without more context.", False, "translation")


def _open(prompt: str, solution: Solution | None, task: Task, good: bool, rng: Random) -> Answer:
    text = prose.compose(prompt, solution, task, rng)
    if good:
        return Answer(text, True, task)
    roll = rng.random()
    if roll < 0.25:
        return Answer(REFUSAL, False, task)
    if roll < 0.5:
        return Answer(_VAGUE[rng.randrange(len(_VAGUE))], False, task)
    if roll < 0.75:
        return Answer(prose.off_topic(terms_of(prompt), rng), False, task)
    cut = text[: max(20, int(len(text) * rng.uniform(0.25, 0.5)))].rstrip(" .,;:!?\n")
    return Answer(cut, False, task, "length")
