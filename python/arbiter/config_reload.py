"""Config reload without a restart (SIGHUP, `POST /arbiter/admin/reload`): the same file re-read
with the same strict parser, its live parts swapped in at once, everything else refused by name.

What may change live: `[models.*]` (prices, windows, capabilities; a model taken out is
disabled, still known to the requests that hold it), `[tenants.*]` (but their `cache`: the
cache's matcher is built at start), `[budgets]` (a reservation keeps the caps it was made
under), the `[routing]` keys read per request (`LIVE_ROUTING`), `[upstreams.*]` keys, base URLs
and limits (`LIVE_UPSTREAM`; key files are read again: the rotation), upstreams added or taken
out (not discovering ones), `[auth]`'s keys (`LIVE_AUTH`), `[cache]`'s numbers (`LIVE_CACHE`)
and `[latency]`'s (`latency_setup.LIVE`). Any other difference (the listen address, the store,
the workers, an upstream's protocol or discovery, the cache's matcher, the models' loaded
files...) refuses the whole reload with the parts' names: a half-applied config is worse than
none. Requests in flight keep what they started with: their prices are pinned per request
(call_pricing.py), their `[routing]` on their plan (request_plan.Plan.routing), their router,
caps and upstream provider are the objects they hold.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
import signal
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from arbiter import config, latency_setup, workers
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
# an upstream's keys a reload may change: its provider is made afresh, the old one serves its
# calls in flight and closes each connection as its call ends (Services._swap_upstreams). Its
# protocol (requests in flight were translated for it) and discovery (a poll loop per upstream,
# made at start) need a restart
LIVE_UPSTREAM = frozenset({
    "base_url", "api_key", "api_key_env", "api_key_file", "max_event_bytes", "max_response_bytes",
    "max_embeddings_response_bytes",
})  # fmt: skip
# [auth]: the operator's keys (resolved, and where from), the key cache's TTL and the feedback
# rate (read on each grade); not the mode
LIVE_AUTH = frozenset({
    f"{who}_key{how}" for who in ("admin", "dashboard", "metrics") for how in ("", "_env", "_file")
} | {"key_cache_ttl_s", "stale_key_s", "feedback_per_minute",
     "unknown_keys_per_minute"})  # fmt: skip
# [cache]: its numbers; `enabled`, `semantic` and `max_false_hit_rate` build the cache's matcher
LIVE_CACHE = frozenset({"ttl_s", "max_entries", "max_bytes", "linked_media"})
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


def is_live(name: str, upstreams: Collection[str] = (), whole: Collection[str] = ()) -> bool:
    """Whether the setting `name` may change without a restart. `upstreams`: the upstream
    names of both configs (an `upstreams.X.key` is read by them: X may hold a dot); `whole`:
    those a reload adds or takes out that may come or go live (no discovery)."""
    section, _, rest = name.partition(".")
    if section == "routing":
        return rest in LIVE_ROUTING
    if section == "tenants":
        return not rest.endswith(".cache")
    if section == "auth":
        return rest in LIVE_AUTH
    if section == "cache":
        return rest in LIVE_CACHE
    if section == "latency":
        return rest.partition(".")[0] in latency_setup.LIVE
    if section == "upstreams":
        up = max((u for u in upstreams if rest.startswith(u + ".")), key=len, default=None)
        if up is None:
            return False
        return up in whole or rest[len(up) + 1 :] in LIVE_UPSTREAM
    return section in _LIVE_SECTIONS


def fixed_settings(old: Settings, new: Settings, changed: list[str]) -> list[str]:
    """The changed settings a reload may not apply. An upstream added or taken out comes or
    goes live unless it discovers models (its poll loop is made at start); a model taken out
    with it stays known to the requests that hold it, and their calls finish on its old
    provider (Services.upstream_for)."""
    names = old.upstreams.keys() | new.upstreams.keys()
    whole = {
        n for n, u in [*old.upstreams.items(), *new.upstreams.items()]
        if (n in old.upstreams) != (n in new.upstreams) and not u.discover
    }  # fmt: skip
    return [name for name in changed if not is_live(name, names, whole)]


def differences(old: Settings, new: Settings) -> list[str]:
    """The settings whose value differs (or that one side lacks), `source` aside."""
    a, b = flatten(old), flatten(new)
    return sorted(k for k in a.keys() | b.keys() if k != "source" and a.get(k) != b.get(k))


def _names(names: list[str], shown: int = 20) -> str:
    """A message's list of settings: the first `shown` (a reload may touch thousands)."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


_early_sighup = False  # a SIGHUP came after the config was read, before the loop took SIGHUP


def note_early_sighup(_signum: int, _frame: object) -> None:
    """SIGHUP's handler from before the config is read until the loop takes it (`on_sighup`):
    the reload it asks for runs once the loop is up (a worker of `server.workers = N` still
    starting when another passed a reload on missed it: it kept the old key or prices)."""
    global _early_sighup
    _early_sighup = True


def on_sighup(callback: Callable[[], None]) -> bool:
    """SIGHUP calls `callback` on the running loop, and once now if one came during start-up
    (`note_early_sighup`); False where a loop cannot take signals (not the main thread: an app
    served in a test's thread), which keeps SIGHUP's handler as it was."""
    global _early_sighup
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGHUP, callback)
    except (ValueError, RuntimeError, NotImplementedError):
        return False
    if _early_sighup:  # checked after the loop took SIGHUP: a later one is the loop's
        _early_sighup = False
        loop.call_soon(callback)
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
        if digest == self.sha256 and not changed:  # (a key file's new key: a change)
            return ReloadResult("unchanged", "the file is the one serving", self.sha256)
        fixed = fixed_settings(self._as_loaded, new, changed)
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
        masked = self._masked(changed)
        if masked:  # applied, and changing nothing a request sees: said, not left to find
            what += (
                "; a stored override (PATCH /arbiter/admin/models, every replica) still sets "
                + _names(masked)
            )
        return ReloadResult("applied", f"applied: {what}", digest, tuple(changed))

    def _masked(self, changed: list[str]) -> list[str]:
        """The changed `models.M.field` settings a stored override of M's field wins over."""
        out = []
        registry = self._s.registry
        for name in changed:
            section, _, rest = name.partition(".")
            model, _, field = rest.rpartition(".")
            if section == "models" and model and field in registry.overridden(model):
                out.append(name)
        return out

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
