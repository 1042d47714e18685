"""A lean HTTP/1.1 keep-alive transport for httpx: asyncio protocols + httptools' parser.

Why: profiling showed httpcore's pool bookkeeping (an O(connections) rescan and a readability poll
of every pooled socket on each request) at ~78% of the sidecar's CPU under load. Upstream calls
keep the httpx client API; only the connection layer underneath is replaced. Supports http and
https, request/response streaming with back-pressure, connect/read/pool timeouts, and a bounded
pool; a connection is reused only after its response was read to the end.

What RFC 9112 lets a server do that a minimal client forgets: interim (1xx) answers before the
final one (a proxy's 103 Early Hints, an unasked 100 Continue) are read past, not taken for the
answer; a body with neither Content-Length nor chunked framing (HTTP/1.0, or HTTP/1.1 with
`Connection: close`) ends at the close. A connection that receives an answer it did not ask for
is dropped, never reused: its next answer could belong to another request.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, cast

import httptools
import httpx

from arbiter import shared_timeouts
from arbiter.answer_bytes import COUNTED_BYTES, Lease
from arbiter.upstream.answer_headers import AnswerHeaders
from arbiter.upstream.gathered import Gathered

_HIGH_WATER = 64  # buffered body chunks before the socket is paused (back-pressure)
_LOW_WATER = 16
# ... or buffered bytes: a read can be up to 256 KiB, so 64 of them could hold 16 MiB per response
_HIGH_WATER_BYTES = 1024 * 1024
IDLE_TTL_S = 4.0  # below common server keep-alive timeouts (uvicorn: 5 s), so rarely stale
# A response head (status line and headers) past this is refused. httptools sets no bound, and
# joins a header value's pieces by copying: a 32 MB header cost 4.8 s of event-loop CPU
# (quadratic), a head that never ends grew until the read timeout. Real heads are a few KiB;
# h11 (httpx's own) refuses past 16 KiB.
MAX_HEAD_BYTES = 64 * 1024
# A reused connection closed with no byte of an answer is retried on a fresh one only when the
# close came this soon after the request went out: a server's idle close crossing our reuse
# arrives within a round trip. One that held the request longer had it (a load balancer cutting
# a long generation at its idle timeout): sent again, the upstream would run and bill it twice.
STALE_CLOSE_S = 1.0


class _Conn(asyncio.Protocol):
    """One HTTP/1.1 connection; serves one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.keep_alive = True
        self.complete = False
        self._parser = httptools.HttpResponseParser(self)
        self._head: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._chunks: deque[bytes | BaseException | None] = deque()
        self._wake: asyncio.Event = asyncio.Event()
        self._paused = False
        self._buffered = 0  # bytes in _chunks
        # bytes read of the response head (and of the interim heads before it); -1: not reading one
        self._head_bytes = -1
        self._interim = False  # the message being parsed is a 1xx: the final answer follows it
        self._awaiting = False  # a request was sent and its final answer has not ended yet
        self._status = 0  # the final answer's status, once its head is complete
        self._failed = False
        self._sent_at = 0.0  # when the current request was written (the loop's clock)

    # -- asyncio callbacks ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but have its methods
        self.transport = cast(asyncio.Transport, transport)
        # the connection's loop, kept: asyncio.get_running_loop() is a getpid() system call
        # (CPython 3.11 checks the loop was not forked), and each request asked it again
        self._loop = asyncio.get_running_loop()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.complete:
            return
        if exc is None and self._awaiting and self._head_bytes < 0 and self._until_close():
            # RFC 9112 6.3 (8): no declared length, so the close is the body's end (httptools
            # has no call for the EOF, which llhttp would need to say so itself). A reset is no
            # such end: exc is set then.
            self._end(keep_alive=False)
            return
        self._fail(httpx.RemoteProtocolError(f"upstream closed the connection ({exc or 'EOF'})"))

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as err:
            # (an upgrade, 101, is no HttpParserError: it escaped into asyncio's fatal-error log)
            self._fail(httpx.RemoteProtocolError(f"malformed HTTP response: {err!r}"))
            self.close()
            return
        if self._failed:  # a callback refused what came (an answer nobody asked for)
            self.close()
            return
        if self._head_bytes >= 0:  # the head is still unfinished after this read
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._fail(
                    httpx.RemoteProtocolError(f"response head larger than {MAX_HEAD_BYTES} bytes")
                )
                self.close()

    # -- httptools callbacks ----------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        if not self._awaiting:
            # an answer with no request outstanding (sent while idle, or a second one after a
            # request's answer): whatever comes next on this connection cannot be paired with
            # a request, so the connection goes (told here, not in an on_message_begin: one
            # more Python callback per answer on the hot path)
            self._fail(httpx.RemoteProtocolError("upstream sent an answer nobody asked for"))
            return
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            # an interim answer (RFC 9110 15.2: a client must read past any number of them);
            # its bytes still count toward the head's bound, so endless 1xx heads are refused
            # as one endless head is. 101 would switch protocols, which we never ask for.
            self._headers = []
            self._interim = True
            if status == 101:
                self._fail(httpx.RemoteProtocolError("upstream switched protocols unasked (101)"))
            return
        self._head_bytes = -1
        self._status = status
        if self._head is not None and not self._head.done():
            self._head.set_result((status, self._headers))

    def _until_close(self) -> bool:
        """Whether the answer's body runs to the close: it has a body (not a 204 or 304; we
        send no HEAD) and declares neither a length nor chunked framing. (Asked only at a
        close, so an answer that ends as framed costs nothing for it.)"""
        if self._status in (204, 304):
            return False
        for name, value in self._headers:
            name = name.lower()
            if name == b"content-length" or (
                name == b"transfer-encoding" and b"chunked" in value.lower()
            ):
                return False
        return True

    def on_body(self, body: bytes) -> None:
        self._chunks.append(bytes(body))
        self._buffered += len(body)
        self._wake.set()
        full = len(self._chunks) > _HIGH_WATER or self._buffered > _HIGH_WATER_BYTES
        if full and self.transport is not None and not self._paused:
            self._paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if self._interim:  # the final answer is still to come
            self._interim = False
            return
        self._end(keep_alive=self._parser.should_keep_alive())

    # -- used by the transport --------------------------------------------------------------
    def _end(self, *, keep_alive: bool) -> None:
        self._awaiting = False
        self.complete = True
        self.keep_alive = keep_alive
        self._chunks.append(None)
        self._wake.set()

    def _fail(self, err: BaseException) -> None:
        self._failed = True
        self._awaiting = False
        if self._head is not None and not self._head.done():
            self._head.set_exception(err)
        self._chunks.append(err)
        self._wake.set()

    def start(self, data: bytes) -> asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]]:
        assert self.transport is not None
        self.complete = False
        self._headers = []
        self._chunks.clear()
        self._buffered = 0
        self._head_bytes = 0
        self._interim = False
        self._awaiting = True
        self._head = self._loop.create_future()
        self._sent_at = time.monotonic()
        self.transport.write(data)
        return self._head

    async def next_chunk(self, read_timeout: float | None) -> bytes | None:
        while not self._chunks:
            self._wake.clear()
            try:
                async with shared_timeouts.timeout(read_timeout):
                    await self._wake.wait()
            except TimeoutError as err:
                raise httpx.ReadTimeout("no data from upstream within the read timeout") from err
        return self._take()

    def ready(self) -> bytes | None:
        """The next body piece if it has come already (taken: no wait, so no timer), else None
        (the end, an error or nothing yet: next_chunk says which)."""
        chunks = self._chunks
        while chunks and isinstance(chunks[0], bytes):
            piece = self._take()
            if piece:
                return piece
        return None

    def _take(self) -> bytes | None:
        item = self._chunks.popleft()
        if isinstance(item, bytes):
            self._buffered -= len(item)
        if (
            self._paused
            and len(self._chunks) < _LOW_WATER
            and self._buffered < _HIGH_WATER_BYTES // 4
            and self.transport is not None
        ):
            self._paused = False
            self.transport.resume_reading()
        if isinstance(item, BaseException):
            raise item
        return item

    def unread(self) -> bytes:
        """Body bytes received and not yet handed out (the answer ran ahead of its reader)."""
        return b"".join(c for c in self._chunks if isinstance(c, bytes))

    def at_end(self) -> bool:
        """The answer's end has come and no byte of its body is left unread."""
        return bool(self._chunks) and self._chunks[0] is None

    def nothing_received(self) -> bool:
        """No byte of an answer came since the request was sent (an interim 1xx did: the server
        has the request, so it is not retried on another connection)."""
        return self._head_bytes == 0 and not self.complete

    def closed_at_once(self) -> bool:
        """Nothing of an answer came and the close followed the request within STALE_CLOSE_S:
        the server's idle close crossed it, and the request was never read."""
        return self.nothing_received() and time.monotonic() - self._sent_at < STALE_CLOSE_S

    def reusable(self) -> bool:
        return (
            self.complete
            and self.keep_alive
            and not self.closed
            and not self._chunks
            and not self._failed
        )

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Pool:
    """Idle connections to one origin, reused most-recent first; at most `limit` open."""

    def __init__(
        self, host: str, port: int, ssl_context: ssl.SSLContext | None, limit: int
    ) -> None:
        self.host, self.port, self.ssl = host, port, ssl_context
        self.idle: list[tuple[float, _Conn]] = []
        self.slots = asyncio.Semaphore(limit)
        self.busy = 0  # connections out with a request (acquired, not yet released)
        # the transport was retired (a reload replaced its upstream's settings): a connection
        # is closed when its request ends, never put back to be reused
        self.retired = False

    async def acquire(
        self, connect_timeout: float | None, pool_timeout: float | None, *, fresh: bool = False
    ) -> tuple[_Conn, bool]:
        """A connection, and whether it was reused from the idle list."""
        if self.slots.locked():  # only a wait needs a timer
            try:
                async with asyncio.timeout(pool_timeout):
                    await self.slots.acquire()
            except TimeoutError as err:
                raise httpx.PoolTimeout(
                    "no upstream connection free within the pool timeout"
                ) from err
        else:
            await self.slots.acquire()
        now = time.monotonic()  # (the loop's clock, without get_running_loop's getpid())
        while self.idle and not fresh:
            since, conn = self.idle.pop()
            if not conn.closed and now - since < IDLE_TTL_S:
                self.busy += 1
                return conn, True
            conn.close()
        try:
            async with asyncio.timeout(connect_timeout):
                _, conn = await asyncio.get_running_loop().create_connection(
                    _Conn, self.host, self.port, ssl=self.ssl,
                    server_hostname=self.host if self.ssl else None,
                )  # fmt: skip
        except TimeoutError as err:
            self.slots.release()
            raise httpx.ConnectTimeout(f"connecting to {self.host}:{self.port} timed out") from err
        except OSError as err:
            self.slots.release()
            raise httpx.ConnectError(f"cannot connect to {self.host}:{self.port}: {err}") from err
        except BaseException:
            self.slots.release()
            raise
        self.busy += 1
        return conn, False

    def release(self, conn: _Conn) -> None:
        self.busy -= 1
        if conn.reusable() and not self.retired:
            self.idle.append((time.monotonic(), conn))
        else:
            conn.close()
        self.slots.release()

    def close(self) -> None:
        while self.idle:
            self.idle.pop()[1].close()


