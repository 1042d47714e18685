"""The key-record cache stays bounded by dropping the least recently looked-up key, one at a
time (sorting the whole cache to drop half of it stalled the event loop at 100,000 keys)."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter import auth
from arbiter.config import AuthSettings
from arbiter.store import open_store


def test_the_cache_drops_the_least_recently_used_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "KEY_CACHE_SIZE", 10)
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        a = auth.Authenticator(AuthSettings(), {}, store)
        for i in range(10):
            a._remember(f"k{i}", {"i": i})
        a._remember("k0", {"i": 0})  # looked up again: now the most recent
        for i in range(10, 13):
            a._remember(f"k{i}", {"i": i})
        assert len(a._cache) == 10
        assert "k0" in a._cache
        assert not {"k1", "k2", "k3"} & set(a._cache)
    finally:
        store.close()
