"""Which ended spans the OTLP collector took, for the stop's line (telemetry.shutdown): a stop
that gives up waiting for a dead or silent collector says how many spans it did not export.
Imported only when traces are on (it subclasses the SDK's classes)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

log = logging.getLogger("arbiter.telemetry")


class SpanCounts(SpanProcessor):
    """Counts each span ended (on the thread that ends it) and each one exported."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.ended = 0
        self.exported = 0
        self._lock = threading.Lock()  # ended on the loop and in worker threads alike

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            self.ended += 1

    def took(self, n: int) -> None:
        with self._lock:
            self.exported += n

    def report(self, *, waited_out: bool, bound_s: float) -> None:
        """At the stop: a warning when some ended spans never reached the collector."""
        lost = self.ended - self.exported
        if lost <= 0 and not waited_out:
            return
        why = f"the collector did not take them within {bound_s:g} s" if waited_out else (
            "the collector refused or did not answer"
        )  # fmt: skip
        log.warning(
            "telemetry: stopped with %d of %d spans not exported (%s)", lost, self.ended, why,
            extra={"endpoint": self.endpoint, "spans_lost": lost, "spans_ended": self.ended},
        )  # fmt: skip


class CountedExporter(SpanExporter):
    """`inner`, counting into `counts` the spans of each batch it exported."""

    def __init__(self, inner: SpanExporter, counts: SpanCounts) -> None:
        self.inner = inner
        self.counts = counts

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        if result is SpanExportResult.SUCCESS:
            self.counts.took(len(spans))
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))
