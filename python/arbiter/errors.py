"""The one error hierarchy. Each surface renders an ArbiterError in its own wire shape.

ArbiterError(status, code, type)
├── InvalidRequest 400          ├── Unauthorized 401        ├── PolicyDenied 403
│   └── ThreadsUnsupported, MissingParameter
├── UnknownModel 404            ├── PayloadTooLarge 413     ├── BudgetExceeded 429
├── RequestTimeout 408
├── NoRouteAvailable 503        ├── ContextTooLong, NoCapableModel 400 (InvalidRequest)
└── UpstreamError 502
    ├── UpstreamTimeout 504  ├── UpstreamRateLimited 429  ├── UpstreamUnavailable 503
    └── UpstreamRejected (the upstream's own 4xx, passed through with its status)
ConfigError is startup-only and never reaches a client.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ArbiterError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    type: ClassVar[str] = "server_error"

    def __init__(self, message: str, *, param: str | None = None, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.detail = detail

    @property
    def http_status(self) -> int:
        return self.status

    @property
    def should_retry(self) -> bool | None:
        """What `x-should-retry` tells the official openai and anthropic SDKs, which obey it
        over their own rules (they retry 408, 409, 429 and 5xx twice): False when the same
        request is certain to fail again (the caller's mistake, a model, capability or key that
        is not there, even when an upstream said so), True when it may pass later (an outage, a
        rate limit, a timeout); None (no header) for an internal error, which may be either."""
        status = self.http_status
        if status in _MAY_PASS_LATER or status > 500:
            return True
        return False if status < 500 else None


# 4xx statuses a retry may pass: a slow send (408), a conflict (409), a rate limit (429)
_MAY_PASS_LATER = frozenset({408, 409, 429})


class InvalidRequest(ArbiterError):
    status = 400
    code = "invalid_request"
    type = "invalid_request_error"


class ThreadsUnsupported(InvalidRequest):
    """Anthropic's message threads (`thread`: the server holds the conversation): Arbiter keeps
    no state. The anthropic SDK's tool runner reads the code (Anthropic's `error.details.
    error_code`) and sends the turn again, whole and without `thread`."""

    code = "thread_unsupported_request"


class MissingParameter(InvalidRequest):
    """A required field absent (or null): OpenAI's "Missing required parameter: 'input'." with
    its code, where a type error ("Input should be a list") would send the caller looking for
    a wrong value it never sent."""

    code = "missing_required_parameter"

    def __init__(self, param: str) -> None:
        super().__init__(f"Missing required parameter: '{param}'.", param=param)


class ContextTooLong(InvalidRequest):
    code = "context_length_exceeded"


class TooManyRequestTokens(InvalidRequest):
    """An embeddings request whose inputs together pass the model's per-request total (OpenAI's
    300,000 tokens: its own code for it)."""

    code = "max_tokens_per_request"


class NoCapableModel(InvalidRequest):
    """No model in the pool has what the request needs (vision, tools...): the caller's to fix."""

    code = "no_capable_model"


class Unauthorized(ArbiterError):
    status = 401
    code = "invalid_api_key"
    type = "authentication_error"


class PolicyDenied(ArbiterError):
    status = 403
    code = "model_not_allowed"
    type = "permission_error"


class AdminRequired(PolicyDenied):
    """A client or dashboard key called an admin-only endpoint: no model was refused, so the
    code says what permission is missing."""

    code = "admin_key_required"


class ReadOnlyKey(PolicyDenied):
    """The dashboard's read-only key asked to call a model."""

    code = "read_only_key"


class TenantDenied(PolicyDenied):
    """A tenant's key asked a read for another tenant's data (`?tenant=`)."""

    code = "tenant_not_allowed"


class UnknownModel(ArbiterError):
    status = 404
    code = "model_not_found"
    type = "invalid_request_error"


class NotFound(ArbiterError):
    status = 404
    code = "not_found"
    type = "invalid_request_error"


class MethodNotAllowed(ArbiterError):
    status = 405
    code = "method_not_allowed"
    type = "invalid_request_error"


class PayloadTooLarge(ArbiterError):
    status = 413
    code = "request_too_large"
    type = "invalid_request_error"


class RequestTimeout(ArbiterError):
    """The client did not send its request (headers or body) within the read timeout."""

    status = 408
    code = "request_timeout"
    type = "invalid_request_error"


