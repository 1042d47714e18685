"""Outside probe (thirteenth session): the official SDKs' retries against Arbiter while its
upstream misbehaves. Both SDKs obey `x-should-retry` over their own status rules, so what
Arbiter answers decides how often a fault is repeated upstream: the caller's own mistake (an
upstream 400) never, an outage (503), a malformed or bombed answer (502) and a rate limit (429)
as often as the SDK's max_retries says, and a Retry-After of 10^9 s (passed on capped at a day)
must not make an SDK sleep it out. The upstream counts the calls it was sent."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path

import anthropic
import anthropic._base_client
import openai
import openai._base_client
import pytest
from anthropic._models import FinalRequestOptions

from tests.adversarial.hostile_upstream import fast_failover, response, scripted_upstream
from tests.inproc import raw_openai_upstream, sidecar_in_process
from tests.sdk_clients import sdks

pytestmark = pytest.mark.timeout(90)

JSON = b"\r\ncontent-type: application/json"
ERROR = b'{"error":{"message":"x","type":"invalid_request_error","param":null,"code":null}}'
BOMB = gzip.compress(gzip.compress(b" " * (64 << 20), 9), 9)
RETRIES = 2

FAULTS = {
    # name: (the upstream's answer, the status each SDK sees (openai, anthropic: an outage is
    # Anthropic's 529 overloaded_error; a bad upstream answer keeps the gateway's 502, an
    # `api_error`, never a 500), upstream calls)
    "400": (response(b"400 Bad Request" + JSON, ERROR), (400, 400), 1),
    "503": (response(b"503 Service Unavailable" + JSON, ERROR), (503, 529), 1 + RETRIES),
    "429 retry-after 1": (
        response(b"429 Too Many Requests" + JSON + b"\r\nretry-after: 1", ERROR),
        (429, 429),
        1 + RETRIES,
    ),
    "html 200": (
        response(b"200 OK\r\ncontent-type: text/html", b"<html>oops</html>"),
        (502, 502),
        1 + RETRIES,
    ),
    "gzip bomb": (
        response(b"200 OK" + JSON + b"\r\ncontent-encoding: gzip, gzip", BOMB),
        (502, 502),
        1 + RETRIES,
    ),
}


class _SdkRetryWaits:
    """Stands in for anyio in the SDKs: records each retry wait they choose, and sleeps it (the
    sidecar holds a rate-limited model for its Retry-After: a retry sent sooner meets that),
    up to a minute (a wait past that fails the test; sleeping it out would only time it out)."""

    def __init__(self) -> None:
        self.chosen: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.chosen.append(seconds)
        await asyncio.sleep(min(seconds, 60.0))


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_the_sdks_retry_what_may_pass_and_nothing_else(
    tmp_path: Path, fault: str, sdk: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer_bytes, statuses, calls_expected = FAULTS[fault]
    status = statuses[sdk == "anthropic"]
    waits = _SdkRetryWaits()
    # the SDKs' one use of anyio is their retry sleep (_sleep_for_retry)
    monkeypatch.setattr(openai._base_client, "anyio", waits)
    monkeypatch.setattr(anthropic._base_client, "anyio", waits)

    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(answer_bytes)

    async def main() -> None:
        async with scripted_upstream(answer) as (port, calls):
            edit = raw_openai_upstream(port)
            async with (
                sidecar_in_process(tmp_path, edit_config=lambda t: fast_failover(edit(t))) as sc,
                sdks(sc) as (claude, gpt),
            ):
                messages = [{"role": "user", "content": "Hi"}]
                if sdk == "openai":
                    with pytest.raises(openai.APIStatusError) as got:
                        await gpt.with_options(max_retries=RETRIES).chat.completions.create(
                            model="oa-raw", messages=messages,  # type: ignore[arg-type]
                        )  # fmt: skip
                    seen = got.value.status_code
                else:
                    with pytest.raises(anthropic.APIStatusError) as caught:
                        await claude.with_options(max_retries=RETRIES).messages.create(
                            model="oa-raw", max_tokens=50, messages=messages,  # type: ignore[arg-type]
                        )  # fmt: skip
                    seen = caught.value.status_code
        assert seen == status
        assert calls[0] == calls_expected
        # the SDKs' own backoff, or the 1 s asked: seconds. What they chose to wait, not how
        # long a loaded host took (it was `elapsed < 15 s`)
        assert len(waits.chosen) == calls_expected - 1
        assert sum(waits.chosen) < 15.0, waits.chosen

    asyncio.run(main())


def test_a_huge_retry_after_is_no_day_long_sleep_in_the_anthropic_sdk(tmp_path: Path) -> None:
    """The anthropic SDK sleeps what Retry-After says before its retry (openai's gives up past
    120 s): Arbiter passed on the upstream's 10^9 s, which the SDK would sleep for 50 days (its
    own cap). What it passes on is now at most the 300 s it holds the model for itself. The
    wait is read with the SDK's own rule (its private `_calculate_retry_timeout`): sleeping it
    out is no test."""
    answer_bytes = response(b"429 Too Many Requests" + JSON + b"\r\nretry-after: 1000000000", ERROR)

    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(answer_bytes)

    async def main() -> None:
        async with scripted_upstream(answer) as (port, _):
            edit = raw_openai_upstream(port)
            async with (
                sidecar_in_process(tmp_path, edit_config=lambda t: fast_failover(edit(t))) as sc,
                sdks(sc) as (claude, _),
            ):
                with pytest.raises(anthropic.RateLimitError) as caught:
                    await claude.messages.create(
                        model="oa-raw", max_tokens=50,
                        messages=[{"role": "user", "content": "Hi"}],
                    )  # fmt: skip
                headers = caught.value.response.headers
                options = FinalRequestOptions.construct(method="post", url="/v1/messages")
                wait = claude._calculate_retry_timeout(1, options, headers)
        assert headers["x-should-retry"] == "true"
        assert wait <= 300.0

    asyncio.run(main())