class PooledBody(httpx.AsyncByteStream):
    def __init__(self, conn: _Conn, pool: _Pool, read_timeout: float | None) -> None:
        self._conn, self._pool, self._timeout = conn, pool, read_timeout
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self._conn.next_chunk(self._timeout)
            if chunk is None:
                return
            yield chunk

    async def read_at_most(self, limit: int, lease: Lease | None = None) -> bytes | None:
        """The whole body, or None as soon as it is larger than `limit` bytes; what
        httpx.Response.aiter_bytes gives for a body without Content-Encoding, without its
        three async generators (each registered with the loop and finalized) per response."""
        body = Gathered()
        while (chunk := await self._conn.next_chunk(self._timeout)) is not None:
            if body.size + len(chunk) > limit:
                return None
            body.add(chunk)
            if lease is not None and body.size > COUNTED_BYTES:
                await lease.past_counted(limit)  # (answer_bytes.py: no share taken yet)
                lease = None
        return body.value()

    def ready(self) -> bytes | None:
        """The next piece if it has come already (_Conn.ready), else None."""
        return self._conn.ready()

    async def next_piece(self) -> bytes | None:
        """The next piece, waiting for it (the read timeout), or None at the end."""
        return await self._conn.next_chunk(self._timeout)

    def at_end(self) -> bool:
        """Only the body's end is left to read (_Conn.at_end): reading it waits for nothing."""
        return not self._released and self._conn.at_end()

    def unread(self) -> bytes:
        """What the connection received of this body and nobody read yet."""
        return b"" if self._released else self._conn.unread()

    async def aclose(self) -> None:
        if not self._released:
            self._released = True
            self._pool.release(self._conn)  # reused only if the response was read to its end


