"""A cached answer: the canonical response (enough to render either protocol, streamed or not),
its serialized form for the store, and its rendering for a client.

Stored canonical rather than as the upstream's bytes, so one entry serves a streaming and a
non-streaming request alike and is rendered by the same codecs (protocols/) that translate live
answers. What canonical cannot hold (several choices, log-probabilities, reasoning blocks) is
never cached: keys.uncacheable bypasses those requests, and an Anthropic answer relayed to its
client with such blocks all the same (a model thinking unasked) is not kept (of_result's
`shows_blocks`, relay_codec's `held_more`).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import orjson

from arbiter.canonical import (
    BlockStart,
    BlockStop,
    CanonicalResponse,
    CanonicalUsage,
    MessageDelta,
    MessageStart,
    MessageStop,
    Protocol,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolArgsDelta,
    ToolCallPart,
)
from arbiter.key_streams import Watched
from arbiter.protocols import anthropic_response, anthropic_stream, openai_response, openai_stream
from arbiter.protocols.upstream_answer import decode_answer, window_filled

if TYPE_CHECKING:
    from arbiter.errors import ArbiterError
    from arbiter.key_streams import KeyStreams


@dataclass(slots=True)
class Entry:
    """One cached answer and what it is keyed and accounted by."""

    id: str
    tenant: str
    key: str  # the exact key (keys.keys_for)
    context_key: str | None  # the semantic side's key (None: no last user turn)
    model: str  # the model that wrote it (the name clients see)
    task: str
    answer: CanonicalResponse
    cost_usd: float  # what the source answer cost: what a hit saves
    decision_id: str  # the source decision
    created_ts: float
    expires_ts: float
    hits: int = 0
    text: str | None = None  # the last user turn's text (semantic side)
    embedding: bytes | None = None  # float32 vector, as the matcher embedded `text`
    size: int = 0  # what it holds in memory, in bytes (set by the cache front: footprint())
    # what the source decision paid before the call that wrote the answer, as it cost them (an
    # escalated cascade's first call): part of `cost_usd`, and of what a hit saves, which
    # reprices only the answering call (cache_path.saved_now); kept in the row's answer JSON
    earlier_usd: float = 0.0


# an entry's own objects beyond its strings (the dataclass, ids, keys, floats): measured
# roughly, so a front of tiny answers is still bounded by bytes near what it holds
_ENTRY_OVERHEAD = 1024


def footprint(entry: Entry) -> int:
    """Bytes `entry` holds in memory: its answer's strings, the prompt text, the embedding
    (sys.getsizeof: a str's real size, 1, 2 or 4 bytes a character), plus a fixed overhead."""
    size = _ENTRY_OVERHEAD + sys.getsizeof(entry.text or "") + len(entry.embedding or b"")
    for part in entry.answer.parts:
        if isinstance(part, TextPart):
            size += sys.getsizeof(part.text)
        else:
            size += sys.getsizeof(part.arguments) + sys.getsizeof(part.name)
    return size


def dump_answer(answer: CanonicalResponse) -> str:
    parts: list[dict[str, Any]] = [
        {"text": p.text}
        if isinstance(p, TextPart)
        else {"id": p.id, "name": p.name, "arguments": p.arguments}
        for p in answer.parts
    ]
    u = answer.usage
    return orjson.dumps({
        "id": answer.id, "model": answer.model, "parts": parts,
        "stop_reason": answer.stop_reason, "stop_sequence": answer.stop_sequence,
        "usage": [u.input_tokens, u.output_tokens, u.cache_read_input_tokens,
                  u.cache_creation_input_tokens, u.cache_creation_1h_input_tokens],
    }).decode()  # fmt: skip


def load_answer(text: str | bytes) -> CanonicalResponse:
    raw = orjson.loads(text)
    parts = tuple(
        TextPart(p["text"]) if "text" in p else ToolCallPart(p["id"], p["name"], p["arguments"])
        for p in raw["parts"]
    )
    return CanonicalResponse(
        id=raw["id"],
        model=raw["model"],
        parts=parts,
        stop_reason=raw["stop_reason"],
        usage=_usage(raw["usage"]),
        stop_sequence=raw["stop_sequence"],
    )


def _usage(counts: list[int]) -> CanonicalUsage:
    """A stored usage: four counts, or five with the 1-hour cache writes (entries written
    before they were kept have four)."""
    fresh, out, read, write, hour = [*counts, 0, 0, 0, 0, 0][:5]
    return CanonicalUsage(fresh, out, read, write, cache_creation_1h_input_tokens=hour)


# a hit's tool calls are named as the client's protocol names live ones
_CALL_ID_PREFIX: dict[str, str] = {"openai": "call_", "anthropic": "toolu_"}


def fresh_call_ids(
    answer: CanonicalResponse, response_id: str, protocol: Protocol
) -> CanonicalResponse:
    """`answer` with tool-call ids of this hit's own (`response_id`: the hit's decision id), one
    per call, the same in every rendering of the hit (body, stream, the Responses API's items).
    A live call never repeats an id; a client running two agents on one prompt matches each
    tool result to its call by id, so a replayed answer's ids must not collide either. Text
    answers come back as they are."""
    if not any(isinstance(p, ToolCallPart) for p in answer.parts):
        return answer
    prefix = _CALL_ID_PREFIX.get(protocol, "call_")
    parts = tuple(
        replace(p, id=prefix + _id_hash(f"{response_id}\0{i}"))
        if isinstance(p, ToolCallPart)
        else p
        for i, p in enumerate(answer.parts)
    )
    return replace(answer, parts=parts)


def _id_hash(seed: str) -> str:
    return hashlib.blake2b(seed.encode(), digest_size=12).hexdigest()


def render(entry: Entry, protocol: Protocol, response_id: str, created: int) -> bytes:
    """The whole answer as the client's protocol's JSON body (a fresh id per hit)."""
    return orjson.dumps(render_body(entry, protocol, response_id, created))


def render_body(entry: Entry, protocol: Protocol, response_id: str, created: int) -> dict[str, Any]:
    answer = replace(entry.answer, id=response_id)
    shown = shown_model(entry)
    if protocol == "openai":
        return openai_response.encode_response(answer, shown, created)
    return anthropic_response.encode_response(answer, shown)


def shown_model(entry: Entry) -> str:
    """The model's name a hit shows: the upstream's, as the live answer did
    (ChatResult.shown_model), else Arbiter's."""
    return entry.answer.model or entry.model


def events(answer: CanonicalResponse, response_id: str) -> Iterator[StreamEvent]:
    """The answer as the canonical stream a live upstream would have produced."""
    u = answer.usage
    yield MessageStart(
        response_id,
        answer.model,
        CanonicalUsage(
            u.input_tokens,
            0,
            u.cache_read_input_tokens,
            u.cache_creation_input_tokens,
            cache_creation_1h_input_tokens=u.cache_creation_1h_input_tokens,
        ),
    )
    for index, part in enumerate(answer.parts):
        if isinstance(part, TextPart):
            yield BlockStart(index, "text")
            yield TextDelta(index, part.text)
        else:
            yield BlockStart(index, "tool_use", part.id, part.name)
            yield ToolArgsDelta(index, part.arguments)
        yield BlockStop(index)
    yield MessageDelta(answer.stop_reason, u, answer.stop_sequence)
    yield MessageStop()


def replay(
    entry: Entry, protocol: Protocol, response_id: str, *, include_usage: bool, created: int
) -> list[bytes]:
    """The answer as SSE frames in the client's protocol, terminal event included."""
    encoder: openai_stream.StreamEncoder | anthropic_stream.StreamEncoder
    if protocol == "openai":
        # (a tool-call answer without text: the encoder's role chunk says content null)
        encoder = openai_stream.StreamEncoder(
            shown_model(entry), include_usage=include_usage, created=created
        )
    else:
        encoder = anthropic_stream.StreamEncoder(shown_model(entry))
    frames = [encoder.encode(e) for e in events(entry.answer, response_id)]
    return [f for f in frames if f]


def with_hit_cost_body(body: dict[str, Any]) -> dict[str, Any]:
    """A hit's body (either protocol): its usage says what this request cost, nothing (the
    source answer's own `usage.cost` is not stored; a client summing usage.cost must not take
    a hit for an answer of unknown cost)."""
    usage = body.get("usage")
    if isinstance(usage, dict):
        usage["cost"] = 0.0
    return body


def with_hit_cost_frames(frames: list[bytes]) -> list[bytes]:
    """A hit's SSE frames with `cost: 0` in the usage they carry (OpenAI's usage chunk, sent
    only with include_usage; Anthropic's message_delta; the Responses API's
    `response.completed`, whose Response holds it); every other frame as it was."""
    return [_hit_cost_frame(f) if b'"usage":{' in f else f for f in frames]


def _hit_cost_frame(frame: bytes) -> bytes:
    out = []
    for event in frame.split(b"\n\n"):
        head, sep, data = event.partition(b"data: ")
        if sep and b'"usage":{' in data:  # (a quote inside text is escaped: never matches)
            payload = orjson.loads(data)
            # the final usage (not message_start's): at the top, or in a completed Response
            holder = (
                payload.get("response") if payload.get("type") == "response.completed" else payload
            )
            if isinstance(holder, dict) and isinstance(holder.get("usage"), dict):
                holder["usage"]["cost"] = 0.0
                event = head + sep + orjson.dumps(payload)
        out.append(event)
    return b"\n\n".join(out)


class Replay:
    """A cached answer's SSE frames, in the shape the server streams a live relay (`Streamed`):
    nothing to close upstream, nothing left to record (a hit is recorded before it is sent).
    `key`: its client key, watched as a relay's is (key_streams.py): revoked while the client
    still reads, the replay ends with one error event (`error`'s, the client's shape)."""

    __slots__ = ("_error", "_frames", "_watch")

    def __init__(
        self,
        frames: list[bytes],
        key: tuple[KeyStreams, str] | None = None,
        error: Callable[[ArbiterError], bytes] | None = None,
    ) -> None:
        self._frames = iter(frames)
        self._watch = Watched(key if error is not None else None)
        self._error = error

    def __aiter__(self) -> Replay:
        return self

    async def __anext__(self) -> bytes:
        err = self._watch.before()  # (no await here: the task is never cancelled for it)
        if err is not None and self._error is not None:
            error, self._error = self._error, None  # its last frame
            self._frames = iter(())
            self._watch.leave()
            return error(err)
        try:
            frame = next(self._frames)
        except StopIteration:
            self._watch.leave()
            raise StopAsyncIteration from None
        self._watch.sent()
        return frame

    def expire(self) -> None:
        return None

    async def aclose(self) -> None:
        self._watch.leave()


def of_result(
    body: Any, protocol: Protocol, stops: Sequence[str] = (), *, shows_blocks: bool = False
) -> CanonicalResponse | None:
    """A complete upstream answer (`body` in `protocol`) as canonical; None when it is not one
    worth keeping (malformed, empty, or cut off by a content filter). `stops`: the caller's
    stop sequences, so a stop on one is kept as the live answer told it (stop_sequence).
    `shows_blocks`: the client read `body` as it came (an Anthropic client) or its thinking as
    reasoning items (a Responses client), so an Anthropic Message holding blocks the canonical
    form leaves out (thinking a model does unasked, citations, a server tool's) is not kept: a
    hit would serve it without them, a tool_use without the thinking block the next turn must
    send back with it."""
    if shows_blocks and protocol == "anthropic" and anthropic_response.holds_more(body):
        return None
    try:
        answer = decode_answer(body, protocol, stops)
    except Exception:  # an answer we cannot re-render is simply not cached
        return None
    # a refusal / content filter, or a reason we do not know (None), is not kept; nor an answer
    # cut by the model's context window filling: read as `max_tokens`, it would be kept as if
    # cut at the client's own limit, though another model (or a larger window) answers whole
    if not answer.parts or answer.stop_reason in (None, "refusal"):
        return None
    if window_filled(body, protocol):
        return None
    return answer


def of_stream(
    text: str,
    finish: str | None,
    usage: CanonicalUsage,
    response_id: str,
    model: str,
    stop_sequence: str | None = None,
    *,
    calls: bool = False,
) -> CanonicalResponse | None:
    """A streamed answer that ended properly, from what the relay collected (its text only:
    a streamed tool call is not collected, so such answers are not cached; `calls`: the
    stream had one, whatever its finish word said: OpenAI ends a call `tool_choice` forced
    on "stop", as Ollama ends every call, and its text alone is another answer). `finish`:
    the upstream's word, read as the whole-answer path reads it (Together's "eos", Gemini's
    "MAX_TOKENS"). `stop_sequence`: the caller's stop string that ended it, which OpenAI's
    finish word "stop" cannot carry (without it a hit would say end_turn where the live
    answer said stop_sequence)."""
    reason = openai_response.stop_reason_in(finish)
    if reason not in ("end_turn", "max_tokens") or not text or calls:
        return None
    if reason == "end_turn" and stop_sequence is not None:
        reason = "stop_sequence"
    return CanonicalResponse(
        response_id, model, (TextPart(text),), reason, usage, stop_sequence=stop_sequence
    )
