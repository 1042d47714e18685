"""The model registry at run time: the config's models, the models upstreams list (discovery.py),
and operator overrides, all shared through the store.

Overrides (prices, context window, enabled, priors) are made through the admin API, written to the
store, and picked up by every replica on its next sync, so a registry change reaches all of them
without a restart. Discovered models travel the same way (store/discovered.py). The config stays
the source of which upstreams exist and which of their models are let in (include/exclude).
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from arbiter import image_rules
from arbiter.classify import ALL_TASKS
from arbiter.config import ModelSettings, UpstreamSettings
from arbiter.config_limits import (
    MAX_MODEL_TOKENS,
    MAX_PRICE_PER_MTOK,
    default_fast_factor,
    model_name_ok,
)
from arbiter.errors import InvalidRequest
from arbiter.implied_capabilities import with_implied
from arbiter.listing import RESERVED_IDS, Listed, selected
from arbiter.principal import Principal
from arbiter.priors import PriorBook
from arbiter.routing_types import PoolModel
from arbiter.store.discovered import DiscoveredRow

# a listing that gives no context window / output limit: conservative, so requests that need
# more are sent to models known to take them (an operator can patch the real figures)
DISCOVERED_CONTEXT_WINDOW = 8192
DISCOVERED_MAX_OUTPUT = 4096
NOT_ROUTABLE = "no-route"  # capability that keeps a model (e.g. a judge) out of `auto` routing
_NUMBERS = {"price_in_per_mtok": float, "price_out_per_mtok": float, "context_window": int,
            "max_output_tokens": int}  # fmt: skip


def validate_patch(patch: Any) -> dict[str, Any]:
    """Check an admin patch; returns it normalised, or raises InvalidRequest naming the field."""
    if not isinstance(patch, dict) or not patch:
        raise InvalidRequest("The body must be a non-empty JSON object of fields to change.")
    out: dict[str, Any] = {}
    for key, value in patch.items():
        if key in _NUMBERS:
            is_int = _NUMBERS[key] is int
            top = MAX_MODEL_TOKENS if is_int else MAX_PRICE_PER_MTOK
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0 <= value <= top
            ):
                raise InvalidRequest(f"'{key}' must be a number in [0, {top:g}].", param=key)
            if is_int and (value != int(value) or value < 1):
                raise InvalidRequest(f"'{key}' must be a positive integer.", param=key)
            out[key] = _NUMBERS[key](value)
        elif key == "enabled":
            if not isinstance(value, bool):
                raise InvalidRequest("'enabled' must be true or false.", param=key)
            out[key] = value
        elif key == "priors":
            if (
                not isinstance(value, dict)
                or not all(
                    isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1
                    for v in value.values()
                )
                or not all(k and "\x00" not in k for k in value)
            ):
                raise InvalidRequest(
                    "'priors' must map task names (no NUL) to numbers in [0, 1].", param=key
                )
            unknown = [k for k in value if k not in ALL_TASKS]
            if unknown:  # routing looks priors up by exact task name: a typo never applies
                raise InvalidRequest(
                    f"'priors' names an unknown task {unknown[0][:64]!r} "
                    f"(tasks: {', '.join(ALL_TASKS)}).",
                    param=key,
                )
            out[key] = {str(k): float(v) for k, v in value.items()}
        elif key == "image_tokens" and value is None:
            out[key] = None  # back to the model's family rule (Registry.apply)
        elif key == "image_tokens":  # the config's parser, so a patch is what a config may say
            try:
                out[key] = image_rules.parse(value).spec if isinstance(value, str) else None
            except ValueError as err:
                raise InvalidRequest(f"'image_tokens': {err}.", param=key) from None
            if out[key] is None:
                raise InvalidRequest(
                    f"'image_tokens' must be a string ({image_rules.SPEC_FORMS}) or null "
                    "(the model's family rule).",
                    param=key,
                )
        else:
            raise InvalidRequest(
                f"Unknown field {key!r}: one of enabled, priors, image_tokens, "
                f"{', '.join(_NUMBERS)}.",
                param=key,
            )
    return out


@dataclass(frozen=True, slots=True)
class Discovered:
    """A model an upstream lists (discovery.py), as this replica last read it from the store."""

    upstream: str
    listed: Listed
    present: bool
    first_seen_ts: float


@dataclass(frozen=True, slots=True)
class ListedModel:
    """One row of `GET /v1/models`: what a client may call, at what price (None: unpriced)."""

    name: str
    context_window: int
    max_output_tokens: int
    price_in_per_mtok: float | None
    price_out_per_mtok: float | None
    routed: bool  # whether `auto` may pick it


def tenant_models(
    registry: Registry, principal: Principal, unrouted: Collection[str] = ()
) -> list[ListedModel]:
    """`auto` plus the models `principal`'s tenant may call (its allowed_models, when set),
    `no-route` ones included with `routed: false` (callable by name: a client that lists the
    models before naming one must find them); `unrouted`: models `auto` routes no task to now
    (shadow.py's challengers)."""
    allowed = principal.allowed_models
    rows = [
        _listed(registry, m, unrouted)
        for m in registry.nameable_models()
        if allowed is None or m.name in allowed
    ]
    routed = [r for r in rows if r.routed]
    auto = ListedModel(
        "auto",
        max((r.context_window for r in routed), default=0),
        max((r.max_output_tokens for r in routed), default=0),
        None,
        None,
        True,
    )
    return [auto, *rows]


def tenant_model(
    registry: Registry, principal: Principal, name: str, unrouted: Collection[str] = ()
) -> ListedModel | None:
    """`name` as `tenant_models` lists it (not `auto`), or None when it does not: one lookup,
    not the whole list (thousands of discovered models: ~100 ms on the event loop each)."""
    allowed = principal.allowed_models
    m = registry.get(name)
    if m is None or (allowed is not None and name not in allowed):
        return None
    return _listed(registry, m, unrouted)


def _listed(registry: Registry, m: ModelSettings, unrouted: Collection[str]) -> ListedModel:
    priced = registry.priced(m.name)
    return ListedModel(
        m.name, m.context_window, m.max_output_tokens,
        m.price_in_per_mtok if priced else None, m.price_out_per_mtok if priced else None,
        registry.routable(m.name) and m.name not in unrouted,
    )  # fmt: skip


class Registry:
    """Configured models, discovered models and admin overrides, merged.

    Precedence, highest first: admin overrides, then a `[models.X]` entry (a discovered model of
    the same name is ignored), then what the upstream's listing says, then defaults. A discovered
    model that left its listing stays known (`registry[name]`: in-flight requests settle on it) but
    is neither routed nor callable until it returns; one without a price (from the listing or an
    override) is callable by name but not routed by `auto`, and is costed meanwhile at the dearest
    configured prices, so budgets reserve enough for it.
    """

    def __init__(
        self,
        configured: Mapping[str, ModelSettings],
        upstreams: Mapping[str, UpstreamSettings] | None = None,
        priors: PriorBook | None = None,
    ) -> None:
        self._priors = priors or PriorBook()
        self._configured = self.with_priors(configured)
        # models a reload took out of the config: disabled, still known to requests holding them
        self._retired: dict[str, ModelSettings] = {}
        self._upstreams = dict(upstreams or {})
        self._overrides: dict[str, dict[str, Any]] = {}
        self._discovered: dict[str, Discovered] = {}
        self._rows: list[DiscoveredRow] = []  # the store's rows `_discovered` was read from
        self._models = dict(self._configured)
        self._disabled: set[str] = set()  # by an operator, or gone from the upstream's listing
        self._unpriced: set[str] = set()
        # model -> observed price / configured price, adopted from a detected price change
        # (changepoint.py via services._changed); applied over every other price source
        self._price_factors: dict[str, float] = {}
        self._base_prices: dict[str, tuple[float, float]] = {}  # before the factor
        self.factors_dropped: set[str] = set()  # whose source price changed (services resets)
        self._placeholder = _dearest(configured)

    def with_priors(self, configured: Mapping[str, ModelSettings]) -> dict[str, ModelSettings]:
        """The models with their prior book's quality priors (exact entry over family glob):
        pure, and the CPU of a reload (~70 ms for 1,000 models), so a reload works it out
        off the loop, before the lock (the book is read at start: no reload changes it)."""
        return {
            name: dataclasses.replace(
                m, priors={**self._priors.for_model(name, m.upstream_model), **m.priors}
            )
            for name, m in configured.items()
        }

    def reconfigure(
        self,
        configured: Mapping[str, ModelSettings],
        fresh: dict[str, ModelSettings] | None = None,
        upstreams: Mapping[str, UpstreamSettings] | None = None,
    ) -> None:
        """A reloaded config's models (config_reload.py): new and changed ones take effect, one
        taken out is retired (disabled, but `registry[name]` still answers for in-flight
        requests); the store's overrides and price factors apply over them as before.
        `fresh`: `with_priors(configured)`, when the caller worked it out already;
        `upstreams`: the reloaded config's (None: unchanged)."""
        self.adopt(self.plan_reconfigure(configured, fresh, upstreams))

    def plan_reconfigure(
        self,
        configured: Mapping[str, ModelSettings],
        fresh: dict[str, ModelSettings] | None = None,
        upstreams: Mapping[str, UpstreamSettings] | None = None,
    ) -> Plan:
        """`reconfigure`'s work, without changing this registry: the CPU of a reload (~23 ms at
        1,000 models), done in a thread while the loop keeps serving the registry as it is;
        `adopt` swaps the result in (one loop step). The caller holds the lock that orders the
        registry's refreshes (Services._registry_lock) from this call until `adopt`."""
        fresh = self.with_priors(configured) if fresh is None else fresh
        base = _Base(
            configured=fresh,
            retired={
                name: m
                for name, m in {**self._retired, **self._configured}.items()
                if name not in fresh
            },
            upstreams=self._upstreams if upstreams is None else dict(upstreams),
            placeholder=_dearest(configured),
        )
        plan = self._plan(base, self._overrides, None, force=True)
        assert plan is not None  # forced
        return plan

    def overridden(self, name: str) -> frozenset[str]:
        """The fields of `name` a stored override (the admin API's, every replica's) sets."""
        return frozenset(self._overrides.get(name, ()))

    def get(self, name: str) -> ModelSettings | None:
        """A model that exists and is enabled (and, if discovered, still listed)."""
        return None if name in self._disabled else self._models.get(name)

    def __getitem__(self, name: str) -> ModelSettings:
        """Any known model (disabled or gone ones too: in-flight requests may still settle)."""
        return self._models[name]

    def known(self, name: str) -> bool:
        return name in self._models

    def priced(self, name: str) -> bool:
        return name not in self._unpriced

    def unpriced(self) -> list[str]:
        """Enabled, listed models `auto` skips until an operator prices them."""
        return sorted(n for n in self._unpriced if n not in self._disabled)

    def routable(self, name: str) -> bool:
        m = self.get(name)
        return m is not None and NOT_ROUTABLE not in m.capabilities and name not in self._unpriced

    def pool(self) -> list[PoolModel]:
        return _pool(self._models, self._disabled, self._unpriced)

    def nameable_models(self) -> list[ModelSettings]:
        """Models a client may name (enabled), `no-route` ones too: routed or not."""
        return [m for m in self._models.values() if m.name not in self._disabled]

    def callable_models(self) -> list[ModelSettings]:
        """Models a client may name that `auto` may consider (enabled, not `no-route`)."""
        return [
            m for m in self._models.values()
            if m.name not in self._disabled and NOT_ROUTABLE not in m.capabilities
        ]  # fmt: skip

    def view(self, after: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """The models by name, those after `after`, at most `limit` (a heap, not a sort of
        thousands of discovered models). Safe in a worker thread: `apply` swaps these maps
        whole, never edits them, so one read of each is a consistent registry."""
        models, found, configured = self._models, self._discovered, self._configured
        disabled, overrides, unpriced = self._disabled, self._overrides, self._unpriced
        names = (n for n in models if after is None or n > after)
        chosen = sorted(names) if limit is None else heapq.nsmallest(limit, names)
        out = []
        for name in chosen:
            m = models[name]
            d = found.get(name) if name not in configured else None
            out.append(
                {**dataclasses.asdict(m), "enabled": name not in disabled,
                 "overrides": overrides.get(name, {}),
                 "source": "config" if d is None else "discovered",
                 "priced": name not in unpriced,
                 **({} if d is None else {"listed": d.present, "first_seen_ts": d.first_seen_ts,
                                          "listing": d.listed.to_json()})}
            )  # fmt: skip
        return out

    def upstream_of(self) -> dict[str, str]:
        """Each known model's upstream (the log lines' `upstream` field: logs.UpstreamOf)."""
        return {name: m.upstream for name, m in self._models.items()}

    def discovered(self) -> dict[str, Discovered]:
        return dict(self._discovered)

    def price_factor(self, name: str) -> float:
        return self._price_factors.get(name, 1.0)

    def base_price(self, name: str) -> tuple[float, float] | None:
        """The (in, out) prices per 1M tokens a price factor multiplies, None if unknown."""
        base = self._base_prices.get(name)
        m = self._models.get(name)
        if base is None and m is not None and name not in self._price_factors:
            base = (m.price_in_per_mtok, m.price_out_per_mtok)  # no factor yet: as priced
        return base

    def adopt_price_factor(self, name: str, factor: float) -> bool:
        """Price `name` at `factor` x its configured price from now on; whether it changed."""
        if name not in self._models or not 0.0 < factor < 1e3:
            return False
        factor = 1.0 if abs(factor - 1.0) < 0.01 else factor
        if self._price_factors.get(name, 1.0) == factor:
            return False
        self._price_factors[name] = factor
        return self.apply(self._overrides, force=True)

    def apply(
        self,
        overrides: Mapping[str, Mapping[str, Any]],
        discovered: Iterable[DiscoveredRow] | None = None,
        *,
        force: bool = False,
    ) -> bool:
        """Adopt the store's overrides (and discovered models, when given); returns whether
        anything changed."""
        base = _Base(self._configured, self._retired, self._upstreams, self._placeholder)
        plan = self._plan(base, overrides, discovered, force=force)
        if plan is None:
            return False
        self.adopt(plan)
        return True

    def adopt(self, plan: Plan) -> bool:
        """Swap a plan's maps in whole (never edited after: `view` may read them in a thread).
        True when it priced factors adopted since the plan was made: the plan's pool is stale."""
        b = plan.base
        self._configured, self._retired = b.configured, b.retired
        self._upstreams, self._placeholder = b.upstreams, b.placeholder
        self._overrides, self._models, self._disabled = plan.overrides, plan.models, plan.disabled
        self._discovered, self._unpriced, self._rows = plan.discovered, plan.unpriced, plan.rows
        # a factor the change detector adopted while the plan was worked out (a reload plans
        # in a thread, the loop adopting meanwhile) is newer than the plan's copy: kept, unless
        # the plan repriced that model (the new price is the news, as in `_plan`)
        racing = {n: f for n, f in self._price_factors.items() if plan.factors_read.get(n) != f}
        repriced = {n for n in racing if plan.base_prices.get(n) != self._base_prices.get(n)}
        newer = {n: f for n, f in racing.items() if n not in repriced}
        self._price_factors, self._base_prices = plan.price_factors, plan.base_prices
        self.factors_dropped.update(plan.dropped | repriced)
        if newer:  # rare (a race): price the adopted maps again with them
            self._price_factors = {**plan.price_factors, **newer}
            self.apply(self._overrides, force=True)
        return bool(newer)

    def _plan(
        self,
        base: _Base,
        overrides: Mapping[str, Mapping[str, Any]],
        discovered: Iterable[DiscoveredRow] | None,
        *,
        force: bool,
    ) -> Plan | None:
        """The registry `apply` would make over `base`, or None when nothing would change;
        reads this registry, never writes it."""
        found, rows_read = self._discovered, self._rows
        if discovered is not None:
            rows = list(discovered)
            if rows != self._rows:  # most syncs: nothing new, nothing to re-read
                found, rows_read = self._read_discovered(rows, base.upstreams), rows
        fresh = {k: dict(v) for k, v in overrides.items() if k in base.configured or k in found}
        if fresh == self._overrides and found == self._discovered and not force:
            return None
        models, disabled, unpriced = {}, set(), set()
        read = dict(self._price_factors)  # what `adopt` compares with (a factor adopted since)
        factors, base_prices = dict(read), dict(self._base_prices)
        dropped: set[str] = set()
        bases = {
            **base.retired,
            **{n: self._from_listing(d, base) for n, d in found.items()},
            **base.configured,
        }
        for name, model_base in bases.items():
            patch = fresh.get(name, {})
            fields = {k: v for k, v in patch.items() if k != "enabled"}
            if "priors" in fields:
                fields["priors"] = {**model_base.priors, **fields["priors"]}
            if "image_tokens" in fields and fields["image_tokens"] is None:
                fields["image_tokens"] = _family_rule(model_base, base.upstreams)
            model = dataclasses.replace(model_base, **fields)
            prices = (model.price_in_per_mtok, model.price_out_per_mtok)
            if base_prices.get(name, prices) != prices and name in factors:
                # the listing or an operator repriced it: that price is the news, not the old
                # observed factor
                del factors[name]
                dropped.add(name)
            base_prices[name] = prices
            models[name] = _priced(model, factors.get(name, 1.0))
            retired = name not in base.configured and name not in found
            if patch.get("enabled") is False or retired:
                disabled.add(name)
            d = found.get(name) if name not in base.configured else None
            if d is not None:
                if not d.present:
                    disabled.add(name)
                has_in = d.listed.price_in_per_mtok is not None or "price_in_per_mtok" in patch
                has_out = d.listed.price_out_per_mtok is not None or "price_out_per_mtok" in patch
                if not (has_in and has_out):
                    unpriced.add(name)
        return Plan(
            base, fresh, models, disabled, found, unpriced, rows_read, factors, base_prices,
            dropped, read,
        )  # fmt: skip

    def _read_discovered(
        self, rows: Iterable[DiscoveredRow], upstreams: Mapping[str, UpstreamSettings]
    ) -> dict[str, Discovered]:
        """The store's rows this config lets in: the upstream is configured with discovery on,
        its include/exclude globs select the model, its name fits a header, and no earlier
        upstream lists the name now (one that dropped it, remembered as gone, yields to a later
        one that still lists it: the model is served there)."""
        out: dict[str, Discovered] = {}
        for r in rows:
            up = upstreams.get(r.upstream)
            seen = out.get(r.model)
            if (
                up is None
                or not up.discover
                or r.model in RESERVED_IDS
                or not model_name_ok(r.model)  # an older version stored any printable id
                or (seen is not None and (seen.present or not r.present))
                or not selected(r.model, up.include, up.exclude)
            ):
                continue
            out[r.model] = Discovered(
                r.upstream, Listed.from_json(r.model, r.listing), r.present, r.first_seen_ts
            )
        return out

    def _from_listing(self, d: Discovered, base: _Base) -> ModelSettings:
        li = d.listed
        up = base.upstreams.get(d.upstream)
        window = li.context_window or DISCOVERED_CONTEXT_WINDOW
        return ModelSettings(
            name=li.id,
            upstream=d.upstream,
            upstream_model=li.id,
            price_in_per_mtok=(
                li.price_in_per_mtok if li.price_in_per_mtok is not None else base.placeholder[0]
            ),
            price_out_per_mtok=(
                li.price_out_per_mtok if li.price_out_per_mtok is not None else base.placeholder[1]
            ),
            context_window=window,
            max_output_tokens=min(li.max_output_tokens or DISCOVERED_MAX_OUTPUT, window),
            capabilities=sorted(
                with_implied(li.capabilities, up.protocol if up is not None else "openai", li.id)
            ),
            priors=self._priors.for_model(li.id),
            image_tokens=image_rules.default_spec(
                li.id, up.protocol if up is not None else "openai"
            ),
            price_fast_factor=default_fast_factor(up.protocol if up is not None else "openai"),
        )


def _family_rule(m: ModelSettings, upstreams: Mapping[str, UpstreamSettings]) -> str:
    """The image rule of `m`'s family (by its upstream name and protocol), what a patch of
    `image_tokens: null` sets whatever the config named."""
    up = upstreams.get(m.upstream)
    return image_rules.default_spec(
        m.upstream_model or m.name, up.protocol if up is not None else "openai"
    )


@dataclass(frozen=True, slots=True)
class _Base:
    """What a registry is built over: the config's models (with priors), those a reload took
    out, the upstreams, the price an unpriced discovered model is costed at."""

    configured: dict[str, ModelSettings]
    retired: dict[str, ModelSettings]
    upstreams: dict[str, UpstreamSettings]
    placeholder: tuple[float, float]


@dataclass(frozen=True, slots=True)
class Plan:
    """A registry worked out (Registry._plan), to be swapped in whole (Registry.adopt)."""

    base: _Base
    overrides: dict[str, dict[str, Any]]
    models: dict[str, ModelSettings]
    disabled: set[str]
    discovered: dict[str, Discovered]
    unpriced: set[str]
    rows: list[DiscoveredRow]
    price_factors: dict[str, float]
    base_prices: dict[str, tuple[float, float]]
    dropped: set[str]
    factors_read: dict[str, float]  # the registry's factors when the plan was made

    def pool(self) -> list[PoolModel]:
        """The pool the registry will have once it adopts this plan (worked out beforehand,
        in the plan's thread: ~6 ms at 1,000 models)."""
        return _pool(self.models, self.disabled, self.unpriced)


def _pool(
    models: Mapping[str, ModelSettings], disabled: Collection[str], unpriced: Collection[str]
) -> list[PoolModel]:
    """The models `auto` may route to: enabled, priced, not `no-route`."""
    return [
        PoolModel(m.name, m.price_in_per_mtok, m.price_out_per_mtok, m.context_window,
                  frozenset(m.capabilities), dict(m.priors), m.image_rule,
                  m.price_audio_in_per_mtok, m.price_audio_out_per_mtok, m.fast_factor)
        for m in models.values()
        if m.name not in disabled and NOT_ROUTABLE not in m.capabilities
        and m.name not in unpriced
    ]  # fmt: skip


def _dearest(configured: Mapping[str, ModelSettings]) -> tuple[float, float]:
    """The dearest configured prices: what an unpriced discovered model is costed at."""
    prices = [(m.price_in_per_mtok, m.price_out_per_mtok) for m in configured.values()]
    return max((p[0] for p in prices), default=0.0), max((p[1] for p in prices), default=0.0)


def _priced(m: ModelSettings, factor: float) -> ModelSettings:
    if factor == 1.0:
        return m
    return dataclasses.replace(
        m,
        price_in_per_mtok=m.price_in_per_mtok * factor,
        price_out_per_mtok=m.price_out_per_mtok * factor,
        price_cache_read_per_mtok=(
            None if m.price_cache_read_per_mtok is None else m.price_cache_read_per_mtok * factor
        ),
        price_cache_write_per_mtok=(
            None if m.price_cache_write_per_mtok is None else m.price_cache_write_per_mtok * factor
        ),
        price_cache_write_1h_per_mtok=(
            None
            if m.price_cache_write_1h_per_mtok is None
            else m.price_cache_write_1h_per_mtok * factor
        ),
        price_audio_in_per_mtok=(
            None if m.price_audio_in_per_mtok is None else m.price_audio_in_per_mtok * factor
        ),
        price_audio_out_per_mtok=(
            None if m.price_audio_out_per_mtok is None else m.price_audio_out_per_mtok * factor
        ),
        price_web_search_usd=m.price_web_search_usd * factor,
        price_search_call_usd=m.price_search_call_usd * factor,
        price_web_fetch_usd=m.price_web_fetch_usd * factor,
        price_container_hour_usd=m.price_container_hour_usd * factor,
        price_long_in_per_mtok=(
            None if m.price_long_in_per_mtok is None else m.price_long_in_per_mtok * factor
        ),
        price_long_out_per_mtok=(
            None if m.price_long_out_per_mtok is None else m.price_long_out_per_mtok * factor
        ),
    )
