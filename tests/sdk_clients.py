"""The official SDKs pointed at an in-process sidecar, and the checks every test shares: answers and
stream events validated against the SDK's own types.

The SDKs (anthropic >= 2.10, openai >= 3) run on `httpx2` and refuse an `httpx` client, so they
get their own httpx2 client on the same ASGI app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import orjson
from anthropic.types import ErrorResponse, Message, RawMessageStreamEvent
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import TypeAdapter

from tests.inproc import InProcess
from tests.openapi_spec import validate

STREAM_EVENT: TypeAdapter[RawMessageStreamEvent] = TypeAdapter(RawMessageStreamEvent)
ARBITER_HEADERS = (
    "x-arbiter-model",
    "x-arbiter-decision-id",
    "x-arbiter-task",
    "x-arbiter-cost-usd",
    "x-arbiter-baseline-cost-usd",
)
# a stream's headers leave before its cost is known: its worst case, named as reserved, and no
# baseline cost (the decision has both once the stream ends)
STREAM_HEADERS = tuple(
    "x-arbiter-cost-usd-reserved" if h == "x-arbiter-cost-usd" else h
    for h in ARBITER_HEADERS
    if h != "x-arbiter-baseline-cost-usd"
)


@asynccontextmanager
async def sdks(
    sc: InProcess, api_key: str | None = None, *, x_api_key: bool = False
) -> AsyncIterator[tuple[anthropic.AsyncAnthropic, openai.AsyncOpenAI]]:
    """`x_api_key`: the anthropic client sends its key as `x-api-key` only (what the SDK sent
    before 2.x, and what many clients send); otherwise as `Authorization: Bearer` (2.x)."""
    transport = httpx2.ASGITransport(app=sc.app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        key = api_key or sc.api_key
        claude = anthropic.AsyncAnthropic(
            api_key=None if x_api_key else key,
            default_headers={"x-api-key": key} if x_api_key else None,
            base_url="http://127.0.0.1",
            http_client=http,
            max_retries=0,
        )
        gpt = openai.AsyncOpenAI(
            api_key=key, base_url="http://127.0.0.1/v1", http_client=http, max_retries=0
        )
        yield claude, gpt


async def openai_stream_text(gpt: openai.AsyncOpenAI, model: str, messages: Any) -> str:
    """The text of a streamed chat completion, read through the SDK's chunks."""
    stream = await gpt.chat.completions.create(model=model, messages=messages, stream=True)
    text = ""
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
    return text


def sse(raw: bytes) -> list[tuple[str | None, bytes]]:
    """(event name, data) per SSE frame."""
    frames = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        if not block.strip():
            continue
        name, data = None, b""
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data += line[5:].strip()
        frames.append((name, data))
    return frames


def anthropic_events(raw: bytes) -> list[dict[str, Any]]:
    """An Anthropic stream's events, each validated by the SDK's RawMessageStreamEvent (an `error`
    event by its ErrorResponse); the frame's event name must match the data's type."""
    events = []
    for name, data in sse(raw):
        event = orjson.loads(data)
        assert name == event["type"], (name, event)
        if name == "error":
            ErrorResponse.model_validate(event)
        elif name != "ping":
            STREAM_EVENT.validate_python(event)
        events.append(event)
    return events


def openai_chunks(raw: bytes) -> tuple[list[dict[str, Any]], bool]:
    """An OpenAI stream's chunks (each validated by ChatCompletionChunk and the OpenAI spec) and
    whether it ended with [DONE]; an error frame is returned as is."""
    chunks, done = [], False
    for _, data in sse(raw):
        assert not done, "nothing may follow [DONE]"
        if data == b"[DONE]":
            done = True
            continue
        chunk = orjson.loads(data)
        if "error" not in chunk:
            ChatCompletionChunk.model_validate(chunk)
            validate("CreateChatCompletionStreamResponse", chunk)
        chunks.append(chunk)
    return chunks, done


def check_message(body: bytes) -> Message:
    return Message.model_validate(orjson.loads(body))


def check_completion(body: bytes) -> ChatCompletion:
    data = orjson.loads(body)
    validate("CreateChatCompletionResponse", data)
    return ChatCompletion.model_validate(data)


def check_anthropic_error(r: httpx.Response, status: int, kind: str) -> str:
    """`r` is Anthropic's error shape with this status and error type; returns its message."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == kind, r.text
    if kind != "request_too_large":  # Anthropic's 413 type; the SDK's error union lacks it
        ErrorResponse.model_validate(body)
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return str(body["error"]["message"])


async def sim_requests(sc: InProcess) -> int:
    """Requests the simulated pool has received (both protocols, judge calls included), once the
    sidecar's background calls to it are done: the judge grading earlier answers, and shadow
    traffic (graded too). A count taken while a judge call was still on its way made the
    `== before` checks fail by chance on a loaded machine (4 == 3)."""
    for _ in range(3):  # grading may start shadow calls, whose answers are graded in turn
        await sc.services.learner.drain()
        await sc.services.shadow.drain()
    async with httpx.AsyncClient() as c:
        r = await c.get(sc.sim.base_url.removesuffix("/v1") + "/_sim/stats")
    return int(r.json()["total_requests"])
