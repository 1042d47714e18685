"""Outside probe (ninth session): a request that carries two different keys, one as
`Authorization: Bearer` and one as `x-api-key` (or the AzureOpenAI SDK's `api-key`).

The Bearer token won and the other header was never looked at: a wrong key in `x-api-key` next
to a good Bearer passed, and a request with tenant A's key in one header and tenant B's (or the
admin key) in the other was served and billed as whichever header the sidecar happened to read
first, with nothing to tell the caller. (The anthropic SDK before 2.x sends its `api_key` as
`x-api-key` and its `auth_token` as Bearer, both when both are set, e.g. one from the
environment.) What a caller expects from two keys is undecidable, so the request is now a 401
in the surface's shape saying so; the same key in both headers, or an empty Bearer next to a
key header, still works."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anthropic
import pytest

from arbiter.auth import create_key
from tests.inproc import ANTHROPIC_VERSION, InProcess, sidecar_in_process
from tests.sdk_clients import check_anthropic_error, sdks

WRONG = "arb-000000000000-" + "0" * 32
CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


async def statuses(sc: InProcess, headers: dict[str, str]) -> list[int]:
    """The status of a chat call, a messages call and a stats read with these headers."""
    chat = await sc.client.post("/v1/chat/completions", json=CHAT, headers=headers)
    msgs = await sc.client.post(
        "/v1/messages", json={**CHAT, "max_tokens": 16}, headers={**headers, **ANTHROPIC_VERSION}
    )
    stats = await sc.client.get("/arbiter/stats", headers=headers)
    if msgs.status_code == 401:
        assert (
            "two different api keys"
            in check_anthropic_error(msgs, 401, "authentication_error").lower()
        )
    if chat.status_code == 401:
        assert chat.json()["error"]["type"] == "authentication_error", chat.text
    return [chat.status_code, msgs.status_code, stats.status_code]


def test_two_different_keys_are_refused_never_read_as_either(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            good = sc.api_key
            other = create_key(sc.services.store, "other-team").key
            for refused in (
                {"authorization": f"Bearer {good}", "x-api-key": WRONG},
                {"authorization": f"Bearer {WRONG}", "x-api-key": good},
                {"authorization": f"Bearer {good}", "x-api-key": other},
                {"authorization": f"Bearer {good}", "api-key": WRONG},
                {"x-api-key": good, "api-key": other},
                {"authorization": f"Bearer {sc.admin_key}", "x-api-key": good},
                {"authorization": f"Bearer {good}", "x-api-key": sc.admin_key},
            ):
                assert await statuses(sc, refused) == [401, 401, 401], refused
            for accepted in (
                {"authorization": f"Bearer {good}", "x-api-key": good},
                {"authorization": f"Bearer {good}", "x-api-key": good, "api-key": good},
                {"authorization": "Bearer ", "x-api-key": good},
                {"x-api-key": f" {good} "},
            ):
                assert await statuses(sc, accepted) == [200, 200, 200], accepted
            r = await sc.client.get(
                "/metrics", headers={"authorization": f"Bearer {sc.admin_key}", "x-api-key": good}
            )
            assert r.status_code == 401, r.text

    asyncio.run(main())


def test_the_anthropic_sdk_with_a_second_key_header_is_told(tmp_path: Path) -> None:
    """The SDK's own client, its key as Bearer and another key in `x-api-key` (default_headers,
    as an older SDK with both an api_key and an auth_token sends them)."""

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (claude, _):
            two = claude.with_options(default_headers={"x-api-key": WRONG})
            with pytest.raises(anthropic.AuthenticationError, match="Two different API keys"):
                await two.messages.create(
                    model="auto", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
                )
            same = claude.with_options(default_headers={"x-api-key": sc.api_key})
            answer = await same.messages.create(
                model="auto", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
            )
            assert answer.content

    asyncio.run(main())
