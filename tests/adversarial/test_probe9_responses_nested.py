"""Outside probe (ninth session): /v1/responses refuses an unknown top-level parameter
("Unknown parameter: 'X'"), but a misspelled field inside `reasoning` or `text`
(`reasoning: {"efort": "high"}`, `text: {"fromat": {...}}`) or an `include` value the API does
not have was taken without a word: the request ran without the effort or the output format
the caller believed it had asked for. Each is now a 400 naming the field (the spec's Reasoning
and ResponseTextParam properties, its IncludeEnum values); the known ones still pass."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sim_requests

REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"reasoning": {"efort": "high"}}, "reasoning.efort"),
    ({"reasoning": {"effort": "low", "sumary": "auto"}}, "reasoning.sumary"),
    ({"text": {"fromat": {"type": "json_object"}}}, "text.fromat"),
    ({"include": ["reasoning.encrypted_contents"]}, "include"),
    ({"include": ["message.output_text"]}, "include"),
    ({"include": [["reasoning.encrypted_content"]]}, "include"),
    ({"include": [{"a": 1}]}, "include"),
]
ACCEPTED: list[dict[str, Any]] = [
    {"reasoning": {"summary": "auto", "generate_summary": None}},
    {"text": {"format": {"type": "text"}, "verbosity": "low"}},
    {"include": ["reasoning.encrypted_content", "message.input_image.image_url"]},
]


def test_misspelled_nested_fields_are_a_400_naming_them(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            before = await sim_requests(sc)
            for extra, param in REFUSED:
                body = {"model": "sim-small", "input": "Say hi.", **extra}
                r = await sc.client.post("/v1/responses", json=body, headers=sc.auth)
                assert r.status_code == 400, (extra, r.text)
                assert r.json()["error"]["param"] == param, r.text
            assert await sim_requests(sc) == before
            for extra in ACCEPTED:
                body = {"model": "sim-small", "input": "Say hi.", **extra}
                r = await sc.client.post("/v1/responses", json=body, headers=sc.auth)
                assert r.status_code == 200, (extra, r.text)

    asyncio.run(main())
