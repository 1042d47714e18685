"""anth25: the response cache and Anthropic blocks its canonical answer leaves out. A Claude
model may think unasked (which `thinking` a request omits, and what follows, is the model's:
the anthropic SDK's ThinkingConfigParam says so), an answer may carry citations, a
`container_upload` or a block type added later. An Anthropic client reads such a Message (or
stream) as it came, but the cache kept its text and tool calls alone: a hit served the answer
without them, a tool_use without the thinking block the next turn must send back with it.
Through a real `arbiter serve` (probe22a's rig, cache on) and the official SDKs: the second
identical request is a miss that shows the blocks again, whole and streamed; controls: a plain
answer is a hit, and an OpenAI chat client, which a translated answer never shows them, still
gets its hit. A Responses client, shown the thinking as a reasoning item, is served it again."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.probe22a_rig import (
    Reply,
    Rig,
    blocks_as_events,
    cached_config,
    message_frames,
    message_whole,
    rig,
)

_n = itertools.count()
CITATION = {"type": "char_location", "cited_text": "The sky is blue.", "document_index": 0,
            "document_title": "t", "start_char_index": 0, "end_char_index": 16}  # fmt: skip
TEXT = {"type": "text", "text": "hi"}
THOUGHT = {"type": "thinking", "thinking": "hmm", "signature": "SIG+/="}
CALL = {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"q": 1}}
HELD_MORE = {
    "thinking": [THOUGHT, TEXT],
    "redacted_thinking": [{"type": "redacted_thinking", "data": "RED=="}, TEXT],
    "thinking_then_call": [THOUGHT, CALL],
    "citations": [{"type": "text", "text": "It is blue.", "citations": [CITATION]}],
    "container_upload": [{"type": "container_upload", "file_id": "file_1"}, TEXT],
    "a_later_block": [{"type": "future_block", "x": 1}, TEXT],
}
TOOLS: list[Any] = [{"name": "w", "input_schema": {"type": "object"}}]


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(Path(tmp_path_factory.mktemp("anth25_cache")), cached_config) as made:
        yield made


def answering(r: Rig, content: list[dict[str, Any]]) -> str:
    """A marker whose upstream answers `content`, whole or streamed as the request asks."""
    stop = "tool_use" if content[-1]["type"] == "tool_use" else "end_turn"

    def fn(path: str, body: dict[str, Any]) -> Reply:
        if body.get("stream"):
            return Reply(frames=message_frames(blocks_as_events(content), stop))
        return Reply(message_whole(content, stop))

    return r.script(f"c{next(_n)}", fn)


def ask_claude(r: Rig, marker: str, stream: bool) -> tuple[str, list[str], list[Any]]:
    """(x-arbiter-cache, the content blocks' types, their citations) of one /v1/messages to
    an-1 by the anthropic SDK, read from the wire (its types warn on a block added later)."""
    kw: dict[str, Any] = {"model": "an-1", "max_tokens": 100, "tools": TOOLS,
                          "messages": [{"role": "user", "content": marker}]}  # fmt: skip
    if not stream:
        raw = r.an.messages.with_raw_response.create(**kw)
        blocks = orjson.loads(raw.text())["content"]
        cites = [c for b in blocks for c in b.get("citations") or ()]
        return raw.headers["x-arbiter-cache"], [b["type"] for b in blocks], cites
    with r.an.messages.with_streaming_response.create(stream=True, **kw) as resp:
        events = [orjson.loads(line[5:]) for line in resp.iter_lines() if line.startswith("data:")]
        seen = resp.headers["x-arbiter-cache"]
    kinds = [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"]
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    cites = [d["citation"] for d in deltas if d["type"] == "citations_delta"]
    assert events[-1]["type"] == "message_stop"
    return seen, kinds, cites


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("kind", list(HELD_MORE))
def test_an_answer_with_blocks_the_cache_cannot_hold_is_not_served_from_it(
    r: Rig, kind: str, stream: bool
) -> None:
    content = HELD_MORE[kind]
    marker = answering(r, content)
    first = ask_claude(r, marker, stream)
    again = ask_claude(r, marker, stream)
    assert first[0] == "miss"
    assert again == first, kind  # a miss again, the blocks as the live answer had them
    assert again[1] == [b["type"] for b in content]
    assert again[2] == ([CITATION] if kind == "citations" else [])
    assert len(r.upstream.bodies(marker[4:-2])) == 2


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_plain_answer_is_still_a_hit(r: Rig, stream: bool) -> None:
    marker = answering(r, [TEXT])  # (a streamed call is never kept: routed_stream)
    first = ask_claude(r, marker, stream)
    again = ask_claude(r, marker, stream)
    assert (first[0], again[0]) == ("miss", "hit")
    assert again[1:] == first[1:] == (["text"], [])
    assert len(r.upstream.bodies(marker[4:-2])) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_an_openai_client_shown_no_thinking_still_gets_its_hit(r: Rig, stream: bool) -> None:
    marker = answering(r, [THOUGHT, TEXT])
    seen = []
    for _ in range(2):
        kw: dict[str, Any] = {"model": "an-1", "messages": [{"role": "user", "content": marker}]}
        if stream:
            with r.oa.chat.completions.with_streaming_response.create(stream=True, **kw) as resp:
                text = "".join(resp.iter_text())
                seen.append((resp.headers["x-arbiter-cache"], '"hi"' in text, "hmm" in text))
        else:
            raw = r.oa.chat.completions.with_raw_response.create(**kw)
            reply = raw.parse().choices[0].message.content
            seen.append((raw.headers["x-arbiter-cache"], reply == "hi", "hmm" in raw.text))
    assert seen == [("miss", True, False), ("hit", True, False)]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_responses_client_shown_the_thinking_is_not_served_without_it(
    r: Rig, stream: bool
) -> None:
    """The Responses API shows an Anthropic model's thinking as a reasoning item."""
    marker = answering(r, [THOUGHT, TEXT])
    seen = []
    for _ in range(2):
        if stream:
            with r.oa.responses.with_streaming_response.create(
                model="an-1", input=marker, stream=True
            ) as resp:
                text = "".join(resp.iter_text())
                seen.append((resp.headers["x-arbiter-cache"], "hmm" in text))
        else:
            raw = r.oa.responses.with_raw_response.create(model="an-1", input=marker)
            kinds = [o.type for o in raw.parse().output]
            seen.append((raw.headers["x-arbiter-cache"], kinds == ["reasoning", "message"]))
    assert seen == [("miss", True), ("miss", True)]
