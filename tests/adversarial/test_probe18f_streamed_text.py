"""Outside probe (eighteenth session, spec-driven fuzz): random Unicode text (4-byte emoji and
ZWJ sequences, RTL marks and overrides, combining marks, NUL and other controls, BOMs, CJK) that
an OpenAI-protocol upstream streams in chunks cut anywhere, a character's UTF-16 halves included
(`\\ud83d` ending one chunk's JSON string, `\\ude00` opening the next, as a JavaScript server
cuts them), reaches the client whole and unchanged on chat completions, the Responses API and
Anthropic's Messages API (translated): the concatenated deltas equal the text, and so does each
surface's answer to a non-streaming request that the upstream answered with that stream
(folded). Bounded: a fixed, derandomized number of examples against one in-process sidecar,
each example timed (nothing near the deadline)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import anthropic_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import anthropic_events, openai_chunks, sse
from tests.test_signals_choices import GPT, with_openai_mock

SPECIAL = ["\U0001f600", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\u200f", "\u202e",
           "e\u0301", "\x00", "\x1f", "\ufeff", "\u65e5\u672c", "\U0001d518", "\\", '"',
           "\n"]  # fmt: skip
TEXT = st.lists(
    st.one_of(st.sampled_from(SPECIAL), st.text(min_size=1, max_size=3)), min_size=1, max_size=12
).map("".join)
EXAMPLES = 40
SLOW_S = 5.0  # one request of these (a few hundred bytes) taking this long would be a defect


def _units(text: str) -> list[str]:
    """The text as JSON string pieces, one per UTF-16 code unit (a 4-byte character is two
    escapes that a chunk boundary may separate)."""
    out = []
    for ch in text:
        if ch.isascii() and ch.isprintable() and ch not in '"\\':
            out.append(ch)
            continue
        raw = ch.encode("utf-16-le")
        for i in range(0, len(raw), 2):
            out.append(f"\\u{int.from_bytes(raw[i : i + 2], 'little'):04x}")
    return out


def _stream(text: str, cuts: list[int]) -> bytes:
    units = _units(text)
    bounds = sorted({c % (len(units) + 1) for c in cuts} | {0, len(units)})
    frames = []
    for start, end in itertools.pairwise(bounds):
        content = "".join(units[start:end])
        frames.append(
            b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
            b'"choices":[{"index":0,"delta":{"content":"' + content.encode() + b'"},'
            b'"finish_reason":null}]}\n\n'
        )
    frames.append(
        b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
        b'[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    )
    return b"".join(frames)


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


async def _texts(sc: InProcess) -> dict[str, str]:
    """Each surface's streamed text of the mock's replayed answer."""
    user = [{"role": "user", "content": "q"}]
    out: dict[str, str] = {}
    r = await sc.client.post(
        "/v1/chat/completions", json={"model": GPT, "messages": user, "stream": True},
        headers=sc.auth,
    )  # fmt: skip
    chunks, done = openai_chunks(r.content)
    assert done, r.text
    out["chat"] = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks
                          if c.get("choices"))  # fmt: skip
    r = await sc.client.post(
        "/v1/responses", json={"model": GPT, "input": "q", "stream": True}, headers=sc.auth
    )
    events = [orjson.loads(data) for _, data in sse(r.content)]
    assert events[-1]["type"] == "response.completed", events[-1]
    out["responses"] = "".join(e["delta"] for e in events
                               if e["type"] == "response.output_text.delta")  # fmt: skip
    done_text = [e["text"] for e in events if e["type"] == "response.output_text.done"]
    assert done_text == [out["responses"]], (done_text, out["responses"])
    r = await sc.client.post(
        "/v1/messages", json={"model": GPT, "max_tokens": 50, "messages": user, "stream": True},
        headers=sc.anthropic,
    )  # fmt: skip
    out["messages"] = "".join(
        e["delta"]["text"] for e in anthropic_events(r.content)
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta"
    )  # fmt: skip
    # a non-streaming request answered with an event stream: folded into one answer
    r = await sc.client.post(
        "/v1/chat/completions", json={"model": GPT, "messages": user}, headers=sc.auth
    )
    out["chat folded"] = r.json()["choices"][0]["message"]["content"]
    r = await sc.client.post("/v1/responses", json={"model": GPT, "input": "q"}, headers=sc.auth)
    out["responses folded"] = r.json()["output"][0]["content"][0]["text"]
    r = await sc.client.post(
        "/v1/messages", json={"model": GPT, "max_tokens": 50, "messages": user},
        headers=sc.anthropic,
    )  # fmt: skip
    out["messages folded"] = r.json()["content"][0]["text"]
    return out


def test_streamed_text_cut_anywhere_reaches_every_surface_whole(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    edit = with_openai_mock(mock)

    async def main() -> None:
        config = lambda text: edit(text).replace('"openai-reply"', '"replay"')  # noqa: E731
        async with sidecar_in_process(tmp_path, edit_config=config) as sc:
            loop_of = asyncio.get_running_loop()
            slow: list[tuple[float, str]] = []

            @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                      suppress_health_check=list(HealthCheck))  # fmt: skip
            @given(text=TEXT, cuts=st.lists(st.integers(0, 200), max_size=6))
            def check(text: str, cuts: list[int]) -> None:
                mock.replay_body = _stream(text, cuts)
                started = time.monotonic()
                got = asyncio.run_coroutine_threadsafe(_texts(sc), loop_of).result(60)
                if time.monotonic() - started > SLOW_S:
                    slow.append((time.monotonic() - started, text))
                assert got == dict.fromkeys(got, text), (text, cuts, got)

            await asyncio.to_thread(check)
            assert not slow, slow

    asyncio.run(main())
