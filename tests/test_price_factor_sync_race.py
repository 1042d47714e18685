"""The change detector's price factor (adopted on the loop) and the background registry sync (a
thread, under the registry's lock) shared no lock: a factor adopted while the sync's refresh was
swapping its plan in changed the factors dict that refresh was reading ("dictionary changed
size during iteration": the refresh failed, its plan half swapped in) or was overwritten by the
refresh's older copy. Interleaved deterministically here: the refresh is paused inside its swap
(the plan's read of the factors), the loop adopts a factor for another model, the refresh goes
on. Now the loop's factor waits for the lock (off the loop) and is adopted after the refresh:
both land."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

from arbiter.alerts import ChangeEvent
from arbiter.changepoint import Change
from arbiter.records import SYSTEM_TENANT
from tests.budget_harness import Harness, Scripted, settings
from tests.waiting import until_async


def test_a_factor_adopted_during_a_sync_refresh_lands_and_the_refresh_too(tmp_path: Path) -> None:
    async def main() -> None:
        async with Harness(settings(tmp_path, None), Scripted()) as h:
            s, reg = h.services, h.services.registry
            premium = reg["sim-premium"].price_in_per_mtok
            assert reg.adopt_price_factor("sim-small", 1.5)  # a factor the swap reads
            s.store.set_model_override("sim-medium", {"priors": {"chat": 0.31}}, time.time())
            reading, go = threading.Event(), threading.Event()
            plan = reg._plan

            class Paused(dict[str, float]):
                """The refresh's plan's factors: its swap reads them while iterating the
                registry's, and waits there for the loop's adoption (once)."""

                def get(self, key: str, default: Any = None) -> Any:
                    if not reading.is_set():
                        reading.set()
                        assert go.wait(10)
                    return super().get(key, default)

            def plan_paused(*args: Any, **kwargs: Any) -> Any:
                made = plan(*args, **kwargs)
                if made is None or threading.current_thread() is threading.main_thread():
                    return made  # the loop's own plans: not paused
                return dataclasses.replace(made, factors_read=Paused(made.factors_read))

            reg._plan = plan_paused  # type: ignore[method-assign]
            refresh = asyncio.ensure_future(asyncio.to_thread(s.refresh_registry))
            assert await asyncio.to_thread(reading.wait, 10), "the refresh never swapped"
            jump = Change("price", "up", 0, 0, 1.0, 2.0, 9.0)
            s._changed(ChangeEvent(SYSTEM_TENANT, "sim-premium", None, jump))
            go.set()
            await refresh  # was: RuntimeError (dictionary changed size during iteration)
            await until_async(lambda: reg.price_factor("sim-premium") == 2.0, "the factor")
            assert reg["sim-premium"].price_in_per_mtok == 2.0 * premium
            pooled = {m.name: m for m in s.pool}
            assert pooled["sim-premium"].price_in_per_mtok == 2.0 * premium
            assert reg.price_factor("sim-small") == 1.5  # the factor adopted before: kept
            assert reg["sim-medium"].priors["chat"] == 0.31  # the refresh's override: adopted

    asyncio.run(main())
