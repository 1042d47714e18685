"""Outside probe (tenth session): tool-call arguments nested just under orjson's write limit.

orjson reads 1,024 levels but writes only 255, so arguments are checked by writing them back
before they go into an Anthropic body. The check wrote the arguments alone, yet an Anthropic
body holds them a few levels down (a request's messages[].content[].input, an answer's
content[].input): arguments 250-254 levels deep passed the check and then failed the write,
an unhandled 500 (with a traceback) for

- a chat request whose assistant turn carries such a call, to a Claude model (the request body
  could not be written: after routing, the budget reserved);
- an OpenAI-protocol model's answer with such a call, read by an Anthropic client.

Arguments are now checked where they will sit: a request's go to a Claude model as the text
they came as, under `_raw` (probe22a: arguments that are no JSON object Anthropic can hold are
carried so, not refused), and the answer keeps them under `_raw`, as it does for arguments
nested deeper still (that case: `test_probe_deep_tool_args.py`, depths 250-254)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.adversarial.test_probe_deep_tool_args import nested
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sim_requests

CLAUDE = "sim-medium"
# readable, and writable alone (up to 255 levels), but too deep inside a request body (249 fit)
DEPTHS = [250, 252, 254]


def _chat(model: str, depth: int) -> dict[str, object]:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": nested(depth)}}
    return {
        "model": model,
        "max_tokens": 5,
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        ],
    }


def test_deep_arguments_in_a_request_reach_a_claude_model_as_text(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, anthropic_models=(CLAUDE,)) as sc:
            for depth in DEPTHS:
                before = await sim_requests(sc)
                r = await sc.client.post(
                    "/v1/chat/completions", json=_chat(CLAUDE, depth), headers=sc.auth
                )
                assert r.status_code == 200, (depth, r.text)  # written, never a 500
                assert r.headers["x-arbiter-model"] == CLAUDE
                assert await sim_requests(sc) > before  # sent, not refused
                r = await sc.client.post(
                    "/v1/chat/completions", json=_chat("auto", depth), headers=sc.auth
                )
                assert r.status_code == 200, (depth, r.text)

    asyncio.run(main())
