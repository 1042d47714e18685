"""Outside probe (ninth session): an OpenAI function tool whose `parameters` schema is not an
object schema (`{"type": "string"}`, or an object schema that leaves out `"type"`), on a chat
or Responses request answered by an Anthropic-protocol model. Anthropic's `input_schema` must
say `"type": "object"` (the SDK's InputSchemaTyped), and the translation sent the schema as it
came: a 400 from the upstream after routing (`upstream_rejected`, a failed decision). A schema
that only leaves `type` out (properties and all) now gets `"type": "object"`; one of another
type keeps Anthropic models out of the choice (a 400 naming it when pinned, before any call),
and `auto` routes it to a model that takes it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sim_requests

CLAUDE = "sim-medium"
HI = [{"role": "user", "content": "hi"}]
STRING_SCHEMA = {"type": "string"}
UNTYPED = {"properties": {"city": {"type": "string"}}, "required": ["city"]}


def _chat(model: str, schema: dict[str, Any]) -> dict[str, Any]:
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    return {"model": model, "messages": HI, "tools": [tool]}


def _responses(model: str, schema: dict[str, Any]) -> dict[str, Any]:
    tool = {"type": "function", "name": "f", "parameters": schema}
    return {"model": model, "input": "hi", "tools": [tool]}


def test_a_non_object_tool_schema_never_reaches_an_anthropic_model(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, anthropic_models=(CLAUDE,)) as sc:
            for path, body in (("/v1/chat/completions", _chat), ("/v1/responses", _responses)):
                before = await sim_requests(sc)
                r = await sc.client.post(path, json=body(CLAUDE, STRING_SCHEMA), headers=sc.auth)
                assert r.status_code == 400, r.text
                assert "object" in r.json()["error"]["message"], r.text
                assert await sim_requests(sc) == before
                for _ in range(4):
                    r = await sc.client.post(
                        path, json=body("auto", STRING_SCHEMA), headers=sc.auth
                    )
                    assert r.status_code == 200, r.text
                    assert r.headers["x-arbiter-model"] != CLAUDE
                r = await sc.client.post(path, json=body(CLAUDE, UNTYPED), headers=sc.auth)
                assert r.status_code == 200, r.text

    asyncio.run(main())
