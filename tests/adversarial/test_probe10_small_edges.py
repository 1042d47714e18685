"""Outside probe (tenth session): three API edges a tester's SDK or schema fuzzer found.

- `/v1/responses/{id}` (GET, DELETE, `/input_items`, `/cancel`) fell through to "Unknown path":
  the openai SDK's `client.responses.retrieve("resp_x")` got a 404 that named a path, not the
  id, and answered before the key was checked. Arbiter stores no responses (`store: true` is
  refused), so every id is now a 404 in OpenAI's shape naming it, after the key; a method the
  path does not take is a 405 in the same shape.
- `x-arbiter-cache-control: nocache` (a typo) was ignored in silence: the caller believed the
  cache was skipped. Arbiter's own header now takes `no-cache` / `no-store` (any case, spaces,
  commas) and HTTP's other request directives (ignored, as before), else a 400 naming the two;
  the standard `cache-control` header keeps ignoring whatever it does not act on.
- Legacy `/v1/completions` with `best_of` < `n`, or `best_of` > 1 with `stream`, was forwarded
  (a reservation and an upstream call for OpenAI's 400): now refused here, before either."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anthropic
import openai
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import check_anthropic_error, sdks, sim_requests

CHAT = {"model": "sim-small", "messages": [{"role": "user", "content": "hi"}]}


def test_a_response_id_is_an_openai_404_naming_it(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            with pytest.raises(openai.NotFoundError, match="resp_x") as caught:
                await gpt.responses.retrieve("resp_x")
            assert caught.value.code == "not_found"
            with pytest.raises(openai.NotFoundError, match="resp_y"):
                await gpt.responses.delete("resp_y")
            with pytest.raises(openai.NotFoundError, match="resp_z"):
                await gpt.responses.input_items.list("resp_z")
            with pytest.raises(openai.NotFoundError, match="resp_w"):
                await gpt.responses.cancel("resp_w")
            bad = openai.AsyncOpenAI(
                api_key="arb-000000000000-" + "0" * 32,
                base_url="http://127.0.0.1/v1",
                http_client=gpt._client,
                max_retries=0,
            )
            with pytest.raises(openai.AuthenticationError):  # the key before the id
                await bad.responses.retrieve("resp_x")
            r = await sc.client.put("/v1/responses/resp_x", headers=sc.auth)
            assert r.status_code == 405, r.text
            assert r.json()["error"]["code"] == "method_not_allowed"
            assert r.headers["allow"] == "DELETE, GET, HEAD, POST"
            r = await sc.client.post("/v1/responses/compact", json={}, headers=sc.auth)
            assert r.status_code == 404 and "Unknown path" in r.json()["error"]["message"]

    asyncio.run(main())


@pytest.mark.parametrize("value", ["nocache", "no-cache, no_store", "private"])
def test_an_unknown_arbiter_cache_directive_is_a_400_naming_the_known_ones(
    tmp_path: Path, value: str
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (claude, gpt):
            before = await sim_requests(sc)
            headers = {"x-arbiter-cache-control": value}
            with pytest.raises(openai.BadRequestError, match="no-store") as caught:
                await gpt.chat.completions.create(**CHAT, extra_headers=headers)  # type: ignore[call-overload]
            assert caught.value.param == "x-arbiter-cache-control"
            with pytest.raises(openai.BadRequestError, match="no-cache"):
                await gpt.responses.create(model="sim-small", input="hi", extra_headers=headers)
            with pytest.raises(anthropic.BadRequestError, match="no-cache"):
                await claude.messages.create(**CHAT, max_tokens=16, extra_headers=headers)  # type: ignore[call-overload]
            r = await sc.client.post(
                "/v1/messages", json={**CHAT, "max_tokens": 16}, headers={**sc.anthropic, **headers}
            )
            check_anthropic_error(r, 400, "invalid_request_error")
            assert await sim_requests(sc) == before

    asyncio.run(main())


def test_known_cache_directives_pass_in_any_case_and_spacing(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            for value in (
                "no-cache", " No-Store ", "NO-CACHE,no-store", "no-cache,", "", "max-age=0",
                "No-Store, max-age=0", "no-cache, Max-Stale, only-if-cached",
            ):  # fmt: skip
                headers = {**sc.auth, "x-arbiter-cache-control": value}
                r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=headers)
                assert r.status_code == 200, (value, r.text)
            # the standard header's other directives are HTTP caches' business
            headers = {**sc.auth, "cache-control": "max-age=0, no-cache"}
            r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=headers)
            assert r.status_code == 200, r.text

    asyncio.run(main())


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"n": 3, "best_of": 2}, "greater than or equal to 'n'"),
        ({"best_of": 2, "stream": True}, "cannot be streamed"),
        ({"n": 2, "best_of": 3, "stream": True}, "cannot be streamed"),
    ],
)
def test_completions_best_of_that_openai_refuses_is_refused_before_the_upstream(
    tmp_path: Path, extra: dict[str, object], words: str
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            before = await sim_requests(sc)
            with pytest.raises(openai.BadRequestError, match=words) as caught:
                await gpt.completions.create(model="sim-small", prompt="hi", **extra)  # type: ignore[call-overload]
            assert caught.value.param == "best_of"
            assert await sim_requests(sc) == before
            assert sc.services.store.budget_usage("") == []  # nothing reserved either
            for fine in ({"n": 2, "best_of": 2}, {"best_of": 1, "stream": True}, {"n": 2}):
                body = {"model": "sim-small", "prompt": "hi", "max_tokens": 4, **fine}
                r = await sc.client.post("/v1/completions", json=body, headers=sc.auth)
                assert r.status_code == 200, (fine, r.text)

    asyncio.run(main())