class RawPieces:
    """What `httpx.Response.aiter_raw()` yields for a response of this transport (the body's
    pieces as they came, empty ones skipped; the response closed after the last), without its
    two async generators per piece (httpx's and PooledBody's: frames resumed, a chunker, a
    context manager, per piece of a stream); and `ready()`: the next piece when it has come
    already, which a reader takes without a timer (bench/results/scale.md, eighteenth
    session)."""

    __slots__ = ("_body", "_ended", "_resp", "_started")

    def __init__(self, resp: httpx.Response, body: PooledBody) -> None:
        self._resp, self._body, self._started = resp, body, False
        # ended (the last piece, or an error): never read again, as a finished generator (the
        # connection may serve another request by then)
        self._ended = False

    def __aiter__(self) -> RawPieces:
        return self

    def _start(self) -> None:
        resp = self._resp
        if resp.is_stream_consumed:  # (aiter_raw's checks, at its first step as there)
            raise httpx.StreamConsumed()
        if resp.is_closed:
            raise httpx.StreamClosed()
        resp.is_stream_consumed = True
        resp._num_bytes_downloaded = 0
        self._started = True

    def ready(self) -> bytes | None:
        if self._ended:
            return None
        if not self._started:
            self._start()
        piece = self._body.ready()
        if piece is not None:
            self._resp._num_bytes_downloaded += len(piece)
        return piece

    def at_end(self) -> bool:
        """Nothing is left to read but the end, or the body ended already."""
        return self._ended or self._body.at_end()

    async def __anext__(self) -> bytes:
        if self._ended:
            raise StopAsyncIteration
        if not self._started:
            self._start()
        try:
            while (piece := await self._body.next_piece()) is not None:
                if piece:
                    self._resp._num_bytes_downloaded += len(piece)
                    return piece
            self._ended = True
            await self._resp.aclose()
        except BaseException as err:
            self._ended = True
            request = getattr(self._resp, "_request", None)
            if isinstance(err, httpx.RequestError) and request is not None:
                err.request = request  # (aiter_raw's request_context)
            raise
        raise StopAsyncIteration


