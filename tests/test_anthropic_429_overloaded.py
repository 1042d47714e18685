"""An Anthropic-protocol upstream's 429 whose body says `overloaded_error` (what a busy proxy in
front of Claude may send): the status says the call was refused before any work, so it is
rate-limited, not billed, whatever the body's type. It was classified by the body alone: answered
as a 529 `overloaded_error` and charged the call's worst case, though a 429 is never billed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anthropic
import orjson
import pytest

from arbiter import budget
from arbiter.upstream.anthropic import http_error
from tests.adversarial.hostile_upstream import fast_failover, response, scripted_upstream
from tests.adversarial.test_probe16b_usage_lies import raw_anthropic_upstream
from tests.inproc import recorded_decision, sidecar_in_process
from tests.sdk_clients import sdks

pytestmark = pytest.mark.timeout(90)

OVERLOADED = orjson.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "x"}})


def test_a_429_is_rate_limited_whatever_its_body_says() -> None:
    err = http_error("an-raw", 429, OVERLOADED)
    assert err.http_status == 429 and err.code == "upstream_rate_limited", err
    assert not budget.may_be_billed(err)
    # the control: the same body at 529 is the overload it says, and may have been billed.
    # Looked up again (mends18b): Anthropic's errors page (docs.claude.com/en/api/errors,
    # platform.claude.com/docs/en/api/errors) says only "529 - overloaded_error: The API is
    # temporarily overloaded" (high traffic across all users), and that an error can also come
    # as an event after a 200 (an answer under way); nothing on whether a 529 is billed. Not
    # documented unbilled, so it stayed charged its worst case (a 429 or 401/403 is not).
    # money20: a 529 whose error body came whole (the provider's own error object, no output)
    # costs nothing as an answered error (upstream/error_answer.py, HTTPProvider._failed marks
    # it); read alone, as here, it is not known to be whole and may have been billed.
    err = http_error("an-raw", 529, OVERLOADED)
    assert err.code == "upstream_unavailable" and budget.may_be_billed(err)


def test_the_sdk_sees_a_429_and_nothing_is_charged(tmp_path: Path) -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        head = b"429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 1"
        writer.write(response(head, OVERLOADED))

    async def main() -> None:
        async with scripted_upstream(answer) as (port, calls):
            edit = raw_anthropic_upstream(port)
            async with (
                sidecar_in_process(tmp_path, edit_config=lambda t: fast_failover(edit(t))) as sc,
                sdks(sc) as (claude, _),
            ):  # fmt: skip
                with pytest.raises(anthropic.RateLimitError) as info:
                    await claude.messages.create(
                        model="an-raw", max_tokens=100,
                        messages=[{"role": "user", "content": "Hi"}],
                    )  # fmt: skip
                assert calls[0] == 1
                body = info.value.body
                assert body["error"]["type"] == "rate_limit_error", body  # type: ignore[index]
                headers = info.value.response.headers
                decision = await recorded_decision(sc, headers["x-arbiter-decision-id"])
                assert decision["cost_usd"] == 0.0, decision  # was the worst case, $0.000203

    asyncio.run(main())
