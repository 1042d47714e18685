"""The streams running under each client key, so a revoked key's streams end.

A stream running when its key was revoked ran to its end, billed: a user expects a revoked key
to stop. Each policy sync asks the store which of the keys with a stream running here have been
revoked (by any replica: primary-key reads, no clock compared), and a revocation made through
this process cuts at once (`Authenticator.revoke`). A cut stream ends with one error event in
its surface's shape (KeyRevoked) and is billed what was sent (cut_stream_cost.py), as a stream
the client left is.

The relay (relay.py `forward`) is cut where it stands: waiting on the upstream, its task is
cancelled (and the cancel taken back there, as a shutdown's is); handing an event to the client,
it ends after that event, on its own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from arbiter.auth import PREFIX
from arbiter.errors import Unauthorized


class KeyRevoked(Unauthorized):
    """The stream's key was revoked while it ran."""


@dataclass(slots=True, eq=False)
class LiveStream:
    key_id: str
    streams: KeyStreams
    task: asyncio.Task[object] | None = field(default_factory=asyncio.current_task)
    at_yield: bool = False  # handing an event out: the client's side holds the task
    revoked: bool = False
    cancelled: bool = False  # our cancel, to be taken back by the relay

    def leave(self) -> None:
        self.streams.leave(self)

    def error(self) -> KeyRevoked:
        return KeyRevoked(
            f"The API key {PREFIX}-{self.key_id}-… was revoked while this stream ran; it ends here."
        )


class KeyStreams:
    def __init__(self) -> None:
        self._live: dict[str, set[LiveStream]] = {}

    def enter(self, key_id: str) -> LiveStream:
        """The current task's stream, under `key_id`, until `leave`."""
        stream = LiveStream(key_id, self)
        self._live.setdefault(key_id, set()).add(stream)
        return stream

    def leave(self, stream: LiveStream) -> None:
        held = self._live.get(stream.key_id)
        if held is not None:
            held.discard(stream)
            if not held:
                del self._live[stream.key_id]

    def keys(self) -> list[str]:
        """The keys with a stream running (the sync asks the store about these)."""
        return list(self._live)

    def cut(self, key_ids: set[str]) -> int:
        """End every running stream of `key_ids` (on the loop); how many were told."""
        told = 0
        for key_id in key_ids:
            for stream in list(self._live.get(key_id, ())):
                if stream.revoked:
                    continue
                stream.revoked = True
                told += 1
                if not stream.at_yield and stream.task is not None and not stream.task.done():
                    stream.cancelled = True
                    stream.task.cancel()
        return told


class Watched:
    """A stream served in its client's task from the sidecar's own frames (a cache replay, a
    follower of an identical stream in flight: live_follow.py), watched under its key as a
    relay is: revoked, it ends with one error event (`on_revoked`'s). Its task is cancelled
    only while it waits for a frame (a follower's wait on the leader's answer), never while
    the server sends one."""

    __slots__ = ("_key", "_on")

    def __init__(self, key: tuple[KeyStreams, str] | None) -> None:
        self._key = key
        self._on: LiveStream | None = None

    def before(self) -> KeyRevoked | None:
        """At each frame asked for (in the client's task): the revocation, if one came."""
        if self._key is not None and self._on is None:
            self._on = self._key[0].enter(self._key[1])
        on = self._on
        if on is None:
            return None
        on.at_yield = False
        return on.error() if on.revoked else None

    def taken_back(self) -> KeyRevoked | None:
        """Cancelled while waiting: our cancel (its key revoked) taken back, with its error;
        None when the cancel is someone else's (re-raise it)."""
        on = self._on
        task = asyncio.current_task()
        if on is None or not on.cancelled or task is None or task.cancelling() != 1:
            return None
        task.uncancel()
        return on.error()

    def sent(self) -> None:
        """A frame handed to the server: a revocation now only flags it."""
        if self._on is not None:
            self._on.at_yield = True

    def leave(self) -> None:
        if self._on is not None:
            self._on.leave()
            self._on.at_yield = True  # no task of ours to cancel any more
