"""A leader's streamed answer shared, as it comes, with identical streamed requests (followers).

The leader's relay runs in a task of its own (`LeaderRelay`'s pump), not in its client's: the
leader's client may leave and the call goes on while a follower listens (billed once, recorded
as the leader's decision); the call is cut (a disconnect, as today) only when its last listener
has left. Followers read the answer's text from the leader's codec (`codec.parts`, kept anyway
for the record, the graders and the cache), each at its own cursor: a slow follower holds no
buffer of its own, never slows the leader or another follower, and catches up in one frame;
one that stops reading is cut at the request deadline (event_stream.py), as any stream is. A
request arriving once the answer is past `JOIN_MAX_CHARS` makes its own call (the followers'
first frame would carry it all: no first-token gain, a large copy per arrival).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from arbiter.canonical import CanonicalUsage, StopReason
from arbiter.errors import ArbiterError, ClientDisconnected

if TYPE_CHECKING:
    from arbiter.key_streams import KeyStreams, LiveStream
    from arbiter.relay import Relay
    from arbiter.relay_codec import RelayCodec
    from arbiter.stopping import Stopping

# past this much answer text, a new identical request makes its own call (see above)
JOIN_MAX_CHARS = 256 * 1024


@dataclass(frozen=True, slots=True)
class LiveEnd:
    """How the leader's answer ended: `failure` None for a whole answer."""

    failure: ArbiterError | None
    stop_reason: StopReason | None = None
    stop_sequence: str | None = None
    usage: CanonicalUsage = field(default_factory=CanonicalUsage)
    cost_usd: float = 0.0  # what the leader's decision cost: what each follower saved


class LiveAnswer:
    """One streamed answer in flight, as its followers read it."""

    __slots__ = (
        "_chars", "_parts_seen", "_pump", "_wake", "codec", "cut", "decision_id", "end", "key",
        "leader_gone", "leader_here", "listeners", "model", "prompt_tokens", "shown_model",
        "task",
    )  # fmt: skip

    def __init__(
        self, codec: RelayCodec, key: str, model: str, shown_model: str, decision_id: str,
        task: str, prompt_tokens: int = 0,
    ) -> None:  # fmt: skip
        self.codec = codec
        # the sidecar's count of the prompt: an Anthropic follower's message_start says it
        # (the final usage, in its message_delta, is the leader's upstream's)
        self.prompt_tokens = prompt_tokens
        self.key = key  # the exact cache key
        self.model = model
        self.shown_model = shown_model
        self.decision_id = decision_id  # the leader's
        self.task = task
        self.end: LiveEnd | None = None
        self.listeners = 0  # followers reading it now
        self.leader_here = True  # the leader's client still reads it
        # how the leader's client saw it end, when that was before the answer did (it left, its
        # key was revoked): its decision is recorded so, billed the whole call the followers
        # kept going (routed_stream._finish_stream)
        self.leader_gone: ArbiterError | None = None
        self.cut = False  # no one listened any more: the call is being cut
        self._wake = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._chars = 0
        self._parts_seen = 0

    @property
    def joinable(self) -> bool:
        if self.end is not None or self.cut:
            return False
        parts = self.codec.parts
        for part in parts[self._parts_seen :]:
            self._chars += len(part)
        self._parts_seen = len(parts)
        return self._chars <= JOIN_MAX_CHARS

    def notify(self) -> None:
        """More text, or the end: wake the followers waiting."""
        self._wake.set()
        self._wake = asyncio.Event()

    async def changed(self) -> None:
        await self._wake.wait()

    def finish(self, end: LiveEnd) -> None:
        """The leader's decision is recorded (idempotent: the first end stands)."""
        if self.end is None:
            self.end = end
            self.notify()

    def join(self) -> None:
        self.listeners += 1

    def leave(self) -> None:
        """A follower left (read to its end or not): the last listener gone cuts the call."""
        self.listeners -= 1
        self._cut_if_alone()

    def _cut_if_alone(self) -> None:
        if self.listeners <= 0 and not self.leader_here and self._pump is not None:
            self.cut = True
            self._pump.cancel()  # the relay records a disconnect, as the leader's own would


