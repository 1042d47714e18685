"""/v1/messages checks what Anthropic's API checks before the body: the `anthropic-version`
header, and top-level fields it does not know.

Both were accepted: a request without the header (or with one Anthropic refuses: "2023-10-01",
a repeated header) was answered, and an unknown field (`max_token`, a typo) was sent on as an
extra, to be dropped by a translation or refused by a provider after routing. Anthropic answers
each with a 400 `invalid_request_error` ("anthropic-version: header is required", `"X" is not a
valid version`, "<field>: Extra inputs are not permitted"); a drop-in sidecar now does too, in
Anthropic's shape. The anthropic SDK sends the header on every call (2026-10-21 from 2.x; a
client pinned to 2023-06-01 sends that), so an SDK client is never refused for it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.inproc import ANTHROPIC_VERSION, sidecar_in_process
from tests.sdk_clients import sdks

pytestmark = pytest.mark.timeout(60)
ASK = {"model": "sim-small", "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]}
COUNT = {"model": "sim-small", "messages": [{"role": "user", "content": "Hi"}]}


def _anthropic_400(r: Any, says: str) -> None:
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert says in body["error"]["message"], body


def test_the_header_is_required_and_checked(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            for path, body in (("/v1/messages", ASK), ("/v1/messages/count_tokens", COUNT)):
                r = await sc.client.post(path, json=body, headers=sc.auth)
                _anthropic_400(r, "anthropic-version: header is required")
                for odd in ("2023-10-01", "latest", "", "2099-13-01", "2099-1-01", "2099-01-1x"):
                    headers = {**sc.auth, "anthropic-version": odd}
                    r = await sc.client.post(path, json=body, headers=headers)
                    _anthropic_400(r, f'anthropic-version: "{odd}" is not a valid version')
                twice = [*sc.auth.items(), *ANTHROPIC_VERSION.items(), *ANTHROPIC_VERSION.items()]
                r = await sc.client.post(path, json=body, headers=twice)
                _anthropic_400(r, '"2023-06-01, 2023-06-01" is not a valid version')
                # listed versions, and a date after the newest (a newer SDK than Arbiter knows)
                for version in ("2023-01-01", "2023-06-01", "2026-10-21", "2027-03-01"):
                    headers = {**sc.auth, "anthropic-version": version}
                    r = await sc.client.post(path, json=body, headers=headers)
                    assert r.status_code == 200, (version, r.text)

    asyncio.run(main())


def test_an_unknown_top_level_field_is_anthropics_400(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (claude, _gpt):
            with pytest.raises(anthropic.BadRequestError) as caught:
                await claude.messages.create(**ASK, extra_body={"max_token": 5})  # type: ignore[arg-type]
            assert caught.value.status_code == 400
            assert "max_token: Extra inputs are not permitted" in caught.value.message
            with pytest.raises(anthropic.BadRequestError) as caught:
                await claude.messages.count_tokens(**COUNT, extra_body={"colour": "blue"})  # type: ignore[arg-type]
            assert "colour: Extra inputs are not permitted" in caught.value.message
            # the SDK's own requests pass: its version header, a field Anthropic takes
            answer = await claude.messages.create(**ASK, service_tier="auto")  # type: ignore[arg-type]
            assert answer.content
            counted = await claude.messages.count_tokens(**COUNT)  # type: ignore[arg-type]
            assert counted.input_tokens > 0
            # Arbiter's own body field is taken off before the check, as on /v1/messages
            r = await sc.client.post(
                "/v1/messages/count_tokens",
                json={**COUNT, "arbiter": {"reference": "x"}},
                headers={**sc.auth, **ANTHROPIC_VERSION},
            )
            assert r.status_code == 200, r.text

    asyncio.run(main())
