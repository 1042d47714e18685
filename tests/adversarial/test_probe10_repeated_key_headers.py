"""Outside probe (tenth session): one key header sent twice with two different keys (two
`Authorization: Bearer` headers, two `x-api-key` or two `api-key`), as a proxy that adds its
own header, or a client whose default headers and per-call headers both set one, sends.

The ninth session refused two different keys in two different headers (the tenant billed must
never hang on which header wins), but the same header repeated was read by its first value and
the rest ignored: tenant A's key then tenant B's was served and billed as A, and a good key
followed by a wrong one passed. Now every value of each key header is read: two different
keys are the same 401 in the surface's shape; the same key repeated still works, as does a
Bearer token next to an Authorization header of another scheme (a proxy's Basic)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from arbiter.auth import create_key
from tests.adversarial.test_probe9_key_headers import CHAT, WRONG
from tests.inproc import sidecar_in_process


def test_a_key_header_repeated_with_another_key_is_a_401(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            other = create_key(sc.services.store, "other-team").key
            a, b = sc.api_key, other
            refused = [
                [("authorization", f"Bearer {a}"), ("authorization", f"Bearer {b}")],
                [("authorization", f"Bearer {a}"), ("authorization", f"Bearer {WRONG}")],
                [("x-api-key", a), ("x-api-key", b)],
                [("api-key", a), ("api-key", WRONG)],
                [("authorization", f"Bearer {a}"), ("x-api-key", a), ("x-api-key", b)],
            ]
            for headers in refused:
                r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=headers)
                assert r.status_code == 401, (headers, r.text)
                assert "two different api keys" in r.json()["error"]["message"].lower()
                m = await sc.client.post(
                    "/v1/messages", json={**CHAT, "max_tokens": 16}, headers=headers
                )
                assert m.status_code == 401 and m.json()["type"] == "error", m.text
            served = [
                [("authorization", f"Bearer {a}"), ("authorization", f"Bearer {a}")],
                [("x-api-key", a), ("x-api-key", a)],
                [("authorization", f"Bearer {a}"), ("authorization", "Basic cHJveHk6cHc=")],
                [("authorization", "Basic cHJveHk6cHc="), ("authorization", f"Bearer {a}")],
            ]
            for headers in served:
                r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=headers)
                assert r.status_code == 200, (headers, r.text)

    asyncio.run(main())
