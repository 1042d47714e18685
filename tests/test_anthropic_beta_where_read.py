"""The `anthropic-beta` header is read (from the raw ASGI header lines, in one pass) only on the
surfaces whose requests call models, the only place it is used (sent on to Anthropic upstreams,
upstream/http.py); every other request read it through Starlette's headers for nothing, and a
bad one failed requests that never use it. Repeated lines are still one comma-joined list."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from arbiter.errors import InvalidRequest
from arbiter.request_log import anthropic_beta_lines
from tests.adversarial.test_probe2_anthropic_beta import CLAUDE, HI, recording
from tests.inproc import sidecar_in_process


def test_repeated_lines_are_joined_with_commas_and_checked() -> None:
    lines = [(b"anthropic-beta", b"a-1"), (b"x-other", b"caf\xc3\xa9"), (b"anthropic-beta", b"b-2")]
    assert anthropic_beta_lines(lines) == "a-1,b-2"
    assert anthropic_beta_lines([(b"x-other", b"1")]) is None
    with pytest.raises(InvalidRequest, match="anthropic-beta"):
        anthropic_beta_lines([(b"anthropic-beta", "caf\u00e9".encode())])


def test_only_the_model_calling_surfaces_read_the_beta_header(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, anthropic_models=(CLAUDE,)) as sc:
            rec = recording(sc, CLAUDE)
            bad = ("anthropic-beta", "x" * 2049)  # over the size the upstream is sent
            for path, key in (("/v1/models", sc.api_key), ("/arbiter/stats", sc.admin_key)):
                headers = [("authorization", f"Bearer {key}"), bad]
                r = await sc.client.get(path, headers=headers)
                assert r.status_code == 200, (path, r.text)  # it does not use the header
            body = {"model": CLAUDE, "max_tokens": 30, "messages": HI}
            r = await sc.client.post(
                "/v1/messages", json=body, headers=[*sc.anthropic.items(), bad]
            )
            assert r.status_code == 400 and "anthropic-beta" in r.text, r.text
            two = [*sc.anthropic.items(), ("anthropic-beta", "a-1"), ("anthropic-beta", "b-2")]
            r = await sc.client.post("/v1/messages", json=body, headers=two)
            assert r.status_code == 200, r.text
            assert [h.get("anthropic-beta") for h in rec.seen] == ["a-1,b-2"]

    asyncio.run(main())
