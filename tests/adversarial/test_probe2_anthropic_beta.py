"""Outside probe: the anthropic SDK's `betas=` (`client.beta.messages.create(..., betas=[...])`)
sends an `anthropic-beta` header, and the beta's own body fields (`context_management`, ...) in
the body. The sidecar relayed the body but dropped the header, so a real Anthropic upstream would
refuse the beta-only fields, or silently not apply a beta such as a longer context window. Now
the header goes on with every call to an Anthropic upstream made for the request (never to an
OpenAI one), streamed or not; a header that is not ASCII or is over-long is the client's 400."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import sdks

CLAUDE = "sim-medium"
BETA = "context-management-2025-06-27,token-efficient-tools-2025-02-19"
HI = [{"role": "user", "content": "Say hello."}]


class Recording(httpx.AsyncBaseTransport):
    """The upstream's real transport, with the headers of each request it carried kept."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.seen: list[httpx.Headers] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.headers)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def recording(sc: InProcess, model: str) -> Recording:
    upstream = sc.services.upstream_for(model)
    rec = Recording(upstream._transport)  # type: ignore[attr-defined]
    upstream._transport = rec  # type: ignore[attr-defined]
    return rec


def test_the_sdks_betas_reach_the_anthropic_upstream(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, anthropic_models=(CLAUDE,)) as sc:
            rec = recording(sc, CLAUDE)
            async with sdks(sc) as (claude, _):
                answer = await claude.beta.messages.create(
                    model=CLAUDE, max_tokens=30, messages=HI,  # type: ignore[arg-type]
                    betas=BETA.split(","),
                )  # fmt: skip
                assert answer.content
                stream = await claude.beta.messages.create(
                    model=CLAUDE, max_tokens=30, messages=HI,  # type: ignore[arg-type]
                    betas=BETA.split(","), stream=True,
                )  # fmt: skip
                events = [event.type async for event in stream]
                assert events[-1] == "message_stop"
                plain = await claude.messages.create(model=CLAUDE, max_tokens=30, messages=HI)  # type: ignore[arg-type]
                assert plain.content
            betas = [h.get("anthropic-beta") for h in rec.seen]
            assert betas == [BETA, BETA, None], betas

    asyncio.run(main())


def test_an_openai_upstream_never_gets_the_header(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, anthropic_models=(CLAUDE,)) as sc:
            rec = recording(sc, "sim-small")
            body = {"model": "sim-small", "max_tokens": 30, "messages": HI}
            headers = {**sc.anthropic, "anthropic-beta": BETA}
            r = await sc.client.post("/v1/messages", json=body, headers=headers)
            assert r.status_code == 200, r.text
            assert rec.seen and all("anthropic-beta" not in h for h in rec.seen)

    asyncio.run(main())


@pytest.mark.parametrize("value", ["x" * 2049, "caf\u00e9-beta"])
def test_a_bad_beta_header_is_the_clients_400(tmp_path: Path, value: str) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, anthropic_models=(CLAUDE,)) as sc:
            body = {"model": CLAUDE, "max_tokens": 30, "messages": HI}
            raw = [(k.encode(), v.encode()) for k, v in sc.anthropic.items()]
            raw.append((b"anthropic-beta", value.encode("utf-8")))
            r = await sc.client.post("/v1/messages", json=body, headers=raw)
            assert r.status_code == 400, r.text
            assert r.json()["type"] == "error"
            assert "anthropic-beta" in r.json()["error"]["message"]

    asyncio.run(main())
