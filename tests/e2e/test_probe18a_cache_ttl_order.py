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


# Automatic caching (surf19): the request's own `cache_control` is a breakpoint Anthropic puts on
# the last cacheable block, so it comes after every block's own in the ttl order, and it takes
# one of the 4 slots ("automatic caching uses one of the 4 slots", Anthropic's prompt-caching
# docs). Arbiter checked its shape only: a 1h automatic breakpoint after a 5m block, or four
# blocks' own plus the automatic one, went to a Claude model and came back as its 400.
AUTOMATIC_BAD: dict[str, tuple[dict[str, Any], str, str]] = {  # (request, param, words)
    "automatic-1h-after-a-5m-block": (
        {**_request(HOUR, DEFAULT, UNSET), "cache_control": HOUR},
        "cache_control.ttl",
        "must not come after a ttl='5m' cache_control block (system.0.cache_control)",
    ),
    "four-blocks-and-automatic": (
        {**_request(HOUR, HOUR, HOUR, HOUR), "cache_control": HOUR},
        "cache_control",
        "A maximum of 4 blocks with cache_control may be provided. Found 5",
    ),
}


def _last_marked(request: dict[str, Any], mark: Any, automatic: Any) -> dict[str, Any]:
    """`request` with a text block after the last turn's tool_result, marked `mark` (the last
    block: automatic caching's), and `automatic` as the request's own cache_control."""
    messages = [*request["messages"]]
    last = messages[-1]
    text = _marked({"type": "text", "text": "Now sum it."}, mark)
    messages[-1] = {**last, "content": [*last["content"], text]}
    return {**request, "messages": messages, "cache_control": automatic}


# surf20: "If the last block already has an explicit cache_control with the same TTL,
# automatic caching is a no-op" (an unset ttl is 5m); "with a different TTL, the API returns a
# 400 error" (Anthropic's prompt-caching docs, "Edge cases"). Counted as a fifth breakpoint,
# four blocks' own (the last among them) and the same automatic one were refused here.
AUTOMATIC_BAD["the-last-block-1h-and-automatic-5m"] = (
    _last_marked(_request(UNSET, UNSET, UNSET), HOUR, FIVE),
    "cache_control.ttl",
    "already has a cache_control of ttl='1h' (messages.2.content.1.cache_control)",
)
AUTOMATIC_BAD["the-last-block-5m-and-automatic-1h"] = (
    _last_marked(_request(UNSET, UNSET, UNSET), DEFAULT, HOUR),
    "cache_control.ttl",
    "already has a cache_control of ttl='5m' (messages.2.content.1.cache_control)",
)
AUTOMATIC_GOOD = [
    {**_request(HOUR, HOUR, UNSET), "cache_control": DEFAULT},  # 1h, 1h, then the 5m automatic
    {**_request(HOUR, UNSET, HOUR), "cache_control": HOUR},
    {**_request(UNSET, UNSET, FIVE, FIVE), "cache_control": FIVE},
    {**_request(HOUR, HOUR, FIVE), "cache_control": DEFAULT},  # three blocks' own, and it
    # four blocks' own, the last of them automatic caching's of the same ttl: four slots
    _last_marked(_request(HOUR, HOUR, HOUR), HOUR, HOUR),
    _last_marked(_request(HOUR, HOUR, HOUR), FIVE, DEFAULT),
]


@pytest.mark.parametrize("case", list(AUTOMATIC_BAD))
def test_the_automatic_breakpoint_is_last_in_the_ttl_order_and_takes_a_slot(
    tmp_path: Path, case: str
) -> None:
    request, param, words = AUTOMATIC_BAD[case]

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            before = await sim_requests(sc)
            for model in ("sim-medium", "auto", "sim-small"):
                with pytest.raises(anthropic.BadRequestError) as info:
                    await claude.messages.create(model=model, **request)
                err = info.value.body
                assert isinstance(err, dict), err
                assert err["error"]["type"] == "invalid_request_error", err
                message = err["error"]["message"]
                assert message.startswith(param + ":") and words in message, message
            counted = {k: v for k, v in request.items() if k != "max_tokens"}
            with pytest.raises(anthropic.BadRequestError):
                await claude.messages.count_tokens(model="sim-medium", **counted)
            assert await sim_requests(sc) == before, "nothing reached an upstream"

    run_with_claude(tmp_path, body)


def test_an_automatic_breakpoint_that_keeps_the_order_still_answers(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            for request in AUTOMATIC_GOOD:
                answer = await claude.messages.create(model="sim-medium", **request)
                assert answer.content, answer

    run_with_claude(tmp_path, body)
