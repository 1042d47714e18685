"""The operator's alerts about a model's upstream: its circuit opened, or it answered with a
configuration error (401/403/404 or a redirect). A misconfigured upstream does the same thing on
every call, so that alert is raised at most once per model and status each 10 minutes. (Its
billing telemetry not believed, a cost report or usage counts: billing_alerts.py.)

Raised through `AlertRules.emit` (alerts.py), so they are stored, counted on /metrics and shown
like every other alert. `Services` makes one and hands its methods to the circuit breaker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from arbiter.alerts import AlertRules
from arbiter.config import Settings
from arbiter.records import SYSTEM_TENANT
from arbiter.registry import Registry

log = logging.getLogger("arbiter.services")  # the logger these lines always went to
REPEAT_S = 600.0  # one alert per model and status in this long


class UpstreamAlerts:
    def __init__(
        self, alerts: AlertRules, registry: Registry, settings: Callable[[], Settings]
    ) -> None:
        # `settings`: the sidecar's current settings (a config reload replaces them)
        self._alerts = alerts
        self._registry = registry
        self._settings = settings
        self._misconfig_alerted: dict[tuple[str, int], float] = {}

    def circuit_opened(self, model: str, failures: int) -> None:
        self._alerts.emit(
            SYSTEM_TENANT,
            "circuit_open",
            f"{model}: circuit opened after {failures} consecutive failures; "
            f"skipped for {self._settings().breaker.cooldown_s:g}s, then probed",
            model=model,
        )

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
            held = up.api_key_env or up.api_key_file or f"upstreams.{m.upstream}.api_key_env"
            fix = f"check the key in {held}"
        self._alerts.emit(
            SYSTEM_TENANT,
            "upstream_config",
            f"{model}: upstream {m.upstream!r} answered {status}: it {what}; {fix}. Each such "
            f"answer counts against the circuit of {model}.",
            model=model,
            data=data,
        )
