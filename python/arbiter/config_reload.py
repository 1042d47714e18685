"""Config reload without a restart (SIGHUP, `POST /arbiter/admin/reload`): the same file re-read
with the same strict parser, its live parts swapped in at once, everything else refused by name.

What may change live (`LIVE`): `[models.*]` (prices, windows, capabilities; a model taken out is
disabled, still known to the requests that hold it), `[tenants.*]` (but their `cache`: the
cache's matcher is built at start), `[budgets]` (a reservation keeps the caps it was made
under), and the `[routing]` keys read per request (`LIVE_ROUTING`). Any other difference (the
listen address, the store, the workers, upstreams, the models' loaded files...) refuses the
whole reload with the parts' names: a half-applied config is worse than none. Requests in
flight keep what they started with: their prices are pinned per request (call_pricing.py),
their `[routing]` on their plan (request_plan.Plan.routing), their router and caps are the
objects they hold.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from arbiter import config, workers
from arbiter.config import Settings
from arbiter.errors import ConfigError

if TYPE_CHECKING:
    from arbiter.services import Services

log = logging.getLogger(__name__)

Outcome = Literal["applied", "unchanged", "invalid", "refused"]
OUTCOMES: tuple[Outcome, ...] = ("applied", "unchanged", "invalid", "refused")
# the [routing] keys read on each request (route_plan, cascade_*) or by a router made afresh
LIVE_ROUTING = frozenset({
    "baseline", "quality_target", "explore", "optimistic", "evidence_cap", "prior_strength",
    "default_prior", "cost_weight", "cascade_tasks", "cascade_min_answer_tokens",
    "cascade_first_model", "cascade_first_models", "cascade_all", "cascade_cost_exponent",
    "cascade_cost_reference_usd", "cascade_min_expected_gain", "cascade_prompt_gain",
    "cascade_judge_gain", "cascade_judge_cost_exponent",
})  # fmt: skip
_LIVE_SECTIONS = ("models", "tenants", "budgets")
# what `arbiter serve` read: the path, the file's settings (before --host/--port), its text
ConfigFile = tuple[Path, Settings, str]


@dataclass(frozen=True, slots=True)
class ReloadResult:
    outcome: Outcome
    message: str
    sha256: str  # of the config serving after it (the old one unless applied)
    changed: tuple[str, ...] = ()  # the settings that differed (applied or refused)

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "message": self.message, "config_sha256": self.sha256,
                "changed": list(self.changed)}  # fmt: skip


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf setting by its dotted name (`server.port`, `models.gpt-4o.price_in_per_mtok`);
    lists are leaves."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        items: Mapping[str, Any] = {
            f.name: getattr(value, f.name) for f in dataclasses.fields(value)
        }
    elif isinstance(value, Mapping):
        items = value
    else:
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in items.items():
        out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return out


def is_live(name: str) -> bool:
    section, _, rest = name.partition(".")
    if section == "routing":
        return rest in LIVE_ROUTING
    if section == "tenants":
        return not rest.endswith(".cache")
    return section in _LIVE_SECTIONS


def differences(old: Settings, new: Settings) -> list[str]:
    """The settings whose value differs (or that one side lacks), `source` aside."""
    a, b = flatten(old), flatten(new)
    return sorted(k for k in a.keys() | b.keys() if k != "source" and a.get(k) != b.get(k))


def _names(names: list[str], shown: int = 20) -> str:
    """A message's list of settings: the first `shown` (a reload may touch thousands)."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def on_sighup(callback: Callable[[], None]) -> bool:
    """SIGHUP calls `callback` on the running loop; False where a loop cannot take signals (not
    the main thread: an app served in a test's thread), which keeps SIGHUP's default."""
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, callback)
    except (ValueError, RuntimeError, NotImplementedError):
        return False
    return True


class ConfigReloader:
    """Owns the loaded config's identity (hash, time) and the reload counts; `reload` is the one
    way in, for the signal and the endpoint alike."""

    def __init__(self, services: Services, path: Path, as_loaded: Settings, text: str) -> None:
        self._s = services
        self.path = path
        self._as_loaded = as_loaded  # the file's settings, before the command line's overrides
        self.sha256 = text_hash(text)
        self.loaded_ts = time.time()
        self.counts: dict[Outcome, int] = dict.fromkeys(OUTCOMES, 0)
        self._lock = asyncio.Lock()
        self._signalled: set[asyncio.Task[ReloadResult]] = set()

    def on_signal(self) -> None:
        """SIGHUP (a loop signal handler): reload in a task; the outcome goes to the log."""
        task = asyncio.get_running_loop().create_task(self.reload())
        self._signalled.add(task)
        task.add_done_callback(self._signalled.discard)

    async def reload(self, *, tell_workers: bool = False) -> ReloadResult:
        """Re-read, check and apply. `tell_workers`: in a worker of `server.workers = N`, signal
        the supervisor, which passes SIGHUP to every worker (this one finds its file unchanged)."""
        async with self._lock:
            result = await self._reload()
        self.counts[result.outcome] += 1
        level = logging.ERROR if result.outcome in ("invalid", "refused") else logging.INFO
        log.log(level, "config reload %s: %s", result.outcome, result.message,
                extra={"config_sha256": result.sha256})  # fmt: skip
        if tell_workers and workers.is_worker() and result.outcome != "invalid":
            os.kill(os.getppid(), signal.SIGHUP)
        return result

    async def _reload(self) -> ReloadResult:
        try:  # reading, parsing and comparing are CPU and disk: off the loop
            digest, new, changed = await asyncio.to_thread(self._read)
        except ConfigError as err:
            return ReloadResult("invalid", str(err), self.sha256)
        if digest == self.sha256:
            return ReloadResult("unchanged", "the file is the one serving", self.sha256)
        fixed = [name for name in changed if not is_live(name)]
        if fixed:
            return ReloadResult(
                "refused",
                "these settings cannot change without a restart: "
                + _names(fixed)
                + "; nothing was applied",
                self.sha256,
                tuple(fixed),
            )
        await self._s.apply_settings(new)
        self._as_loaded, self.sha256, self.loaded_ts = new, digest, time.time()
        what = _names(changed) if changed else "no setting (comments or layout only)"
        return ReloadResult("applied", f"applied: {what}", digest, tuple(changed))

    def _read(self) -> tuple[str, Settings, list[str]]:
        """The file's hash, settings and differences from the serving ones (under the reload
        lock: `_as_loaded` does not change meanwhile)."""
        text, new = config.load_with_text(self.path)
        return text_hash(text), new, differences(self._as_loaded, new)

    def metrics_text(self) -> str:
        lines = [
            "# HELP arbiter_config_reloads_total Config reloads (SIGHUP or the admin endpoint), "
            "by outcome.",
            "# TYPE arbiter_config_reloads_total counter",
            *(f'arbiter_config_reloads_total{{outcome="{o}"}} {n}' for o, n in self.counts.items()),
            "# HELP arbiter_config_info The config serving (sha256 of its file's text).",
            "# TYPE arbiter_config_info gauge",
            f'arbiter_config_info{{sha256="{self.sha256}"}} 1',
            "# HELP arbiter_config_loaded_timestamp_seconds When the config serving was loaded.",
            "# TYPE arbiter_config_loaded_timestamp_seconds gauge",
            f"arbiter_config_loaded_timestamp_seconds {self.loaded_ts:.3f}",
        ]
        return "\n".join(lines) + "\n"

    def view(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "loaded_ts": round(self.loaded_ts, 3),
            "path": str(self.path),
        }
