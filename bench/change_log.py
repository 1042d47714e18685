"""Which latency change points a live sidecar adopted: when, on what evidence, and what the
latency model believed just before and just after each (bench/latency_slo.py prints it).

It wraps the alert rules' change callback (services._changed), so it sees exactly what the
sidecar acted on, and counts each model's latency observations (the detector's stream)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from arbiter.alerts import ChangeEvent
from arbiter.services import Services


@dataclass(slots=True)
class ChangeLog:
    services: Services
    t0: float = field(default_factory=time.perf_counter)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def install(self) -> ChangeLog:
        act = self.services.alerts._on_change
        assert act is not None

        def logged(event: ChangeEvent) -> None:
            before = self._believed(event.model)
            act(event)
            if event.change.signal == "latency":
                c = event.change
                self.rows.append({
                    "t_s": round(time.perf_counter() - self.t0, 2), "model": event.model,
                    "direction": c.direction, "delay": c.delay, "magnitude": round(c.magnitude, 3),
                    "before": before, "after": self._believed(event.model),
                })  # fmt: skip

        self.services.alerts._on_change = logged
        return self

    def _believed(self, model: str) -> dict[str, float]:
        f = self.services.latency.estimate(model)
        return {"ttft_ms": round(math.exp(f.ttft_mu) * 1000, 2),
                "tokens_per_s": round(math.exp(f.speed_mu), 1)}  # fmt: skip

    def report(self) -> None:
        observed = {m: d.n for m, d in self.services.alerts._latency.items()}
        print(f"latency change points adopted: {len(self.rows)} "
              f"(detector observations since each model's last: {observed})")  # fmt: skip
        for r in self.rows:
            b, a = r["before"], r["after"]
            print(f"  {r['t_s']:7.2f} s {r['model']:8s} {r['direction']:4s} x{r['magnitude']:.2f} "
                  f"after {r['delay']} calls: TTFT {b['ttft_ms']} -> {a['ttft_ms']} ms, "
                  f"{b['tokens_per_s']} -> {a['tokens_per_s']} tokens/s")  # fmt: skip
