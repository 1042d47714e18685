"""Whether an upstream's non-2xx answer came whole, and the error for one that broke off.

A failed attempt was charged its worst case whatever the failure: two upstream 500s (each a
status and an `{"error": ...}` body, no output) took ~$4.12 of a tenant's cap where the upstream
billed $0 (probe19a). A provider bills the tokens it processed and generated for a request it
answered; an error status with its own error body is a request it did not answer (no output to
bill), and providers document error responses as not billed (Azure OpenAI's Q&A: a 429 "does not
incur charges"; fal.ai: "HTTP 500+ server errors are not charged"). The stored docs hold no page
of OpenAI's or Anthropic's that states their rule for a 5xx either way, so the line is drawn
where the evidence is whole: an attempt is `answered` (budget.may_be_billed: costs $0, its hold
released) only when

  * the status is an error (>= 400) that is not a timeout (408, 504, 524: a gateway that gave up
    waiting may have left the provider generating, and billing, behind it), and
  * the body was read to its end and is the provider's own error object: JSON with an `error`
    member (OpenAI's `{"error": {...}}`, Anthropic's `{"type": "error", "error": {...}}`) or
    vLLM's `{"object": "error", ...}`; an HTML page from a proxy in between is not (the proxy may
    have lost an answer the provider billed).

Anything else that may have been billed keeps the conservative charge: a body cut off, a reset
after the request was written, a timeout, a 2xx stream cut mid-body (cut_stream_cost.py).

A non-2xx body that broke off was reported as "connection failed" (503: the upstream never
reached), though the upstream had answered: it is the same 502 "malformed answer" as a cut 2xx
(http.cut_answer), keeping the status the upstream sent for failover's reading of it.
"""

from __future__ import annotations

import logging

import httpx
import orjson

from arbiter.errors import UpstreamError

log = logging.getLogger(__name__)

# an upstream (or a gateway before it) that stopped waiting: the work may go on and be billed
_TIMED_OUT = frozenset({408, 504, 524})


def whole_error_answer(status: int, raw: bytes) -> bool:
    """`raw`, read whole, is the upstream's own error answer at an error `status` (see the
    module docstring). orjson only: no backtracking on the upstream's text."""
    if status < 400 or status in _TIMED_OUT or not raw:
        return False
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(body, dict):
        return False
    return body.get("error") is not None or body.get("object") == "error"


def cut_error_answer(model: str, status: int, err: httpx.HTTPError) -> UpstreamError:
    """An error status whose body broke off: the upstream answered, its answer is broken (502,
    as a cut 2xx), and it may have done the work it was asked (not `answered`)."""
    log.warning(
        "upstream %s: the HTTP %d answer broke off: %s: %s", model, status, type(err).__name__,
        err, extra={"model": model, "status": status, "error": f"{type(err).__name__}: {err}"},
    )  # fmt: skip
    cut = UpstreamError(f"{model}: malformed answer from upstream (HTTP {status}, cut short)")
    cut.upstream_status = status
    return cut
