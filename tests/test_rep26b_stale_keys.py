"""rep26b: a key revoked through another replica while this one's store is down (README: "A
revoked key's new requests are refused within `auth.key_cache_ttl_s`").

While its store is down a replica serves the key records it holds past their TTL (auth.py), so a
store outage does not refuse every client. Before, without bound: a key revoked elsewhere kept
working here for the whole outage, an hour or a day. Now a record is served at most
`auth.stale_key_s` (300 s by default) after this replica last read it; past that the key gets a
503 in the surface's shape until the store answers again (then the revocation's 401).

Replica B revokes on the shared PostgreSQL store; A's calls fail while it is down (`Outage`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from arbiter.auth import Authenticator, create_key
from arbiter.config import AuthSettings
from arbiter.errors import Unauthorized
from arbiter.store import StoreError, open_store
from tests.pg import empty_store_url
from tests.test_budget_outage import Outage
from tests.waiting import until_async

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(60)]
HOUR_S = 3600.0


def test_a_key_revoked_elsewhere_stops_working_here_within_the_bound_of_an_outage(
    tmp_path: Path,
) -> None:
    async def go(url: str) -> None:
        a_store, b_store = Outage(tmp_path / "unused", url=url), open_store(url)
        try:
            a_store.inner.migrate()
            made = create_key(b_store, "acme")
            auth = Authenticator(AuthSettings(key_cache_ttl_s=0.05), {}, a_store)  # type: ignore[arg-type]
            bearer = f"Bearer {made.key}"
            assert (await auth.authenticate(bearer, None)).tenant == "acme"
            a_store.down = True
            assert b_store.revoke_key(made.id, 0.0)  # through B, on the shared store
            await asyncio.sleep(0.1)  # past the TTL: A serves its stale record, minutes in
            assert (await auth.authenticate(bearer, None)).tenant == "acme"
            # an hour into the outage (A's record of the key an hour old)
            seen, row = auth._cache[made.id]
            auth._cache[made.id] = (seen - HOUR_S, row)
            try:
                served = await auth.authenticate(bearer, None)
            except StoreError as err:
                assert err.for_clients and "stale_key_s" in str(err), err
            else:
                pytest.fail(f"a key revoked elsewhere an hour ago served here ({served.tenant})")
            a_store.down = False

            async def refused() -> bool:
                try:
                    await auth.authenticate(bearer, None)
                except Unauthorized as err:
                    return "revoked" in err.message
                except StoreError:
                    return False
                return False

            await until_async(refused, "the revocation was never read after the store came back")
        finally:
            a_store.inner.close()
            b_store.close()

    with empty_store_url("postgres", tmp_path / "unused.db") as url:
        asyncio.run(go(url))
