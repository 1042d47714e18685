"""Client authentication: API keys (random, shown once, stored as a hash) -> a Principal.

Keys look like `arb-<id>-<secret>`. Only sha256(secret) is stored; `id` is the non-secret handle
used to list and revoke. Lookups are cached for `key_cache_ttl_s` (the cross-replica revocation
lag); a revocation made through this process takes effect here at once. While the store is
down a cached record is served past its TTL, for `stale_key_s` after it was read at most: a key
revoked through another replica meanwhile kept working here for the whole outage.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection

from arbiter.config import AuthSettings, TenantSettings
from arbiter.errors import InvalidRequest, NotFound, RateLimited, Unauthorized
from arbiter.feedback_limit import KeyRate
from arbiter.principal import OPEN_PRINCIPAL, Principal
from arbiter.records import SYSTEM_TENANT
from arbiter.store import Store, StoreError
from arbiter.store_wait import within_wait
from arbiter.tenant_names import tenant_name_problem
from arbiter.workers import is_worker

log = logging.getLogger(__name__)
PREFIX = "arb"


@dataclass(frozen=True, slots=True)
class NewKey:
    id: str
    key: str  # the full secret key: shown once, never stored
    tenant: str
    name: str
    created_ts: float
    expires_ts: float | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


MAX_KEY_LIFETIME_S = 100 * 365.25 * 86400
KEY_FIELDS = ("tenant", "name", "expires_in_s")  # the body of POST /arbiter/admin/keys


def key_request_fields(body: dict[str, Any]) -> dict[str, Any]:
    """`body`, once it has only KEY_FIELDS: an ignored `expires_in` would make a key that never
    expires, an ignored `allowed_models` an unrestricted one."""
    for field in body:
        if field not in KEY_FIELDS:
            raise InvalidRequest(
                f"Unknown field {field!r}: one of {', '.join(KEY_FIELDS)}.", param=field
            )
    return body


def create_key(
    store: Store, tenant: str, *, name: str = "", expires_in_s: float | None = None
) -> NewKey:
    if (problem := tenant_name_problem(tenant)) is not None:
        raise InvalidRequest(f"'tenant': {problem}.", param="tenant")
    if tenant == SYSTEM_TENANT:  # the operator's alerts live there: no client may read them
        raise InvalidRequest(f"'tenant' {SYSTEM_TENANT!r} is reserved for the operator.")
    # not `<= 0`: NaN passes that, and a NaN (or infinite) expiry is never reached
    if expires_in_s is not None and not 0 < expires_in_s <= MAX_KEY_LIFETIME_S:
        raise InvalidRequest(
            "'expires_in_s' must be a positive number of seconds, at most 100 years.",
            param="expires_in_s",
        )
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    now = time.time()
    expires = now + expires_in_s if expires_in_s is not None else None
    store.create_key(
        key_id=key_id,
        tenant=tenant,
        name=name,
        secret_hash=_hash(secret),
        created_ts=now,
        expires_ts=expires,
    )
    return NewKey(key_id, f"{PREFIX}-{key_id}-{secret}", tenant, name, now, expires)


def public_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A key as listed: its id and prefix, never its hash or secret."""
    now = time.time()
    if row["revoked_ts"] is not None:
        status = "revoked"
    elif row["expires_ts"] is not None and row["expires_ts"] <= now:
        status = "expired"
    else:
        status = "active"
    return {
        "id": row["id"],
        "prefix": f"{PREFIX}-{row['id']}-…",
        "tenant": row["tenant"],
        "name": row["name"],
        "created_ts": row["created_ts"],
        "expires_ts": row["expires_ts"],
        "revoked_ts": row["revoked_ts"],
        "status": status,
    }


