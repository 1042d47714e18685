"""The `json` capability is enforced: a request with response_format json_object / json_schema is
routed only to models that have it (the others ineligible, with the reason), and a model named
without it is a 400 naming response_format, in the surface's error shape (the official SDK
raises BadRequestError)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai
import pytest

from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import sdks

NO_JSON = ("sim-tiny", "sim-small")
ASK = [{"role": "user", "content": "List three colours as a JSON object."}]
SCHEMA = {
    "type": "json_schema",
    "json_schema": {"name": "colours", "schema": {"type": "object"}},
}


def without_json(text: str) -> str:
    for name in NO_JSON:
        i = text.index("capabilities = ", text.index(f"[models.{name}]\n"))
        text = text[:i] + 'capabilities = ["chat", "tools"]' + text[text.index("\n", i) :]
    return text


def run(tmp_path: Path, body: object) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=without_json) as sc:
            await body(sc)  # type: ignore[operator]

    asyncio.run(main())


@pytest.mark.parametrize("response_format", [{"type": "json_object"}, SCHEMA])
def test_json_requests_route_only_to_models_with_json(
    tmp_path: Path, response_format: dict[str, object]
) -> None:
    async def body(sc: InProcess) -> None:
        for _ in range(4):
            req = {"model": "auto", "messages": ASK, "response_format": response_format}
            r = await sc.client.post("/v1/chat/completions", json=req, headers=sc.auth)
            assert r.status_code == 200, r.text
            assert r.headers["x-arbiter-model"] not in NO_JSON
            row = (
                await sc.client.get(
                    f"/arbiter/decisions/{r.headers['x-arbiter-decision-id']}", headers=sc.admin
                )
            ).json()
            why = {c["model"]: c["why_not"] for c in row["candidates"] if not c["eligible"]}
            assert {m: why.get(m) for m in NO_JSON} == dict.fromkeys(NO_JSON, "lacks json")
        # text requests still go anywhere
        plain = {"model": "auto", "messages": ASK, "response_format": {"type": "text"}}
        r = await sc.client.post("/v1/chat/completions", json=plain, headers=sc.auth)
        assert r.status_code == 200

    run(tmp_path, body)


def test_a_named_model_without_json_is_a_400(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        req = {"model": "sim-small", "messages": ASK, "response_format": {"type": "json_object"}}
        r = await sc.client.post("/v1/chat/completions", json=req, headers=sc.auth)
        assert r.status_code == 400
        err = r.json()["error"]
        assert err["param"] == "response_format" and "lacks the `json` capability" in err["message"]
        async with sdks(sc) as (_, gpt):
            with pytest.raises(openai.BadRequestError) as caught:
                await gpt.chat.completions.create(
                    model="sim-small", messages=ASK,  # type: ignore[arg-type]
                    response_format={"type": "json_object"},
                )  # fmt: skip
            assert caught.value.param == "response_format"
            ok = await gpt.chat.completions.create(
                model="sim-medium", messages=ASK,  # type: ignore[arg-type]
                response_format={"type": "json_object"},
            )  # fmt: skip
            assert ok.choices[0].message.content is not None

    run(tmp_path, body)
