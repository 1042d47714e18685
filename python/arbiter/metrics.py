"""Process-local counters for Prometheus: updated in O(1) as records pass, rendered on scrape.

Owns the in-memory metric state and the text exposition format (0.0.4). It must not touch the
store: a scrape reads only memory, so it costs microseconds however large the history is.
Labels are kept to bounded sets (configured models, the fixed task types, ok/failed, alert
kinds); tenants are never a label (unbounded), use /arbiter/timeseries for per-tenant series.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from arbiter.records import (
    IN_REQUEST_MODES,
    LEARNING_MODES,
    AlertRecord,
    DecisionRecord,
    GradeRecord,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# how many (decision, grader) pairs a process remembers as counted (~100 bytes each)
_GRADED_MEMORY = 100_000
# Histogram upper bounds in seconds (the `+Inf` bucket is implicit).
LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Gauges:
    """Values read at scrape time from the live objects (not counted here)."""

    store_backlog: int
    store_dropped: int
    store_healthy: bool
    circuits_open: Mapping[str, bool]  # model -> open (half-open counts as open)
    after_answer_failed: int = 0  # learning steps run after an answer that raised


@dataclass(slots=True)
class _Histogram:
    buckets: list[int]
    total: float = 0.0
    count: int = 0


class Metrics:
    """Counters fed by `observe_*` (any thread) and rendered by `render(gauges)`."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._started = clock()
        self._requests: dict[tuple[str, str, str], int] = {}  # (model, task, status)
        self._cost: dict[str, float] = {}  # model -> usd
        self._baseline_cost = 0.0
        self._latency: dict[str, _Histogram] = {}  # model -> seconds
        self._grades: dict[tuple[str, str], tuple[float, int]] = {}  # (model, task) -> sum, n
        # (decision id, grader) already counted: an answer re-graded by the same grader (a
        # client's feedback sent again) is not counted again (bounded: the oldest forgotten)
        self._graded: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._alerts: dict[str, int] = {}  # kind -> count
        # Arbiter's learning calls (shadow, probe, judge): never in the request/cost/baseline
        # counters above, whose baseline - cost is the savings on tenants' requests
        self._learning: dict[tuple[str, str], tuple[int, float]] = {}  # (mode, model) -> n, usd
        # and their grades (a shadow call's answer, a probe's): never in the grades above, which
        # are the quality of what tenants were served
        self._learning_grades: dict[tuple[str, str, str], tuple[float, int]] = {}  # (mode, m, t)
        # failed upstream calls, by whether each was charged as possibly billed (Attempt.billed)
        self._failed_calls: dict[tuple[str, str], int] = {}  # (model, "maybe" | "no") -> n
        # answers whose usage Arbiter counted itself (billing_alerts.py: the alert is limited)
        self._usage_dropped: dict[tuple[str, str], int] = {}  # (model, missing) -> n

    # -- feeding ----------------------------------------------------------------------------
    def observe_decision(self, d: DecisionRecord) -> None:
        if d.mode in IN_REQUEST_MODES:  # its cost is in the graded request's decision
            return
        for a in d.attempts:
            if a.billed is not None:  # a failed call (an answered one is priced from its usage)
                call = (a.model, "maybe" if a.billed else "no")
                with self._lock:
                    self._failed_calls[call] = self._failed_calls.get(call, 0) + 1
        if d.mode in LEARNING_MODES:
            with self._lock:
                n, usd = self._learning.get((d.mode, d.chosen_model), (0, 0.0))
                self._learning[(d.mode, d.chosen_model)] = (n + 1, usd + d.cost_usd)
            return
        seconds = d.latency_ms / 1000
        i = bisect.bisect_left(LATENCY_BUCKETS_S, seconds)
        with self._lock:
            key = (d.chosen_model, d.task, d.status)
            self._requests[key] = self._requests.get(key, 0) + 1
            self._cost[d.chosen_model] = self._cost.get(d.chosen_model, 0.0) + d.cost_usd
            self._baseline_cost += d.baseline_cost_usd
            h = self._latency.get(d.chosen_model)
            if h is None:
                h = self._latency[d.chosen_model] = _Histogram([0] * (len(LATENCY_BUCKETS_S) + 1))
            h.buckets[i] += 1
            h.total += seconds
            h.count += 1

    def observe_grade(self, g: GradeRecord) -> None:
        if g.mode in IN_REQUEST_MODES:  # a judge's own call is not graded; never count one
            return
        with self._lock:
            if g.mode in LEARNING_MODES:
                key = (g.mode, g.model, g.task)
                total, n = self._learning_grades.get(key, (0.0, 0))
                self._learning_grades[key] = (total + g.score, n + 1)
                return
            seen = (g.decision_id, g.grader)
            if seen in self._graded:  # counted once per grader: a counter cannot take it back
                return
            self._graded[seen] = None
            if len(self._graded) > _GRADED_MEMORY:
                self._graded.popitem(last=False)
            total, n = self._grades.get((g.model, g.task), (0.0, 0))
            self._grades[(g.model, g.task)] = (total + g.score, n + 1)

    def observe_usage_dropped(self, model: str, missing: str) -> None:
        """An answer of `model` priced from what it relayed: its usage's counts were no counts
        (`missing` "counts"), or it lacked a side ("input", "output") or all of it ("both")."""
        with self._lock:
            key = (model, missing)
            self._usage_dropped[key] = self._usage_dropped.get(key, 0) + 1

    def observe_alert(self, a: AlertRecord) -> None:
        with self._lock:
            self._alerts[a.kind] = self._alerts.get(a.kind, 0) + 1

    # -- reading ----------------------------------------------------------------------------
    def requests_total(self) -> int:
        with self._lock:
            return sum(self._requests.values())

    def render(self, gauges: Gauges) -> str:
        """The Prometheus text exposition of every metric (one consistent snapshot)."""
        with self._lock:
            requests = sorted(self._requests.items())
            cost = sorted(self._cost.items())
            baseline = self._baseline_cost
            latency = [
                (m, list(h.buckets), h.total, h.count) for m, h in sorted(self._latency.items())
            ]
            grades = sorted(self._grades.items())
            alerts = sorted(self._alerts.items())
            learning = sorted(self._learning.items())
            learning_grades = sorted(self._learning_grades.items())
            failed_calls = sorted(self._failed_calls.items())
            usage_dropped = sorted(self._usage_dropped.items())
        circuits = sorted(gauges.circuits_open.items())
        out: list[str] = []
        _family(
            out,
            "arbiter_requests_total",
            "counter",
            "Requests answered or failed (Arbiter's own learning calls apart).",
            ((_labels(model=m, task=t, status=s), n) for (m, t, s), n in requests),
        )
        _family(
            out,
            "arbiter_cost_usd_total",
            "counter",
            "Upstream spend on requests in USD (Arbiter's own learning calls apart).",
            ((_labels(model=m), v) for m, v in cost),
        )
        _family(
            out,
            "arbiter_learning_calls_total",
            "counter",
            "Arbiter's own calls to learn (mode: shadow, probe, judge), never a client request.",
            ((_labels(mode=k, model=m), n) for (k, m), (n, _) in learning),
        )
        _family(
            out,
            "arbiter_learning_cost_usd_total",
            "counter",
            "Upstream spend of Arbiter's learning calls in USD (total spend: add cost_usd_total).",
            ((_labels(mode=k, model=m), usd) for (k, m), (_, usd) in learning),
        )
        _family(
            out,
            "arbiter_failed_upstream_calls_total",
            "counter",
            "Upstream calls that failed, by billed: maybe (charged what they may have cost: a "
            "timeout, a reset, a cut answer) or no (charged $0: refused, or a whole error answer).",
            ((_labels(model=m, billed=b), n) for (m, b), n in failed_calls),
        )
        _family(
            out,
            "arbiter_usage_dropped_total",
            "counter",
            "Answers priced from the tokens they relayed, by what their usage lacked: counts "
            "(no counts: NaN, negative, past 10^8), input, output or both (no usage at all). "
            "Every one, though the usage_dropped alert is raised once per model each 10 minutes "
            "(one per deployment on a shared store); this worker's count.",
            ((_labels(model=m, missing=k), n) for (m, k), n in usage_dropped),
        )
        _family(
            out,
            "arbiter_baseline_cost_usd_total",
            "counter",
            "What the same requests would have cost on the baseline model, in USD.",
            [("", baseline)],
        )
        _histogram(out, latency)
        _family(
            out,
            "arbiter_grade_mean",
            "gauge",
            "Mean grade (0..1) of the answers served to clients this process graded.",
            ((_labels(model=m, task=t), s / n) for (m, t), (s, n) in grades if n),
        )
        _family(
            out,
            "arbiter_grades_total",
            "counter",
            "Grades of answers served to clients recorded by this process.",
            ((_labels(model=m, task=t), n) for (m, t), (_, n) in grades),
        )
        _family(
            out,
            # named _score_total, not _sum (Prometheus: a counter ends in _total, and _sum is a
            # histogram's or summary's suffix); renamed from arbiter_grade_sum in session 26
            "arbiter_grade_score_total",
            "counter",
            "Sum of the grades recorded (a mean across replicas: rate(this) / rate(grades_total)).",
            ((_labels(model=m, task=t), s) for (m, t), (s, _) in grades),
        )
        _family(
            out,
            "arbiter_learning_grades_total",
            "counter",
            "Grades of Arbiter's learning calls' answers (mode: shadow, probe), not in the above.",
            ((_labels(mode=k, model=m, task=t), n) for (k, m, t), (_, n) in learning_grades),
        )
        _family(
            out,
            "arbiter_learning_grade_score_total",
            "counter",
            "Sum of those grades (a challenger's mean: rate(this) / rate(learning_grades_total)).",
            ((_labels(mode=k, model=m, task=t), s) for (k, m, t), (s, _) in learning_grades),
        )
        _family(
            out,
            "arbiter_alerts_total",
            "counter",
            # per process, as every counter here; the store keeps usage_dropped,
            # cost_report_dropped and the change alerts once per deployment
            # (AlertRecord.once_every_s), so N workers
            # count N for one stored alert: /arbiter/alerts is the deployment's list
            "Alerts this process raised, by kind (usage_dropped, cost_report_dropped and the "
            "*_change kinds: each worker or replica its own, the store keeping one per "
            "deployment each 10 minutes; "
            "/arbiter/alerts lists what the store kept).",
            ((_labels(kind=k), n) for k, n in alerts),
        )
        _family(
            out,
            "arbiter_store_backlog",
            "gauge",
            "Records accepted but not yet written to the store.",
            [("", gauges.store_backlog)],
        )
        _family(
            out,
            "arbiter_store_dropped_total",
            "counter",
            "Records dropped (backlog full, or refused by the store).",
            [("", gauges.store_dropped)],
        )
        _family(
            out,
            "arbiter_after_answer_errors_total",
            "counter",
            "Learning steps run after an answer was sent that failed (logged; the answer stood).",
            [("", gauges.after_answer_failed)],
        )
        _family(
            out,
            "arbiter_store_up",
            "gauge",
            "1 when the last store write succeeded.",
            [("", int(gauges.store_healthy))],
        )
        _family(
            out,
            "arbiter_circuit_open",
            "gauge",
            "1 while a model's circuit breaker is open or half-open.",
            ((_labels(model=m), int(v)) for m, v in circuits),
        )
        _family(
            out,
            "arbiter_start_time_seconds",
            "gauge",
            "Unix time the process started.",
            [("", self._started)],
        )
        return "".join(out)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _number(v: float) -> str:
    if isinstance(v, int):
        return str(v)
    if v != v:  # NaN
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def _family(
    out: list[str], name: str, kind: str, help_: str, samples: Iterable[tuple[str, float]]
) -> None:
    out.append(f"# HELP {name} {help_}\n# TYPE {name} {kind}\n")
    out.extend(f"{name}{labels} {_number(v)}\n" for labels, v in samples)


def _histogram(out: list[str], rows: list[tuple[str, list[int], float, int]]) -> None:
    name = "arbiter_request_latency_seconds"
    out.append(f"# HELP {name} Time from request to recorded decision, by model.\n")
    out.append(f"# TYPE {name} histogram\n")
    for model, buckets, total, count in rows:
        m = _escape(model)
        cumulative = 0
        for le, n in zip((*LATENCY_BUCKETS_S, float("inf")), buckets, strict=True):
            cumulative += n
            bound = "+Inf" if le == float("inf") else repr(le)
            out.append(f'{name}_bucket{{model="{m}",le="{bound}"}} {cumulative}\n')
        out.append(f'{name}_sum{{model="{m}"}} {_number(total)}\n')
        out.append(f'{name}_count{{model="{m}"}} {count}\n')
