"""One request's identity and its one log line.

The request id: the client's `x-request-id` when it is a plain token (at most 128 characters of
letters, digits and `-_.:`), else a fresh one. It is sent upstream as `x-request-id` (through
the CURRENT context variable, read by upstream/http.py), returned to the client as
`x-arbiter-request-id`, and as `x-request-id` too unless an upstream's own id takes that header
(the SDKs' `_request_id` then names the provider's request; see finish_headers).

The line: `request` at info with request id, tenant, surface, model, reason, attempts, status,
latency, cost, cache (the `x-arbiter-cache` response header when a cache set one, else null),
decision and upstream request id; written once the response is complete (a stream: after its
last event). Model-surface requests log at info, the rest (stats, admin, dashboard polling) at
debug. Cost on the request path: one contextvar set/reset and this object; the line itself is
built only when the logger is enabled for its level.
"""

from __future__ import annotations

import logging
import operator
import string
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from arbiter import telemetry
from arbiter.errors import InvalidRequest
from arbiter.ids import DecisionIds

if TYPE_CHECKING:
    from starlette.responses import Response

    from arbiter.records import DecisionRecord

log = logging.getLogger("arbiter.request")
MAX_ID_CHARS = 128
_ID_CHARS = frozenset(string.ascii_letters + string.digits + "-_.:")

_ID_HEADERS = frozenset({b"x-arbiter-request-id", b"x-request-id", b"request-id"})
_NAME = operator.itemgetter(0)  # a raw header line's name

CURRENT: ContextVar[RequestLog | None] = ContextVar("arbiter_request", default=None)


@contextmanager
def serving(ctx: RequestLog | None) -> Iterator[None]:
    """`ctx` as CURRENT, and its span current, while a stream's body is relayed: that runs after
    its handler returned (and left both), yet its log lines, its grading's hand-off and its
    calls upstream are the request's (its request id, its trace)."""
    if ctx is None:
        yield
        return
    token = CURRENT.set(ctx)
    try:
        if ctx.span is None:
            yield
        else:
            with telemetry.current(ctx.span):
                yield
    finally:
        CURRENT.reset(token)


# "req_" + 24 hex digits, as before, without os.urandom per request (see DecisionIds)
_new_request_id = DecisionIds("req")


def request_id(offered: str | None) -> str:
    """The client's id when it is safe to log and forward, else a new one."""
    if offered and len(offered) <= MAX_ID_CHARS and _ID_CHARS.issuperset(offered):
        return offered
    return _new_request_id()


MAX_BETA_HEADER = 2048


def anthropic_beta(value: str | None) -> str | None:
    """The client's `anthropic-beta` header (the anthropic SDK's `betas=`), checked: it goes on
    to Anthropic upstreams verbatim."""
    if value is not None and (len(value) > MAX_BETA_HEADER or not value.isascii()):
        raise InvalidRequest(
            f"'anthropic-beta' must be ASCII, at most {MAX_BETA_HEADER} characters.",
            param="anthropic-beta",
        )
    return value


def anthropic_beta_lines(headers: Sequence[tuple[bytes, bytes]]) -> str | None:
    """`anthropic_beta` of a request's raw ASGI header lines (a sequence), read without decoding
    the others: repeated lines are one comma-separated list (RFC 9110 5.3), as the SDK sends it."""
    if b"anthropic-beta" not in map(_NAME, headers):  # (a scan in C: most requests have none)
        return None
    found = [value for name, value in headers if name == b"anthropic-beta"]
    return anthropic_beta(b",".join(found).decode("latin-1"))


def finish_headers(response: Response, rid: str) -> None:
    """Arbiter's request id as `x-arbiter-request-id`; as `x-request-id` and `request-id` too
    unless the answering upstream's own id is there (what the openai and anthropic SDKs read
    for `_request_id` and an error's `request_id`: the provider's id is the one its support
    can look up; ours is in our log line)."""
    raw = response.raw_headers
    ids = _ID_HEADERS.intersection(map(_NAME, raw))  # (in C, not a comprehension a request)
    value = rid.encode("latin-1")
    if not ids:
        # no upstream id: three appends, not MutableHeaders' six scans
        raw += ((b"x-arbiter-request-id", value), (b"x-request-id", value), (b"request-id", value))
        return
    if b"x-arbiter-request-id" not in ids:
        # the upstream's id (OpenAI's, Anthropic's; the pair upstream.http forwards): appends,
        # in the order MutableHeaders' assignments would have made them
        raw.append((b"x-arbiter-request-id", value))
        if b"x-request-id" not in ids:
            raw.append((b"x-request-id", value))
        if b"request-id" not in ids:
            first = next(v for name, v in raw if name == b"x-request-id")
            raw.append((b"request-id", first))
        return
    headers = response.headers  # ours already there (replaced, never doubled): the general rules
    headers["x-arbiter-request-id"] = rid
    if "x-request-id" not in headers:
        headers["x-request-id"] = rid
    if "request-id" not in headers:
        headers["request-id"] = headers["x-request-id"]


