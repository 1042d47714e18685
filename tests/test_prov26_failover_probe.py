"""prov26's outsider probe through failover (n > 1, tools, streams, images; the anthropic and
openai SDKs on a real `arbiter serve`, probe22a's rig): what it found. An Anthropic stream that
ends (`message_stop`) before any content or stop reason is no answer: it now fails over like an
OpenAI stream that ends (`[DONE]`) so; it was relayed, and the client's stream broke after a
200 ("the stream ended without a finish reason")."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.probe22a_rig import Reply, Rig, blocks_as_events, message_frames, message_whole, rig
from tests.probe_rig import sse

_n = itertools.count()
_PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c"
    "6360000002000154a24f5d0000000049454e44ae426082"
)).decode()  # fmt: skip
_SCHEMA = {"type": "object", "properties": {"q": {"type": "integer"}}}
_TOOLS: Any = [{"name": "f", "input_schema": _SCHEMA}]


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(Path(tmp_path_factory.mktemp("prov26_failover"))) as made:
        yield made


def _stop_alone(path: str, body: dict[str, Any]) -> Reply:
    start = sse("message_start", {"type": "message_start", "message": message_whole([], None)})
    return Reply(frames=[start, sse("message_stop", {"type": "message_stop"})])


def _first_ends_empty(seen: list[str]) -> Any:
    def fn(path: str, body: dict[str, Any]) -> Reply:
        seen.append(body["model"])
        if len(seen) == 1:
            return _stop_alone(path, body)
        content = [{"type": "text", "text": "two calls"}] + [
            {"type": "tool_use", "id": f"toolu_{q}", "name": "f", "input": {"q": q}} for q in (1, 2)
        ]
        return Reply(frames=message_frames(blocks_as_events(content), "tool_use"))

    return fn


def test_an_anthropic_stream_ending_before_any_content_fails_over(r: Rig) -> None:
    """auto, an image and tools, streamed: the first model's stream is message_start then
    message_stop; the next model answers, whole, through the SDK's stream helper."""
    seen: list[str] = []
    m = r.script(f"e{next(_n)}", _first_ends_empty(seen))
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": _PNG}}
    with r.an.messages.stream(
        model="auto", max_tokens=100, tools=_TOOLS,
        messages=[{"role": "user", "content": [{"type": "text", "text": m}, image]}],
    ) as stream:  # fmt: skip
        message = stream.get_final_message()
    assert len(seen) == 2 and seen[0] != seen[1]
    assert [b.type for b in message.content] == ["text", "tool_use", "tool_use"]
    assert message.stop_reason == "tool_use"


def test_named_it_is_an_error_answer_not_a_broken_stream(r: Rig) -> None:
    """Named (no other model): the caller's error before any byte, an APIStatusError the SDK
    raises at the call (status 502), not a 200 whose stream breaks."""
    m = r.script(f"e{next(_n)}", _stop_alone)
    with pytest.raises(anthropic.APIStatusError) as failed:
        r.an.messages.create(
            model="an-1", max_tokens=50, stream=True, messages=[{"role": "user", "content": m}]
        )
    assert failed.value.status_code >= 500
