"""Outside probe (eighteenth session): Anthropic refuses a request whose `cache_control` ttls
grow along the prompt: "A ttl='1h' cache_control block must not come after a ttl='5m'
cache_control block. Blocks are processed in the following order: `tools`, `system`,
`messages`" (an unset ttl is 5m). Arbiter checked each mark's shape and the count but not the
order, so such a request was routed, its worst case reserved and a Claude model called, to come
back as that 400, while an OpenAI model (which drops cache_control) answered it: `auto`
failed only sometimes. It is the caller's 400 now, naming the later block, before any call;
count_tokens too. The twelfth probe's "good" request (a 5m tool, then a 1h system block) was
such a request; that test now sends the tool at 1h."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.inproc import InProcess, run_with_claude
from tests.sdk_clients import sdks, sim_requests

FIVE, HOUR, UNSET = {"type": "ephemeral", "ttl": "5m"}, {"type": "ephemeral", "ttl": "1h"}, None
DEFAULT = {"type": "ephemeral"}  # 5m
TOOL = {"name": "lookup", "input_schema": {"type": "object", "properties": {}}}


def _marked(part: dict[str, Any], mark: Any) -> dict[str, Any]:
    return part if mark is None else {**part, "cache_control": mark}


def _request(tool: Any, system: Any, first: Any, result: Any = UNSET) -> dict[str, Any]:
    """Marks on the tool, the system block, the first user text block and the text inside the
    last turn's tool_result."""
    return {
        "max_tokens": 64,
        "tools": [_marked(TOOL, tool)],
        "system": [_marked({"type": "text", "text": "Be brief."}, system)],
        "messages": [
            {"role": "user", "content": [_marked({"type": "text", "text": "Look it up."}, first)]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                          "content": [_marked({"type": "text", "text": "42"},
                                                              result)]}]},
        ],
    }  # fmt: skip


BAD: dict[str, tuple[dict[str, Any], str]] = {  # case: (request, the mark the error names)
    "tool-5m-system-1h": (_request(FIVE, HOUR, UNSET), "system.0.cache_control.ttl"),
    "unset-tool-then-1h": (
        _request(DEFAULT, UNSET, HOUR),
        "messages.0.content.0.cache_control.ttl",
    ),
    "system-5m-message-1h": (_request(UNSET, DEFAULT, HOUR), "messages.0.content.0.cache_control"),
    "inside-a-tool-result": (
        _request(HOUR, HOUR, FIVE, HOUR),
        "messages.2.content.0.content.0.cache_control.ttl",
    ),
}
GOOD = [
    _request(HOUR, HOUR, FIVE, DEFAULT),  # 1h, 1h, 5m, 5m
    _request(HOUR, UNSET, HOUR, FIVE),
    _request(FIVE, DEFAULT, FIVE, FIVE),
    _request(UNSET, HOUR, UNSET, HOUR),
]


@pytest.mark.parametrize("case", list(BAD))
def test_a_1h_breakpoint_after_a_5m_one_is_a_400_before_any_call(tmp_path: Path, case: str) -> None:
    request, path = BAD[case]

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            before = await sim_requests(sc)
            for model in ("sim-medium", "auto", "sim-small"):  # sim-medium speaks Anthropic's
                with pytest.raises(anthropic.BadRequestError) as info:
                    await claude.messages.create(model=model, **request)
                err = info.value.body
                assert isinstance(err, dict) and err["type"] == "error", err
                message = err["error"]["message"]
                assert err["error"]["type"] == "invalid_request_error", err
                assert message.startswith(path) and "must not come after" in message, message
            counted = {k: v for k, v in request.items() if k != "max_tokens"}
            with pytest.raises(anthropic.BadRequestError):
                await claude.messages.count_tokens(model="sim-medium", **counted)
            assert await sim_requests(sc) == before, "nothing reached an upstream"

    run_with_claude(tmp_path, body)


def test_ttls_that_do_not_grow_still_answer(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            for request in GOOD:
                answer = await claude.messages.create(model="sim-medium", **request)
                assert answer.content, answer

    run_with_claude(tmp_path, body)
