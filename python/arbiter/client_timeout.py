"""A client read timeout for the request line and headers (uvicorn has none).

uvicorn closes an idle keep-alive connection, but a request that has begun may take for ever:
a client that sends half a request line or half its headers, then stalls, holds its connection
and a parser open indefinitely. This subclass of uvicorn's httptools protocol gives the head of
each request `server.client_read_timeout_s` from its first byte (a new connection: from the
connect), then answers 408 and closes. The body is bounded by `request_body.read_body` under
the same timeout. Every answer written here (408, 431, 400) is protocol_answers.py's: the
caller's surface shape, `x-should-retry`, the request id, as the app's own errors.

The timer is armed only for a head that one read did not bring whole (or a new connection's
first): a head that arrives in one piece, as a keep-alive client's nearly always does, is
parsed before the read returns, and a timer armed and cancelled around it was two timer
operations per request for nothing (bench/results/scale.md, ninth session). The deadline is
the same: counted from the head's first byte.

It also keeps each request's `ClientConnection` (client_connection.py, in the request's scope)
up to date: whether the connection is lost, and whether a body is still arriving.

It also caps the head's size: httptools buffers a header until it ends, so without a cap one
connection could stream headers (and the sidecar's memory) for the whole timeout. Past
MAX_HEAD_BYTES, or past MAX_HEADER_FIELDS fields, the answer is 431 and the connection
closes. A chunked body's trailer fields count against the same byte cap and are dropped:
uvicorn appended them to the request's header list, without limit (3 GB of RSS from one
connection), and no route reads them.

A body left unread by an answer that did not need it (a 404, a 413 on its declared length) is
still parsed and dropped, so that the connection can be reused; its rest gets the read timeout
from the answer on, then the connection closes (each byte used to put off the keep-alive timer:
a trickle held the connection for ever).

A request that asks to upgrade (`Upgrade: h2c`, as `curl --http2` sends) and carries a body is a
400: httptools takes an upgrade request's head as its end, so the app saw an empty body; the
sidecar speaks HTTP/1.1 only. Without a body the request is served, the header ignored.

Pipelining is bounded: uvicorn queues each pipelined request (a cycle, its scope, an event:
about 1 KiB) and parses a whole read before it pauses, so 256 KiB of tiny pipelined requests
became 16 MiB of queue per connection (20 connections: +330 MB of RSS). Past MAX_PIPELINED
queued requests, the last one queued is answered with `Connection: close`, and the requests
after it are dropped unanswered, which RFC 9112 (9.3.2) has a pipelining client retry.

A request the parser refuses (a header name with a space, a NUL in a value, an obs-fold line,
conflicting Content-Length and Transfer-Encoding) is a 400 in OpenAI's error shape naming the
parser's reason, instead of uvicorn's plain-text "Invalid HTTP request received."; and the
connection lingers like the 431's, so that a client still sending its body reads the answer
instead of a reset.

A write timeout, too: a client that stops reading its answer (a stream, or a large body) while
keeping the connection open fills the send buffers, and uvicorn then waits on it for ever, the
request and its upstream call held. Once writing has been paused (the buffers full) for
`server.client_write_timeout_s` with no byte taken, the connection is aborted: the request hears
a disconnect, and its upstream call is cancelled and settled.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, ClassVar

from arbiter import close_delimited, connection_cap, half_close
from arbiter.client_connection import SCOPE_KEY, ClientConnection
from arbiter.errors import ArbiterError, InvalidRequest, RequestTimeout
from arbiter.idle_poll import IdlePoll
from arbiter.lazy_keep_alive import LazyKeepAliveProtocol
from arbiter.lean_head import LeanCycle
from arbiter.protocol_answers import HeadTooLarge, closing_answer, upgrade_refused
from arbiter.step_writes import StepWrites

# room for x-arbiter-tests' 256 KiB of test source in base64, and then some
MAX_HEAD_BYTES = 1024 * 1024
# header fields in one request: SDKs send about 15; each is a Python callback in uvicorn, and
# 250,000 tiny ones (a 1 MB head) held the event loop for 100-240 ms per request
MAX_HEADER_FIELDS = 500
MAX_PIPELINED = 100  # requests queued behind the one being answered, on one connection
_LINGER_S = 2.0  # how long a 431'd connection's input is drained before it is closed


class _TooManyHeaders(Exception):
    """Raised in a parser callback: stops httptools at once (see send_400_response)."""


# uvicorn's own callbacks (its keep-alive timer lazily armed: lazy_keep_alive.py), called as
# functions: they run per request (per header field for on_header), and Python 3.11's
# zero-argument super() builds an object on every call
_Uvicorn = LazyKeepAliveProtocol


class ClientReadTimeoutProtocol(LazyKeepAliveProtocol):
    read_timeout_s: ClassVar[float] = 10.0
    write_timeout_s: ClassVar[float] = 60.0
    max_connections: ClassVar[int] = connection_cap.DEFAULT_MAX_CONNECTIONS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_since: float | None = None  # loop.time() a head began, while it is unfinished
        self._in_body = False  # between a head's end and its message's end
        self._head_bytes = 0  # read since the head began (counted per read, so a bit over)
        self._discarding = False  # answered 431: what the client still sends is dropped
        self._chunk_open = (
            False  # a chunk's size line read, none of its data yet: trailers may come
        )
        self._rest_timer: asyncio.TimerHandle | None = None  # an answered request's body's rest
        self._write_timer: asyncio.TimerHandle | None = None  # while writing is paused
        self._running: Any = None  # the request cycle whose app was started last
        # a refusal written only once the answers to the requests ahead of it are (see
        # _answer_then_linger)
        self._deferred: bytes | None = None
        self._in_message = False  # between a message's first byte and its end
        self._half_closed = False  # the client sent EOF after a whole request (half_close.py)
        self._connection = ClientConnection()
        self._over_cap = False  # came past server.max_connections with none idle to close

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        in_head = not self._in_body or self._chunk_open  # a head, or maybe trailers
        if in_head:
            self._head_bytes += len(data)
        _Uvicorn.data_received(self, data)
        # a read that ended the head is not held against it: only a head still unfinished
        still_in_head = not self._in_body or self._chunk_open
        if in_head and still_in_head and self._head_bytes > MAX_HEAD_BYTES:
            why = f"The request line and headers exceed {MAX_HEAD_BYTES} bytes."
            self._refuse(self._answer(HeadTooLarge(why)))
        elif self._head_since is not None and self._head_timer is None and not self._ending():
            # a head begun and not finished by this read: from now on it can stall
            when = self._head_since + self.read_timeout_s
            self._head_timer = self.loop.call_at(when, self._too_slow)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # every write of the connection (each request's cycle, and ours: 400/408/431, closes)
        # goes through it: one send per loop step, and a close never passes held bytes by
        self.transport = StepWrites(transport)  # type: ignore[assignment]
        self._connection.flow = self.flow
        self._arm()
        if not connection_cap.make_room(self.connections, self.max_connections):
            self._over_cap = True

    def on_message_begin(self) -> None:
        _Uvicorn.on_message_begin(self)
        self._in_message = True
        # timed from here; the timer is armed only if the read ends before the head does (a
        # new connection's timer runs on: its first head gets no extra time)
        if self._head_timer is None:
            self._head_since = self.loop.time()

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._in_body:
            return  # a trailer field (after a chunked body): not one of the request's headers
        headers = self.headers
        if len(headers) >= MAX_HEADER_FIELDS:
            raise _TooManyHeaders
        # uvicorn's on_header, inlined (a call less per header line, ~6 a request); llhttp keeps
        # trailing OWS, which RFC 9110 5.5 excludes from the value
        name = name.lower()
        value = value.rstrip(b" \t")
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        headers.append((name, value))

    def on_chunk_header(self) -> None:
        self._chunk_open = True

    def on_body(self, body: bytes) -> None:
        if self._discarding:
            return  # a request dropped unanswered (past MAX_PIPELINED): not the latest's body
        if self._chunk_open:
            self._chunk_open = False
            self._head_bytes = 0
        _Uvicorn.on_body(self, body)

    def on_headers_complete(self) -> None:
        self._disarm()
        if self._discarding:
            return  # the rest of a read after a refusal or MAX_PIPELINED: parsed, not served
        if len(self.pipeline) >= MAX_PIPELINED:
            self._stop_taking_requests()
            return
        if self._over_cap:  # room may have come since it connected
            if not connection_cap.make_room(self.connections, self.max_connections):
                refusal = connection_cap.refusal(self.max_connections)
                self._answer_then_linger(self._answer(refusal))
                return
            self._over_cap = False
        if self.parser.should_upgrade() and not self._should_upgrade() and self._has_body():
            # httptools ends an upgrade request at its head: its body would be lost
            self._answer_then_linger(self._answer(upgrade_refused(self._get_upgrade() or b"")))
            return
        self._in_body = self._connection.body_due = True
        self._head_bytes = 0
        self.scope[SCOPE_KEY] = self._connection  # type: ignore[literal-required]
        _Uvicorn.on_headers_complete(self)
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:  # (a cycle was made for it)
            if self.scope.get("http_version") == "1.0":
                close_delimited.use_for(cycle)  # no chunked answer to HTTP/1.0 (RFC 9112 6.1)
            else:
                cycle.__class__ = LeanCycle  # (no state of its own)

    def on_message_complete(self) -> None:
        self._in_message = False
        if self._discarding:
            return  # refused at its head (an upgrade): no request was started
        self._in_body = self._connection.body_due = self._chunk_open = False
        self._head_bytes = 0
        if self._rest_timer is not None:
            self._stop_rest_timer()
        _Uvicorn.on_message_complete(self)

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        self._running = cycle  # (uvicorn starts one here, or when the one ahead is answered)
        super()._start_asgi_task(cycle, app)

    def on_response_complete(self) -> None:
        _Uvicorn.on_response_complete(self)
        if self._deferred is not None and not self._answers_due():
            response, self._deferred = self._deferred, None
            self._write_and_linger(response)
            return
        if self._half_closed and not self._answers_due() and not self._closing():
            self.transport.close()  # every request it sent is answered; none can follow
            return
        answered = self.cycle is not None and self.cycle.response_complete  # the latest request
        if answered and self._in_body and self._rest_timer is None and not self._closing():
            # answered before its body ended: the rest is dropped as it comes, within the timeout
            self._rest_timer = self.loop.call_later(self.read_timeout_s, self._rest_too_slow)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(self.write_timeout_s, self._write_stalled)

    def resume_writing(self) -> None:
        self._stop_write_timer()
        super().resume_writing()

    def eof_received(self) -> bool | None:  # type: ignore[override]  # (asyncio: True keeps it)
        """The client shut down its write side. Requests it sent whole are still answered
        (the transport stays open for writing, half_close.py); one cut short (a head or body
        unfinished), or nothing left to answer: the connection closes, as uvicorn's did. A
        refusal waiting behind the answers ahead of it (pipelined) still follows them.
        An EOF while the latest answer is being sent (a stream begun, not ended) is a client
        gone, as uvicorn read it: no SSE client half-closes mid-answer (a script's `nc -N` sends
        its EOF with the request, before any answer begins: the probe below), and kept open, a
        client that has left would be heard only at the stream's next write, which a silent
        upstream (a reasoning model thinking) may not make for minutes while it runs and bills."""
        if not self._answers_due():
            return None
        if self._deferred is None and (self._discarding or self._in_message):
            return None
        running = self._running
        if running is not None and running.response_started and not running.response_complete:
            return None  # the transport closes: connection_lost, the request's call cancelled
        self._half_closed = True
        unstarted = running is not None and not running.response_started
        if unstarted and running.scope.get("http_version") == "1.1":  # (no 1xx to HTTP/1.0)
            running.waiting_for_100_continue = False  # (this is its 100, if it asked)
            self.transport.write(half_close.CONTINUE)
            for delay in half_close.LOOKS_S:
                self.loop.call_later(delay, self._look_for_reset)
        return True

    def _look_for_reset(self) -> None:
        if not self._closing() and half_close.peer_reset(self.transport):
            self.transport.abort()  # connection_lost: the request hears its client is gone

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._stop_rest_timer()
        self._stop_write_timer()
        super().connection_lost(exc)
        self._connection.fire_lost()

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.read_timeout_s, self._too_slow)

    def _closing(self) -> bool:
        return self.transport.is_closing()

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this from its `except httptools.HttpParserError` (its msg is fixed)
        failure = sys.exception()
        if failure is not None and failure.__context__ is not None:  # a callback's own error
            failure = failure.__context__  # (a URL over 64 KiB: "url is too long: ...")
        if isinstance(failure, _TooManyHeaders):
            why = f"The request has more than {MAX_HEADER_FIELDS} header fields."
            self._refuse(self._answer(HeadTooLarge(why)))
            return
        reason = str(failure) if failure is not None and str(failure) else "unparseable"
        why = f"The request is not valid HTTP/1.1: {reason[:200]}."
        self._refuse(self._answer(InvalidRequest(why)))

    def _ending(self) -> bool:
        return self._discarding or self._closing()

    def _disarm(self) -> None:
        self._head_since = None
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _stop_taking_requests(self) -> None:
        """Too many pipelined requests: those queued are answered, the last with `Connection:
        close`; this one and all that follow on the connection are dropped unanswered."""
        self._discarding = True
        self._in_body = self._connection.body_due = self._chunk_open = False
        self.pipeline[0][0].keep_alive = False  # the newest queued (uvicorn appends left)

    def _has_body(self) -> bool:
        for name, value in self.headers:
            if name == b"transfer-encoding" or (name == b"content-length" and value.strip(b"0")):
                return True
        return False

    def _stop_rest_timer(self) -> None:
        if self._rest_timer is not None:
            self._rest_timer.cancel()
            self._rest_timer = None

    def _stop_write_timer(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _write_stalled(self) -> None:
        self._write_timer = None
        self.transport.abort()  # what is unsent will not be read; connection_lost follows

    def _rest_too_slow(self) -> None:
        self._rest_timer = None
        self.transport.close()  # its answer went out a timeout ago

    def _refuse(self, response: bytes) -> None:
        """Answer `response` and close; in a body (trailers, a broken chunk) the request's app
        is running: it hears a disconnect instead, or, if it has begun its answer, the
        connection just closes (no second answer to give). A refused request still queued
        behind another (pipelined) leaves the queue: its app never starts."""
        cycle = self.cycle if self._in_body else None
        if cycle is not None:
            queued = next((entry for entry in self.pipeline if entry[0] is cycle), None)
            if queued is not None:
                self.pipeline.remove(queued)
            elif cycle.response_started:
                self.transport.close()
                return
            else:
                cycle.disconnected = True
                cycle.message_event.set()
        self._answer_then_linger(response)

    def _too_slow(self) -> None:
        self._head_timer = self._head_since = None
        response = self._answer(RequestTimeout("The request headers did not arrive in time."))
        if self._answers_due():  # behind the answers ahead, as any refusal (no linger needed)
            self._answer_then_linger(response)
        else:
            self._close_with(response)

    def _answers_due(self) -> bool:
        """Whether a request ahead of the one being read still awaits its answer: the one
        being answered, or one queued (pipelined) behind it."""
        running = self._running
        if running is not None and not running.response_complete and not running.disconnected:
            return True
        return bool(self.pipeline)

    def _answer(self, err: ArbiterError) -> bytes:
        """`err` in the caller's surface shape, with what the head so far says (its path, its
        x-request-id): the request whose head is being read, or was last read."""
        # (before a connection's first request began, uvicorn has set neither)
        return closing_answer(err, getattr(self, "url", b""), self.headers or ())

    def _answer_then_linger(self, response: bytes) -> None:
        """Answer, half-close, and drop what still comes for a moment before closing: closing
        with unread input would reset the connection, and the client could lose the answer.
        Answers go out in the order of the requests (RFC 9112 9.3.2): with requests ahead
        still unanswered (pipelined), the refusal waits for their answers; nothing after it
        is read."""
        if self.transport.is_closing():
            return
        self._disarm()
        self._discarding = True
        if self._answers_due():
            self._deferred = response
            return
        self._write_and_linger(response)

    def _write_and_linger(self, response: bytes) -> None:
        if self.transport.is_closing():
            return
        self.cancel_keep_alive()  # the linger decides when it closes
        self.transport.write(response)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(_LINGER_S, self.transport.close)

    def _close_with(self, response: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()


class _WakingProtocol(ClientReadTimeoutProtocol):
    """The protocol with `server.idle_poll_us` on: each read (re)starts the loop's poll window
    (idle_poll.py). A subclass, so the default protocol pays nothing for the option."""

    idle_poll: ClassVar[IdlePoll]

    def data_received(self, data: bytes) -> None:
        self.idle_poll.wake(self.loop)
        super().data_received(data)


def protocol_with_read_timeout(
    timeout_s: float,
    write_timeout_s: float = 60.0,
    idle_poll: IdlePoll | None = None,
    max_connections: int = connection_cap.DEFAULT_MAX_CONNECTIONS,
) -> type[ClientReadTimeoutProtocol]:
    """The protocol class to give uvicorn (`http=`), with this head timeout (and write one);
    `idle_poll`: keep the loop polling after each read (None: the loop sleeps when idle);
    `max_connections`: connection_cap.py's bound."""
    attrs: dict[str, Any] = {
        "read_timeout_s": timeout_s, "write_timeout_s": write_timeout_s,
        "max_connections": max_connections,
    }  # fmt: skip
    if idle_poll is None:
        return type("ClientReadTimeoutProtocol", (ClientReadTimeoutProtocol,), attrs)
    attrs["idle_poll"] = idle_poll
    return type("ClientReadTimeoutProtocol", (_WakingProtocol,), attrs)