def cost_headers(
    out: dict[str, str], cost: float, judge_cost: float, cascade: str | None
) -> dict[str, str]:
    """`out` with what the request cost the caller (`x-arbiter-cost-usd`: `cost`, its decision's,
    which holds a cascade's in-request judge too; that judge's part, also recorded as a
    `cascade_judge` decision of its own for audit, given as `x-arbiter-judge-cost-usd`) and a
    cascade's outcome (`x-arbiter-cascade`)."""
    out["x-arbiter-cost-usd"] = f"{cost:.8f}"
    if judge_cost:
        out["x-arbiter-judge-cost-usd"] = f"{judge_cost:.8f}"
    if cascade is not None:
        out["x-arbiter-cascade"] = cascade
    return out


class RequestLog:
    __slots__ = (
        "answer_bytes", "anthropic_beta", "attempts", "baseline_cost_usd", "cascade", "cost_usd",
        "decision_id", "error", "id", "input_tokens", "judge_cost_usd", "level", "model",
        "outcome", "output_tokens", "reason", "requested_model", "span", "started", "surface",
        "task", "tenant", "upstream_request_id",
    )  # fmt: skip

    def __init__(self, rid: str, surface: str | None) -> None:
        self.id = rid
        self.surface = surface
        self.level = logging.INFO if surface is not None else logging.DEBUG
        self.started = time.perf_counter()
        # bytes of large whole answers it holds (answer_bytes.py); -1 once given back
        self.answer_bytes = 0
        self.tenant: str | None = None
        self.model: str | None = None
        self.reason: str | None = None
        self.attempts = 0
        self.outcome: str | None = None  # the decision's status: ok / failed
        self.error: str | None = None
        self.cost_usd: float | None = None
        self.judge_cost_usd = 0.0  # a cascade's in-request judge: its own decision, the caller's
        self.cascade: str | None = None  # a cascade's outcome (request_plan.Plan.cascade)
        self.decision_id: str | None = None
        self.task: str | None = None
        self.baseline_cost_usd: float | None = None
        self.upstream_request_id: str | None = None
        self.requested_model: str | None = None  # what the client asked for (auto, a name)
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.span: Any = None  # the request's trace span when traces are on (telemetry.py)
        # the client's `anthropic-beta` header: sent on with every call to an Anthropic upstream
        # made for this request (upstream/http.py), so a beta's body fields are understood there
        self.anthropic_beta: str | None = None

    def decided(self, record: DecisionRecord) -> None:
        """The pipeline recorded the request's decision."""
        self.tenant = record.tenant
        # a failed request names the last model tried, as its error message does (the routed
        # choice may have failed first and been failed over)
        tried = record.attempts[-1].model if record.status == "failed" and record.attempts else None
        self.model = tried or record.chosen_model
        self.reason = record.reason
        self.attempts = len(record.attempts)
        self.outcome = record.status
        self.error = record.error
        self.cost_usd = record.cost_usd
        self.decision_id = record.id
        self.task = record.task
        self.baseline_cost_usd = record.baseline_cost_usd
        self.input_tokens = record.prompt_tokens
        self.output_tokens = record.completion_tokens

    def decision_headers(self) -> dict[str, str]:
        """The recorded decision's x-arbiter-* headers, for an error response: a request that
        failed after calls that may have been billed names its decision and what it cost, as a
        success does. None before a decision was recorded (a refusal at the edge)."""
        if self.decision_id is None:
            return {}
        return cost_headers({
            "x-arbiter-model": self.model or "",
            "x-arbiter-decision-id": self.decision_id,
            "x-arbiter-task": self.task or "",
            "x-arbiter-baseline-cost-usd": f"{self.baseline_cost_usd or 0.0:.8f}",
        }, self.cost_usd or 0.0, self.judge_cost_usd, self.cascade)  # fmt: skip

    def finish(
        self,
        status: int,
        cache: str | None = None,
        error: str | None = None,
        ended: float | None = None,
    ) -> None:
        """The response is complete (at `ended`, perf_counter's, when it was logged later):
        its log line, and its span's end."""
        if log.isEnabledFor(self.level):
            self._log_line(status, cache, error, time.perf_counter() if ended is None else ended)
        if self.span is not None:
            if error is not None:
                self.error = error
            telemetry.end_request(self.span, self, status)
            self.span = None

    def _log_line(self, status: int, cache: str | None, error: str | None, ended: float) -> None:
        # makeRecord + handle: Logger.log's caller lookup (a stack walk) says nothing here
        fields = {
            "request_id": self.id,
            "tenant": self.tenant,
            "surface": self.surface,
            "status": status,
            "outcome": self.outcome,
            "model": self.model,
            "attempts": self.attempts,
            "latency_ms": round((ended - self.started) * 1000, 2),
            "cost_usd": self.cost_usd,
            "cache": cache,
            "error": error or self.error,
            "decision_id": self.decision_id,
            "upstream_request_id": self.upstream_request_id,
            "reason": self.reason,
        }
        log.handle(log.makeRecord(log.name, self.level, "", 0, "request", (), None, extra=fields))
