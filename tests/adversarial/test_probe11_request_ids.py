"""Outside probe (eleventh session): the anthropic SDK reads a request's id from `request-id`
(an error's `request_id`, an answer's `_request_id`), the openai SDK from `x-request-id`. An
error of Arbiter's own (an unknown model, a bad body: no upstream answered) carried only
`x-request-id`, so the anthropic SDK's error had `request_id` None; and an unknown path (the
SDK's `messages.batches`, which Arbiter does not serve) carried no id at all. Every answer now
carries both, the answering upstream's id where there is one, else Arbiter's own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

ASK = [{"role": "user", "content": "hi"}]
Call = Callable[[anthropic.AsyncAnthropic], Awaitable[Any]]
BATCH = {"custom_id": "a", "params": {"model": "auto", "max_tokens": 10, "messages": ASK}}

ANTHROPIC_ERRORS: list[tuple[str, Call]] = [
    ("unknown model", lambda c: c.messages.create(model="nope", max_tokens=10, messages=ASK)),
    ("bad body", lambda c: c.messages.create(model="auto", max_tokens=10, messages=[])),
    (
        "bad stream",
        lambda c: c.messages.create(model="nope", max_tokens=9, messages=ASK, stream=True),
    ),
    ("count_tokens", lambda c: c.messages.count_tokens(model="nope", messages=ASK)),
    ("batches create", lambda c: c.messages.batches.create(requests=[BATCH])),  # type: ignore[list-item]
    ("batches retrieve", lambda c: c.messages.batches.retrieve("msgbatch_1")),
    ("models retrieve", lambda c: c.models.retrieve("nope")),
]


@pytest.mark.parametrize(("what", "call"), ANTHROPIC_ERRORS, ids=[w for w, _ in ANTHROPIC_ERRORS])
def test_the_anthropic_sdks_error_has_a_request_id(tmp_path: Path, what: str, call: Call) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (claude, _):
            with pytest.raises(anthropic.APIStatusError) as caught:
                await call(claude)
            err = caught.value
            assert 400 <= err.status_code < 500, what
            ours = err.response.headers["x-arbiter-request-id"]
            assert err.request_id == ours == err.response.headers["x-request-id"], what

    asyncio.run(main())


def test_the_openai_sdks_error_keeps_its_request_id(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            for call in (
                gpt.chat.completions.create(model="nope", messages=ASK),  # type: ignore[arg-type]
                gpt.batches.list(),  # an unknown path
            ):
                with pytest.raises(openai.APIStatusError) as caught:
                    await call
                err = caught.value
                assert err.request_id == err.response.headers["x-arbiter-request-id"]
                assert err.response.headers["request-id"] == err.request_id

    asyncio.run(main())


def test_an_answer_keeps_the_upstreams_id_in_both_headers(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (claude, gpt):
            raw = await claude.messages.with_raw_response.create(
                model="sim-small", max_tokens=10, messages=ASK
            )
            message = await raw.parse()
            assert message._request_id == raw.headers["x-request-id"]
            assert message._request_id.startswith("simreq_")  # the sim's, not Arbiter's
            chat = await gpt.chat.completions.create(model="sim-small", messages=ASK)  # type: ignore[arg-type]
            assert chat._request_id is not None and chat._request_id.startswith("simreq_")

    asyncio.run(main())
