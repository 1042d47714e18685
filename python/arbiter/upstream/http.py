"""What every HTTP upstream shares, whatever its protocol: the pooled transport and its timeouts,
reading with a byte cap, SSE line splitting under a deadline, the safe wording of errors, and the
upstream's cost telemetry. The protocol files (openai.py, anthropic.py) keep only what their
wire format decides: the URL and headers, the body, how an error body is classified and how
events are told apart.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import string
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, NoReturn

import httpx
import orjson

from arbiter import answer_bytes, canonical, request_log, shared_timeouts, telemetry
from arbiter.canonical import Protocol
from arbiter.config import FailoverSettings, UpstreamSettings
from arbiter.errors import (
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from arbiter.log_secrets import without_secrets
from arbiter.types import Usage
from arbiter.upstream import content_coding, lenient_json, sse_idle
from arbiter.upstream.error_answer import cut_error_answer, whole_error_answer
from arbiter.upstream.gathered import Gathered
from arbiter.upstream.redirect import redirect_error
from arbiter.upstream.transport import H1Transport, PooledBody, RawPieces, raw_pieces

log = logging.getLogger(__name__)
_COST_HEADERS = ("x-upstream-cost-usd", "x-cost-usd", "x-openrouter-cost")
_RATE_LIMIT_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")
_DRAINS: set[asyncio.Task[None]] = set()  # streams' rests being read after their end event


async def end_drains() -> None:
    """Stop this loop's reads of streams' rests (SSEStream._drain) at the sidecar's stop: each
    closes its response (its connection dropped) as it ends, before the loop closes."""
    loop = asyncio.get_running_loop()
    mine = [task for task in _DRAINS if task.get_loop() is loop]
    if mine:
        # each takes its first step first: a task cancelled before it ever ran never runs its
        # `finally`, so its response was never closed and its connection never released nor
        # closed (a socket left to the garbage collector at every stop that raced a drain)
        await asyncio.sleep(0)
    for task in mine:
        task.cancel()
    if mine:
        await asyncio.wait(mine)


def forwarded_headers(headers: httpx.Headers) -> dict[str, str]:
    """What of an upstream's answer headers reaches the client: its rate-limit headers as they
    are, and its own request id (OpenAI's `x-request-id`, Anthropic's `request-id`) under both
    names, so either SDK's `_request_id` names the provider's request. Only printable ASCII
    values: httpx reads UTF-8 header bytes as such, and Latin-1 (the wire's) cannot hold them."""
    out: dict[str, str] = {}
    # the lines as httpx keeps them (name, lower-cased name, value: `raw` would copy them and
    # `multi_items` decode every one), decoding only what is forwarded; an ASCII value reads
    # the same in every encoding httpx might pick, and printable ASCII is what deleting
    # 0x20-0x7e leaves nothing of
    for _, name, raw_value in headers._list:
        if name.startswith(_RAW_RATE_LIMIT_PREFIXES):
            key = name.decode("ascii") if name.isascii() else name.decode(headers.encoding)
        elif name in (b"x-request-id", b"request-id"):
            key = ""
        else:
            continue
        if not raw_value.isascii() or raw_value.translate(None, _PRINTABLE_ASCII):
            continue
        value = raw_value.decode("ascii")
        if key:
            out[key] = value
        else:
            out["x-request-id"] = out["request-id"] = value
    return without_secrets(out) if out else out  # none quoting our key (log_secrets)


_RAW_RATE_LIMIT_PREFIXES = tuple(p.encode() for p in _RATE_LIMIT_PREFIXES)
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


# The most one call can be: no model's context holds 10^8 tokens, and 10^8 tokens at the
# dearest list prices cost a few thousand dollars. Past these an upstream's number is no
# telemetry but a broken or hostile one: a count of 2^64 - 1 overflowed the store's INTEGER (the
# decision was dropped), 9e18 tokens or a cost of 1e308 became the request's spend (sums past
# that are inf) and taught the price and length models. Such a number counts as not reported.
# (The cost is judged per call too, against the model's prices: cost_report.py.)
MAX_CALL_TOKENS = canonical.MAX_CALL_TOKENS  # kept there: the protocols' decoders read it
MAX_CALL_COST_USD = 10_000.0


def _cost(value: float) -> float | None:
    """A reported cost we may add to spend: finite ("nan" / "inf" parse, and would poison every
    sum after), at most MAX_CALL_COST_USD; a negative one is 0."""
    if not math.isfinite(value) or value > MAX_CALL_COST_USD:
        return None
    return max(value, 0.0)


def reported_cost(body: dict[str, Any] | None, headers: httpx.Headers | None) -> float | None:
    """The upstream's own cost telemetry: `usage.cost` in the body, or a cost header. A
    non-finite one (`NaN`, `Infinity`: lenient_json reads them; a header's `nan`, `inf`) with
    no other is NaN, for cost_report.vetted to drop with the alert every report not believed
    raises."""
    usage = (body or {}).get("usage") or {}
    cost = usage.get("cost") if isinstance(usage, dict) else None
    non_finite = isinstance(cost, float) and not math.isfinite(cost)
    if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0:
        believed = _cost(float(cost))
        if believed is not None:
            return believed
    if headers is None:
        return math.nan if non_finite else None
    # a `get` of an absent name raises and catches a KeyError in httpx.Headers: asked first
    # (our transport's AnswerHeaders answer both from a dict)
    for name in _COST_HEADERS:
        value = headers.get(name) if name in headers else None
        if value:
            try:
                number = float(value)
            except ValueError:
                continue
            cost = _cost(number)
            if cost is not None:
                return cost
            # `x-cost-usd: nan` / `inf` was dropped unseen: a report to drop with the alert
            non_finite = non_finite or not math.isfinite(number)
    return math.nan if non_finite else None


# The longest pause an upstream's Retry-After is taken (and passed on) for: Arbiter holds the
# model no longer (failover.MAX_HOLD_S), and the anthropic SDK sleeps whatever a Retry-After
# says (up to 50 days) before its retry; openai's does not retry past 120 s
MAX_RETRY_AFTER_S = 300.0


def _pause(seconds: float) -> float | None:
    """A pause the upstream asked for, as one we can act on and pass on: `nan` and `inf`
    (`1e999` reads as inf) are unreadable, a negative one is 0, a longer one MAX_RETRY_AFTER_S."""
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds the upstream asked us to wait: `retry-after-ms`, else `Retry-After` as seconds
    or an HTTP date; None when absent or unreadable (not a finite number)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return _pause(float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return _pause(float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return _pause(when.timestamp() - (time.time() if now is None else now))


# What an upstream status means, in words we choose: the upstream's own error text never reaches
# a client (it can quote the operator's key, hosts or account details); only the log keeps it.
_STATUS_WORDS = {
    400: "bad request", 401: "authentication failed", 402: "payment required",
    403: "permission denied", 404: "not found", 408: "timeout", 409: "conflict",
    413: "request too large", 415: "unsupported media type", 422: "unprocessable request",
    429: "rate limited", 529: "overloaded",
}  # fmt: skip
# the characters of an upstream error code, type or param we may echo (a set, not a regex:
# upstream text goes through nothing that can backtrack)
_CODE_CHARS = frozenset(string.ascii_letters + string.digits + "_.[]-")
_LOGGED_CHARS = 2000


def safe_message(model: str, status: int) -> str:
    words = _STATUS_WORDS.get(status) or ("server error" if status >= 500 else "error")
    return f"upstream {model} returned HTTP {status} ({words})"


def safe_code(value: Any) -> str | None:
    """`value` when it is a plain identifier (context_length_exceeded, overloaded_error), which
    helps a client and cannot carry prose; None otherwise."""
    plain = isinstance(value, str) and 0 < len(value) <= 64 and _CODE_CHARS.issuperset(value)
    return value if plain else None


def safe_error_text(model: str, status: int, raw: bytes, code: Any = None) -> str:
    """What a client may read of an error answer: the status in our words, and the upstream's
    `code` when it is an identifier. The upstream's own words go to the operator log only."""
    text = raw[:_LOGGED_CHARS].decode("utf-8", "replace")
    log.warning(
        "upstream %s answered HTTP %d: %s", model, status, text,
        extra={"model": model, "status": status, "error": text},
    )  # fmt: skip
    shown = safe_code(code)
    return safe_message(model, status) + (f": {shown}" if shown else "")


def log_upstream_text(model: str, what: str, raw: bytes) -> None:
    """The upstream's own words, for the operator only."""
    text = raw[:_LOGGED_CHARS].decode("utf-8", "replace")
    log.warning("upstream %s %s: %s", model, what, text, extra={"model": model, "error": text})


def retryable_error(
    status: int,
    text: str,
    headers: httpx.Headers | None,
    kind: type[UpstreamError] | None = None,
) -> UpstreamError | None:
    """The error for a status that another model may well serve (429, timeouts, 5xx, and
    401/403: the operator's credentials at fault, not the caller's), with the upstream's
    Retry-After; None for the caller's own fault (another 4xx). `kind`: the class the
    protocol's error type already decided."""
    if kind is None:
        if status == 429:
            kind = UpstreamRateLimited
        elif status in (408, 504):
            kind = UpstreamTimeout
        elif status >= 500 or status in (401, 403):
            kind = UpstreamUnavailable
        else:
            return None
    err = kind(text)
    err.retry_after_s = retry_after(headers) if headers is not None else None
    err.upstream_status = status
    return err


def transport_error(model: str, err: httpx.HTTPError, where: str = "") -> UpstreamError:
    """The one mapping of a connection-level failure: a timeout, or the upstream unreachable.
    The exception's text (upstream host, port) goes to the log, not to the client."""
    at = f" {where}" if where else ""
    if isinstance(err, httpx.TimeoutException):
        return UpstreamTimeout(f"{model}: timed out{at} ({type(err).__name__})")
    log.warning(
        "upstream %s: connection failed%s: %s: %s", model, at, type(err).__name__, err,
        extra={"model": model, "error": f"{type(err).__name__}: {err}"},
    )  # fmt: skip
    return UpstreamUnavailable(f"{model}: connection failed{at} ({type(err).__name__})")


def cut_answer(model: str, err: httpx.HTTPError, what: str = "answer") -> UpstreamError:
    """A 2xx whose body broke off (short of its Content-Length, a reset mid-body): the upstream
    answered, and its answer is broken, as one complete by its length with cut JSON is: the
    same 502 "malformed" (failed over as that is), not a 503 "connection failed" that says the
    upstream was never reached."""
    log.warning(
        "upstream %s: the answer broke off: %s: %s", model, type(err).__name__, err,
        extra={"model": model, "error": f"{type(err).__name__}: {err}"},
    )  # fmt: skip
    if what == "stream":
        return UpstreamError(f"{model}: malformed answer from upstream (the stream broke off)")
    return UpstreamError(f"{model}: malformed answer from upstream (cut short)")


async def read_at_most(
    resp: httpx.Response, limit: int, lease: answer_bytes.Lease | None = None
) -> bytes | None:
    """The whole body, or None as soon as it is larger than `limit` bytes (read no further);
    a compressed body is decoded in bounded steps (content_coding: a bomb stops at the cap),
    and content_coding.CodingError is one we do not decode or a body not in its coding.
    `lease`: a read passing answer_bytes.COUNTED_BYTES with no share taken takes one."""
    declared = resp.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    stream = resp.stream
    coded = content_coding.decoder(resp.headers.get("content-encoding"))
    if isinstance(stream, PooledBody) and coded is None:
        return await stream.read_at_most(limit, lease)  # our transport's, nothing to decode
    body = (
        resp.aiter_bytes()
        if coded is None
        else content_coding.decoded(resp.aiter_raw(), coded, limit)
    )
    gathered = Gathered()
    async for piece in body:
        if gathered.size + len(piece) > limit:
            return None
        gathered.add(piece)
        if lease is not None and gathered.size > answer_bytes.COUNTED_BYTES:
            await lease.past_counted(limit)
            lease = None
    return gathered.value()


def _request_head(url: httpx.URL, headers: httpx.Headers) -> bytes:
    """A POST's request line and fixed headers, as httpx.Request + H1Transport write them (the
    per-call headers and Content-Length follow: httpx appends Content-Length last)."""
    parts = [b"POST ", url.raw_path, b" HTTP/1.1\r\n"]
    for name, value in headers.raw:
        parts += [name, b": ", value, b"\r\n"]
    return b"".join(parts)


class HTTPProvider:
    """The protocol-free half of a provider. Calls go straight to the httpx transport with a
    prebuilt URL and headers: the client's per-request layers (URL merging, auth and redirect
    flows, cookies) cost more than the transport itself and do nothing for a fixed upstream
    (bench/results/overhead.profile.md)."""

    protocol: Protocol  # the format of the bodies it takes and returns

    def __init__(
        self,
        settings: UpstreamSettings,
        failover: FailoverSettings,
        url: httpx.URL,
        headers: dict[str, str],
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        self.settings = settings
        self._failover = failover
        self._url = url
        self._headers = httpx.Headers({**headers, "host": url.netloc.decode("ascii")})
        # per URL object: its request line and the fixed headers (built once)
        self._heads: dict[int, tuple[httpx.URL, bytes]] = {}
        self._transport = transport or H1Transport(max_connections_per_origin=512)
        connect = failover.connect_timeout_s
        self._stream_timeout = {
            "connect": connect, "read": failover.first_byte_timeout_s, "write": connect,
            "pool": connect,
        }  # fmt: skip
        # A non-streaming answer's first byte comes with its last: only the total timeout
        # bounds it (first_byte_timeout_s would cut long, healthy answers short).
        self._complete_timeout = {**self._stream_timeout, "read": failover.total_timeout_s}

    def _http_error(
        self, model: str, status: int, raw: bytes, headers: httpx.Headers
    ) -> UpstreamError:
        """The protocol's reading of an error answer (safe text, classified)."""
        raise NotImplementedError

    def _failed(self, model: str, status: int, raw: bytes, headers: httpx.Headers) -> UpstreamError:
        """A non-2xx answer's error: a 3xx is a misconfigured base_url (never followed), an
        error status the protocol's to read."""
        if status < 400:
            return redirect_error(model, status, headers)
        err = self._http_error(model, status, raw, headers)
        err.answered = whole_error_answer(status, raw)  # then it costs nothing (budget.py)
        limits = forwarded_headers(headers)
        limits.pop("x-request-id", None)  # the error's id is Arbiter's (its log line's)
        limits.pop("request-id", None)
        err.upstream_headers = limits or None
        return err

    async def _post(
        self, payload: bytes, timeouts: dict[str, float], url: httpx.URL | None = None
    ) -> httpx.Response:
        ctx = request_log.CURRENT.get()
        extra: list[tuple[bytes, bytes]] = []
        if ctx is not None:  # the client's request id goes upstream: one id across both logs
            extra.append((b"x-request-id", ctx.id.encode()))
            if ctx.anthropic_beta is not None and self.protocol == "anthropic":
                extra.append((b"anthropic-beta", ctx.anthropic_beta.encode("ascii")))
        if telemetry.TRACER is not None and (parent := telemetry.traceparent()) is not None:
            extra.append((b"traceparent", parent))  # the attempt span's: one trace upstream too
        url = url or self._url
        if type(self._transport) is H1Transport:  # ours: the bytes httpx.Request would make
            known = self._heads.get(id(url))  # (the url itself: an id can be reused)
            if known is None or known[0] is not url:
                known = self._heads[id(url)] = (url, _request_head(url, self._headers))
            parts = [known[1]]
            for name, value in extra:
                parts += [name, b": ", value, b"\r\n"]
            parts += [b"Content-Length: ", b"%d" % len(payload), b"\r\n\r\n", payload]
            return await self._transport.send_bytes(url, b"".join(parts), timeouts)
        headers = httpx.Headers([*self._headers.raw, *extra]) if extra else self._headers
        request = httpx.Request(
            "POST", url, headers=headers, content=payload,
            extensions={"timeout": timeouts},
        )  # fmt: skip
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        await end_drains()
        await self._transport.aclose()

    async def retire(self) -> None:
        """A reload replaced this upstream (its key, base URL or limits): new calls go to the
        new provider; those in flight finish here, and each connection closes when its call
        ends (H1Transport.retire), not before. Another transport (a test's) closes at once."""
        if isinstance(self._transport, H1Transport):
            self._transport.retire()
        else:
            await self._transport.aclose()

    @property
    def busy(self) -> int:
        """Calls in flight on this provider's connections (0 for a transport not ours)."""
        return self._transport.busy if isinstance(self._transport, H1Transport) else 0

    async def _fetch(
        self, payload: bytes, model: str, url: httpx.URL | None = None, limit: int | None = None
    ) -> tuple[bytes, httpx.Headers]:
        """A whole non-streaming 2xx answer, within the total timeout and the response cap
        (`limit`, when given: another endpoint's)."""
        limit = self.settings.max_response_bytes if limit is None else limit
        total = self._failover.total_timeout_s
        lease = answer_bytes.Lease()  # a large answer's share of the process's budget
        raw: bytes | None = None
        try:
            started = time.monotonic()
            async with shared_timeouts.timeout(total):
                resp = await self._post(payload, self._complete_timeout, url)
            try:
                # the upstream has answered: a wait for room is not held against its time
                need = answer_bytes.counted(resp.headers, limit)
                waited = await lease.before_body(need) if need else 0.0
                async with shared_timeouts.timeout(total - (time.monotonic() - started - waited)):
                    raw = await read_at_most(resp, limit, lease)
            except httpx.HTTPError as err:
                if isinstance(err, httpx.TimeoutException):
                    raise
                if resp.status_code >= 300:  # an error answer that broke off: no 503
                    raise cut_error_answer(model, resp.status_code, err) from err
                raise cut_answer(model, err) from err
            finally:
                await resp.aclose()  # a no-op once read; else the connection is dropped
                if lease.took:
                    lease.settle(0 if raw is None else len(raw))
        except TimeoutError as err:
            raise UpstreamTimeout(f"{model}: no complete answer within the total timeout") from err
        except httpx.HTTPError as err:
            raise transport_error(model, err) from err
        except content_coding.CodingError as err:
            raise UpstreamError(f"{model}: the answer's {err}") from err
        if raw is None:
            raise UpstreamError(f"{model}: the answer is larger than {limit} bytes")
        if resp.status_code >= 300:
            raise self._failed(model, resp.status_code, raw, resp.headers)
        return raw, resp.headers

    async def _open(
        self, payload: bytes, model: str, deadline: float | None, url: httpx.URL | None = None
    ) -> tuple[httpx.Response, float]:
        """A 2xx streaming response, and when the whole stream must end: the earlier of this
        attempt's start + the total timeout and the request's `deadline` (time.monotonic())."""
        started = time.monotonic()
        try:
            resp = await self._post(payload, self._stream_timeout, url)
        except httpx.HTTPError as err:
            raise transport_error(model, err) from err
        if resp.status_code >= 300:
            try:
                raw = await read_at_most(resp, self.settings.max_event_bytes) or b""
            except httpx.TimeoutException as err:
                raise transport_error(model, err) from err
            except httpx.HTTPError as err:  # the error answer broke off: no 503
                raise cut_error_answer(model, resp.status_code, err) from err
            except content_coding.CodingError:
                raw = b""  # unreadable: classified by its status, not `answered`
            finally:
                await resp.aclose()
            raise self._failed(model, resp.status_code, raw, resp.headers)
        own = started + self._failover.total_timeout_s
        return resp, own if deadline is None else min(own, deadline)


def json_object(raw: bytes, model: str, what: str) -> dict[str, Any]:
    """`raw` as a JSON object; anything else raises UpstreamError "{model}: malformed {what}"."""
    return _object(raw, model, what)[0]


def json_object_read(raw: bytes, model: str, what: str) -> tuple[dict[str, Any], bool]:
    """json_object, and whether `raw` was read as it came (lenient_json.read)."""
    return _object(raw, model, what)


def _object(raw: bytes, model: str, what: str) -> tuple[dict[str, Any], bool]:
    try:
        data, exact = lenient_json.read(raw)
    except orjson.JSONDecodeError as err:
        raise UpstreamError(f"{model}: malformed {what}") from err
    if not isinstance(data, dict):
        raise UpstreamError(f"{model}: malformed {what}")
    return data, exact


def answer_object(raw: bytes, model: str) -> dict[str, Any]:
    """An upstream answer's body as a JSON object; anything else is a malformed answer."""
    return json_object(raw, model, "answer from upstream")


def answer_and_bytes(raw: bytes, model: str) -> tuple[dict[str, Any], bytes]:
    """answer_object, and the bytes to relay for it: `raw`, or when it was read leniently
    (lenient_json) the object written anew."""
    data, exact = _object(raw, model, "answer from upstream")
    if exact:
        return data, raw
    try:
        return data, orjson.dumps(data)
    except orjson.JSONEncodeError as err:  # nested past what orjson writes
        raise UpstreamError(f"{model}: malformed answer from upstream") from err


def is_json(headers: httpx.Headers) -> bool:
    """A JSON body (`application/json`, `application/problem+json`): not an event stream."""
    media = str(headers.get("content-type", "")).partition(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


_MAX_HELD = 4  # content-free opening events held back while waiting for the first real one
# events handed on with no wait for the network between them before the loop is let run: a
# piece that came whole holds thousands of small events (a burst, or a hostile upstream's
# 190,000 empty deltas), each relayed, translated and written in the same turn of the loop
YIELD_EVERY = 64


class SSEStream:
    """One streaming answer, split into SSE lines from the raw bytes (no text decoding, and no
    timer for a line that is already buffered). Each network read waits at most the read
    timeout (first byte, then between reads); the whole answer at most until `deadline`. One
    line may have at most `max_event_bytes`, the whole stream `max_response_bytes`.

    A protocol's stream implements `_next_item` (its next event, or None at the end) and
    `_opening` (an event with nothing to show yet); prime() and events() are shared."""

    protocol: Protocol  # the format of what events() yields

    def __init__(
        self, model: str, resp: httpx.Response, deadline: float, limits: UpstreamSettings
    ) -> None:
        self._model = model
        self._resp = resp
        # a compressed stream (no Accept-Encoding is sent: RFC 9110 lets a server pick any
        # coding) is split into lines once decoded, in bounded steps (content_coding: a
        # decompression bomb stops at the response cap); the raw bytes have no lines
        coded = content_coding.decoder(resp.headers.get("content-encoding"))
        raw = raw_pieces(resp)
        limit = limits.max_response_bytes
        self._raw = raw if coded is None else content_coding.decoded(raw, coded, limit)
        # a piece that has come already is taken as it is: no wait, so no deadline to arm
        self._piece_ready = raw.ready if coded is None and isinstance(raw, RawPieces) else None
        self._lines: deque[bytes] = deque()
        # the unfinished last line, in pieces: joined once, when its newline comes (a long
        # line grown by `+=` per read would be copied over and over: quadratic)
        self._partial: list[bytes] = []
        self._partial_size = 0
        self._max_line = limits.max_event_bytes
        self._idle = 0  # bytes of comment and extra blank lines dropped (sse_idle: bounded)
        self._left = limits.max_response_bytes  # bytes the rest of the stream may have
        self._eof = False
        self._at_start = True
        self._after_cr = False  # the last piece ended in CR: an LF starting the next is its pair
        self._held: list[bytes] = []
        self._deadline = deadline
        self._reported_cost = reported_cost(None, resp.headers)
        self.upstream_headers = forwarded_headers(resp.headers)
        self.usage: Usage | None = None
        # what the upstream counted while the answer ran (vLLM's continuous_usage_stats, an
        # Anthropic message_start): never the bill, a lower bound of it (cut_stream_cost.py)
        self.running_usage: Usage | None = None
        # events that had come and were not read when the stream was closed (aclose)
        self.unread_events = 0
        self.done = False
        self._draining: asyncio.Task[None] | None = None  # the body's rest read after the end
        self._unpaused = 0  # events handed on since the stream last waited for a piece

    async def _next_item(self) -> bytes | None:
        raise NotImplementedError

    def _opening(self, item: bytes) -> bool:
        raise NotImplementedError

    def _whole_answer(self, raw: bytes) -> bytes:
        """A whole JSON answer (an upstream that ignored `stream: true`) as the SSE text this
        protocol's stream would have been; UpstreamError for an error or malformed body."""
        raise NotImplementedError

    async def _read(self) -> None:
        """Read the next piece of the body into complete lines (at the end, into `_eof`)."""
        piece = await self._next_piece()
        if piece is None:
            self._eof = True
            if self._partial:
                self._lines.append(b"".join(self._partial))
                self._partial = []
            return
        if self._at_start:  # SSE: a leading byte order mark is skipped, not part of line one
            self._at_start = False
            piece = piece.removeprefix(b"\xef\xbb\xbf")
        if self._split(self._lf_ends(piece)) > sse_idle.YIELD_AFTER:
            await asyncio.sleep(0)  # (pieces that came are read with no await: let others run)

    async def _read_json_answer(self) -> None:
        """The upstream answered the stream with one JSON body: read it whole (same deadline
        and size cap) and queue the events it stands for, so the client still gets a stream,
        with usage, and the call is priced as any stream is."""
        pieces: list[bytes] = []
        while (piece := await self._next_piece()) is not None:
            pieces.append(piece)
        self._lines.extend(self._whole_answer(b"".join(pieces)).split(b"\n"))
        self._eof = True

    async def _next_piece(self) -> bytes | None:
        """The body's next piece as it came off the network, or None at its end."""
        ready = self._piece_ready
        piece = ready() if ready is not None else None
        if piece is None:
            piece = await self._wait_piece()
            if piece is None:
                return None
        self._left -= len(piece)
        if self._left < 0:
            raise UpstreamError(f"{self._model}: the stream is larger than the response limit")
        return piece

    async def _wait_piece(self) -> bytes | None:
        self._unpaused = 0  # (the loop runs while this waits)
        try:
            async with shared_timeouts.timeout(max(self._deadline - time.monotonic(), 0.0)):
                return await self._raw.__anext__()
        except StopAsyncIteration:
            return None
        except TimeoutError as err:
            raise UpstreamTimeout(
                f"{self._model}: the answer did not finish within the total timeout "
                "or the request deadline"
            ) from err
        except httpx.TimeoutException as err:
            raise transport_error(self._model, err, "mid-stream") from err
        except httpx.HTTPError as err:  # the upstream answered; its answer broke off (no 503)
            raise cut_answer(self._model, err, "stream") from err
        except content_coding.CodingError as err:
            raise UpstreamError(f"{self._model}: the stream's {err}") from err

    def _lf_ends(self, piece: bytes) -> bytes:
        """SSE lines may end in CRLF, LF or a lone CR: all become LF (a CRLF split between two
        reads is one line end, not two)."""
        if self._after_cr and piece.startswith(b"\n"):
            piece = piece[1:]
        if b"\r" not in piece:
            self._after_cr = False
            return piece
        self._after_cr = piece.endswith(b"\r")
        return piece.replace(b"\r\n", b"\n").replace(b"\r", b"\n")

    def _split(self, piece: bytes) -> int:
        """Add `piece` to the complete lines and keep its unfinished end; an over-long line
        fails the stream (checked without rescanning what was already read), as do too many
        lines that carry no event (sse_idle: a piece of short lines has them dropped first, so
        they cost no line each). The bytes dropped from this piece."""
        lines = piece.split(b"\n")
        dropped = 0
        if len(lines) > len(piece) // sse_idle.SHORT_LINE + 1:
            kept = sse_idle.without_idle(piece, bool(self._partial))
            dropped = len(piece) - len(kept)
            if dropped:
                self._count_idle(dropped)
                piece, lines = kept, kept.split(b"\n")
        rest = lines.pop()
        if lines:
            if self._partial:  # (most pieces end on a line end: no list made for nothing)
                self._partial.append(lines[0])
                lines[0] = b"".join(self._partial)
                self._partial, self._partial_size = [], 0
                if len(lines[0]) > self._max_line:
                    self._too_long()
            # the rest are parts of this piece: only a long piece can hold a long one
            if len(piece) > self._max_line and max(map(len, lines)) > self._max_line:
                self._too_long()
            if lines[0].startswith(b":") or b"\n:" in piece:  # comments left to the reader:
                # long ones (sse_idle keeps them) count against the same bound, once whole
                self._count_idle(sum(len(x) + 1 for x in lines if x.startswith(b":")))
            self._lines.extend(lines)
        if rest:
            self._partial.append(rest)
            self._partial_size += len(rest)
            if self._partial_size > self._max_line:
                self._too_long()
        return dropped

    def _count_idle(self, size: int) -> None:
        """`size` more bytes of lines that carry no event; past sse_idle.MAX_IDLE_BYTES the
        stream fails, naming them."""
        self._idle += size
        if self._idle > sse_idle.MAX_IDLE_BYTES:
            raise UpstreamError(
                f"{self._model}: the stream holds more than {sse_idle.MAX_IDLE_BYTES} "
                "bytes of lines that carry no event (blank or comment lines)"
            )

    def _count_unread(self) -> int:
        """Events received and not yet read: `data:` lines here and in the transport's buffer
        (a coded or foreign transport's buffer is not seen: its events are not counted)."""
        body = self._resp.stream
        unread = body.unread() if isinstance(body, PooledBody) else b""
        lines = [*self._lines, b"".join(self._partial)]
        here = sum(1 for line in lines if line.startswith(b"data:"))
        queued = len(getattr(self, "_ready", ()))  # checked, not yet returned (subclasses')
        return len(self._held) + queued + here + unread.count(b"data:")

    def _too_long(self) -> NoReturn:
        raise UpstreamError(
            f"{self._model}: an event in the stream is longer than {self._max_line} bytes"
        )

    async def prime(self) -> None:
        """Read up to the first event that carries content. Opening events are held back (they
        have nothing to show), so an upstream that dies, stalls or sends garbage before its
        first token fails before any byte reached the client, and failover can still act."""
        try:
            if is_json(self._resp.headers):
                await self._read_json_answer()
            while True:
                item = await self._next_item()
                if item is None:
                    raise UpstreamError(f"{self._model}: stream ended before any content")
                self._held.append(item)
                if not self._opening(item) or len(self._held) > _MAX_HELD:
                    return
        except BaseException:
            await self.aclose()
            raise

    async def events(self) -> AsyncIterator[bytes]:
        held, self._held = self._held, []
        for item in held:
            yield item
        while (more := await self._next_item()) is not None:
            yield more
            self._unpaused += 1
            if self._unpaused >= YIELD_EVERY:
                self._unpaused = 0
                await asyncio.sleep(0)
        if self.done:
            await self._drain()

    async def _drain(self) -> None:
        """Read the (empty) rest of the body after the end event, so the connection is reused
        rather than dropped by aclose() on an unfinished response. When the body's end has
        come already (nearly always: it follows the end event in the same read) that is done
        here, waiting for nothing; else in a task of its own, which closes the response: the
        client's end event is written only after this returns, and an upstream that held
        its body open after [DONE] held every client's end for the drain's second."""
        if self._eof:
            return
        self._eof = True
        if isinstance(self._raw, RawPieces) and self._raw.at_end():
            async for _ in self._raw:  # (only the end: no wait, no timer)
                pass
            return
        task = asyncio.get_running_loop().create_task(self._drain_and_close())
        self._draining = task
        _DRAINS.add(task)  # (a strong reference until it ends: the loop keeps only a weak one)
        task.add_done_callback(_DRAINS.discard)

    async def _drain_and_close(self) -> None:
        try:
            async with shared_timeouts.timeout(1.0):  # (no loop timer of its own per stream)
                async for _ in self._raw:
                    pass
        except (TimeoutError, httpx.HTTPError, content_coding.CodingError):
            pass
        finally:
            await self._close_response()

    async def aclose(self) -> None:
        """Close the response; on an unfinished body this drops the connection, which is how
        the upstream learns to stop. A connection that is already broken is not an error.
        What had come and was not read is counted first (`unread_events`): a reader that fell
        behind (a slow client) left the upstream's output there, and a cut call pays for it."""
        if not self._eof and not self.done:
            self.unread_events = self._count_unread()
        if self._draining is None:  # (a drain closes the response itself when it is done)
            await self._close_response()

    async def _close_response(self) -> None:
        try:
            await self._resp.aclose()
        except (httpx.HTTPError, OSError):
            log.debug("closing a broken upstream stream", exc_info=True)
