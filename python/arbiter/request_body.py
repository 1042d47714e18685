"""Reading a request's body: within `server.max_body_bytes` (413) and
`server.client_read_timeout_s` (408); a client gone mid-body is a disconnect (499), not a server
error. Its `Content-Encoding`: gzip and deflate are inflated, never past the body limit (a
compressed bomb is a 413 after at most `limit` bytes of output, not a memory spike); any other
coding is a 415 naming it, instead of being parsed as if it were JSON. A body that is not UTF-8
is read in the charset its `Content-Type` declares (415 when Python knows no such charset); a
leading UTF-8 byte order mark is dropped (RFC 8259 lets a parser ignore it). A `Transfer-Encoding`
other than chunked is a 400 naming it: the HTTP parser (httptools) undoes only the chunked
framing and passed a `gzip, chunked` body on still compressed, to fail as JSON that is not."""

from __future__ import annotations

import asyncio
import codecs
import zlib

from starlette.requests import ClientDisconnect, Request

from arbiter.client_connection import of_scope
from arbiter.errors import (
    ArbiterError,
    ClientDisconnected,
    InvalidRequest,
    PayloadTooLarge,
    RequestTimeout,
)

_GZIP_WBITS = 16 + zlib.MAX_WBITS
_ZLIB_WBITS = zlib.MAX_WBITS
_RAW_DEFLATE_WBITS = -zlib.MAX_WBITS  # what some clients send as "deflate"
_INLINE_BYTES = 64 * 1024  # smaller compressed bodies inflate on the event loop (sub-ms)


class UnsupportedEncoding(ArbiterError):
    status = 415
    code = "unsupported_content_encoding"
    type = "invalid_request_error"


class UnsupportedTransferCoding(ArbiterError):
    # RFC 9112 suggests 501, but the SDKs retry every 5xx (and Anthropic's shape has no 501):
    # a 400 tells the caller, once, that the request is theirs to change
    status = 400
    code = "unsupported_transfer_coding"
    type = "invalid_request_error"


class UnsupportedCharset(ArbiterError):
    status = 415
    code = "unsupported_charset"
    type = "invalid_request_error"


async def read_body(request: Request, limit: int) -> bytes:
    """The body, within `limit` bytes (413) and `server.client_read_timeout_s` (408)."""
    if "transfer-encoding" in request.headers:
        _check_transfer_coding(request.headers.getlist("transfer-encoding"))
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body is {declared} bytes; the limit is {limit}.")
    chunks: list[bytes] = []
    timeout_s: float = request.app.state.client_read_timeout_s
    connection = of_scope(request.scope)
    try:
        if connection is not None and not connection.body_due:
            # the body came whole with its head (the sidecar's protocol says so): no read can
            # wait, so no timer is armed and cancelled around it
            await _gather(request, chunks, limit)
        else:
            async with asyncio.timeout(timeout_s):
                await _gather(request, chunks, limit)
    except TimeoutError:
        raise RequestTimeout(f"The request body did not arrive within {timeout_s:g} s.") from None
    except ClientDisconnect:  # the client's doing, not a server error (no traceback, a 499)
        raise ClientDisconnected("the client disconnected while sending its body") from None
    # repeated header lines are one comma-separated list (RFC 9110 5.3)
    codings = request.headers.getlist("content-encoding")
    raw = b"".join(chunks)
    if codings:  # (none: `decoded` would hand the bytes back as they are)
        raw = await decoded(raw, ", ".join(codings), limit)
    content_type = request.headers.get("content-type")
    if len(raw) > _INLINE_BYTES and content_type and "charset" in content_type.lower():
        return await asyncio.to_thread(as_utf8, raw, content_type, limit)  # may transcode
    return as_utf8(raw, content_type, limit)


def _check_transfer_coding(values: list[str]) -> None:
    """Only `chunked` is undone before the app sees the body; any other coding is refused."""
    codings = [c.strip().lower() for value in values for c in value.split(",")]
    if any(c and c != "chunked" for c in codings):
        named = ", ".join(values)[:80]
        raise UnsupportedTransferCoding(
            f"Transfer-Encoding {named!r} is not supported: send the body chunked or with a "
            "Content-Length (compressed, if at all, with Content-Encoding: gzip or deflate)."
        )


