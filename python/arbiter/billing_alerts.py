"""The operator's alerts on an upstream's billing telemetry: a reported cost not believed
(cost_report.py) and a usage Arbiter had to count itself (dropped_usage.py). Each alert is
limited to one per model (and side) each ten minutes, since a broken upstream sends the same on
every call (one per deployment where its workers and replicas share the store, the store
keeping the first of the window: AlertRecord.once_every_s, once_by for the side); every
`usage_dropped` is counted in /metrics all the same (`arbiter_usage_dropped_total`), so the rate
stays visible (split from services.py)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TypeVar

from arbiter.alerts import AlertRules
from arbiter.config import ModelSettings
from arbiter.metrics import Metrics
from arbiter.records import SYSTEM_TENANT

_K = TypeVar("_K")
ALERT_EVERY_S = 600.0  # one alert per model (and side) each ten minutes


class BillingAlerts:
    """`usage_dropped` and `cost_report_dropped`, raised through `alerts`; `model_of` looks a
    model up (None: unknown), for the upstream its alert names."""

    def __init__(
        self,
        alerts: AlertRules,
        metrics: Metrics,
        model_of: Callable[[str], ModelSettings | None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._alerts = alerts
        self._metrics = metrics
        self._model_of = model_of
        self._clock = clock
        self._cost_report_alerted: dict[tuple[str, str], float] = {}  # (model, side) -> when
        self._usage_dropped_alerted: dict[str, float] = {}  # model -> when

    def _upstream(self, model: str) -> str:
        m = self._model_of(model)
        return m.upstream if m is not None else "?"

    def _due(self, alerted: dict[_K, float], key: _K) -> bool:
        """Whether `key`'s alert is due (none in the last ALERT_EVERY_S); noted as raised."""
        now = self._clock()
        if now - alerted.get(key, -math.inf) < ALERT_EVERY_S:
            return False
        alerted[key] = now
        return True

    def cost_report_dropped(self, model: str, reported: float, usage_cost: float) -> None:
        """An upstream's own cost figure for a call of `model` was not believed (cost_report.py:
        past 100x or under 1/100 of what its usage costs at the registry's prices, 0 for a
        priced model, or no finite number): the operator's alert, at most one per model and
        side per 10 minutes (a broken upstream reports it on every call)."""
        if not math.isfinite(reported):  # NaN / Infinity: its own side, and no number to write
            side, said = "non-finite", "no finite number"
        else:
            side = "under" if reported < usage_cost or reported <= 0 else "past"
            said = f"${reported:.6g}"
        if not self._due(self._cost_report_alerted, (model, side)):
            return
        upstream = self._upstream(model)
        self._alerts.emit(
            SYSTEM_TENANT,
            "cost_report_dropped",
            f"{model}: upstream {upstream!r} reported a call's cost as {said}, while its "
            f"usage costs ${usage_cost:.6g} at the configured prices; not believed: the call is "
            f"priced from its usage (none: its worst case). Check the model's prices or the "
            f"upstream's cost report.",
            model=model,
            # a JSON store (PostgreSQL's jsonb) takes no NaN: none is written
            data={"upstream": upstream,
                  "reported_cost_usd": reported if side != "non-finite" else None,
                  "usage_cost_usd": usage_cost, "side": side},
            # N workers (or replicas) on one store: still one per model and side
            once_every_s=ALERT_EVERY_S, once_by="side",
        )  # fmt: skip

    def usage_dropped(
        self, model: str, cost: float, worst: float | None, missing: str | None = None
    ) -> None:
        """An answer of `model` came with usage counts that were no counts, with one side's
        count `missing` ("input" or "output") or with none at all ("both": dropped_usage.py):
        priced from what it relayed. Counted in /metrics every time; the operator's alert at
        most once per model each 10 minutes."""
        self._metrics.observe_usage_dropped(model, missing or "counts")
        if not self._due(self._usage_dropped_alerted, model):
            return
        upstream = self._upstream(model)
        if missing == "both":
            what = "no usage at all; both sides are Arbiter's count: "
        elif missing is not None:
            what = f"a usage without its {missing} count; that side is Arbiter's count, never 0: "
        else:
            what = "usage counts that are no counts (not finite, negative or past 10^8); "
        self._alerts.emit(
            SYSTEM_TENANT,
            "usage_dropped",
            f"{model}: upstream {upstream!r} answered with {what}the call is priced from the "
            f"tokens it relayed, ${cost:.6g}, not believed as sent. Check the upstream's usage "
            f"report (arbiter_usage_dropped_total counts every such call).",
            model=model,
            data={"upstream": upstream, "cost_usd": cost, "worst_cost_usd": worst,
                  "missing": missing},
            once_every_s=ALERT_EVERY_S,  # N workers (or replicas) on one store: still one
        )  # fmt: skip
