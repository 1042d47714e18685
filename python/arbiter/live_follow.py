"""A streamed request that joined an identical one in flight (cache/live_answer.py): served the
leader's answer as it comes, in its own protocol's framing (its own id, its own
`include_usage`), rendered from the canonical events the cache replays (cache/answer.py). It
is a cache hit: cost 0, no budget held, recorded (mode `cache`) once the leader's answer ended,
with what it saved (the leader's cost); the leader's failure mid-stream ends it with the same
error, as one terminal error event in its protocol's shape."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from arbiter import request_log
from arbiter.cache import answer as cached
from arbiter.cache.live_answer import LiveAnswer, LiveEnd
from arbiter.canonical import (
    BlockStart,
    BlockStop,
    MessageDelta,
    MessageStart,
    MessageStop,
    StreamError,
    StreamEvent,
    TextDelta,
)
from arbiter.errors import ArbiterError, ClientDisconnected
from arbiter.key_streams import Watched
from arbiter.principal import Principal
from arbiter.protocols import anthropic_stream, openai_stream
from arbiter.records import DecisionRecord
from arbiter.relay import run_to_end
from arbiter.relay_codec import Translating
from arbiter.request_plan import Streamed
from arbiter.stopping import ServerStopping
from arbiter.types import ChatRequest

if TYPE_CHECKING:
    from arbiter.key_streams import KeyStreams
    from arbiter.services import Services


def joinable(req: ChatRequest) -> bool:
    """A stream whose answer a follower's canonical text stream renders whole: a chat, Messages
    or Responses stream (a surface encoding its own renders the canonical events with its own
    codec: `_SurfaceEncoder`) without tools (a streamed tool call is not collected as
    canonical, cache/answer.of_stream)."""
    body = req.body
    return req.stream and not body.get("tools") and not body.get("functions")


class _SurfaceEncoder:
    """A surface's own stream codec (the Responses API's) fed the canonical events a
    follower renders, in the shape of the protocols' encoders (`encode`, `error`)."""

    __slots__ = ("_codec",)

    def __init__(self, codec: Translating) -> None:
        self._codec = codec

    def encode(self, event: StreamEvent) -> bytes:
        if isinstance(event, MessageStop):  # the finish it held, then its terminal event
            return self._codec.replay([])
        return self._codec.encode_events([event])

    def error(self, event: StreamError) -> bytes:
        return self._codec.error(event.error)


def serve_live(s: Services, req: ChatRequest, principal: Principal, live: LiveAnswer) -> Streamed:
    decision_id = s.new_id()
    headers = {
        "x-arbiter-model": live.model,
        "x-arbiter-decision-id": decision_id,
        "x-arbiter-task": live.task,
        "x-arbiter-cost-usd": "0.00000000",
        "x-arbiter-baseline-cost-usd": "0.00000000",
        "x-arbiter-cache": "hit",
        "x-arbiter-cache-source-decision-id": live.decision_id,
        "x-arbiter-cache-coalesced": "live",
    }
    # its own key watched as a routed stream's is (key_streams.py): revoked, it ends
    key = (s.key_streams, principal.key_id) if principal.key_id and not principal.is_admin else None
    follower = Follower(s, req, principal, live, decision_id, key)
    deadline = time.monotonic() + s.settings.failover.deadline_s
    return Streamed(follower, headers, deadline)


