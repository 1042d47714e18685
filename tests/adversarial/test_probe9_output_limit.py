"""Outside probe (ninth session): `auto` ignored each model's `max_output_tokens`, so a request
with max_tokens over a cheap model's output limit was sent to it (a real provider refuses that:
"max_tokens is too large") although another model in the pool could write that many. Now such
models are ruled out, named in the decision's candidates, when some allowed model fits; when none
does (the configured limit may be a guess), the request is routed as before, never refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

from arbiter import linear
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

_HEADER = linear.compile(r"^\[models\.([a-z0-9-]+)\]$")


def _limits(text: str) -> str:
    """Every model may write 1,024 tokens but sim-premium, 8,192."""
    out = []
    for line in text.splitlines():
        out.append(line)
        m = _HEADER.search(line)
        if m is not None:
            out.append(f"max_output_tokens = {8192 if m.group(1) == 'sim-premium' else 1024}")
    return "\n".join(out) + "\n"


def test_auto_skips_models_that_cannot_write_max_tokens(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_limits) as sc, sdks(sc) as (_, gpt):
            ask = [{"role": "user", "content": "Write a short poem about the sea."}]
            for max_tokens, must in ((2000, "sim-premium"), (8192, "sim-premium")):
                r = await gpt.chat.completions.with_raw_response.create(
                    model="auto", messages=ask, max_tokens=max_tokens
                )
                assert r.headers["x-arbiter-model"] == must, (max_tokens, r.headers)
                decision = r.headers["x-arbiter-decision-id"]
                feed = (await sc.client.get("/arbiter/decisions?limit=5", headers=sc.admin)).json()
                row = next(d for d in feed["data"] if d["id"] == decision)
                why = {c["model"]: c.get("why_not") or "" for c in row["candidates"]}
                assert f"max output 1024 < max_tokens {max_tokens}" in why["sim-tiny"], why
            # within every model's limit, and over every one's: routed as before, answered
            for max_tokens in (500, 20000):
                r = await gpt.chat.completions.with_raw_response.create(
                    model="auto", messages=ask, max_tokens=max_tokens
                )
                assert r.http_response.status_code == 200
            picked = set()
            for _ in range(6):
                r = await gpt.chat.completions.with_raw_response.create(
                    model="auto", messages=ask, max_tokens=500
                )
                picked.add(r.headers["x-arbiter-model"])
            assert picked != {"sim-premium"}  # a short answer still goes to the cheaper models

    asyncio.run(main())
