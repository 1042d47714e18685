"""An Anthropic upstream that answers HTTP 200 and then an `error` event whose type names the
request's fault (invalid_request_error), in process against the mock (tests/anthropic_mock.py)
with the simulator's `sim-small` as the only fallback.

It was read as an outage: a plain UpstreamError, retried, counted against the model's circuit
and failed over (a routed request got another model's answer to a request the first had refused;
a pinned one a 502 after every retry). Now it is classified as the HTTP error of that type:
before any content, the caller's 400 in its surface's shape, one call, no failover, the circuit
untouched; after content, the stream ends with one error event of that type, nothing sent lost
or repeated, and the circuit is still untouched. api_error events still fail over (here), as
overloaded_error events do (test_failover_anthropic.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from tests import anthropic_mock
from tests.anthropic_mock import TEXT, AnthropicMock
from tests.inproc import InProcess
from tests.sdk_clients import anthropic_events, openai_chunks, sdks
from tests.test_failover_anthropic import (
    CLAUDE,
    FALLBACK,
    USER,
    attempts,
    call,
    run,
    sent_to_mock,
)


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


@pytest.mark.parametrize("model", ["auto", CLAUDE])
def test_an_invalid_request_error_event_before_content_is_the_callers_400(
    tmp_path: Path, mock: AnthropicMock, model: str
) -> None:
    fault = "invalid-event-early"

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, gpt):
            before = len(sent_to_mock(mock, fault))
            with pytest.raises(anthropic.BadRequestError) as a_err:
                await claude.messages.create(
                    model=model, max_tokens=200, messages=USER,  # type: ignore[arg-type]
                    stream=True,
                )  # fmt: skip
            assert a_err.value.status_code == 400
            assert isinstance(a_err.value.body, dict)
            assert a_err.value.body["error"]["type"] == "invalid_request_error", a_err.value.body
            assert len(sent_to_mock(mock, fault)) == before + 1, "not retried, not failed over"
            with pytest.raises(openai.BadRequestError) as o_err:
                await gpt.chat.completions.create(
                    model=model, messages=USER,  # type: ignore[arg-type]
                    stream=True,
                )  # fmt: skip
            assert o_err.value.type == "invalid_request_error", o_err.value.body
            assert len(sent_to_mock(mock, fault)) == before + 2
            assert CLAUDE not in sc.services.breaker.state(), "the model is up: the request erred"

    run(tmp_path, mock, fault, body)


@pytest.mark.parametrize("surface", ["anthropic", "openai"])
def test_an_invalid_request_error_event_after_content_ends_the_stream_as_that_error(
    tmp_path: Path, mock: AnthropicMock, surface: str
) -> None:
    fault = "invalid-event"
    first_word = TEXT.split(" ")[0]

    async def body(sc: InProcess) -> None:
        r = await call(sc, surface, True)
        assert r.status_code == 200 and r.headers["x-arbiter-model"] == CLAUDE
        if surface == "anthropic":
            events = anthropic_events(r.content)
            kinds = [e["type"] for e in events]
            assert kinds == [
                "message_start", "ping", "content_block_start", "content_block_delta", "error",
            ], kinds  # fmt: skip
            assert events[3]["delta"]["text"] == first_word, "sent once, as it came"
            assert events[-1]["error"]["type"] == "invalid_request_error", events[-1]
        else:
            chunks, done = openai_chunks(r.content)
            assert not done
            text = "".join(
                c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices")
            )
            assert text == first_word, "sent once, as it came"
            assert sum("error" in c for c in chunks) == 1 and "error" in chunks[-1], chunks
            assert chunks[-1]["error"]["type"] == "invalid_request_error", chunks[-1]
        tried, row = await attempts(sc, r)
        assert row["status"] == "failed" and row["chosen_model"] == CLAUDE, row
        assert tried[-1]["error"] == "upstream_rejected", tried
        assert CLAUDE not in sc.services.breaker.state(), "not counted against the model"

    run(tmp_path, mock, fault, body)


@pytest.mark.parametrize("surface", ["anthropic", "openai"])
def test_an_api_error_event_before_content_still_fails_over(
    tmp_path: Path, mock: AnthropicMock, surface: str
) -> None:
    fault = "api-event-early"

    async def body(sc: InProcess) -> None:
        before = len(sent_to_mock(mock, fault))
        r = await call(sc, surface, True)
        assert r.status_code == 200 and r.headers["x-arbiter-model"] == FALLBACK, r.text
        tried, _ = await attempts(sc, r)
        failed = [a for a in tried if a["model"] == CLAUDE]
        assert failed and {a["error"] for a in failed} == {"upstream_error"}, tried
        assert len(sent_to_mock(mock, fault)) > before
        assert sc.services.breaker.state()[CLAUDE]["consecutive_failures"] >= 1

    run(tmp_path, mock, fault, body)
