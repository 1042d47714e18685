"""uvicorn's keep-alive timeout on one lazily re-armed timer per connection, not one per request.

uvicorn arms a loop timer (`call_later(timeout_keep_alive)`) after every response and cancels it
when the next request's bytes arrive: on a busy keep-alive connection, a timer allocated,
started, stopped and closed per request (with uvloop: a libuv handle each), none of which ever
fires. It was the last loop timer of a routed request (bench/results/scale.md, fourteenth and
eighteenth sessions).

Here the connection keeps the moment it last went idle (its last answer written, nothing queued)
and at most one timer. A new request only marks the connection busy; the timer, when it fires,
closes the connection if it has been idle for the whole timeout, re-arms itself for the rest if
it went idle again since, and lapses if a request is in progress (the next answer arms it
again). The connection closes when uvicorn's did: `timeout_keep_alive` after it last went idle.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# a timer that fires this much before its deadline counts as due: a loop clock of millisecond
# resolution (uvloop's) can wake a timer just short of it, and re-arming for under a
# millisecond would only spin
_SLACK_S = 0.001


class LazyKeepAliveProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._idle_since: float | None = None  # loop.time() it last went idle; None: busy

    def _unset_keepalive_if_required(self) -> None:
        # uvicorn's call at each read (and on closing): the connection is busy, the timer stays
        self._idle_since = None

    def idle_since(self) -> float | None:
        """When it last went idle (answered, nothing queued); None while busy or closing."""
        return None if self.transport.is_closing() else self._idle_since

    def close_idle(self) -> None:
        """Close it now, idle (connection_cap.py makes room so)."""
        self.cancel_keep_alive()
        self.transport.close()

    def cancel_keep_alive(self) -> None:
        """Stop the keep-alive timer for good (the connection closes by other means)."""
        self._idle_since = None
        timer = self.timeout_keep_alive_task
        if timer is not None:
            timer.cancel()
            self.timeout_keep_alive_task = None

    def on_response_complete(self) -> None:
        # uvicorn's, but the idle connection's timer is armed only when none is pending
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._idle_since = None
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = now = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_at(
                now + self.timeout_keep_alive, self._keep_alive_due
            )

    def _keep_alive_due(self) -> None:
        self.timeout_keep_alive_task = None
        since = self._idle_since
        if since is None:
            return  # a request in progress: its answer arms the timer again
        due = since + self.timeout_keep_alive
        if self.loop.time() < due - _SLACK_S:  # idle again since the timer was armed
            self.timeout_keep_alive_task = self.loop.call_at(due, self._keep_alive_due)
            return
        self.timeout_keep_alive_handler()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.cancel_keep_alive()  # (a pending timer would hold the protocol until it fired)
