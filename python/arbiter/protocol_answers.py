"""The error answers the connection's protocol writes itself, before or without the app: a
head too large (431), a request httptools cannot parse or an upgrade with a body (400), a head
too slow (408). Each is the one kind of answer the app's errors are (http_errors.error_response):
the caller's surface shape (Anthropic's under /v1/messages, else OpenAI's), `x-should-retry`
from `ArbiterError.should_retry` (which the official SDKs obey over their own status rules),
the request id the SDKs read (`request-id`, `x-request-id`), nosniff; and `Connection: close`.
It must not hold connection state: client_timeout.py decides when and whether to write one.
"""

from __future__ import annotations

from collections.abc import Sequence

from arbiter import request_log
from arbiter.errors import ArbiterError
from arbiter.protocols.anthropic_response import error_bytes as anthropic_error_bytes
from arbiter.protocols.anthropic_response import error_status as anthropic_status
from arbiter.surfaces.openai_chat import error_bytes as openai_error_bytes

_REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


class HeadTooLarge(ArbiterError):
    status = 431
    code = "request_header_fields_too_large"
    type = "invalid_request_error"


class UnsupportedUpgrade(ArbiterError):
    status = 400
    code = "unsupported_upgrade"
    type = "invalid_request_error"


def closing_answer(err: ArbiterError, path: bytes, headers: Sequence[tuple[bytes, bytes]]) -> bytes:
    """`err` as a whole HTTP/1.1 response that closes the connection. `path` is the request's
    target so far (b"" before its line was read) and `headers` the fields read so far: the
    client's `x-request-id`, when it sent a usable one, is the answer's id, as the app's is."""
    if path.startswith(b"/v1/messages"):  # as http_errors._http_error: the anthropic SDK's shape
        body, status = anthropic_error_bytes(err), anthropic_status(err)
    else:
        body, status = openai_error_bytes(err), err.http_status
    offered = next((v for n, v in headers if n == b"x-request-id"), None)
    rid = request_log.request_id(None if offered is None else offered.decode("latin-1"))
    retry = err.should_retry
    head = [
        b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, b"Error")),
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"x-content-type-options: nosniff",
        b"x-arbiter-request-id: " + rid.encode(),
        b"x-request-id: " + rid.encode(),
        b"request-id: " + rid.encode(),
    ]
    if retry is not None:
        head.append(b"x-should-retry: " + (b"true" if retry else b"false"))
    head.append(b"connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def upgrade_refused(upgrade: bytes) -> UnsupportedUpgrade:
    named = upgrade[:40].decode("latin-1")
    return UnsupportedUpgrade(
        f"Upgrade: {named} is not supported: this sidecar speaks HTTP/1.1 only. Send the request "
        "without an Upgrade header (curl: --http1.1, not --http2)."
    )
