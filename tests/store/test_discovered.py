"""Discovered models in the store, on both backends: the poll lease and the listing's changes."""

from __future__ import annotations

from arbiter.store import Store

A = {"price_in_per_mtok": 1.0, "price_out_per_mtok": 2.0, "context_window": 8000}


def test_one_holder_at_a_time_until_released_or_expired(store: Store) -> None:
    assert store.claim_discovery("up", "r1", 100.0, 30.0)
    assert store.claim_discovery("up", "r1", 110.0, 30.0)  # renewed: now until 140
    assert not store.claim_discovery("up", "r2", 120.0, 30.0)
    assert store.claim_discovery("other", "r2", 120.0, 30.0)  # per upstream
    assert store.claim_discovery("up", "r2", 141.0, 30.0)  # r1's lease ran out
    assert not store.claim_discovery("up", "r1", 142.0, 30.0)
    store.release_discovery("up", "r1")  # not r1's: no effect
    assert not store.claim_discovery("up", "r1", 143.0, 30.0)
    store.release_discovery("up", "r2")
    assert store.claim_discovery("up", "r1", 144.0, 30.0)


def test_record_listing_reports_changes_once(store: Store) -> None:
    ch = store.record_listing("up", {"a": A, "b": {}}, 1.0)
    assert (sorted(ch.new), ch.gone, ch.back, ch.repriced) == (["a", "b"], [], [], {})
    assert not store.record_listing("up", {"a": A, "b": {}}, 2.0)  # same listing: no change
    ch = store.record_listing("up", {"a": {**A, "price_out_per_mtok": 4.0}}, 3.0)
    assert ch.gone == ["b"] and list(ch.repriced) == ["a"]
    assert ch.repriced["a"][0]["price_out_per_mtok"] == 2.0
    rows = {r.model: r for r in store.discovered_models()}
    assert rows["b"].present is False and rows["a"].listing["price_out_per_mtok"] == 4.0
    assert rows["a"].first_seen_ts == 1.0
    ch = store.record_listing("up", {"a": {**A, "price_out_per_mtok": 4.0}, "b": {}}, 4.0)
    assert ch.back == ["b"] and not ch.new
    assert store.record_listing("other", {"a": {}}, 5.0).new == ["a"]  # per upstream
