"""The model registry at run time: the config's models plus operator overrides from the store.

Overrides (prices, context window, enabled, priors) are made through the admin API, written to the
store, and picked up by every replica on its next sync, so a registry change reaches all of them
without a restart. The config stays the source of which models and upstreams exist.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from arbiter.config import MAX_MODEL_TOKENS, MAX_PRICE_PER_MTOK, ModelSettings
from arbiter.errors import InvalidRequest
from arbiter.routing import PoolModel

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
            out[key] = {str(k): float(v) for k, v in value.items()}
        else:
            raise InvalidRequest(
                f"Unknown field {key!r}: one of enabled, priors, {', '.join(_NUMBERS)}.", param=key
            )
    return out


class Registry:
    def __init__(self, configured: Mapping[str, ModelSettings]) -> None:
        self._configured = dict(configured)
        self._overrides: dict[str, dict[str, Any]] = {}
        self._models = dict(configured)
        self._disabled: set[str] = set()
        # model -> observed price / configured price, adopted from a detected price change
        # (alerts.py); applied over the configured and overridden prices
        self._price_factors: dict[str, float] = {}

    def get(self, name: str) -> ModelSettings | None:
        """A model that exists and is enabled."""
        return None if name in self._disabled else self._models.get(name)

    def __getitem__(self, name: str) -> ModelSettings:
        """Any configured model (disabled ones too: in-flight requests may still settle on them)."""
        return self._models[name]

    def routable(self, name: str) -> bool:
        m = self.get(name)
        return m is not None and NOT_ROUTABLE not in m.capabilities

    def pool(self) -> list[PoolModel]:
        return [
            PoolModel(m.name, m.price_in_per_mtok, m.price_out_per_mtok, m.context_window,
                      frozenset(m.capabilities), dict(m.priors))
            for m in self._models.values() if self.routable(m.name)
        ]  # fmt: skip

    def view(self) -> list[dict[str, Any]]:
        return [
            {**dataclasses.asdict(m), "enabled": m.name not in self._disabled,
             "overrides": self._overrides.get(m.name, {})}
            for m in self._models.values()
        ]  # fmt: skip

    def price_factor(self, name: str) -> float:
        return self._price_factors.get(name, 1.0)

    def adopt_price_factor(self, name: str, factor: float) -> bool:
        """Price `name` at `factor` x its configured price from now on; whether it changed."""
        if name not in self._configured or not 0.0 < factor < 1e3:
            return False
        factor = 1.0 if abs(factor - 1.0) < 0.01 else factor
        if self._price_factors.get(name, 1.0) == factor:
            return False
        self._price_factors[name] = factor
        self._build(self._overrides)
        return True

    def apply(self, overrides: Mapping[str, Mapping[str, Any]]) -> bool:
        """Adopt the store's overrides; returns whether anything changed."""
        fresh = {k: dict(v) for k, v in overrides.items() if k in self._configured}
        if fresh == self._overrides:
            return False
        self._build(fresh)
        return True

    def _build(self, overrides: dict[str, dict[str, Any]]) -> None:
        models, disabled = {}, set()
        for name, base in self._configured.items():
            patch = overrides.get(name, {})
            fields = {k: v for k, v in patch.items() if k != "enabled"}
            if "priors" in fields:
                fields["priors"] = {**base.priors, **fields["priors"]}
            models[name] = _priced(dataclasses.replace(base, **fields), self.price_factor(name))
            if patch.get("enabled") is False:
                disabled.add(name)
        self._overrides, self._models, self._disabled = overrides, models, disabled


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
    )
