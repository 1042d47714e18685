"""Probes (seventeenth session): a `no-route` model (kept out of `auto`, e.g. a judge) can be
called by name, yet it was missing from `GET /v1/models` and `models.retrieve` answered 404 for
it: a client that lists or checks a model before naming it (LangChain, IDE plugins) could not
find one it may call. Now it is listed with `routed: false`, and retrieved, in either shape;
`auto` still never routes to it, and a key's allowed_models still hides it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anthropic
import pytest

from tests.inproc import raw_openai_upstream, sidecar_in_process
from tests.sdk_clients import sdks


def test_a_no_route_model_is_listed_as_not_routed_and_retrievable(tmp_path: Path) -> None:
    async def main() -> None:
        # oa-raw: `capabilities = ["chat", "no-route"]` (tests/inproc.py); no call reaches it
        async with (
            sidecar_in_process(tmp_path, edit_config=raw_openai_upstream(1)) as sc,
            sdks(sc) as (claude, gpt),
        ):
            listed = {m.id: m for m in (await gpt.models.list()).data}
            assert "oa-raw" in listed
            assert (listed["oa-raw"].model_extra or {})["routed"] is False
            assert (listed["sim-small"].model_extra or {})["routed"] is True
            one = await gpt.models.retrieve("oa-raw")
            assert one.id == "oa-raw" and (one.model_extra or {})["routed"] is False
            assert (await claude.models.retrieve("oa-raw")).id == "oa-raw"
            ids = [m.id async for m in claude.models.list(limit=1000)]
            assert "oa-raw" in ids
            with pytest.raises(anthropic.NotFoundError):
                await claude.models.retrieve("no-such-model")

    asyncio.run(main())
