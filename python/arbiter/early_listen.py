"""A lone `arbiter serve` listens from before its start-up: its store's migration may wait
`store.migrate_lock_wait_s` for another replica's, and a port nobody answers on reads to a
Kubernetes startupProbe as a dead process. Until the app serves, a thread answers each
connection once and closes it: `/livez` 200, `/readyz` and `/healthz` 503 `starting`, any other
request a 503 `starting` in its surface's error shape (Anthropic's under /v1/messages or with
`anthropic-version`, else OpenAI's) with `Retry-After`, so the SDKs retry it. Nothing it accepts
is lost: each gets a whole answer before its close; what it has not accepted waits in the
socket's backlog for the app, which takes the same socket once its start-up is done (`stop`).

The head is read by hand, bounded (16 KiB, 5 s) and split by fixed separators: no parser that
can backtrack runs on it. 32 connections are answered at once; while all 32 slots are taken and
another connection waits to be accepted, the oldest one still reading its head after 0.2 s is
closed to make room (a probe sends its head with its connect, so only an idle or trickling client
is still reading then), and silent connections cannot starve a liveness probe (before, each held
its slot for the whole 5 s: 32 of them delayed every probe by up to 5 s).
A worker of a `server.workers` set does not use this: its supervisor's /healthz counts workers
(worker_ready.py) and a worker listens once its own start-up is done (workers.py)."""

from __future__ import annotations

import logging
import select
import socket
import threading
import time

import orjson

from arbiter.errors import ArbiterError
from arbiter.surfaces import anthropic_messages, openai_chat

log = logging.getLogger("arbiter.serve")

MAX_HEAD = 16 * 1024
HEAD_WAIT_S = 5.0  # one connection's whole exchange, its head read and its answer written
DRAIN_S = 1.0  # after the answer: what the client still sends, read and dropped (no RST)
SLOTS = 32  # connections answered at once; more wait in the backlog (or evict a silent one)
EVICTABLE_S = 0.2  # reading its head this long, a connection may be closed for one waiting
RETRY_AFTER_S = 2


class Starting(ArbiterError):
    """A request that came before the sidecar's start-up was done."""

    status = 503
    code = "starting"
    type = "server_error"


_STATUS = {200: b"200 OK", 503: b"503 Service Unavailable"}
_PROBES = {"/livez": 200, "/readyz": 503, "/healthz": 503}


def answer(head: bytes) -> bytes:
    """The whole HTTP answer to a request whose head (up to its blank line, or what came) is
    `head`: a probe's, or a 503 `starting` in the caller's error shape."""
    line, _, rest = head.partition(b"\r\n")
    parts = line.split(b" ")
    target = parts[1] if len(parts) == 3 else b""
    path = target.partition(b"?")[0].rstrip(b"/").decode("latin-1") or "/"
    status = _PROBES.get(path)
    headers = [b"content-type: application/json", b"connection: close"]
    if status is not None:
        body = orjson.dumps({"status": "ok" if status == 200 else "starting"})
    else:
        err = Starting("The sidecar is starting (its store is being opened and migrated); retry.")
        anthropic = path.startswith("/v1/messages") or any(
            h.partition(b":")[0].strip().lower() == b"anthropic-version"
            for h in rest.split(b"\r\n")
        )
        surface = anthropic_messages if anthropic else openai_chat
        body, status = surface.render_error(err)
        headers += [f"retry-after: {RETRY_AFTER_S}".encode(), b"x-should-retry: true"]
    headers.append(b"content-length: %d" % len(body))
    return b"HTTP/1.1 " + _STATUS[status] + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body


class EarlyListener:
    """Answers on `sock` (bound and listening) from `start` until `stop`."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._stopping = threading.Event()
        self._slots = threading.BoundedSemaphore(SLOTS)
        self._thread: threading.Thread | None = None
        # the connections still reading their head, oldest first; a thread takes its own out
        # under the lock before it closes it, so an eviction never shuts a closed (reused) fd
        self._reading: dict[socket.socket, float] = {}  # its accept's monotonic time
        self._reading_lock = threading.Lock()
        self.answered = 0
        self.evicted = 0

    def start(self) -> None:
        self._sock.settimeout(0.05)  # the accept loop looks at `_stopping` this often
        self._thread = threading.Thread(target=self._accept, name="arbiter-early", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting (connections already taken get their answer on their own threads)
        and give the socket back as it was, for the app's server. Idempotent."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            self._sock.settimeout(None)
            if self.answered:
                log.info("serving: %d connections answered `starting` before (%d silent ones "
                         "closed to make room)", self.answered, self.evicted)  # fmt: skip

    def _accept(self) -> None:
        while not self._stopping.is_set():
            if not self._slots.acquire(blocking=False):
                if self._someone_waits():
                    self._evict_oldest_reader()
                if not self._slots.acquire(timeout=0.05):
                    continue
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, BlockingIOError, InterruptedError):
                self._slots.release()
                continue
            except OSError as err:  # a connection reset while queued: the next one
                self._slots.release()
                log.debug("early accept: %s", err)
                continue
            self.answered += 1
            with self._reading_lock:
                self._reading[conn] = time.monotonic()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _someone_waits(self) -> bool:
        """Whether a connection waits in the backlog (the listening socket reads as ready)."""
        poll = select.poll()  # not select(): no limit on the fd's number
        try:
            poll.register(self._sock, select.POLLIN)
            return bool(poll.poll(0))
        except (OSError, ValueError):  # the socket closed under us: nothing to make room for
            return False

    def _evict_oldest_reader(self) -> None:
        """Close the oldest connection still reading its head after EVICTABLE_S: its thread's
        read ends at once and its slot comes free for the connection waiting."""
        with self._reading_lock:
            conn, since = next(iter(self._reading.items()), (None, 0.0))
            # none: every slot is writing an answer (those end within HEAD_WAIT_S); too young:
            # its head may still be on its way, the accept loop looks again in 50 ms
            if conn is None or time.monotonic() - since < EVICTABLE_S:
                return
            del self._reading[conn]
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                return  # the client left already
        self.evicted += 1

    def _serve(self, conn: socket.socket) -> None:
        try:
            with conn:
                end = time.monotonic() + HEAD_WAIT_S
                try:
                    head = _read_head(conn, end)
                finally:
                    with self._reading_lock:
                        self._reading.pop(conn, None)
                if head is None:
                    return  # closed, or nothing whole in time: nobody is waiting for an answer
                conn.settimeout(max(end - time.monotonic(), 0.1))
                conn.sendall(answer(head))
                conn.shutdown(socket.SHUT_WR)
                _drain(conn, time.monotonic() + DRAIN_S)
        except OSError:
            pass  # the client left: nothing to answer
        finally:
            self._slots.release()


def _read_head(conn: socket.socket, end: float) -> bytes | None:
    buf = b""
    while b"\r\n\r\n" not in buf and len(buf) < MAX_HEAD:
        left = end - time.monotonic()
        if left <= 0:
            return buf or None
        conn.settimeout(left)
        try:
            chunk = conn.recv(4096)
        except TimeoutError:
            return buf or None
        if not chunk:
            return buf or None
        buf += chunk
    return buf.partition(b"\r\n\r\n")[0]


def _drain(conn: socket.socket, end: float) -> None:
    """Read what the client still sends (a body) until it closes or `end`: a close with unread
    bytes would reset the connection, and the client could lose the answer it was sent."""
    taken = 0
    while taken < (1 << 20):
        left = end - time.monotonic()
        if left <= 0:
            return
        conn.settimeout(left)
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            return
        if not chunk:
            return
        taken += len(chunk)