class Follower:
    """One follower's frames (the shape the server streams: `Streamed.events`)."""

    __slots__ = ("_did", "_encoder", "_ended", "_gen", "_left", "_live", "_principal",
                 "_recorded", "_req", "_s", "_started", "_watch")  # fmt: skip

    def __init__(
        self,
        s: Services,
        req: ChatRequest,
        principal: Principal,
        live: LiveAnswer,
        did: str,
        key: tuple[KeyStreams, str] | None = None,
    ) -> None:
        live.join()
        self._s, self._req, self._principal, self._live, self._did = s, req, principal, live, did
        self._left = False
        self._recorded = False
        self._ended = False  # its key was revoked: its error event sent
        self._started = time.perf_counter()
        self._watch = Watched(key)
        codec = req.stream_codec and req.stream_codec(
            "openai", live.model, did, int(time.time()), live.shown_model, None
        )
        self._encoder: Any = (
            _SurfaceEncoder(codec)
            if isinstance(codec, Translating)
            else openai_stream.StreamEncoder(
                live.shown_model, include_usage=req.include_usage, created=int(time.time())
            )
            if req.protocol == "openai"
            else anthropic_stream.StreamEncoder(live.shown_model, prompt_tokens=live.prompt_tokens)
        )
        self._gen = self._frames()

    def __aiter__(self) -> Follower:
        return self

    async def __anext__(self) -> bytes:
        if self._ended:
            raise StopAsyncIteration
        err: ArbiterError | None = self._watch.before()
        if err is None:
            try:
                frame = await self._gen.__anext__()
            except asyncio.CancelledError:  # waiting on the leader's answer
                err = self._watch.taken_back() or self._stopped()
                if err is None:
                    raise
            except StopAsyncIteration:
                self._watch.leave()
                raise
            else:
                self._watch.sent()
                return frame
        return await self._revoked(err)

    def _stopped(self) -> ServerStopping | None:
        """Cancelled by the server's shutdown at the end of its grace: taken back, so its
        client is told why (as a relay's is: the leader's own call is cut by the same
        shutdown, through its client's task or its last listener's leaving)."""
        task = asyncio.current_task()
        if not self._s.stopping.started or task is None or task.cancelling() != 1:
            return None
        task.uncancel()
        return ServerStopping(
            "The server is shutting down and this stream ran past its grace period; retry the "
            "request."
        )

    async def _revoked(self, err: ArbiterError) -> bytes:
        """Its own key was revoked, or the server's grace ran out: one error event, recorded
        as failed for it (the leader's call goes on for its other listeners, if any)."""
        self._ended = True
        self._watch.leave()
        await self._gen.aclose()
        self._leave()
        if not self._recorded:
            await run_to_end(self._record(LiveEnd(err)))
        frame: bytes = self._encoder.error(StreamError(err))
        return frame

    def expire(self) -> None:
        return None  # the leader's call keeps to its own deadline

    async def aclose(self) -> None:
        self._watch.leave()
        await self._gen.aclose()
        self._leave()
        if not self._recorded:  # its client left before the leader's answer ended
            gone = ClientDisconnected("the client disconnected mid-stream")
            await run_to_end(self._record(LiveEnd(gone)))

    async def _record(self, end: LiveEnd) -> None:
        self._recorded = True
        await _record(self._s, self._principal, self._live, self._did, end, self._started)

    def _leave(self) -> None:
        if not self._left:
            self._left = True
            self._live.leave()

    async def _frames(self) -> AsyncGenerator[bytes, None]:
        live, did, encoder = self._live, self._did, self._encoder
        try:
            yield encoder.encode(MessageStart(did, live.shown_model)) + encoder.encode(
                BlockStart(0, "text")
            )
            sent = 0
            while True:
                parts = live.codec.parts
                if sent < len(parts):  # everything since this follower's last frame, at once
                    text = "".join(parts[sent:])
                    sent = len(parts)
                    if text and (frame := encoder.encode(TextDelta(0, text))):
                        yield frame
                    continue
                if live.end is not None:
                    break
                await live.changed()
            end = live.end
            await run_to_end(self._record(end))
            if end.failure is not None:
                yield encoder.error(StreamError(end.failure))
                return
            tail = [
                encoder.encode(BlockStop(0)),
                encoder.encode(MessageDelta(end.stop_reason, end.usage, end.stop_sequence)),
                encoder.encode(MessageStop()),
            ]
            yield b"".join(cached.with_hit_cost_frames([f for f in tail if f]))
        finally:
            self._leave()


async def _record(
    s: Services,
    principal: Principal,
    live: LiveAnswer,
    did: str,
    end: LiveEnd,
    started: float,
) -> None:
    failed = end.failure is not None
    usage = end.usage
    saved = 0.0 if failed else end.cost_usd
    record = DecisionRecord(
        id=did, ts=time.time(), tenant=principal.tenant, task=live.task, mode="cache",
        chosen_model=live.model,
        reason=f"cache: exact hit of decision {live.decision_id} (joined its stream in flight)",
        candidates=(), attempts=(), status="failed" if failed else "ok", cost_usd=0.0,
        baseline_model=s.baseline_for(principal).name, baseline_cost_usd=0.0,
        latency_ms=(time.perf_counter() - started) * 1000,
        prompt_tokens=usage.prompt_tokens, completion_tokens=usage.output_tokens,
        stream=True, key_id=principal.key_id, cache_kind="exact", cache_saved_usd=saved,
        error=end.failure.code if end.failure is not None else None,
        # the entry the leader's answer was stored as (feedback finds it: invalidation.py)
        cache_info={
            "entry_id": live.key, "source_decision_id": live.decision_id, "coalesced": True,
        },
    )  # fmt: skip
    if (ctx := request_log.CURRENT.get()) is not None:
        ctx.decided(record)
    await s.record(record)
    s.cache.counts["saved_usd"] += saved
