"""The response cache on a live sidecar (`arbiter serve`, uvicorn, real sockets) in front of a
live sim, driven by the official `openai` SDK: a burst of identical requests is one upstream
call, and a disabled model's cached answer is not served."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest

from arbiter.offline.demo import ADMIN_KEY_ENV
from tests.conftest import Sidecar, open_sidecar


@pytest.fixture(scope="module")
def cached(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    def cache_on(doc: dict[str, Any]) -> None:
        doc["cache"] = {"enabled": True}
        doc["auth"] = {"mode": "keys", "admin_key_env": ADMIN_KEY_ENV}  # the admin API needs it

    yield from open_sidecar(tmp_path_factory.mktemp("cache-e2e"), sim_url, cache_on)


@pytest.fixture(scope="module")
def key(cached: Sidecar) -> str:
    return str(cached.create_key("default")["key"])


def _calls(sim_url: str, model: str) -> int:
    stats = httpx.get(sim_url.removesuffix("/v1") + "/_sim/stats").json()
    return int(stats["models"][model]["requests"])


def test_a_burst_of_identical_requests_is_one_upstream_call(
    cached: Sidecar, key: str, sim_url: str
) -> None:
    messages: Any = [{"role": "user", "content": "In one line: why do caches stampede?"}]
    with openai.OpenAI(base_url=cached.base_url, api_key=key, max_retries=0, timeout=60) as gpt:
        before = _calls(sim_url, "sim-tiny")
        with ThreadPoolExecutor(16) as pool:
            answers = list(
                pool.map(
                    # a limit of its own: an answer the shared sim cuts short (its draws depend
                    # on what the session sent before) is still stored, and waited on
                    lambda _: gpt.chat.completions.with_raw_response.create(
                        model="sim-tiny", messages=messages, max_tokens=300
                    ),
                    range(16),
                )
            )
        calls = _calls(sim_url, "sim-tiny") - before
    statuses = [a.headers["x-arbiter-cache"] for a in answers]
    assert calls == 1, (calls, statuses)
    assert sorted(statuses) == ["hit"] * 15 + ["miss"]
    assert len({a.parse().choices[0].message.content for a in answers}) == 1


def test_a_disabled_model_is_not_served_from_the_cache(cached: Sidecar, key: str) -> None:
    messages: Any = [{"role": "user", "content": "In one line: what is an owl?"}]
    with openai.OpenAI(base_url=cached.base_url, api_key=key, max_retries=0, timeout=60) as gpt:
        first = gpt.chat.completions.with_raw_response.create(model="sim-small", messages=messages)
        assert first.headers["x-arbiter-cache"] == "miss"
        r = cached.admin("PATCH", "/arbiter/admin/models/sim-small", json={"enabled": False})
        assert r.status_code == 200, r.text
        try:
            with pytest.raises(openai.NotFoundError):
                gpt.chat.completions.create(model="sim-small", messages=messages)
        finally:
            cached.admin("PATCH", "/arbiter/admin/models/sim-small", json={"enabled": True})
