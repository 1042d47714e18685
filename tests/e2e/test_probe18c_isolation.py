"""Outside probe (eighteenth session), no defect found: two tenants sending one prompt at once on
a live sidecar (`arbiter serve`, real sockets, the official `openai` SDK) each get their own
answer. In-flight coalescing is keyed by the exact key, which holds the tenant: each tenant's
burst is one upstream call, and every hit's source decision is its own tenant's. Also the key
fields the probe walked that must not share an answer (system prompt, named model vs `auto`,
`max_tokens`, the Responses API's `instructions`) and the one that may (`user`,
delivery only: README)."""

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
    def edit(doc: dict[str, Any]) -> None:
        doc["cache"] = {"enabled": True}
        doc["auth"] = {"mode": "keys", "admin_key_env": ADMIN_KEY_ENV}

    yield from open_sidecar(tmp_path_factory.mktemp("probe18c-iso"), sim_url, edit)


def _calls(sim_url: str) -> int:
    stats = httpx.get(sim_url.removesuffix("/v1") + "/_sim/stats").json()
    return int(stats["models"]["sim-small"]["requests"])


def test_two_tenants_sending_one_prompt_at_once_never_share_an_answer(
    cached: Sidecar, sim_url: str
) -> None:
    keys = {t: str(cached.create_key(t)["key"]) for t in ("acme", "globex")}
    messages: Any = [{"role": "user", "content": "Say something only for this tenant."}]
    limit = 300  # the request's own: an answer the sim cuts short is still stored and shared

    def ask(tenant: str) -> tuple[str, str, str]:
        with openai.OpenAI(
            base_url=cached.base_url, api_key=keys[tenant], max_retries=0, timeout=60
        ) as gpt:
            raw = gpt.chat.completions.with_raw_response.create(
                model="sim-small", messages=messages, max_tokens=limit
            )
        raw.parse()
        source = raw.headers.get("x-arbiter-cache-source-decision-id") or ""
        return tenant, raw.headers["x-arbiter-cache"], source

    before = _calls(sim_url)
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, ["acme", "globex"] * 8))
    assert _calls(sim_url) - before == 2, answers  # one upstream call per tenant
    for tenant in keys:
        mine = [a for a in answers if a[0] == tenant]
        assert sorted(s for _, s, _ in mine) == ["hit"] * 7 + ["miss"], mine
        for _, status, source in mine:
            if status == "hit":
                row = cached.admin("GET", f"/arbiter/decisions/{source}").json()
                assert row["tenant"] == tenant, (tenant, row["tenant"])


@pytest.mark.parametrize(
    ("change", "shares"),
    [
        ({"messages": [{"role": "system", "content": "Be terse."}]}, False),
        ({"model": "auto"}, False),
        ({"max_tokens": 40}, False),
        ({"user": "end-user-2"}, True),  # delivery only (README): the same answer
    ],
)
def test_what_may_and_may_not_share_an_answer(
    cached: Sidecar, change: dict[str, Any], shares: bool
) -> None:
    key = str(cached.create_key("initech")["key"])
    text = f"Name a bird ({sorted(change)[0]})."
    # a limit of its own: an answer the sim cuts at its own length is then still stored
    base: dict[str, Any] = {
        "model": "sim-small",
        "max_tokens": 300,
        "messages": [{"role": "user", "content": text}],
    }
    other = {**base, **change}
    if "messages" in change:
        other["messages"] = [*change["messages"], *base["messages"]]
    auth = {"authorization": f"Bearer {key}"}
    url = f"{cached.base_url}/chat/completions"
    first = httpx.post(url, json=base, headers=auth, timeout=60)
    assert first.headers["x-arbiter-cache"] == "miss", first.headers
    r = httpx.post(url, json=other, headers=auth, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["x-arbiter-cache"] == ("hit" if shares else "miss")


def test_responses_instructions_are_part_of_the_key(cached: Sidecar) -> None:
    key = str(cached.create_key("umbrella")["key"])
    with openai.OpenAI(base_url=cached.base_url, api_key=key, max_retries=0, timeout=60) as gpt:
        statuses = [
            gpt.responses.with_raw_response.create(
                model="sim-small",
                input="Name a fish.",
                instructions=instructions,
                max_output_tokens=300,
            ).headers["x-arbiter-cache"]
            for instructions in ("Answer in French.", "Answer in German.", "Answer in French.")
        ]
    assert statuses == ["miss", "miss", "hit"]
