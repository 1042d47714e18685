"""Outside probe (twelfth session): Anthropic's `cache_control` (on system blocks, content
blocks, tools, or the request itself) is {"type": "ephemeral"} with an optional `ttl` of "5m" or
"1h", on at most 4 blocks of a request. Nothing checked it: a misspelt type or ttl, a string
instead of the object, an unknown key, or a fifth breakpoint went on as it came to a Claude
model, whose API answers 400 ("A maximum of 4 blocks with cache_control may be provided") after
the call was routed and its worst case reserved, while an OpenAI model dropped it silently. Each
is now the caller's 400 in Anthropic's shape naming where it is, before any upstream call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.inproc import InProcess, run_with_claude
from tests.sdk_clients import sdks, sim_requests

TOOL = {"name": "lookup", "input_schema": {"type": "object", "properties": {}}}


def _request(
    *, system: Any = None, block: Any = None, tool: Any = None, top: Any = None, blocks: int = 1
) -> dict[str, Any]:
    """A request whose system block, first `blocks` user text blocks, tool and top level carry
    the cache_control given for each (None: none)."""

    def marked(part: dict[str, Any], value: Any) -> dict[str, Any]:
        return part if value is None else {**part, "cache_control": value}

    content = [marked({"type": "text", "text": f"Part {i} of the question."}, block)
               for i in range(blocks)]  # fmt: skip
    body: dict[str, Any] = {
        "max_tokens": 64,
        "system": [marked({"type": "text", "text": "Be brief."}, system)],
        "messages": [{"role": "user", "content": content}],
        "tools": [marked(TOOL, tool)],
    }
    if top is not None:
        body["cache_control"] = top
    return body


EPHEMERAL = {"type": "ephemeral"}
BAD: dict[str, tuple[dict[str, Any], str]] = {  # case: (request, the path the error names)
    "system-type": (_request(system={"type": "forever"}), "system.0.cache_control.type"),
    "block-ttl": (
        _request(block={"type": "ephemeral", "ttl": "2h"}),
        "messages.0.content.0.cache_control.ttl",
    ),
    "block-string": (_request(block="ephemeral"), "messages.0.content.0.cache_control"),
    "tool-extra-key": (
        _request(tool={"type": "ephemeral", "scope": "global"}),
        "tools.0.cache_control.scope",
    ),
    "top-level-type": (_request(top={"type": "persistent"}), "cache_control.type"),
    "five-breakpoints": (_request(system=EPHEMERAL, block=EPHEMERAL, blocks=4), "cache_control"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_cache_control_is_a_400_before_any_call(tmp_path: Path, case: str) -> None:
    request, path = BAD[case]

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            before = await sim_requests(sc)
            for model in ("sim-medium", "auto"):  # sim-medium speaks Anthropic's API
                with pytest.raises(anthropic.BadRequestError) as info:
                    await claude.messages.create(model=model, **request)
                err = info.value.body
                assert isinstance(err, dict) and err["type"] == "error", err
                assert err["error"]["type"] == "invalid_request_error", err
                assert path in err["error"]["message"], err
            assert await sim_requests(sc) == before, "nothing reached an upstream"

    run_with_claude(tmp_path, body)


def test_good_cache_control_still_answers(tmp_path: Path) -> None:
    one_hour = {"type": "ephemeral", "ttl": "1h"}
    good = [
        _request(system=one_hour, block={"type": "ephemeral", "ttl": "5m"}, tool=one_hour),
        _request(system=EPHEMERAL, block=EPHEMERAL, blocks=3),  # four breakpoints
        _request(top=EPHEMERAL),
        _request(block=None, system=None),
    ]

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            for request in good:
                for model in ("sim-medium", "auto"):
                    answer = await claude.messages.create(model=model, **request)
                    assert answer.content, answer

    run_with_claude(tmp_path, body)
