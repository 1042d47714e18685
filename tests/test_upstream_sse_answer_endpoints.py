"""An event stream answering a non-streaming /v1/completions or /v1/embeddings request (mends18a).
Chat and messages fold such a stream into the one answer (tests/test_upstream_sse_answer.py);
the pass-through endpoints read it as JSON, so a legacy completion an upstream streamed though
not asked was a 502 "malformed answer". A complete completions stream is now folded into the
`text_completion` it stands for (the same fold, read by the same stream class and limits); a
stream that breaks off stays a 502. Embeddings have no stream form in the protocol, so a stream
there is refused as what it is: a 502 that says the upstream answered with an event stream.
Clients are the official openai SDK."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from tests.inproc import InProcess, raw_openai_upstream, recorded_decision
from tests.sdk_clients import sdks
from tests.test_upstream_sse_answer import NO_TYPE, SSE, _served

pytestmark = pytest.mark.timeout(90)


def _legacy_sse(*, done: bool = True, events_kept: int = 3) -> bytes:
    base = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m"}
    events = [
        {**base, "choices": [{"index": 0, "text": "Once", "logprobs": None,
                              "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "text": " upon", "logprobs": None,
                              "finish_reason": "length"}]},
        {**base, "choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 2,
                                          "total_tokens": 4}},
    ]  # fmt: skip
    body = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events[:events_kept])
    return body + (b"data: [DONE]\n\n" if done else b"")


def test_a_completions_stream_answering_a_whole_request_is_folded(tmp_path: Path) -> None:
    async def ask(sc: InProcess) -> tuple[Any, dict[str, Any]]:
        async with sdks(sc) as (_, gpt):
            raw = await gpt.completions.with_raw_response.create(
                model="oa-raw", prompt="Tell", max_tokens=2
            )
            decision = await recorded_decision(sc, raw.headers["x-arbiter-decision-id"])
            return raw.parse(), decision

    for head in (SSE, NO_TYPE):
        (completion, decision), calls = asyncio.run(
            _served(tmp_path / str(len(head)), raw_openai_upstream, head, _legacy_sse(), ask)
        )
        assert completion.object == "text_completion" and completion.id == "cmpl-1"
        (choice,) = completion.choices
        assert choice.text == "Once upon" and choice.finish_reason == "length"
        assert completion.usage is not None and completion.usage.completion_tokens == 2
        assert decision["status"] == "ok" and decision["completion_tokens"] == 2, decision
        assert calls == [1]


def _failure(tmp_path: Path, body: bytes, endpoint: str) -> openai.APIStatusError:
    async def ask(sc: InProcess) -> openai.APIStatusError:
        async with sdks(sc) as (_, gpt):
            try:
                if endpoint == "completions":
                    await gpt.completions.create(model="oa-raw", prompt="Tell", max_tokens=2)
                else:
                    await gpt.embeddings.create(model="oa-raw", input="Tell")
            except openai.APIStatusError as err:
                return err
        raise AssertionError("answered")

    err, calls = asyncio.run(_served(tmp_path, raw_openai_upstream, SSE, body, ask))
    assert calls == [1]
    return err


def test_a_completions_stream_that_breaks_off_stays_an_upstream_error(tmp_path: Path) -> None:
    err = _failure(tmp_path, _legacy_sse(done=False, events_kept=1), "completions")
    assert err.status_code == 502 and "ended early" in err.message, err.message


def test_an_embeddings_stream_is_refused_as_what_it_is(tmp_path: Path) -> None:
    err = _failure(tmp_path, _legacy_sse(), "embeddings")
    assert err.status_code == 502, err
    assert "event stream" in err.message and "/embeddings" in err.message, err.message
