"""Who is calling: the tenant and key a request runs as, and that tenant's routing policy knobs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    tenant: str = "default"
    key_id: str | None = None  # the non-secret key prefix/id, never the key itself
    allowed_models: frozenset[str] | None = None  # None = the whole pool
    quality_target: float | None = None  # None = routing.quality_target
    baseline: str | None = None  # None = routing.baseline
    is_admin: bool = False
    # the dashboard key: reads every tenant's data, may not call a model nor change anything
    read_only: bool = False

    @property
    def sees_all(self) -> bool:
        """Reads span every tenant (the admin and the dashboard key); else only its own."""
        return self.is_admin or self.read_only


OPEN_PRINCIPAL = Principal()
