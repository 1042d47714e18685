"""Outside probe: an OpenAI-protocol upstream that answers a STREAMING request with an error object
at HTTP 200, as a JSON body (`{"error": {"code": "context_length_exceeded", ...}}`) or as the
stream's first `data:` event. The same error answered with its HTTP status (400, 429) is
classified by its code: a context-length or invalid request is the caller's 4xx, never retried;
a rate limit is retried and fails over. At HTTP 200 it was one retryable "error in the stream"
whatever its code: a context-length error was retried (and failed over to models with the same
window) and an invalid request came back a 502 after every retry. One classifier now reads both
(upstream/openai_errors.py), and a non-streaming answer with such a body too."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from arbiter.errors import UpstreamError, UpstreamRateLimited, UpstreamRejected
from arbiter.upstream.openai_errors import error_in_answer, http_error
from tests import anthropic_mock
from tests.adversarial.test_probe_upstream_sse import _with_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process

USER = [{"role": "user", "content": "Say hello."}]
# code -> (the status it stands for, the client's status, attempts on the one named model)
CASES = {
    "context_length_exceeded": (400, 400, 1),
    "invalid_request_error": (400, 400, 1),
    "rate_limit_exceeded": (429, 429, 2),  # retried (retries_per_model = 1)
}


def _error(code: str) -> dict[str, Any]:
    kind = "requests" if code == "rate_limit_exceeded" else "invalid_request_error"
    return {"error": {"message": "secret words", "type": kind, "param": "messages", "code": code}}


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


@pytest.mark.parametrize("code", sorted(CASES))
def test_one_classifier_for_an_error_at_200_and_with_its_status(code: str) -> None:
    status = CASES[code][0]
    raw = orjson.dumps(_error(code))
    with_status = http_error("m", status, raw)
    at_200 = error_in_answer("m", orjson.loads(raw), raw)
    assert type(at_200) is type(with_status)
    assert isinstance(at_200, UpstreamRateLimited if status == 429 else UpstreamRejected)
    assert at_200.http_status == with_status.http_status == status
    assert code in at_200.message and "secret" not in at_200.message


def test_an_error_object_no_word_places_stays_a_retryable_upstream_error() -> None:
    body = {"error": {"message": "hmm", "code": "something_new"}}
    err = error_in_answer("m", body, orjson.dumps(body))
    assert type(err) is UpstreamError and "something_new" in err.message
    numeric = {"error": {"message": "upstream said", "code": 429}}  # OpenRouter's numeric codes
    assert isinstance(error_in_answer("m", numeric, b"{}"), UpstreamRateLimited)


def _sse(body: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(body) + b"\n\n"


@pytest.mark.parametrize("code", sorted(CASES))
@pytest.mark.parametrize("shape", ["json-body", "sse-event"])
def test_a_streamed_error_at_200_is_classified_like_the_same_error_not_streamed(
    tmp_path: Path, mock: AnthropicMock, code: str, shape: str
) -> None:
    _, client_status, tries = CASES[code]
    mock.openai_reply = _error(code)
    mock.replay_body = _sse(_error(code))
    behaviour = "openai-reply" if shape == "json-body" else "replay"

    async def main() -> None:
        edit = _with_mock(mock, "openai", behaviour)
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
            for stream in (True, False):
                if shape == "sse-event" and not stream:
                    continue  # the mock's replay is a stream's body
                body = {"model": "oa-mock", "messages": USER, "stream": stream}
                r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
                assert r.status_code == client_status, (stream, r.text)
                error = r.json()["error"]
                assert code in error["message"] and "secret" not in error["message"], r.text
                if client_status == 400:
                    assert error["code"] == "upstream_rejected" and error["param"] == "messages"
                sc.services.recorder.flush(5.0)
                got = await sc.client.get("/arbiter/decisions?limit=1", headers=sc.admin)
                attempts = got.json()["data"][0]["attempts"]
                assert len(attempts) == tries, (stream, attempts)

    asyncio.run(main())
