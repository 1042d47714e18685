"""Outside probe (twenty-fourth session) of the semantic cache across tenants and keys, through a
real `arbiter serve` with keys on (the shipped MiniLM stages, `max_false_hit_rate = 0.3`) and the
official `openai` SDK.

A paraphrase ("Write a haiku about the sea" / "... the ocean") is served to the key that stored
the answer and to another key of its tenant (the control: the semantic side serves), never to
another tenant's key, nor to a tenant whose cache is off, nor to a request that says no-store;
a revoked key gets nothing at all. Held on base24: a partition per (tenant, context key)."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from arbiter.offline.demo import demo_settings
from arbiter.toml_text import to_toml
from tests.conftest import Sidecar
from tests.probe24a_rig import cache_status

SAME = ("Write a haiku about the sea", "Write a haiku about the ocean")


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    tmp = tmp_path_factory.mktemp("probe24a-tenants")
    doc = demo_settings(sim_url, tmp / "a.db", auth=True)
    doc["cache"] = {"enabled": True, "semantic": True, "max_false_hit_rate": 0.3}
    doc["tenants"] = {"quiet": {"cache": False}}
    cfg = tmp / "arbiter.toml"
    cfg.write_text(to_toml(doc))
    s = Sidecar(cfg).start()
    yield s
    s.stop()


def test_a_paraphrase_is_served_within_a_tenant_and_never_across(keyed: Sidecar) -> None:
    a1, a2, b, quiet = (
        str(keyed.create_key(t)["key"]) for t in ("tenant-a", "tenant-a", "tenant-b", "quiet")
    )
    assert cache_status(keyed, SAME[0], key=a1) == "miss"
    assert cache_status(keyed, SAME[1], key=b) == "miss"  # tenant A's answer is not B's
    assert cache_status(keyed, SAME[1], key=quiet) == "bypass"  # its cache is off
    # no-store: neither read nor written, though the same request without it is served
    assert cache_status(keyed, SAME[1], key=a2, headers={"cache-control": "no-store"}) == "bypass"
    assert cache_status(keyed, SAME[1], key=a2) == "semantic-hit", "the control: served within A"
    # B stored its own answer to the paraphrase: its exact hit, not A's entry
    assert cache_status(keyed, SAME[1], key=b) == "hit"
    revoked = keyed.create_key("tenant-a")
    assert keyed.admin("DELETE", f"/arbiter/admin/keys/{revoked['id']}").status_code == 200
    with pytest.raises(openai.AuthenticationError):
        cache_status(keyed, SAME[1], key=str(revoked["key"]))
