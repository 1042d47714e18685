"""probe24b: a caller sending random key ids (no key, no throttle) filled the one key-record
cache with misses until every real key was pushed out of it; while the store was down, a real
key this replica no longer remembered got a 503 ("not seen by this replica before") instead of
its stale record. Misses now have a bounded table of their own and evict only each other."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from arbiter import auth
from arbiter.config import AuthSettings
from arbiter.store import StoreError, open_store


def test_a_flood_of_unknown_ids_pushes_no_real_key_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails before: the real key was evicted, and with the store failing its next request
    raised StoreError (a 503) instead of being served from the cache."""
    monkeypatch.setattr(auth, "KEY_CACHE_SIZE", 50)
    monkeypatch.setattr(auth, "MISS_CACHE_SIZE", 20, raising=False)
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    store.migrate()
    try:
        real = auth.create_key(store, "t-real")
        a = auth.Authenticator(AuthSettings(key_cache_ttl_s=3600.0), {}, store)

        async def flood() -> None:
            assert (await a.authenticate(f"Bearer {real.key}", None)).tenant == "t-real"
            for _ in range(120):  # well-formed keys whose ids no key has: each a 401
                guess = f"arb-{secrets.token_hex(6)}-{secrets.token_urlsafe(32)}"
                with pytest.raises(auth.Unauthorized):
                    await a.authenticate(f"Bearer {guess}", None)

        asyncio.run(flood())

        def down(_key_id: str) -> None:
            raise StoreError("the store is down (injected)")

        monkeypatch.setattr(store, "get_key", down)
        principal = asyncio.run(a.authenticate(f"Bearer {real.key}", None))
        assert principal.tenant == "t-real"
    finally:
        store.close()