def parse_key(raw: str) -> tuple[str, str] | None:
    parts = raw.split("-", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 12 or not parts[2]:
        return None
    return parts[1], parts[2]


KEY_CACHE_SIZE = 100_000  # key records remembered per process (oldest looked-up go first)
# ids no key has, remembered apart (oldest first): one table for both let a caller sending
# random key ids push every real key out of the cache, and while the store is down a key this
# replica no longer remembers gets a 503; the misses now evict only each other
MISS_CACHE_SIZE = 10_000


def warn_open() -> None:
    """Once a process set: by a lone sidecar, or by a worker set's supervisor (its N workers
    skip it: N lines for one fact)."""
    log.warning("auth mode is OPEN: anyone who can reach this sidecar spends its upstream keys")


class Authenticator:
    def __init__(
        self, settings: AuthSettings, tenants: Mapping[str, TenantSettings], store: Store
    ) -> None:
        self._s = settings
        self._tenants = tenants
        self._store = store
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._misses: dict[str, float] = {}  # key id -> when the store said it has no key
        self._principals: dict[str, Principal] = {}
        self._stale_warned = -1e9
        self._store_down = False  # a lookup failed; background refreshes clear it
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        # per client address: store lookups of key ids this process holds no record of (a
        # guesser's every try was a lookup in a thread, unbounded); found keys give theirs back
        self._unknown = KeyRate(lambda: self._s.unknown_keys_per_minute)
        if settings.mode == "open" and not is_worker():  # a set's supervisor warned for it
            warn_open()

    def reconfigure(
        self, tenants: Mapping[str, TenantSettings], settings: AuthSettings | None = None
    ) -> None:
        """A reloaded config's tenants: principals made from here on carry their new targets,
        allowed models and baselines (a request already authenticated keeps its own). And its
        `[auth]` (config_reload.py: never its mode): a rotated admin, dashboard or metrics key
        is the one taken from the next request on, the old one refused."""
        self._tenants = tenants
        self._principals = {}
        if settings is not None:
            self._s = settings

    @property
    def open(self) -> bool:
        return self._s.mode == "open"

    def is_metrics_key(self, authorization: str | None, x_api_key: str | None) -> bool:
        """The presented key is `auth.metrics_key_env`'s: it may scrape /metrics, nothing else
        (authenticate() does not know it)."""
        try:
            token = presented_key(authorization, x_api_key)
        except Unauthorized:
            return False  # the caller's authenticate() says why
        key = self._s.metrics_key
        return bool(key and token and hmac.compare_digest(token.encode(), key.encode()))

    async def authenticate(
        self, authorization: str | None, x_api_key: str | None, source: str | None = None
    ) -> Principal:
        """`source`: the client's address, whose lookups of unknown keys are rate-limited."""
        token = presented_key(authorization, x_api_key)
        if token is not None and not _well_formed(token):
            # every key we issue (and any sane admin key) is printable ASCII; anything else is
            # garbage, and compare_digest cannot even take it
            raise Unauthorized("Incorrect API key provided.")
        if self._s.admin_key and token and hmac.compare_digest(token, self._s.admin_key):
            return Principal(tenant="default", key_id="admin", is_admin=True)
        dashboard = self._s.dashboard_key
        if dashboard and token and hmac.compare_digest(token, dashboard):
            return Principal(tenant="default", key_id="dashboard", read_only=True)
        if self.open:
            return OPEN_PRINCIPAL
        if token is None:
            raise Unauthorized(
                "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'."
            )
        parsed = parse_key(token)
        if parsed is None:
            raise Unauthorized("Incorrect API key provided.")
        key_id, secret = parsed
        # a key this process holds a record of (fresh or stale) is never held back
        paid = source is not None and key_id not in self._cache
        if paid and (wait := self._unknown.take(source or "")) is not None:
            raise RateLimited(
                "Too many requests with unknown API keys from this address "
                f"(auth.unknown_keys_per_minute = {self._s.unknown_keys_per_minute}): "
                f"retry in {math.ceil(wait)} s.",
                retry_after_s=wait,
            )
        row = await self._lookup(key_id)
        if row is None or not hmac.compare_digest(row["secret_hash"], _hash(secret)):
            raise Unauthorized("Incorrect API key provided.")
        if paid:  # a real key: only failed guesses use the address's lookups up
            self._unknown.give_back(source or "")
        if row["revoked_ts"] is not None:
            raise Unauthorized(f"The API key {PREFIX}-{key_id}-… has been revoked.")
        if row["expires_ts"] is not None and row["expires_ts"] <= time.time():
            raise Unauthorized(f"The API key {PREFIX}-{key_id}-… has expired.")
        return self._principal(key_id, row["tenant"])

    def _principal(self, key_id: str, tenant: str) -> Principal:
        p = self._principals.get(key_id)
        if p is None or p.tenant != tenant:
            t = self._tenants.get(tenant)
            p = Principal(
                tenant=tenant,
                key_id=key_id,
                allowed_models=frozenset(t.allowed_models) if t and t.allowed_models else None,
                quality_target=t.quality_target if t else None,
                baseline=t.baseline if t else None,
            )
            self._principals[key_id] = p
        return p

    async def _lookup(self, key_id: str) -> dict[str, Any] | None:
        """The key's row, cached for `key_cache_ttl_s`. Once the store has failed, requests never
        wait on it: an expired entry is served stale (for `stale_key_s` more at most) while one
        background refresh per key probes the store, and a key this replica never saw (or saw
        longer ago) gets a fast 503 until the store is back (the refresh started for it makes a
        retry succeed then)."""
        hit = self._cache.get(key_id)
        if hit is None and (seen := self._misses.get(key_id)) is not None:
            hit = (seen, None)  # an id the store has no key for
        now = time.monotonic()
        if hit is not None and now - hit[0] < self._s.key_cache_ttl_s:
            return hit[1]
        if not self._store_down:
            # bounded (store_wait.py): a silent store would hold the request as long as it lasted
            lookup = asyncio.ensure_future(asyncio.to_thread(self._store.get_key, key_id))
            try:
                return self._remember(key_id, await within_wait(lookup, "key lookup"))
            except StoreError:
                self._store_down = True
        self._refresh_later(key_id)
        if hit is None:
            raise StoreError(
                "The key store is unreachable and this API key was not seen by this replica "
                "before; retry shortly.",
                for_clients=True,
            )
        if now - hit[0] >= self._s.key_cache_ttl_s + self._s.stale_key_s:
            # it may have been revoked through another replica since (the README's promise is
            # key_cache_ttl_s): unchecked this long, it is refused until the store answers
            raise StoreError(
                "The key store is unreachable and this replica last checked this API key "
                f"longer ago than auth.stale_key_s ({self._s.stale_key_s:g} s); retry shortly.",
                for_clients=True,
            )
        if now - self._stale_warned > 10.0:  # once per 10 s, not once per request
            self._stale_warned = now
            log.warning("store unavailable; serving cached key records")
        return hit[1]

    def _remember(self, key_id: str, row: dict[str, Any] | None) -> dict[str, Any] | None:
        # re-inserted at the end: the dict's order is the order of last lookups, so the
        # bound drops the oldest entry in O(1) (sorting 100,000 entries stalled the event loop)
        if row is None:  # in its own table: a flood of unknown ids evicts no real key
            self._misses.pop(key_id, None)
            self._misses[key_id] = time.monotonic()
            while len(self._misses) > MISS_CACHE_SIZE:
                del self._misses[next(iter(self._misses))]
            return None
        self._misses.pop(key_id, None)
        self._cache.pop(key_id, None)
        self._cache[key_id] = (time.monotonic(), row)
        while len(self._cache) > KEY_CACHE_SIZE:
            del self._cache[next(iter(self._cache))]
        return row

    def _refresh_later(self, key_id: str) -> None:
        """Look the key up in the background (one task per key at a time)."""
        if key_id in self._refreshing or len(self._refreshing) >= 1000:
            return
        task = asyncio.get_running_loop().create_task(self._refresh(key_id))
        self._refreshing[key_id] = task
        task.add_done_callback(lambda _t: self._refreshing.pop(key_id, None))

    async def _refresh(self, key_id: str) -> None:
        try:
            row = await asyncio.to_thread(self._store.get_key, key_id)
        except StoreError:
            return  # still down: the next request for this key starts another refresh
        self._store_down = False
        self._remember(key_id, row)

    async def revoke(self, key_id: str) -> dict[str, Any]:
        if not await asyncio.to_thread(self._store.revoke_key, key_id, time.time()):
            row = await asyncio.to_thread(self._store.get_key, key_id)
            if row is None:
                raise NotFound(f"No API key with id {key_id!r}.")
        self._cache.pop(key_id, None)  # effective immediately in this process
        row = await asyncio.to_thread(self._store.get_key, key_id)
        assert row is not None
        return public_view(row)


def client_address(request: HTTPConnection) -> str | None:
    """The peer's address, whose lookups of unknown keys are counted (a proxy's, behind one)."""
    return request.client.host if request.client is not None else None


def key_header(headers: Headers) -> str | None:
    """A key sent other than as a Bearer token: as `x-api-key` (Anthropic's SDK) or `api-key`
    (the AzureOpenAI SDK's). Both, holding different keys, are refused (presented_key), as is
    one of them sent twice with different keys."""
    x_api_key = _only_key(headers.getlist("x-api-key"), "x-api-key")
    api_key = _only_key(headers.getlist("api-key"), "api-key")
    _one_key(x_api_key, api_key, "'x-api-key' and 'api-key'")
    return x_api_key or api_key or None


def authorization(headers: Headers) -> str | None:
    """The Authorization header, the one holding a Bearer token when it is sent more than once
    (a proxy may add its own, of another scheme); two different Bearer tokens are refused."""
    values = headers.getlist("authorization")
    if len(values) < 2:
        return values[0] if values else None
    bearers = [v for v in values if _bearer(v)]
    _only_key([_bearer(v) or "" for v in bearers], "Authorization: Bearer")
    return bearers[0] if bearers else values[0]


def _only_key(values: list[str], name: str) -> str:
    """The one key in a header's values (stripped; "" when none)."""
    first = values[0].strip() if values else ""
    for other in values[1:]:
        _one_key(first, other.strip(), f"two '{name}' headers")
    return first


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """The key the caller sent: the Bearer token or the key header. A request holding two
    different keys is refused rather than read as either: which tenant pays, and whether a
    mistyped key passes, must never hang on which header a server happens to prefer."""
    bearer = _bearer(authorization)
    other = (x_api_key or "").strip() or None
    _one_key(bearer, other, "'Authorization: Bearer' and the key header")
    return bearer or other


def _one_key(a: str | None, b: str | None, where: str) -> None:
    if a and b and not hmac.compare_digest(a.encode(), b.encode()):
        raise Unauthorized(f"Two different API keys were sent ({where}): send one key.")


def _well_formed(token: str) -> bool:
    return token.isascii() and token.isprintable()


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
