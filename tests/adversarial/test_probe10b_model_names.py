"""Outside probe (tenth session): a model name that an HTTP header cannot carry.

Every answer names its model in `x-arbiter-model`, and a header is Latin-1 on the wire. A model
listed by a discovering upstream with a non-ASCII id (`模型`), or named so in the config, was
taken into the pool; a request for it reached the upstream, was billed, and then failed building
its headers (UnicodeEncodeError: an unhandled 500 after the work was done). A listed id must now
be printable ASCII, as a header needs (others are skipped and counted like any unusable entry,
so a request for one is the client's 404), and the config names the model it refuses (an
operator maps such an upstream id with `upstream_model`, under an ASCII name)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from arbiter import config
from arbiter.errors import ConfigError
from tests.conftest import ENV
from tests.inproc import sidecar_in_process

ODD = "模型"


def _sim_lists_odd(text: str) -> str:
    return text + f'\n[models."{ODD}"]\nprice_in_per_mtok = 0.5\nprice_out_per_mtok = 1.5\n'


def _discover(text: str) -> str:
    return text.replace("[upstreams.sim]\n", "[upstreams.sim]\ndiscover = true\n", 1)


def test_a_listed_model_a_header_cannot_name_is_skipped(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(
            tmp_path, edit_config=_discover, edit_sim=_sim_lists_odd
        ) as sc:
            d = sc.services.discovery
            await d.poll_once("sim")
            assert d.stats["sim"].skipped_entries == 1
            assert not sc.services.registry.known(ODD)
            # nor is a row an older version stored for it
            store = sc.services.store
            await asyncio.to_thread(store.record_listing, "sim", {ODD: {}}, time.time())
            sc.services.sync_policy()
            assert not sc.services.registry.known(ODD)
            for path, body in (
                ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi."}]}),
                (
                    "/v1/messages",
                    {"max_tokens": 9, "messages": [{"role": "user", "content": "Hi"}]},
                ),
                ("/v1/responses", {"input": "Hi."}),
            ):
                r = await sc.client.post(
                    path, json={"model": ODD, **body}, headers=sc.auth_for(path)
                )
                assert r.status_code == 404, r.text

    asyncio.run(main())


@pytest.mark.parametrize("name", [ODD, "modèle", "two words", "tab\tname"])
def test_the_config_refuses_a_model_name_a_header_cannot_carry(tmp_path: Path, name: str) -> None:
    from arbiter.offline.demo import demo_config

    text = demo_config("http://127.0.0.1:9/v1", tmp_path / "a.db")
    escaped = name.replace("\t", "\\t")
    text += f'\n[models."{escaped}"]\nupstream = "sim"\nprice_in_per_mtok = 1.0\n'
    text += "price_out_per_mtok = 1.0\ncontext_window = 8000\n"
    with pytest.raises(ConfigError, match="printable ASCII"):
        config.loads(text, env=ENV)
    # the same upstream id is reachable under an ASCII name
    ok = text.replace(f'[models."{escaped}"]\n', f'[models.odd]\nupstream_model = "{escaped}"\n')
    assert config.loads(ok, env=ENV).models["odd"].upstream_model == name