def raw_pieces(resp: httpx.Response) -> RawPieces | AsyncIterator[bytes]:
    """`resp.aiter_raw()`, as RawPieces for a response of this transport."""
    body = resp.stream
    return RawPieces(resp, body) if isinstance(body, PooledBody) else resp.aiter_raw()


class H1Transport(httpx.AsyncBaseTransport):
    def __init__(self, *, max_connections_per_origin: int = 512) -> None:
        self._pools: dict[tuple[str, str, int], _Pool] = {}
        self._limit = max_connections_per_origin
        self._ssl: ssl.SSLContext | None = None
        self._retired = False

    def _pool(self, url: httpx.URL) -> _Pool:
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported scheme {scheme!r}")
        port = url.port or (443 if scheme == "https" else 80)
        key = (scheme, url.host, port)
        pool = self._pools.get(key)
        if pool is None:
            if scheme == "https" and self._ssl is None:
                self._ssl = ssl.create_default_context()
            pool = self._pools[key] = _Pool(
                url.host, port, self._ssl if scheme == "https" else None, self._limit
            )
            pool.retired = self._retired
        return pool

    def retire(self) -> None:
        """Its upstream's settings were replaced (a reload: a new key or base URL): the idle
        connections close now, each busy one when its request ends (a stream in flight runs to
        its end on the old connection, the old key). A late request still works, on a
        connection closed after it."""
        self._retired = True
        for pool in self._pools.values():
            pool.retired = True
            pool.close()

    @property
    def busy(self) -> int:
        """Connections out with a request now."""
        return sum(pool.busy for pool in self._pools.values())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        body = await request.aread()
        head = [request.method.encode(), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
        for name, value in request.headers.raw:
            head += [name, b": ", value, b"\r\n"]
        data = b"".join([*head, b"\r\n", body])
        return await self.send_bytes(request.url, data, timeouts, request)

    async def send_bytes(
        self,
        url: httpx.URL,
        data: bytes,
        timeouts: dict[str, Any],
        request: httpx.Request | None = None,
    ) -> httpx.Response:
        """Send one whole request already serialised (`data`: its head and body) to `url`'s
        origin. The providers' calls come here directly: an httpx.Request per call, only to be
        turned back into these bytes, cost more than the rest of the send (overhead.profile.md,
        eighth session)."""
        pool = self._pool(url)
        conn, reused = await pool.acquire(timeouts.get("connect"), timeouts.get("pool"))
        held = True
        try:
            try:
                status, headers = await self._send(conn, data, timeouts.get("read"))
            except httpx.RemoteProtocolError:
                if not reused or not conn.closed_at_once():
                    raise
                # the server closed an idle keep-alive connection as we reused it: it never saw
                # this request, so one retry on a fresh connection is safe
                pool.release(conn)
                held = False
                conn, _ = await pool.acquire(
                    timeouts.get("connect"), timeouts.get("pool"), fresh=True
                )
                held = True
                status, headers = await self._send(conn, data, timeouts.get("read"))
        except BaseException:
            if held:
                conn.close()  # timed out, cancelled or broken mid-request: never reused
                pool.release(conn)
            raise
        resp = httpx.Response(
            status, stream=PooledBody(conn, pool, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1"}, request=request,
        )  # fmt: skip
        resp.headers = AnswerHeaders(headers)  # looked up through a dict (answer_headers.py)
        return resp

    @staticmethod
    async def _send(
        conn: _Conn, data: bytes, read_timeout: float | None
    ) -> tuple[int, list[tuple[bytes, bytes]]]:
        try:
            async with shared_timeouts.timeout(read_timeout):
                return await conn.start(data)
        except TimeoutError as err:
            raise httpx.ReadTimeout("no response head within the read timeout") from err

    async def aclose(self) -> None:
        for pool in self._pools.values():
            pool.close()
