"""The operator's alerts about a model's upstream: its circuit opened, it answered with a
configuration error (401/403/404 or a redirect), or its cost report or usage counts were not
believed. A broken upstream does the same thing on every call, so each alert but the circuit's
is raised at most once per model (and side, or status) each 10 minutes.

Raised through `AlertRules.emit` (alerts.py), so they are stored, counted on /metrics and shown
like every other alert. `Services` makes one and hands its methods to the circuit breaker and to
the pricing code (cost_report.py, dropped_usage.py).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from arbiter.alerts import AlertRules
from arbiter.config import Settings
from arbiter.records import SYSTEM_TENANT
from arbiter.registry import Registry

log = logging.getLogger("arbiter.services")  # the logger these lines always went to
REPEAT_S = 600.0  # one alert per model (and side / status) in this long


class UpstreamAlerts:
    def __init__(
        self, alerts: AlertRules, registry: Registry, settings: Callable[[], Settings]
    ) -> None:
        # `settings`: the sidecar's current settings (a config reload replaces them)
        self._alerts = alerts
        self._registry = registry
        self._settings = settings
        self._misconfig_alerted: dict[tuple[str, int], float] = {}
        self._cost_report_alerted: dict[tuple[str, str], float] = {}  # (model, side) -> when
        self._usage_dropped_alerted: dict[str, float] = {}  # model -> when

    def circuit_opened(self, model: str, failures: int) -> None:
        self._alerts.emit(
            SYSTEM_TENANT,
            "circuit_open",
            f"{model}: circuit opened after {failures} consecutive failures; "
            f"skipped for {self._settings().breaker.cooldown_s:g}s, then probed",
            model=model,
        )

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
        now = time.monotonic()
        if now - self._cost_report_alerted.get((model, side), -1e9) < REPEAT_S:
            return
        self._cost_report_alerted[(model, side)] = now
        m = self._registry.get(model)
        upstream = m.upstream if m is not None else "?"
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
        )  # fmt: skip

    def usage_dropped(
        self, model: str, cost: float, worst: float | None, missing: str | None = None
    ) -> None:
        """An answer of `model` came with usage counts that were no counts, or with one side's
        count `missing` ("input" or "output": dropped_usage.py): priced from what it relayed;
        the operator's alert, at most one per model each 10 minutes (a broken upstream sends
        them on every call)."""
        now = time.monotonic()
        if now - self._usage_dropped_alerted.get(model, -1e9) < REPEAT_S:
            return
        self._usage_dropped_alerted[model] = now
        m = self._registry.get(model)
        upstream = m.upstream if m is not None else "?"
        what = (
            f"a usage without its {missing} count; that side is Arbiter's count, never 0: "
            if missing is not None
            else "usage counts that are no counts (not finite, negative or past 10^8); "
        )
        self._alerts.emit(
            SYSTEM_TENANT,
            "usage_dropped",
            f"{model}: upstream {upstream!r} answered with {what}the call is priced from the "
            f"tokens it relayed, ${cost:.6g}, not believed as sent. Check the upstream's usage "
            f"report.",
            model=model,
            data={"upstream": upstream, "cost_usd": cost, "worst_cost_usd": worst,
                  "missing": missing},
        )  # fmt: skip

    def misconfigured(self, model: str, status: int, location_host: str | None) -> None:
        """An alert (at most one per model and status per 10 minutes) naming the model, its
        upstream, what the status means and the circuit it counts against (a redirect: the
        Location's host, which was not followed)."""
        m = self._registry[model]  # a discovered model is not in settings.models
        log.warning(
            "upstream configuration error",
            extra={"upstream_model": model, "upstream": m.upstream, "status": status},
        )
        now = time.monotonic()
        if now - self._misconfig_alerted.get((model, status), -1e9) < REPEAT_S:
            return
        self._misconfig_alerted[(model, status)] = now
        up = self._settings().upstreams[m.upstream]
        data: dict[str, Any] = {
            "upstream": m.upstream, "status": status, "upstream_model": m.upstream_model,
        }  # fmt: skip
        if status < 400:
            where = location_host or "the same host (a relative Location)"
            data["location_host"] = location_host
            what = f"redirected the call to {where}, which was not followed"
            fix = f"check upstreams.{m.upstream}.base_url ({up.base_url})"
        elif status == 404:
            what = f"does not know the model ({m.upstream_model!r} at {up.base_url})"
            fix = (
                f"check models.{model}.upstream_model ({m.upstream_model!r}) against the "
                f"upstream's model list (arbiter check-config --probe)"
            )
        else:
            what = f"refused the API key ({m.upstream_model!r} at {up.base_url})"
            fix = f"check the key in {up.api_key_env or 'upstreams.' + m.upstream + '.api_key_env'}"
        self._alerts.emit(
            SYSTEM_TENANT,
            "upstream_config",
            f"{model}: upstream {m.upstream!r} answered {status}: it {what}; {fix}. Each such "
            f"answer counts against the circuit of {model}.",
            model=model,
            data=data,
        )
