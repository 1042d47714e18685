"""Outside probes of the one log line per request: a request answered from the response cache
names its tenant, model, decision and cost like any other (streamed or not, on every surface)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.inproc import sidecar_in_process
from tests.test_request_log import captured, request_lines
from tests.waiting import until_async

CACHE_ON = "\n[cache]\nenabled = true\n"
USER = [{"role": "user", "content": "Say hello to the log."}]
ASKS: list[tuple[str, dict[str, Any]]] = [
    ("/v1/chat/completions", {"model": "auto", "messages": USER}),
    ("/v1/messages", {"model": "auto", "max_tokens": 50, "messages": USER}),
    ("/v1/responses", {"model": "auto", "input": "Say hello to the log."}),
]


def test_a_cache_hits_log_line_names_its_tenant_model_and_decision(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=lambda t: t + CACHE_ON) as sc:
            hits = []
            with captured("json") as out:
                for path, body in ASKS:
                    for i, stream in enumerate((False, False, True)):  # a miss, hits both ways
                        r = await sc.client.post(
                            path, json={**body, "stream": stream}, headers=sc.auth_for(path)
                        )
                        assert r.status_code == 200, r.text
                        await sc.services.cache.drain()
                        if i:
                            hits.append(r)

                def logged() -> dict[str, Any]:
                    return {line["request_id"]: line for line in request_lines(out.getvalue())}

                # the streams' lines come from their background close: wait for them
                await until_async(
                    lambda: all(r.headers["x-arbiter-request-id"] in logged() for r in hits),
                    "a log line for every cache hit",
                )
            by_id = logged()
            for r in hits:
                assert r.headers["x-arbiter-cache"] == "hit"
                line = by_id[r.headers["x-arbiter-request-id"]]
                assert line["cache"] == "hit" and line["outcome"] == "ok", line
                assert line["tenant"] == "default" and line["cost_usd"] == 0, line
                assert line["model"] == r.headers["x-arbiter-model"], line
                assert line["decision_id"] == r.headers["x-arbiter-decision-id"], line
                assert line["reason"].startswith("cache: exact hit"), line

    asyncio.run(main())
