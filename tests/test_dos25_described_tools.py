"""dos25: the judge's question lists the tools offered, cut at 3,000 characters; every schema was
dumped first, on the event loop after each answer (20,000 tools offered: 20,000 schemas, 0.1-0.2 s
of loop time a request in a profile, for the same 3,000 characters). Only the tools that reach
the cut are written now; the text is what it was."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from arbiter.answer_choices import OfferedTools
from arbiter.grading_tools import describe_tools


class _Counted(Mapping[str, Any]):
    """A tools mapping that counts the schemas read."""

    def __init__(self, schemas: dict[str, Any]) -> None:
        self._schemas, self.read = schemas, 0

    def __getitem__(self, name: str) -> Any:
        self.read += 1
        return self._schemas[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._schemas)

    def __len__(self) -> int:
        return len(self._schemas)


def _tools(n: int, rng: random.Random) -> dict[str, Any]:
    props = {"type": "object", "properties": {"a": {"type": "string"}}}
    return {f"f{i}": None if rng.random() < 0.2 else props for i in range(n)}


def _whole(tools: OfferedTools) -> str:
    """The text as it was written before: every tool, then the cut."""
    lines = ["The assistant may answer by calling one of these tools:"]
    for name, schema in tools.schemas.items():
        text = "(no schema)" if schema is None else orjson.dumps(schema).decode()
        lines.append(f"- {name}: {text}")
    if tools.forced is not None:
        lines.append(f"The request forced a call to {tools.forced}.")
    out = "\n".join(lines)
    return out if len(out) <= 3000 else out[:3000] + " …"


def test_many_tools_read_only_what_reaches_the_cut() -> None:
    counted = _Counted(_tools(20_000, random.Random(1)))
    text = describe_tools(OfferedTools(counted))
    assert len(text) <= 3002
    assert counted.read < 200  # ~60 lines fit in 3,000 characters (before: all 20,000)


def test_the_text_is_what_it_was() -> None:
    rng = random.Random(5)
    for n in (0, 1, 3, 40, 41, 60, 200, 2_000):
        for forced in (None, "f0"):
            tools = OfferedTools(_tools(n, rng), forced=forced)
            assert describe_tools(tools) == _whole(tools), (n, forced)