async def _gather(request: Request, chunks: list[bytes], limit: int) -> None:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body exceeds the limit of {limit} bytes.")
        chunks.append(chunk)


async def decoded(raw: bytes, content_encoding: str | None, limit: int) -> bytes:
    """`raw` as the JSON it encodes, within `limit` bytes once inflated."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return raw
    if len(codings) > 1 or codings[0] not in ("gzip", "x-gzip", "deflate"):
        raise UnsupportedEncoding(
            f"Content-Encoding {content_encoding!r} is not supported: send the body as is, "
            "or compressed with gzip or deflate."
        )
    coding = "deflate" if codings[0] == "deflate" else "gzip"
    if len(raw) <= _INLINE_BYTES:
        return _inflate(raw, coding, limit)
    return await asyncio.to_thread(_inflate, raw, coding, limit)


def _inflate(raw: bytes, coding: str, limit: int) -> bytes:
    if coding == "gzip":
        return _gzip_members(raw, limit)
    try:
        out, rest = _inflate_with(raw, _ZLIB_WBITS, coding, limit)
    except InvalidRequest:
        out, rest = _inflate_with(raw, _RAW_DEFLATE_WBITS, coding, limit)
    if rest:
        raise InvalidRequest(f"The body is not valid {coding} data (bytes after its end).")
    return out


def _gzip_members(raw: bytes, limit: int) -> bytes:
    """RFC 1952: a gzip body may be several members one after another (concatenated files,
    pigz), each inflated in turn, within `limit` in all; anything else after one is not gzip."""
    parts: list[bytes] = []
    size = 0
    while True:
        out, raw = _inflate_with(raw, _GZIP_WBITS, "gzip", limit - size)
        parts.append(out)
        size += len(out)
        if not raw:
            return b"".join(parts)


def _inflate_with(raw: bytes, wbits: int, coding: str, limit: int) -> tuple[bytes, bytes]:
    """(the data of the one stream `raw` starts with, within `limit` bytes; what follows it)"""
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error as err:
        raise InvalidRequest(f"The body is not valid {coding} data ({err}).") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"The request body inflates past the limit of {limit} bytes.")
    if not inflater.eof:
        raise InvalidRequest(f"The body is not valid {coding} data (it ends early).")
    return out, inflater.unused_data


_BOM = codecs.BOM_UTF8
_UTF8_NAMES = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


def as_utf8(raw: bytes, content_type: str | None, limit: int) -> bytes:
    """`raw` as UTF-8 JSON: without a leading BOM; when it is not UTF-8, read in the charset
    `content_type` declares (only then: clients that declare ISO-8859-1 and send UTF-8 are
    common, and their bodies are read as they always were)."""
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    if not content_type or "charset" not in content_type.lower():
        return raw  # the common case: no charset named (JSON's is UTF-8)
    charset = _charset(content_type)
    if charset is None or charset in _UTF8_NAMES:
        return raw
    if b"\x00" not in raw:  # no JSON text holds a raw NUL: UTF-16 and UTF-32 always do
        try:
            raw.decode()
        except UnicodeDecodeError:
            pass
        else:
            return raw  # UTF-8 whatever the header says
    try:
        codec = codecs.lookup(charset)
        text = raw.decode(codec.name)
    except LookupError:
        raise UnsupportedCharset(
            f"Content-Type charset {charset[:40]!r} is not supported: send the body as UTF-8."
        ) from None
    except UnicodeDecodeError as err:
        raise InvalidRequest(f"The body is not valid {codec.name} text ({err.reason}).") from None
    out = text.removeprefix("\ufeff").encode()
    if len(out) > limit:
        raise PayloadTooLarge(f"The request body exceeds the limit of {limit} bytes as UTF-8.")
    return out


def _charset(content_type: str) -> str | None:
    """The `charset` parameter of a Content-Type, lower-cased and unquoted."""
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower() or None
    return None
