"""Outside probe (eighteenth session): `speed` (the SDK types it "standard" | "fast" | null) and
`inference_geo` (a string or null) went on to a Claude model unchecked, as Arbiter sends on
fields it does not model: `speed: "ludicrous"` or `inference_geo: 5` was routed and reserved,
then Anthropic's 400 after the call, while `auto` answered it whenever it picked an OpenAI
model (which drops them). Each is now the caller's 400 naming the field, before any call, as
`service_tier` already was; count_tokens checks `speed` too. The values the SDK allows answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.inproc import InProcess, run_with_claude
from tests.sdk_clients import check_anthropic_error, sdks, sim_requests

QUESTION = [{"role": "user", "content": "Say hello."}]
BAD: dict[str, tuple[dict[str, Any], str]] = {
    "speed-word": ({"speed": "ludicrous"}, "speed: Input should be 'standard' or 'fast'"),
    "speed-number": ({"speed": 2}, "speed: Input should be 'standard' or 'fast'"),
    "geo-number": ({"inference_geo": 5}, "inference_geo: Input should be a valid string"),
    "geo-object": ({"inference_geo": {"region": "us"}}, "inference_geo: Input should be a valid"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_speed_or_inference_geo_is_a_400_before_any_call(tmp_path: Path, case: str) -> None:
    extra, start = BAD[case]

    async def body(sc: InProcess) -> None:
        before = await sim_requests(sc)
        for model in ("sim-medium", "auto"):
            request = {"model": model, "max_tokens": 20, "messages": QUESTION, **extra}
            r = await sc.client.post("/v1/messages", headers=sc.anthropic, json=request)
            message = check_anthropic_error(r, 400, "invalid_request_error")
            assert message.startswith(start), message
        if "speed" in extra:
            count = {"model": "sim-medium", "messages": QUESTION, **extra}
            r = await sc.client.post("/v1/messages/count_tokens", headers=sc.anthropic, json=count)
            assert check_anthropic_error(r, 400, "invalid_request_error").startswith(start)
        assert await sim_requests(sc) == before, "nothing reached an upstream"

    run_with_claude(tmp_path, body)


def test_the_values_the_sdk_allows_answer(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            for extra in ({"speed": "fast"}, {"speed": "standard"}, {"speed": None},
                          {"inference_geo": "us"}, {"inference_geo": None}):  # fmt: skip
                answer = await claude.messages.create(
                    model="sim-medium", max_tokens=20, messages=QUESTION, **extra
                )
                assert answer.content, extra

    run_with_claude(tmp_path, body)
