"""probe27a: shadow copies of the shapes callers send. oa-2 is a challenger, every routed answer
copied to it; the callers are the official SDKs: an Anthropic stream offering a tool (served by
oa-1 across protocols), an OpenAI stream, and an OpenAI request for n = 2 choices. Each caller
gets its whole answer from oa-1 (its stream ends properly, its choices all there) and each copy
is a whole call to oa-2 recorded as an `ok` shadow decision. Held on base27."""

from __future__ import annotations

from pathlib import Path

import anthropic
import pytest

from tests.fault_upstream import fault_upstream
from tests.probe24d_rig import config_text, serve, until

pytestmark = pytest.mark.timeout(120)

SHADOW = """
[shadow]
challengers = ["oa-2"]
sample_rate = 1.0
budget_usd = 10.0
auto_promote = false
max_in_flight = 64
"""
TOOL = {"name": "lookup", "description": "Look a word up.",
        "input_schema": {"type": "object", "properties": {"word": {"type": "string"}}}}  # fmt: skip


def test_streams_tools_and_n_are_shadowed_whole_and_never_reach_the_caller(
    tmp_path: Path,
) -> None:
    with fault_upstream() as up:
        cfg = tmp_path / "arbiter.toml"
        cfg.write_text(config_text(up.port, tmp_path) + SHADOW)
        with serve(cfg) as s:
            claude = anthropic.Anthropic(
                api_key=s.gpt.api_key, base_url=s.sidecar.root_url, max_retries=0, timeout=10
            )
            with claude, claude.messages.stream(
                model="auto", max_tokens=32, tools=[TOOL],  # type: ignore[list-item]
                messages=[{"role": "user", "content": "Say hello."}],
            ) as stream:  # fmt: skip
                text = "".join(stream.text_stream)
                final = stream.get_final_message()
            assert text and final.stop_reason in ("end_turn", "tool_use"), final
            chunks = list(
                s.gpt.chat.completions.create(
                    model="auto",
                    stream=True,
                    max_tokens=16,
                    messages=[{"role": "user", "content": "Say hello again."}],
                )
            )
            assert chunks[-1].choices == [] or chunks[-1].choices[0].finish_reason
            many = s.gpt.chat.completions.with_raw_response.create(
                model="auto", n=2, max_tokens=16,
                messages=[{"role": "user", "content": "Say hello twice."}],
            )  # fmt: skip
            assert many.headers["x-arbiter-model"] == "oa-1"
            assert len(many.parse().choices) == 2

            def shadows() -> list[dict[str, object]]:
                rows = s.get("/arbiter/decisions?limit=100").json()["data"]
                return [r for r in rows if r["mode"] == "shadow"]

            rows = until(lambda: len(shadows()) >= 3 and shadows(), "three shadow decisions")
            assert len(rows) == 3, rows
            assert {r["chosen_model"] for r in rows} == {"oa-2"}
            assert {r["status"] for r in rows} == {"ok"}, rows
            served = [r for r in s.get("/arbiter/decisions?limit=100").json()["data"]
                      if r["mode"] == "routed"]  # fmt: skip
            assert {r["chosen_model"] for r in served} == {"oa-1"}, served
            assert len([c for c in up.calls if c[1] == "oa-2"]) == 3, up.calls