class LeaderRelay:
    """The leader's side: its relay pumped by a task of its own into the frames its client
    reads, so the call outlives a leader's client while followers listen (`LiveAnswer`).
    `key`: the leader's key (key_streams.py), watched here rather than in the relay: its
    revocation cuts the leader's client (one error event) and the call only when no follower
    listens (a follower may hold another key of the tenant)."""

    __slots__ = (
        "_done", "_ended", "_frames", "_key", "_live", "_more", "_on_key", "_pump", "_relay",
        "_stopping",
    )  # fmt: skip

    def __init__(
        self,
        relay: Relay,
        live: LiveAnswer,
        stopping: Stopping | None,
        key: tuple[KeyStreams, str] | None = None,
    ) -> None:
        self._relay = relay
        self._live = live
        self._stopping = stopping
        self._key = key
        self._on_key: LiveStream | None = None
        self._ended = False  # this client was cut (its key revoked)
        self._frames: deque[bytes] = deque()
        self._more = asyncio.Event()
        self._done = False
        self._pump = asyncio.get_running_loop().create_task(self._run())
        live._pump = self._pump

    async def _run(self) -> None:
        try:
            async for frame in self._relay:
                if self._live.leader_here:
                    self._frames.append(frame)
                    self._more.set()
                self._live.notify()
        finally:
            self._done = True
            self._more.set()
            self._live.notify()

    def __aiter__(self) -> LeaderRelay:
        return self

    async def __anext__(self) -> bytes:
        if self._ended:
            raise StopAsyncIteration
        if self._key is not None and self._on_key is None:  # in this client's task
            self._on_key = self._key[0].enter(self._key[1])
        on_key = self._on_key
        if on_key is not None:
            on_key.at_yield = False
            if on_key.revoked:  # while its last frame was sent
                return self._revoked(on_key)
        while not self._frames:
            if self._done:
                self._leave_key()
                raise StopAsyncIteration
            self._more.clear()
            try:
                await self._more.wait()
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is None or task.cancelling() != 1:
                    raise
                if on_key is not None and on_key.cancelled:  # our cancel: its key revoked
                    task.uncancel()
                    return self._revoked(on_key)
                if self._stopping is None or not self._stopping.started:
                    raise
                # the server's grace ran out: the relay, cut where it stands, tells why (its
                # own shutdown path, relay.forward), to this client and every follower
                task.uncancel()
                self._pump.cancel()
        if on_key is not None:
            on_key.at_yield = True  # the server sends it: a revocation only flags it
        return self._frames.popleft()

    def _revoked(self, on_key: LiveStream) -> bytes:
        """This client's key was revoked: its one error event; the call ends with it (recorded
        as revoked) unless a follower listens."""
        err = on_key.error()
        self._ended = True
        if self._live.end is None and self._live.leader_gone is None:
            self._live.leader_gone = err
        self._leave_key()
        if self._live.listeners <= 0:
            self._relay.fail(err)
        self._live.leader_here = False
        self._frames.clear()
        self._live._cut_if_alone()
        return self._live.codec.error(err)

    def _leave_key(self) -> None:
        if self._on_key is not None:
            self._on_key.leave()
            self._on_key.at_yield = True  # no task of ours to cancel any more

    def expire(self) -> None:
        """This client stopped reading past the deadline: the call ends as such only when no
        follower listens (else it goes on for them, this client is cut all the same)."""
        if self._live.listeners <= 0:
            self._relay.expire()

    async def aclose(self) -> None:
        """This client's response is over (read to its end or left)."""
        if self._live.end is None and self._live.leader_gone is None:  # left before the end
            self._live.leader_gone = ClientDisconnected("the client disconnected mid-stream")
        self._live.leader_here = False
        self._frames.clear()
        self._leave_key()
        if self._done:
            await self._relay.aclose()  # idempotent; records a relay never iterated
            return
        self._live._cut_if_alone()
        if self._pump.cancelled() or self._pump.cancelling():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._pump)
            await self._relay.aclose()
