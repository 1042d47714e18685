"""What a Ctrl-C left behind: the one line an interrupted `arbiter migrate`, `keys` or `serve`
start-up prints before it exits 130 (it said nothing, and an operator could not tell a store
half migrated from one untouched). The state is read back from the store on a fresh connection,
never assumed: the interrupt may land just after a commit. A store's pending migrations are
applied in one transaction (store/_sql.py `migrate`), all or nothing, so its schema version read
again says which."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from arbiter.store import Store

T = TypeVar("T")


def _read_again(url: str, read: Callable[[Store], T]) -> T | None:
    """`read` on a fresh store at `url`; None when it cannot be done (the store went away, or a
    second Ctrl-C while it is read: the first one's line is still printed)."""
    from arbiter.store import open_store

    try:
        store = open_store(url)
        try:
            return read(store)
        finally:
            store.close()
    except (Exception, KeyboardInterrupt):  # whatever it is, the line says it was not read
        return None


def _latest(store: Store) -> int:
    from arbiter.store._sql import load_migrations

    steps = load_migrations(store.backend)
    return steps[-1][0] if steps else 0


def _at(version: int) -> str:
    return f"at {version:04d}" if version else "empty (no Arbiter tables)"


def schema_state(url: str, *, migrating: bool) -> str:
    """Where the store's schema is, and what became of its pending migrations. `migrating`:
    the interrupt came while they ran (else before they began)."""
    got = _read_again(url, lambda store: (store.schema_version(), _latest(store)))
    if got is None:
        return (
            "the store's schema could not be read again (a migration is all or nothing: it is "
            "where it was, or fully migrated)"
        )
    now, latest = got
    if now >= latest:
        return f"the store is {_at(now)}, fully migrated"
    pending = f"{latest:04d}" if now + 1 == latest else f"{now + 1:04d}-{latest:04d}"
    plural = "" if now + 1 == latest else "s"
    if migrating:
        return (  # interrupted while it waited for the lock, or mid-way: the same state
            f"migration{plural} {pending} not applied (all or nothing: rolled back if begun): "
            f"the store is {_at(now)}, as it was"
        )
    return f"migration{plural} {pending} not begun: the store is {_at(now)}, unchanged"


def key_written(url: str, tenant: str, name: str, since: float) -> str:
    """Whether a `keys create` interrupted while its key was being written stored it: the key of
    `tenant` named `name` created from `since` on, if the store has one."""
    rows = _read_again(url, lambda store: store.list_keys(tenant))
    if rows is None:
        return "the store could not be read again: `arbiter keys list` shows whether it was"
    new = [r for r in rows if r["name"] == name and r["created_ts"] >= since]
    if not new:
        return "no key was created"
    key_id = new[-1]["id"]
    return (
        f"key {key_id} was stored, but its secret was never shown: revoke it "
        f"(`arbiter keys revoke {key_id}`) and create another"
    )


def key_revoked(url: str, key_id: str) -> str:
    """Whether an interrupted `keys revoke` revoked the key."""
    revoked = _read_again(url, lambda store: store.revoked_among([key_id]))
    if revoked is None:
        return f"the store could not be read again: `arbiter keys list` shows whether {key_id} is"
    return f"key {key_id} is revoked" if key_id in revoked else f"key {key_id} is not revoked"
