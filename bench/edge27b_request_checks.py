"""What edge27b's request-path additions cost, for code variants side by side (edge27's runner:
edge27_request_checks.py, ABAB rounds in child processes, ratios to the first variant): a chat
request's option checks (`check_options`, which now holds a strict json_schema
`response_format` to OpenAI's strict subset), the Responses decode of a strict `text.format`,
an OpenAI stream decoder's chunk (which now reads `service_tier`), and a legacy completions
parse (which now counts the choices an answer should hold).

    python bench/edge27b_request_checks.py --variant base=/work/wt/base27/python \
        --variant new=python
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edge27_request_checks as runner

TEXT = runner.TEXT


def _schema(k: int) -> dict[str, Any]:
    """A closed object of `k` properties, one of them a nested closed object with an array."""
    inner = {"type": "object", "additionalProperties": False, "required": ["day", "tags"],
             "properties": {"day": {"type": "string"},
                            "tags": {"type": "array", "items": {"type": "string"}}}}  # fmt: skip
    props: dict[str, Any] = {f"p{i}": {"type": "string"} for i in range(k - 1)}
    props["when"] = inner
    return {"type": "object", "additionalProperties": False, "required": list(props),
            "properties": props}  # fmt: skip


def cells() -> dict[str, Callable[[], Any]]:
    from arbiter.passthrough import parse
    from arbiter.protocols.openai_responses import decode_request
    from arbiter.protocols.openai_stream import StreamDecoder
    from arbiter.surfaces.openai_chat_options import check_options

    out: dict[str, Callable[[], Any]] = {}
    for k in (4, 40):
        schema = _schema(k)
        spec = {"name": "a", "schema": schema, "strict": True}
        chat = {"response_format": {"type": "json_schema", "json_schema": spec}}
        out[f"chat format {k} props"] = lambda b=chat: check_options(b)  # type: ignore[misc]
        body = {"model": "auto", "input": TEXT,
                "text": {"format": {"type": "json_schema", "name": "a", "schema": schema,
                                    "strict": True}}}  # fmt: skip
        out[f"responses decode {k}"] = lambda b=body: decode_request(b)  # type: ignore[misc]
    chunk = orjson.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1,
                          "model": "m", "service_tier": "default",
                          "choices": [{"index": 0, "delta": {"content": "word "}}]})  # fmt: skip
    decoder = StreamDecoder("m")
    decoder.feed(b"data: " + chunk)

    def feed() -> None:
        for _ in range(20):
            decoder.feed(b"data: " + chunk)

    out["stream 20 chunks"] = feed
    raw = orjson.dumps({"model": "m", "prompt": [TEXT, TEXT], "n": 2, "max_tokens": 16})
    out["completions parse"] = lambda: parse("completions", raw)
    return out


if __name__ == "__main__":
    runner.main(cells, __file__)
