"""OpenTelemetry traces, opt-in: `[telemetry] otlp_endpoint = "http://collector:4318"` (or the
standard OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT variables) exports
spans over OTLP/HTTP with the official SDK (`pip install 'arbiter[otel]'`).

Spans: one per request (`POST /v1/chat/completions`, ...; kind SERVER, in the client's trace
when its `traceparent` names one, the only header read; a stream's ends with its last event,
and its relay runs in the request's context: request_log.serving),
`route` (the choice: task, mode, candidates, the chosen model), one per upstream attempt (its
`traceparent` sent on the call)
(`chat sim-small`, kind CLIENT, with the GenAI semantic-convention attributes:
gen_ai.operation.name, gen_ai.provider.name and gen_ai.system, gen_ai.request.model,
gen_ai.response.model, gen_ai.usage.input_tokens / output_tokens, error.type) and `grade`
(grader and score, in the background after the answer).

Off (the default) it costs nothing: opentelemetry is never imported and every hook on the
request path is one `TRACER is None` check on this module.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from arbiter.url_paths import path_of, with_path

if TYPE_CHECKING:
    from arbiter.config import TelemetrySettings
    from arbiter.request_log import RequestLog

log = logging.getLogger(__name__)
_T = TypeVar("_T")

TRACER: Any = None  # an opentelemetry Tracer when traces are on
_PROVIDER: Any = None  # the TracerProvider configure() made (shut down by shutdown())
_COUNTS: Any = None  # its span_counts.SpanCounts (what was ended, what the collector took)


def endpoint_of(settings: TelemetrySettings, env: Mapping[str, str]) -> str | None:
    """The OTLP/HTTP traces URL: the config's, else the standard environment variables."""
    traces = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if settings.otlp_endpoint:
        base = settings.otlp_endpoint
    elif traces:
        return traces  # already the full traces URL, per the OTLP exporter spec
    else:
        base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    if not base:
        return None
    # the path joined before a query the collector's URL may carry (a gateway's `?token=`)
    return with_path(base, "" if path_of(base).endswith("/v1/traces") else "/v1/traces")


# a stop waits this long for the last spans' export, then goes on without them (counted in
# its log line): the exporter's own timeout (10 s) and retries would hold a stop that long
# behind a dead or silent collector, every record already written
SHUTDOWN_EXPORT_S = 2.0


def configure(settings: TelemetrySettings, env: Mapping[str, str] | None = None) -> bool:
    """Turn traces on when an endpoint is configured; True when they are on."""
    global _PROVIDER, _COUNTS
    url = endpoint_of(settings, os.environ if env is None else env)
    if url is None:
        return False
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.error(
            "telemetry: an OTLP endpoint is configured but opentelemetry is not installed "
            "(pip install 'arbiter[otel]'); traces are off",
            extra={"endpoint": url},
        )
        return False
    from arbiter.span_counts import CountedExporter, SpanCounts

    # no atexit shutdown of its own: shutdown() bounds the one it makes
    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.service_name}), shutdown_on_exit=False
    )
    _COUNTS = SpanCounts(url)
    provider.add_span_processor(_COUNTS)  # counts each ended span (first: before the batch's)
    provider.add_span_processor(
        BatchSpanProcessor(CountedExporter(OTLPSpanExporter(endpoint=url), _COUNTS))
    )
    _PROVIDER = provider
    use(provider.get_tracer("arbiter"))
    log.info("telemetry: exporting traces", extra={"endpoint": url})
    return True


def use(tracer: Any) -> None:
    """Set (or with None, clear) the tracer the hooks use; tests pass an in-memory one."""
    global TRACER
    TRACER = tracer


def shutdown(bound_s: float = SHUTDOWN_EXPORT_S) -> None:
    """Flush and stop the exporter configure() started (at the app's shutdown), waiting at most
    `bound_s` for the collector; the spans it did not take are counted in a warning."""
    global _PROVIDER, _COUNTS
    if _PROVIDER is None:
        return
    provider, counts = _PROVIDER, _COUNTS
    _PROVIDER = _COUNTS = None
    use(None)
    # in a daemon thread: one stuck in an export does not hold the process's exit
    flushing = threading.Thread(target=provider.shutdown, name="otel-shutdown", daemon=True)
    flushing.start()
    flushing.join(bound_s)
    if counts is not None:
        counts.report(waited_out=flushing.is_alive(), bound_s=bound_s)


# -- the hooks (each called only when TRACER is not None) -----------------------------------


def start_request(method: str, path: str, surface: str | None, headers: Mapping[str, str]) -> Any:
    """The request's SERVER span, not yet current (a stream ends it after the handler
    returned); a child of the client's span when its `traceparent` names one (client_parent),
    so the caller's trace goes on through the sidecar."""
    from opentelemetry.trace import SpanKind

    span = TRACER.start_span(
        f"{method} {path}", context=client_parent(headers.get("traceparent")),
        kind=SpanKind.SERVER, attributes={"http.request.method": method},
    )  # fmt: skip
    if surface is not None:
        span.set_attribute("arbiter.surface", surface)
    return span


_HEX = frozenset("0123456789abcdef")
TRACEPARENT_MAX_CHARS = 512  # the W3C bound (a later version may append fields)


