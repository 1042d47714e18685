"""Outside probe (eighteenth session) of the response cache on a live sidecar (`arbiter serve`,
real sockets) in front of a live sim, driven by the official `openai` SDK: an answer cut at an
output limit the request did not set must not be served from the cache.

A Chat Completions request without `max_tokens` sent to an Anthropic model gets the model's own
`max_output_tokens` (Anthropic requires a limit: upstream_body.body_for). An answer cut there
(`finish_reason: length`) was stored under a key that holds no limit, so once the operator raised
the model's limit the same request was still served the 8-token stump for the entry's whole TTL
(and, for `auto`, whatever model routing would pick now). A cut answer is kept only when the limit
that cut it is part of the key: the client's `max_tokens` (the control below: still a hit)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from arbiter.offline.demo import demo_settings, sim_config
from arbiter.toml_text import to_toml
from tests.conftest import ADMIN_KEY, Sidecar, start_sim

MODEL = "sim-medium"  # spoken to over Anthropic's API here
SMALL_LIMIT = 8


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    tmp = tmp_path_factory.mktemp("probe18c-cut")
    sim_cfg = tmp / "sim.toml"
    sim_cfg.write_text(sim_config(anthropic_models=(MODEL,)))
    sim, root = start_sim(sim_cfg)
    try:
        doc = demo_settings(f"{root}/v1", tmp / "a.db", anthropic_models=(MODEL,), cache=True)
        doc["models"][MODEL]["max_output_tokens"] = SMALL_LIMIT
        cfg = tmp / "arbiter.toml"
        cfg.write_text(to_toml(doc))
        s = Sidecar(cfg).start()
        yield s
        s.stop()
    finally:
        sim.stop()


def _ask(sc: Sidecar, text: str, **extra: Any) -> tuple[str, str, str]:
    """(x-arbiter-cache, finish_reason, content) of one request to MODEL."""
    with openai.OpenAI(base_url=sc.base_url, api_key=ADMIN_KEY, max_retries=0, timeout=60) as gpt:
        raw = gpt.chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": text}], **extra
        )
    choice = raw.parse().choices[0]
    return raw.headers["x-arbiter-cache"], choice.finish_reason, choice.message.content or ""


def _wait_stored(sc: Sidecar, before: int) -> None:
    """The miss's entry is written after its answer went out: wait until the list shows it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if len(sc.admin("GET", "/arbiter/cache?limit=100").json()["data"]) > before:
            return
        time.sleep(0.05)


def _entries(sc: Sidecar) -> int:
    return len(sc.admin("GET", "/arbiter/cache?limit=100").json()["data"])


def test_an_answer_cut_at_the_models_own_limit_is_not_served_once_the_limit_rises(
    sidecar: Sidecar,
) -> None:
    text = "Explain in detail how a hash map handles collisions."
    status, finish, cut = _ask(sidecar, text)
    assert (status, finish) == ("miss", "length"), (status, finish, cut)
    r = sidecar.admin("PATCH", f"/arbiter/admin/models/{MODEL}", json={"max_output_tokens": 4096})
    assert r.status_code == 200, r.text
    try:
        status, finish, whole = _ask(sidecar, text)
        # before the fix: ("hit", "length", cut): the stump, for the entry's whole TTL
        assert status != "hit", (status, finish, whole)
        assert finish == "stop" and len(whole) > len(cut), (finish, whole)
    finally:
        sidecar.admin(
            "PATCH", f"/arbiter/admin/models/{MODEL}", json={"max_output_tokens": SMALL_LIMIT}
        )


def test_an_answer_cut_at_the_clients_own_max_tokens_is_still_cached(sidecar: Sidecar) -> None:
    """The control: the limit is the request's (in the key), so the same request is served the
    same cut answer, as the model would give it."""
    text = "Describe the water cycle step by step."
    before = _entries(sidecar)
    first = _ask(sidecar, text, max_tokens=5)
    assert first[:2] == ("miss", "length"), first
    _wait_stored(sidecar, before)
    second = _ask(sidecar, text, max_tokens=5)
    assert second == ("hit", "length", first[2]), (first, second)
