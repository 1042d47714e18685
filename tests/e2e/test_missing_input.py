"""A request without its required `input` (/v1/embeddings, /v1/responses) or `messages` (chat)
is OpenAI's 400 "Missing required parameter: 'input'." with code `missing_required_parameter`.
Arbiter said "input: Input should be a list" (its check of a value's type), which sends the
caller looking for a wrong value it never sent. Checked with the official openai SDK, which
sends what it is given (`extra_body` carries a null where its types require the field); the
same field present still answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from tests.inproc import InProcess, run_with_claude
from tests.sdk_clients import sdks, sim_requests


async def _refused(call: Any, param: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await call
    err = info.value.body
    assert isinstance(err, dict), err
    assert err["message"] == f"Missing required parameter: '{param}'.", err
    assert err["param"] == param and err["code"] == "missing_required_parameter", err
    assert err["type"] == "invalid_request_error", err


def test_a_missing_input_is_named_as_required(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            before = await sim_requests(sc)
            post = gpt.post
            for path in ("/embeddings", "/responses"):
                # absent: the SDK's create() requires it, so the raw call sends the body as is
                await _refused(post(path, body={"model": "sim-small"}, cast_to=object), "input")
                await _refused(  # null, as a client that fills every field sends it
                    post(path, body={"model": "sim-small", "input": None}, cast_to=object),
                    "input",
                )
            await _refused(
                post("/chat/completions", body={"model": "sim-small"}, cast_to=object),
                "messages",
            )
            assert await sim_requests(sc) == before, "nothing reached an upstream"
            # a wrong type is still named as such
            with pytest.raises(openai.BadRequestError) as info:
                await gpt.responses.create(model="sim-small", input={"x": 1})  # type: ignore[arg-type]
            assert isinstance(info.value.body, dict)
            assert info.value.body["code"] != "missing_required_parameter", info.value.body
            # present: answered
            vectors = await gpt.embeddings.create(model="sim-small", input="hello")
            assert vectors.data
            answer = await gpt.responses.create(model="sim-small", input="Say hi.")
            assert answer.output

    run_with_claude(tmp_path, body)