def client_parent(value: str | None) -> Any:
    """The OpenTelemetry context of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), None
    when absent or malformed. Read by position in linear time, nothing else read: the SDK's
    propagators also parse `tracestate` and `baggage` with patterns that cost milliseconds of
    the loop per 8 KB header (one baggage of 8,000 spaces: ~300 ms) and log the client's text
    once per member they refuse."""
    if value is None or not 55 <= len(value) <= TRACEPARENT_MAX_CHARS:
        return None
    version, trace_id, span_id, flags = value[:2], value[3:35], value[36:52], value[53:55]
    if (
        value[2] != "-" or value[35] != "-" or value[52] != "-"
        or (len(value) > 55 and (version == "00" or value[55] != "-"))
        or not _HEX.issuperset(version + trace_id + span_id + flags) or version == "ff"
        or trace_id == "0" * 32 or span_id == "0" * 16
    ):  # fmt: skip
        return None
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    remote = SpanContext(
        int(trace_id, 16), int(span_id, 16), is_remote=True,
        trace_flags=TraceFlags(int(flags, 16) & TraceFlags.SAMPLED),
    )  # fmt: skip
    return trace.set_span_in_context(NonRecordingSpan(remote))


def traceparent() -> bytes | None:
    """The W3C `traceparent` of the current span (an upstream attempt's, on its call), so a
    tracing upstream's spans join the request's trace; None outside any span. Only this header
    goes upstream: the client's `tracestate` and `baggage` are never read nor sent on."""
    from opentelemetry import trace

    sc = trace.get_current_span().get_span_context()
    if not sc.is_valid:
        return None
    return b"00-%032x-%016x-%02x" % (sc.trace_id, sc.span_id, sc.trace_flags & 0x01)


@contextmanager
def current(span: Any) -> Iterator[None]:
    from opentelemetry import trace

    # the request's status is end_request's to set: an ArbiterError raised through here is a
    # refusal answered in the client's shape (a 400 is no server error)
    with trace.use_span(
        span, end_on_exit=False, record_exception=False, set_status_on_exception=False
    ):
        yield


def end_request(span: Any, ctx: RequestLog, status: int) -> None:
    attrs: dict[str, Any] = {"http.response.status_code": status, "arbiter.request_id": ctx.id}
    for key, value in (
        ("arbiter.tenant", ctx.tenant),
        ("gen_ai.request.model", ctx.requested_model),
        ("gen_ai.response.model", ctx.model),
        ("arbiter.decision_id", ctx.decision_id),
        ("arbiter.outcome", ctx.outcome),
        ("arbiter.reason", ctx.reason),
        ("arbiter.cost_usd", ctx.cost_usd),
        ("arbiter.attempts", ctx.attempts),
        ("gen_ai.usage.input_tokens", ctx.input_tokens),
        ("gen_ai.usage.output_tokens", ctx.output_tokens),
        ("error.type", ctx.error),
    ):
        if value is not None:
            attrs[key] = value
    span.set_attributes(attrs)
    # the HTTP conventions for a SERVER span: a 4xx is the client's error, not this span's; a
    # failed outcome under a 2xx (a stream cut after its head) is one
    if status >= 500 or (ctx.outcome == "failed" and status < 400):
        from opentelemetry.trace import StatusCode

        span.set_status(StatusCode.ERROR, ctx.error or str(status))
    span.end()


@contextmanager
def route_span(requested_model: str) -> Iterator[Any]:
    with TRACER.start_as_current_span(
        "route", attributes={"gen_ai.request.model": requested_model}
    ) as span:
        yield span


def routed(span: Any, task: str, mode: str, models: tuple[str, ...], reason: str) -> None:
    span.set_attributes({
        "arbiter.task": task, "arbiter.mode": mode, "arbiter.chosen_model": models[0],
        "arbiter.fallbacks": list(models[1:]), "arbiter.reason": reason,
    })  # fmt: skip


async def attempt(
    send: Callable[[], Awaitable[_T]],
    *,
    operation: str,
    provider: str,
    model: str,
    upstream_model: str,
    params: Mapping[str, Any] | None = None,
) -> _T:
    """One upstream call as a CLIENT span named `{operation} {model}` (GenAI conventions)."""
    from opentelemetry.trace import SpanKind, StatusCode

    attrs: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,  # the attribute's older name, still read by many backends
        "gen_ai.request.model": upstream_model,
        "arbiter.model": model,
    }
    for key, value in (params or {}).items():
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            attrs[f"gen_ai.request.{key}"] = value
    with TRACER.start_as_current_span(
        f"{operation} {model}", kind=SpanKind.CLIENT, attributes=attrs,
        record_exception=False, set_status_on_exception=False,
    ) as span:  # fmt: skip
        try:
            result = await send()
        except BaseException as err:
            span.set_attribute("error.type", getattr(err, "code", type(err).__name__))
            span.set_status(StatusCode.ERROR, getattr(err, "message", str(err))[:200])
            raise
        usage = getattr(result, "usage", None)
        if usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
        span.set_attribute("gen_ai.response.model", model)
        return result


@contextmanager
def grade_span(decision_id: str, task: str, model: str) -> Iterator[Any]:
    with TRACER.start_as_current_span(
        "grade",
        attributes={"arbiter.decision_id": decision_id, "arbiter.task": task,
                    "gen_ai.response.model": model},
    ) as span:  # fmt: skip
        yield span
