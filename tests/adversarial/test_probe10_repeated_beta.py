"""Outside probe (tenth session): `anthropic-beta` sent as two header lines, one beta each
(`curl -H 'anthropic-beta: a' -H 'anthropic-beta: b'`, or a client that adds a beta per
feature). HTTP reads repeated header lines as one comma-separated list (RFC 9110 5.3), the
form the anthropic SDK sends; only the first line was passed on to the Anthropic upstream, so
every beta after it was silently not applied. All of them now go on, joined as the SDK joins
them (the size and ASCII checks apply to the whole list)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.adversarial.test_probe2_anthropic_beta import CLAUDE, HI, recording
from tests.inproc import sidecar_in_process


def test_every_anthropic_beta_line_reaches_the_upstream(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, anthropic_models=(CLAUDE,)) as sc:
            rec = recording(sc, CLAUDE)
            body = {"model": CLAUDE, "max_tokens": 30, "messages": HI}
            headers = [
                *sc.anthropic.items(),
                ("anthropic-beta", "context-management-2025-06-27"),
                ("anthropic-beta", "token-efficient-tools-2025-02-19"),
            ]
            r = await sc.client.post("/v1/messages", json=body, headers=headers)
            assert r.status_code == 200, r.text
            assert [h.get("anthropic-beta") for h in rec.seen] == [
                "context-management-2025-06-27,token-efficient-tools-2025-02-19"
            ]
            too_long = [*sc.anthropic.items(), *[("anthropic-beta", "b" * 200)] * 40]
            r = await sc.client.post("/v1/messages", json=body, headers=too_long)
            assert r.status_code == 400, r.text

    asyncio.run(main())