class BudgetExceeded(ArbiterError):
    status = 429
    code = "budget_exceeded"
    type = "insufficient_quota"
    # True when only requests in flight stand in the way (their settles may free room); False
    # when the spend alone passes the cap: retrying before the window resets cannot succeed
    retryable: bool = False
    # when the passed cap's window resets (unix seconds; None: a total cap never does): sent as
    # `retry-after` beside `x-should-retry: false` (the SDKs obey the latter and do not retry;
    # any other client learns when a retry can pass, not only that this one cannot)
    resets_at: float | None = None
    # seconds from the refusal to that reset, on the budget clock the windows are cut on
    # (Budgets.now: a clock hook moves it); the wall clock's count named a wait it never knew
    resets_in_s: float | None = None

    @property
    def should_retry(self) -> bool:
        # the SDKs retry a 429 twice with backoff: seconds lost per call on a spent cap
        return self.retryable


class RateLimited(ArbiterError):
    """A key past its own rate (`auth.feedback_per_minute`): OpenAI's shape for a rate limit."""

    status = 429
    code = "rate_limit_exceeded"
    type = "requests"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s  # sent as Retry-After


class NoRouteAvailable(ArbiterError):
    status = 503
    code = "no_route_available"
    type = "server_error"

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        # open circuits: how long until the first of them lets a probe through (sent as
        # Retry-After: the SDKs' own backoff would retry into the same refusal)
        self.retry_after_s = retry_after_s

    @property
    def should_retry(self) -> bool:
        # no circuit to reopen (only unpromoted challengers could serve it): the operator's to fix
        return self.retry_after_s is not None


class UpstreamError(ArbiterError):
    status = 502
    code = "upstream_error"
    type = "server_error"
    retry_after_s: float | None = None  # how long the upstream asked us to wait (Retry-After)
    upstream_status: int | None = None  # the HTTP status the upstream answered, when it answered
    # its whole error answer came (an error status and a readable error body, no output): the
    # upstream did no billable work (budget.may_be_billed), so the attempt costs nothing
    answered: bool = False
    # its rate-limit headers (http.forwarded_headers' without the request id): relayed with
    # the error when it reaches the client, as with an answer
    upstream_headers: dict[str, str] | None = None

    @property
    def should_retry(self) -> bool | None:
        # the upstream's own 4xx decides, even surfaced as a 503 (a 401 for our key: another
        # model may serve the request, but when none could, the same request fails again)
        upstream = self.upstream_status
        if upstream is not None and 400 <= upstream < 500:
            return upstream in _MAY_PASS_LATER
        return super().should_retry


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class UpstreamRateLimited(UpstreamError):
    status = 429
    code = "upstream_rate_limited"
    type = "rate_limit_error"


class UpstreamUnavailable(UpstreamError):
    status = 503
    code = "upstream_unavailable"


class UpstreamRedirected(UpstreamError):
    """The upstream answered a 3xx: its base_url points at the wrong place (a scheme, host or
    path that moved). Never followed (it would send the key and the prompt where the operator
    did not configure them); a configuration error like a 401/404 (an alert naming the model and
    the Location's host), a 502 to the caller that the same request would meet again."""

    code = "upstream_redirected"

    def __init__(self, message: str, *, upstream_status: int, location_host: str | None) -> None:
        super().__init__(message)
        self.upstream_status = upstream_status
        self.location_host = location_host  # for the operator's alert, never the client's text

    @property
    def should_retry(self) -> bool:
        return False


class UpstreamRejected(UpstreamError):
    """The upstream refused the request as the caller's fault (4xx but 429): never retried."""

    code = "upstream_rejected"
    type = "invalid_request_error"
    upstream_status: int  # always known: it is the status the caller gets

    def __init__(self, message: str, *, upstream_status: int, body: Any = None) -> None:
        super().__init__(message)
        self.upstream_status = upstream_status
        self.body = body

    @property
    def http_status(self) -> int:
        return self.upstream_status


class ClientDisconnected(ArbiterError):
    """The client went away mid-request; recorded, never rendered (nobody is listening)."""

    status = 499
    code = "client_disconnected"
    type = "client_error"


class ConfigError(Exception):
    """A configuration problem found at start-up; the message names the key and line.
    `problems`: every problem a config check found, one line each (the message joins them)."""

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems if problems is not None else [message]
