"""An OpenAI-protocol upstream's error, classified one way wherever it comes: as an HTTP error
answer, or as an error object inside an HTTP 200 (a JSON body answering a stream or a request, or
a `data:` event of a stream, before or after its first content).

The class decides what failover does: the caller's fault (a 4xx but 429: context_length_exceeded,
invalid_request_error) is never retried and reaches the client with its status; a rate limit, a
timeout or a server error is retried and fails over. A stream's error at HTTP 200 used to be one
retryable "error in the stream" whatever its code: a context-length error failed over to models
with the same window, and an invalid request came back a 502 after every retry.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from arbiter.errors import UpstreamError, UpstreamRejected
from arbiter.upstream.http import (
    log_upstream_text,
    retryable_error,
    safe_code,
    safe_error_text,
)

# What an error object at HTTP 200 stands for, by its `code`, else its `type` (OpenAI's words,
# and those of the OpenAI-compatible servers that send such objects: vLLM, LiteLLM, OpenRouter)
_STATUS_OF: dict[str, int] = {
    **dict.fromkeys(
        ("context_length_exceeded", "invalid_request_error", "invalid_request", "bad_request",
         "BadRequestError", "string_above_max_length", "invalid_prompt"), 400),
    **dict.fromkeys(("authentication_error", "invalid_api_key", "AuthenticationError"), 401),
    **dict.fromkeys(("permission_error", "PermissionDeniedError"), 403),
    **dict.fromkeys(("model_not_found", "not_found_error", "NotFoundError"), 404),
    **dict.fromkeys(
        ("rate_limit_exceeded", "rate_limit_error", "RateLimitError", "insufficient_quota",
         "tokens", "requests"), 429),
    **dict.fromkeys(("server_error", "internal_error", "api_error", "InternalServerError"), 500),
    **dict.fromkeys(("overloaded_error", "overloaded", "service_unavailable"), 503),
    **dict.fromkeys(("timeout", "timeout_error"), 504),
}  # fmt: skip


def http_error(
    model: str, status: int, raw: bytes, headers: httpx.Headers | None = None
) -> UpstreamError:
    """An OpenAI error answer (HTTP status >= 400) as the ArbiterError failover understands, in
    words that are safe to show a client: the status, and the error's code and param when they
    are identifiers (context_length_exceeded helps; prose may quote keys or hosts)."""
    try:
        body: Any = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = None
    error = _error_of(body)
    text = safe_error_text(model, status, raw, error.get("code"))
    return _classified(status, text, headers, body, error)


def error_in_answer(
    model: str, body: dict[str, Any], raw: bytes, headers: httpx.Headers | None = None
) -> UpstreamError:
    """An error object (`body["error"]`) that came with HTTP 200, classified as the HTTP error it
    stands for (its numeric `code` or `status`, else its code or type words); one the words do
    not place stays a retryable upstream error. The upstream's prose goes to the log only."""
    log_upstream_text(model, "reported an error in its answer", raw)
    error = _error_of(body)
    code = safe_code(error.get("code")) or safe_code(error.get("type"))
    status = _status_of(error)
    if status is None:
        return UpstreamError(
            f"upstream {model} reported an error in the stream" + (f": {code}" if code else "")
        )
    text = f"upstream {model} reported an error (as HTTP {status})" + (f": {code}" if code else "")
    return _classified(status, text, headers, body, error)


_CHUNK_KINDS = frozenset({"chat.completion.chunk", "text_completion"})  # (legacy completions')


def foreign_event(model: str, chunk: dict[str, Any]) -> UpstreamError | None:
    """The error for a stream event that is no chat completion chunk (no `choices`, no `usage`,
    no chunk `object`): another protocol's event (an Anthropic `message_start` from an upstream
    configured with the wrong protocol), which the client's SDK would take for a chunk."""
    if "choices" in chunk or "usage" in chunk or chunk.get("object") in _CHUNK_KINDS:
        return None
    kind = safe_code(chunk.get("type"))
    return UpstreamError(
        f"upstream {model} sent a stream event that is no chat completion chunk"
        + (f" (type {kind}: another protocol's?)" if kind else "")
    )


def _error_of(body: Any) -> dict[str, Any]:
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _status_of(error: dict[str, Any]) -> int | None:
    for key in ("code", "status"):
        value = error.get(key)
        if isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 400 <= value <= 599:
            return value
    for key in ("code", "type"):
        value = error.get(key)
        if isinstance(value, str) and value in _STATUS_OF:
            return _STATUS_OF[value]
    return None


def _classified(
    status: int, text: str, headers: httpx.Headers | None, body: Any, error: dict[str, Any]
) -> UpstreamError:
    if err := retryable_error(status, text, headers):
        return err
    rejected = UpstreamRejected(text, upstream_status=status, body=body)
    rejected.param = safe_code(error.get("param"))
    return rejected
