"""Spend caps per key, per tenant and global: reserve the worst case before a call, settle after.

A request reserves its worst-case cost (prompt tokens at the dearest candidate's input price plus
max_tokens — or the configured output cap, which is then enforced — at its output price) in every
cap that applies, atomically in the store, before any upstream call. So concurrent requests, on one
replica or several sharing a store, can overshoot a cap by at most one request's worst case.
Threshold alerts (e.g. 50/80/100%) go to the alert feed and, if configured, a webhook.
"""

from __future__ import annotations

import asyncio
import calendar
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import orjson

from arbiter.config import BudgetSettings, CapSettings, ModelSettings
from arbiter.errors import BudgetExceeded
from arbiter.principal import Principal
from arbiter.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BoundCap:
    scope: str  # "global", "tenant:<name>", "key:<id>"
    window_start: float
    window_end: float
    limit_usd: float
    cap: CapSettings


@dataclass(slots=True)
class Reservation:
    amount: float
    caps: tuple[BoundCap, ...]
    settled: bool = False


def window_bounds(window: str, now: float) -> tuple[float, float]:
    if window == "total":
        return 0.0, float("inf")
    if window == "day":
        start = now - now % 86400
        return start, start + 86400
    d = datetime.fromtimestamp(now, tz=UTC)
    start = calendar.timegm((d.year, d.month, 1, 0, 0, 0))
    nxt = calendar.timegm((d.year + d.month // 12, d.month % 12 + 1, 1, 0, 0, 0))
    return float(start), float(nxt)


def _describe(b: BoundCap) -> str:
    who = (
        "global"
        if b.scope == "global"
        else f"{b.scope.split(':', 1)[0]} '{b.scope.split(':', 1)[1]}'"
    )
    per = {"day": "daily", "month": "monthly", "total": "total"}[b.cap.window]
    return f"{who} {per} cap of ${b.limit_usd:.2f}"


class Budgets:
    def __init__(
        self,
        settings: BudgetSettings,
        store: Store,
        alert: Callable[[str, str, str, dict[str, object]], None],
    ) -> None:
        self._s = settings
        self._store = store
        self._alert = alert
        self._open: dict[str, Reservation] = {}
        self._alerted: set[tuple[str, float, float]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        return bool(self._s.caps)

    @property
    def output_cap(self) -> int:
        return self._s.default_max_output_tokens

    def caps_for(self, principal: Principal, now: float) -> tuple[BoundCap, ...]:
        out = []
        for cap in self._s.caps:
            if cap.scope == "global":
                scope = "global"
            elif cap.scope == "tenant" and cap.name in ("*", principal.tenant):
                scope = f"tenant:{principal.tenant}"
            elif cap.scope == "key" and principal.key_id and cap.name in ("*", principal.key_id):
                scope = f"key:{principal.key_id}"
            else:
                continue
            start, end = window_bounds(cap.window, now)
            out.append(BoundCap(scope, start, end, cap.limit_usd, cap))
        return tuple(out)

    @staticmethod
    def worst_case(models: Sequence[ModelSettings], prompt_tokens: int, max_tokens: int) -> float:
        pin = max(m.price_in_per_mtok for m in models)
        pout = max(m.price_out_per_mtok for m in models)
        return (prompt_tokens * pin + max_tokens * pout) / 1e6

    async def reserve(self, decision_id: str, caps: tuple[BoundCap, ...], amount: float) -> None:
        """Reserve `amount` under `caps` (from caps_for) or raise BudgetExceeded."""
        if not caps:
            return
        rows = [(c.scope, c.window_start, c.limit_usd) for c in caps]
        over = await asyncio.to_thread(self._store.reserve_budget, rows, amount)
        if over is not None:
            scope, spent, reserved = over
            bound = next(c for c in caps if c.scope == scope)
            resets = (
                "never resets"
                if bound.window_end == float("inf")
                else "resets at " + datetime.fromtimestamp(bound.window_end, tz=UTC).isoformat()
            )
            raise BudgetExceeded(
                f"Budget exceeded: the {_describe(bound)} would be passed (spent ${spent:.4f}, "
                f"${reserved:.4f} reserved by requests in flight, this request may cost up to "
                f"${amount:.4f}); it {resets}.",
                scope=scope,
                limit_usd=bound.limit_usd,
                window=bound.cap.window,
            )
        self._open[decision_id] = Reservation(amount, caps)

    async def settle(self, decision_id: str, actual: float) -> None:
        res = self._open.pop(decision_id, None)
        if res is None or res.settled:
            return
        res.settled = True
        windows = [(c.scope, c.window_start) for c in res.caps]
        after = await asyncio.to_thread(self._store.settle_budget, windows, res.amount, actual)
        for (scope, start, spent), bound in zip(after, res.caps, strict=True):
            self._thresholds(bound, scope, start, spent)

    async def release(self, decision_id: str) -> None:
        """Nothing was spent (the request failed before any upstream answered)."""
        await self.settle(decision_id, 0.0)

    def _thresholds(self, bound: BoundCap, scope: str, start: float, spent: float) -> None:
        if bound.limit_usd <= 0:
            return
        for t in sorted(self._s.alert_thresholds):
            key = (scope, start, t)
            if spent >= t * bound.limit_usd and key not in self._alerted:
                self._alerted.add(key)
                message = f"{_describe(bound)}: {spent / bound.limit_usd:.0%} spent (${spent:.4f})"
                data: dict[str, object] = {
                    "scope": scope,
                    "threshold": t,
                    "spent_usd": spent,
                    "limit_usd": bound.limit_usd,
                    "window": bound.cap.window,
                }
                tenant = scope.split(":", 1)[1] if scope.startswith("tenant:") else "_system"
                self._alert(tenant, "budget_threshold", message, data)
                if self._s.webhook_url:
                    task = asyncio.get_running_loop().create_task(
                        self._webhook({"kind": "budget_threshold", "message": message, **data})
                    )
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

    async def _webhook(self, payload: dict[str, object], attempts: int = 5) -> None:
        assert self._s.webhook_url is not None
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
            for i in range(attempts):
                try:
                    r = await client.post(
                        self._s.webhook_url,
                        content=orjson.dumps(payload),
                        headers={"content-type": "application/json"},
                    )
                    if r.status_code < 500:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(min(0.2 * 2**i, 5.0))
        log.warning("budget webhook failed after %d attempts", attempts)
