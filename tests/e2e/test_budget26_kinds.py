"""An outsider's audit of billing across request kinds (budget26): the official `openai` and
`anthropic` SDKs against one sidecar in front of a scripted upstream on 127.0.0.1 whose every
answer states its usage, each kind's recorded cost (the `x-arbiter-cost-usd` header or the
decision) and the tenant's spend checked against that usage at the registry's prices, nothing
billed twice or not at all. One sidecar start for the module."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anthropic
import openai
import orjson
import pytest

from tests.conftest import Sidecar
from tests.scripted_upstream import ScriptedHandler, capped_sidecar, ok_chat_answer, serving

MEDIUM = (2.50, 10.0)  # sim-medium ($ per 1M tokens in, out): served over Anthropic's API
TINY = (0.10, 0.20)  # sim-tiny, OpenAI's
CACHE_READ, CACHE_WRITE, CACHE_WRITE_1H = 0.25, 3.125, 5.0  # sim-medium's cache prices
VOICE = (2.50, 10.0, 40.0, 80.0)  # sim-voice: text in, out, audio in, out (gpt-4o-audio's)


def _usd(tokens_x_price: float) -> float:
    return tokens_x_price / 1e6


def _chat(req: dict[str, Any]) -> tuple[bytes, str]:
    if req.get("service_tier") == "priority":  # served so, as OpenAI's answer says
        body = orjson.loads(_chat({**req, "service_tier": None})[0])
        return orjson.dumps({**body, "service_tier": "priority"}), "application/json"
    if req.get("stream"):
        return ok_chat_answer(req["model"], True, {"prompt_tokens": 1000, "completion_tokens": 100})
    if req.get("web_search_options") is not None:  # a search-preview call: its fee is no token
        body = orjson.loads(_chat({**req, "web_search_options": None})[0])
        body["choices"][0]["message"]["annotations"] = []
        return orjson.dumps(body), "application/json"
    if "audio" in (req.get("modalities") or []):  # 600 of the prompt heard, 400 spoken
        return orjson.dumps({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": req["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "ok"}}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500,
                      "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 600},
                      "completion_tokens_details": {"audio_tokens": 400}},
        }), "application/json"  # fmt: skip
    n = int(req.get("n") or 1)
    choices = [
        {"index": i, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}
        for i in range(n)
    ]
    usage = {
        "prompt_tokens": 1000, "completion_tokens": 100 * n, "total_tokens": 1000 + 100 * n,
        "prompt_tokens_details": {"cached_tokens": 0},
    }  # fmt: skip
    return orjson.dumps({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": req["model"],
        "choices": choices, "usage": usage,
    }), "application/json"  # fmt: skip


def _embeddings(req: dict[str, Any]) -> bytes:
    inputs = req["input"] if isinstance(req["input"], list) else [req["input"]]
    data = [
        {"object": "embedding", "index": i, "embedding": [0.5, 0.25]} for i in range(len(inputs))
    ]
    usage = {"prompt_tokens": 300 * len(inputs), "total_tokens": 300 * len(inputs)}
    return orjson.dumps({"object": "list", "model": req["model"], "data": data, "usage": usage})


def _completion(req: dict[str, Any]) -> bytes:
    return orjson.dumps({
        "id": "cmpl-1", "object": "text_completion", "created": 1, "model": req["model"],
        "choices": [{"index": 0, "text": " ok", "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 500, "completion_tokens": 16, "total_tokens": 516},
    })  # fmt: skip


# Anthropic's usage: 200 uncached input, 3,000 written to the cache (1,000 of them to the
# 1-hour cache), 4,000 read from it, 700 output (thinking included: max_tokens >= 700)
ANTHROPIC_USAGE = {
    "input_tokens": 200, "output_tokens": 700,
    "cache_creation_input_tokens": 3000, "cache_read_input_tokens": 4000,
    "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 1000},
}  # fmt: skip
ANTHROPIC_COST = _usd(
    200 * MEDIUM[0] + 700 * MEDIUM[1] + 4000 * CACHE_READ + 2000 * CACHE_WRITE
    + 1000 * CACHE_WRITE_1H
)  # fmt: skip


WIDE = (5.0, 25.0)  # sim-wide: Claude Opus 4.6's prices and 200K window, over Anthropic's API
# one search's loop as Anthropic counts it: the prompt, then the prompt again with the search's
# results (under sim-wide's 20,000-token results bound) and the output so far
HEAVY_SEARCH = {"input_tokens": 20_800, "output_tokens": 700,
                "server_tool_use": {"web_search_requests": 1}}  # fmt: skip
HEAVY_SEARCH_COST = _usd(20_800 * WIDE[0] + 700 * WIDE[1]) + 0.01
UNBOUNDED_SEARCHES = 12  # what a web search tool without max_uses ran (the default: 10)
LOOP_INPUT = 150_000  # a server tool loop's input: past 4 context windows (sim-medium's 32K)


def _text(req: dict[str, Any]) -> str:
    content = req["messages"][-1]["content"]
    return content if isinstance(content, str) else ""


def _message(req: dict[str, Any]) -> tuple[bytes, str]:
    content: list[dict[str, Any]] = []
    if req.get("thinking", {}).get("type") == "enabled":
        content.append({"type": "thinking", "thinking": "hmm", "signature": "sig"})
    content.append({"type": "text", "text": "ok"})
    head = {"id": "msg_1", "type": "message", "role": "assistant", "model": req["model"]}
    usage: dict[str, Any] = dict(ANTHROPIC_USAGE)
    searching = [t for t in req.get("tools", []) if t.get("type", "").startswith("web_search")]
    if req.get("speed") == "fast":  # fast mode ran, as its usage says
        usage["speed"] = "fast"
    if searching:  # as many searches as the tool allows, past the default without max_uses
        uses = searching[0].get("max_uses", UNBOUNDED_SEARCHES)
        usage["server_tool_use"] = {"web_search_requests": uses}
    if _text(req) == "search in a loop":  # the loop read the prompt and results again and again
        usage["input_tokens"] = LOOP_INPUT
    if _text(req) == "one heavy search":
        usage = dict(HEAVY_SEARCH)
    if not req.get("stream"):
        body = {**head, "content": content, "stop_reason": "end_turn", "stop_sequence": None,
                "usage": usage}  # fmt: skip
        return orjson.dumps(body), "application/json"
    start_usage = {**ANTHROPIC_USAGE, "output_tokens": 1}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": {
            **head, "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": start_usage}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "ok"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        # as Anthropic sends it now: the delta's usage repeats the input counts, cumulative
        ("message_delta", {"type": "message_delta",
                           "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": usage}),  # with the searches it ran
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    raw = b"".join(
        b"event: " + name.encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for name, e in events
    )
    return raw, "text/event-stream"


class _Upstream(ScriptedHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        req = self.read_json()
        if self.path.endswith("/embeddings"):
            self.answer(_embeddings(req))
        elif self.path.endswith("/completions") and not self.path.endswith("chat/completions"):
            self.answer(_completion(req))
        elif self.path.endswith("/messages"):
            self.answer(*_message(req))
        else:
            self.answer(*_chat(req))


def _edit(doc: dict[str, Any]) -> None:
    doc["models"]["sim-medium"].update(
        price_cache_read_per_mtok=CACHE_READ,
        price_cache_write_per_mtok=CACHE_WRITE,
        price_cache_write_1h_per_mtok=CACHE_WRITE_1H,
        max_output_tokens=8000,
    )
    doc["models"]["sim-tiny"]["capabilities"].append("embedding")
    doc["models"]["sim-voice"] = {
        **doc["models"]["sim-tiny"], "capabilities": ["chat", "audio"],
        "price_in_per_mtok": VOICE[0], "price_out_per_mtok": VOICE[1],
        "price_audio_in_per_mtok": VOICE[2], "price_audio_out_per_mtok": VOICE[3],
    }  # fmt: skip
    # priced as sim-voice's text, called by the priority tier's test alone (its prompt line)
    doc["models"]["sim-tier"] = {
        **doc["models"]["sim-tiny"], "price_in_per_mtok": VOICE[0], "price_out_per_mtok": VOICE[1]
    }  # fmt: skip
    # long-context prices past 500 prompt tokens (the scripted chat counts 1,000)
    doc["models"]["sim-long"] = {
        **doc["models"]["sim-tier"], "long_context_tokens": 500,
        "price_long_in_per_mtok": 2 * VOICE[0], "price_long_out_per_mtok": 1.5 * VOICE[1],
    }  # fmt: skip
    doc["models"]["sim-wide"] = {
        **doc["models"]["sim-medium"], "context_window": 200_000,
        "price_in_per_mtok": WIDE[0], "price_out_per_mtok": WIDE[1],
    }  # fmt: skip
    caps = (
        ("k-dollar", 1.0), ("k-burst", 0.5),
        ("k-voice-cap", 0.01), ("k-search-cap", 0.12), ("k-tier-cap", 0.003),
        ("k-loop-cap", 0.05), ("k-free-search-cap", 0.5), ("k-search-fee-cap", 0.02),
    )  # fmt: skip
    for name, limit in caps:
        doc["budgets"]["caps"].append(
            {"scope": "tenant", "name": name, "limit_usd": limit, "window": "total"}
        )
    doc["budgets"]["caps"].append(
        {"scope": "tenant", "name": "k-cap", "limit_usd": 1e-6, "window": "day"}
    )


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    with (
        serving(_Upstream) as url,
        capped_sidecar(
            url, "sqlite", Path(tmp_path_factory.mktemp("budget26")), _edit,
            anthropic_models=("sim-medium",), cache=True,
        ) as s,
    ):  # fmt: skip
        yield s


def tenant_spent(s: Sidecar, tenant: str) -> float:
    """The tenant's spend under its total cap (0 before its first charge made the row; a
    daily cap beside it counts the same spend)."""
    rows = s.admin("GET", f"/arbiter/budgets?tenant={tenant}").json()["data"]
    return max([float(x["spent_usd"]) for x in rows if x["scope"] == f"tenant:{tenant}"] + [0.0])


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    """Closes the SDK clients a test opened."""
    with ExitStack() as s:
        yield s


def _openai(s: Sidecar, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=s.base_url, api_key=key, max_retries=0)


def _anthropic(s: Sidecar, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=s.root_url, api_key=key, max_retries=0)


def _key(s: Sidecar, tenant: str) -> str:
    return str(s.create_key(tenant)["key"])


def _spent_by(s: Sidecar, tenant: str, call: Any) -> tuple[float, float]:
    """What `call` (returning its cost header's value) said, and what the tenant's spend moved."""
    before = tenant_spent(s, tenant)
    said = float(call())
    return said, tenant_spent(s, tenant) - before


def test_chat_n_choices_billed_as_usage(sidecar: Sidecar, stack: ExitStack) -> None:
    key = _key(sidecar, "k-n")
    client = stack.enter_context(_openai(sidecar, key))

    def call() -> str:
        r = client.chat.completions.with_raw_response.create(
            model="sim-tiny", n=3, max_tokens=200, messages=[{"role": "user", "content": "hi"}]
        )
        assert len(r.parse().choices) == 3
        return r.headers["x-arbiter-cost-usd"]

    said, moved = _spent_by(sidecar, "k-n", call)
    want = _usd(1000 * TINY[0] + 300 * TINY[1])
    assert said == pytest.approx(want, rel=1e-6)
    assert moved == pytest.approx(want, rel=1e-6)


def test_embeddings_batch_billed_as_usage(sidecar: Sidecar, stack: ExitStack) -> None:
    key = _key(sidecar, "k-emb")
    client = stack.enter_context(_openai(sidecar, key))

    def call() -> str:
        r = client.embeddings.with_raw_response.create(model="sim-tiny", input=["a", "b", "c"])
        assert len(r.parse().data) == 3
        return r.headers["x-arbiter-cost-usd"]

    said, moved = _spent_by(sidecar, "k-emb", call)
    want = _usd(900 * TINY[0])
    assert said == pytest.approx(want, rel=1e-6)
    assert moved == pytest.approx(want, rel=1e-6)


def test_completions_billed_as_usage(sidecar: Sidecar, stack: ExitStack) -> None:
    key = _key(sidecar, "k-cmpl")
    client = stack.enter_context(_openai(sidecar, key))

    def call() -> str:
        r = client.completions.with_raw_response.create(model="sim-tiny", prompt="say ok")
        return r.headers["x-arbiter-cost-usd"]

    said, moved = _spent_by(sidecar, "k-cmpl", call)
    want = _usd(500 * TINY[0] + 16 * TINY[1])
    assert said == pytest.approx(want, rel=1e-6)
    assert moved == pytest.approx(want, rel=1e-6)


def test_anthropic_thinking_and_cache_billed_as_anthropic_prices(
    sidecar: Sidecar, stack: ExitStack
) -> None:
    key = _key(sidecar, "k-ant")
    client = stack.enter_context(_anthropic(sidecar, key))

    def call() -> str:
        r = client.messages.with_raw_response.create(
            model="sim-medium", max_tokens=4000,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": "hi"}],
        )  # fmt: skip
        assert r.parse().usage.cache_read_input_tokens == 4000
        return r.headers["x-arbiter-cost-usd"]

    said, moved = _spent_by(sidecar, "k-ant", call)
    assert said == pytest.approx(ANTHROPIC_COST, rel=1e-6)
    assert moved == pytest.approx(ANTHROPIC_COST, rel=1e-6)


def test_anthropic_stream_cache_counts_billed_once(sidecar: Sidecar, stack: ExitStack) -> None:
    """The stream's message_delta repeats the input and cache counts message_start gave (as
    Anthropic sends them now): counted once, as the whole answer's."""
    key = _key(sidecar, "k-ant-s")
    client = stack.enter_context(_anthropic(sidecar, key))
    before = tenant_spent(sidecar, "k-ant-s")
    with client.messages.with_streaming_response.create(
        model="sim-medium", max_tokens=4000, stream=True,
        messages=[{"role": "user", "content": "hi"}],
    ) as r:  # fmt: skip
        decision = r.headers["x-arbiter-decision-id"]
        for _ in r.iter_lines():
            pass
    moved = tenant_spent(sidecar, "k-ant-s") - before
    row = sidecar.admin("GET", f"/arbiter/decisions/{decision}").json()
    assert row["cost_usd"] == pytest.approx(ANTHROPIC_COST, rel=1e-6)
    assert moved == pytest.approx(ANTHROPIC_COST, rel=1e-6)


def test_refusals_past_a_key_cap_in_each_surface_shape(sidecar: Sidecar, stack: ExitStack) -> None:
    """A tenant's daily cap smaller than one request's worst case: a 429 `budget_exceeded` in
    the caller's shape on every surface, nothing billed."""
    key = _key(sidecar, "k-cap")
    before = tenant_spent(sidecar, "k-cap")
    msgs: list[Any] = [{"role": "user", "content": "hi"}]
    oa = stack.enter_context(_openai(sidecar, key))
    calls = [
        lambda: oa.chat.completions.create(model="sim-tiny", messages=msgs, max_tokens=100),
        lambda: oa.embeddings.create(model="sim-tiny", input=["a"] * 50),
        lambda: oa.completions.create(model="sim-tiny", prompt="x", max_tokens=100),
        lambda: oa.responses.create(model="sim-tiny", input="hi", max_output_tokens=100),
    ]
    for call in calls:
        with pytest.raises(openai.RateLimitError) as e:
            call()
        assert e.value.code == "budget_exceeded", e.value.body
    with pytest.raises(anthropic.RateLimitError) as ae:
        stack.enter_context(_anthropic(sidecar, key)).messages.create(
            model="sim-medium", max_tokens=100, messages=msgs
        )
    assert ae.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert tenant_spent(sidecar, "k-cap") == before


def _decision_cost(s: Sidecar, decision: str) -> float:
    return float(s.admin("GET", f"/arbiter/decisions/{decision}").json()["cost_usd"])


def test_streams_billed_as_usage(sidecar: Sidecar) -> None:
    """A chat stream and a Responses stream over it, each billed its usage chunk once."""
    key = _key(sidecar, "k-stream")
    want = _usd(1000 * TINY[0] + 100 * TINY[1])
    with _openai(sidecar, key) as client:
        before = tenant_spent(sidecar, "k-stream")
        with client.chat.completions.with_streaming_response.create(
            model="sim-tiny", stream=True, max_tokens=200,
            messages=[{"role": "user", "content": "stream one"}],
        ) as r:  # fmt: skip
            chat = r.headers["x-arbiter-decision-id"]
            list(r.iter_lines())
        with client.responses.with_streaming_response.create(
            model="sim-tiny", stream=True, max_output_tokens=200, input="stream two"
        ) as r:
            resp = r.headers["x-arbiter-decision-id"]
            list(r.iter_lines())
        moved = tenant_spent(sidecar, "k-stream") - before
    assert _decision_cost(sidecar, chat) == pytest.approx(want, rel=1e-6)
    assert _decision_cost(sidecar, resp) == pytest.approx(want, rel=1e-6)
    assert moved == pytest.approx(2 * want, rel=1e-6)


def test_exact_cache_hit_billed_nothing(sidecar: Sidecar) -> None:
    key = _key(sidecar, "k-cache")
    with _openai(sidecar, key) as client:

        def call() -> str:
            r = client.chat.completions.with_raw_response.create(
                model="sim-tiny", max_tokens=200,
                messages=[{"role": "user", "content": "cache me"}],
            )  # fmt: skip
            return r.headers["x-arbiter-cost-usd"]

        first, moved_first = _spent_by(sidecar, "k-cache", call)
        hit, moved_hit = _spent_by(sidecar, "k-cache", call)
    assert first == pytest.approx(_usd(1000 * TINY[0] + 100 * TINY[1]), rel=1e-6)
    assert moved_first == pytest.approx(first, rel=1e-6)
    assert (hit, moved_hit) == (0.0, 0.0)


def _speak(client: openai.OpenAI, max_tokens: int) -> Any:
    return client.chat.completions.with_raw_response.create(
        model="sim-voice", max_tokens=max_tokens, modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "wav"},
        messages=[{"role": "user", "content": "say ok"}],
    )  # fmt: skip


def test_audio_tokens_billed_at_audio_prices(sidecar: Sidecar) -> None:
    """An audio model's usage splits out its audio tokens (OpenAI's `*_tokens_details`), which
    cost many times its text's: billed at `price_audio_*_per_mtok`, not the text prices (found
    billed $0.0075 for a $0.058 call: 8x under)."""
    key = _key(sidecar, "k-voice")
    with _openai(sidecar, key) as client:
        said, moved = _spent_by(
            sidecar, "k-voice", lambda: _speak(client, 1000).headers["x-arbiter-cost-usd"]
        )
    want = _usd(400 * VOICE[0] + 600 * VOICE[2] + 100 * VOICE[1] + 400 * VOICE[3])
    assert said == pytest.approx(want, rel=1e-6)
    assert moved == pytest.approx(want, rel=1e-6)


def test_spoken_output_reserved_at_audio_price(sidecar: Sidecar) -> None:
    """A $0.01 cap and a request for 200 spoken tokens: $0.016 at the audio output price, the
    worst case the cap has no room for (refused, nothing billed); reserved at the text price
    ($0.002) it was let through, and concurrent ones could pass the cap by 8x a worst case."""
    key = _key(sidecar, "k-voice-cap")
    with _openai(sidecar, key) as client:
        with pytest.raises(openai.RateLimitError) as e:
            _speak(client, 200)
        assert e.value.code == "budget_exceeded", e.value.body
        answered = _speak(client, 50)  # $0.004, and the prompt: room for it
    assert float(answered.headers["x-arbiter-cost-usd"]) > 0


def _search(client: anthropic.Anthropic, max_uses: int) -> Any:
    return client.messages.with_raw_response.create(
        model="sim-medium", max_tokens=800, tools=[_searching(max_uses)],
        messages=[{"role": "user", "content": "look it up"}],
    )  # fmt: skip


def _searching(max_uses: int) -> Any:
    return {"type": "web_search_20250305", "name": "web_search", "max_uses": max_uses}


def test_web_searches_billed_per_search(sidecar: Sidecar, stack: ExitStack) -> None:
    """Anthropic bills each web search its server tool ran ($10 per 1,000) beside the tokens:
    its usage's `server_tool_use.web_search_requests` was not billed (found: 3 searches, $0.03,
    missing from a $0.04975 call: $0.01975 billed)."""
    key = _key(sidecar, "k-search")
    client = stack.enter_context(_anthropic(sidecar, key))
    said, moved = _spent_by(
        sidecar, "k-search", lambda: _search(client, 3).headers["x-arbiter-cost-usd"]
    )
    assert said == pytest.approx(ANTHROPIC_COST + 0.03, rel=1e-6)
    assert moved == pytest.approx(ANTHROPIC_COST + 0.03, rel=1e-6)


def test_web_search_max_uses_reserved(sidecar: Sidecar, stack: ExitStack) -> None:
    """A $0.12 cap: a request that lets the model search 10 times ($0.10 of searches, and the
    loop's 10 reads of the prompt) has no room and is refused, nothing billed; one search
    (~$0.07 held: the search, a second read of the prompt, the output and the search's
    results, `web_search_result_tokens`) goes through."""
    key = _key(sidecar, "k-search-cap")
    client = stack.enter_context(_anthropic(sidecar, key))
    with pytest.raises(anthropic.RateLimitError):
        _search(client, 10)
    assert tenant_spent(sidecar, "k-search-cap") == 0.0
    assert float(_search(client, 1).headers["x-arbiter-cost-usd"]) == pytest.approx(
        ANTHROPIC_COST + 0.01, rel=1e-6
    )


def test_web_searches_of_a_stream_billed(sidecar: Sidecar, stack: ExitStack) -> None:
    """The stream's `message_delta` gives the searches: billed as the whole answer's."""
    key = _key(sidecar, "k-search-s")
    client = stack.enter_context(_anthropic(sidecar, key))
    before = tenant_spent(sidecar, "k-search-s")
    with client.messages.with_streaming_response.create(
        model="sim-medium", max_tokens=800, stream=True, tools=[_searching(2)],
        messages=[{"role": "user", "content": "look it up"}],
    ) as r:  # fmt: skip
        decision = r.headers["x-arbiter-decision-id"]
        for _ in r.iter_lines():
            pass
    assert _decision_cost(sidecar, decision) == pytest.approx(ANTHROPIC_COST + 0.02, rel=1e-6)
    moved = tenant_spent(sidecar, "k-search-s") - before
    assert moved == pytest.approx(ANTHROPIC_COST + 0.02, rel=1e-6)


def _prioritized(client: openai.OpenAI, max_tokens: int) -> Any:
    return client.chat.completions.with_raw_response.create(
        model="sim-tier", max_tokens=max_tokens, service_tier="priority",
        messages=[{"role": "user", "content": "hurry"}],
    )  # fmt: skip


def test_priority_tier_billed_and_reserved_at_its_price(sidecar: Sidecar) -> None:
    """`service_tier: "priority"` goes on to the upstream, and OpenAI bills such a call at its
    priority prices (up to 2x the standard's): billed at `price_fast_factor` (2 on an OpenAI
    upstream) when the answer says it was served so (found billed at the standard price, half
    what it cost), and reserved at it: a $0.003 cap has no room for a 200-token priority call
    (~$0.002 worst case at the standard price, ~$0.004 at priority's)."""
    with (
        _openai(sidecar, _key(sidecar, "k-tier-cap")) as client,
        pytest.raises(openai.RateLimitError),
    ):
        _prioritized(client, 200)
    assert tenant_spent(sidecar, "k-tier-cap") == 0.0
    key = _key(sidecar, "k-tier")
    with _openai(sidecar, key) as client:
        said, moved = _spent_by(
            sidecar, "k-tier", lambda: _prioritized(client, 1000).headers["x-arbiter-cost-usd"]
        )
    want = 2 * _usd(1000 * VOICE[0] + 100 * VOICE[1])
    assert said == pytest.approx(want, rel=1e-6)
    assert moved == pytest.approx(want, rel=1e-6)


def test_anthropic_fast_mode_billed_at_its_price(sidecar: Sidecar, stack: ExitStack) -> None:
    """`speed: "fast"` (Anthropic's fast mode, 6x the standard prices on Claude Opus 4.6, cache
    prices stacked) goes on to the upstream; a Message whose usage says `speed: "fast"` is
    billed at `price_fast_factor` (6 on an Anthropic upstream), not the standard prices."""
    key = _key(sidecar, "k-fast")
    client = stack.enter_context(_anthropic(sidecar, key))

    def call() -> str:
        r = client.messages.with_raw_response.create(
            model="sim-medium", max_tokens=4000, extra_body={"speed": "fast"},
            messages=[{"role": "user", "content": "quick"}],
        )  # fmt: skip
        return r.headers["x-arbiter-cost-usd"]

    said, moved = _spent_by(sidecar, "k-fast", call)
    assert said == pytest.approx(6 * ANTHROPIC_COST, rel=1e-6)
    assert moved == pytest.approx(6 * ANTHROPIC_COST, rel=1e-6)


def test_long_context_billed_at_long_prices(sidecar: Sidecar) -> None:
    """A prompt past the model's `long_context_tokens` is billed, all of it, at the long prices
    (Claude Sonnet 4.5 past 200K: 2x in, 1.5x out): found billed at the short prices."""
    key = _key(sidecar, "k-long")
    with _openai(sidecar, key) as client:

        def call() -> str:
            r = client.chat.completions.with_raw_response.create(
                model="sim-long", max_tokens=200, messages=[{"role": "user", "content": "long"}]
            )
            return r.headers["x-arbiter-cost-usd"]

        said, moved = _spent_by(sidecar, "k-long", call)
    want = _usd(1000 * 2 * VOICE[0] + 100 * 1.5 * VOICE[1])
    assert said == pytest.approx(want, rel=1e-6)
    assert moved == pytest.approx(want, rel=1e-6)


def test_server_tool_loop_reserved(sidecar: Sidecar, stack: ExitStack) -> None:
    """A web search runs in Anthropic's server loop, which reads the prompt again with the
    results after the search (billed as input): one search on a $0.05 cap holds a second read
    of the prompt, the output and 20,000 tokens of results (~$0.07) and is refused; held at one
    read of its prompt (~$0.018) it went through, and such a loop's input can pass the prompt
    many times over."""
    key = _key(sidecar, "k-loop-cap")
    client = stack.enter_context(_anthropic(sidecar, key))
    with pytest.raises(anthropic.RateLimitError):
        _search(client, 1)
    assert tenant_spent(sidecar, "k-loop-cap") == 0.0
    answered = client.messages.with_raw_response.create(
        model="sim-medium", max_tokens=800, messages=[{"role": "user", "content": "no tools"}]
    )
    assert float(answered.headers["x-arbiter-cost-usd"]) == pytest.approx(ANTHROPIC_COST)


def test_server_tool_loop_input_billed_as_counted(sidecar: Sidecar, stack: ExitStack) -> None:
    """A loop of 4 searches counts 150,000 input tokens, past 4 context windows of sim-medium
    (128,000): its prompt is read up to 5 times, so the count is believed and billed (found
    dropped as unbelievable and priced from what was relayed: a few cents under)."""
    key = _key(sidecar, "k-loop")
    client = stack.enter_context(_anthropic(sidecar, key))

    def call() -> str:
        r = client.messages.with_raw_response.create(
            model="sim-medium", max_tokens=800, tools=[_searching(4)],
            messages=[{"role": "user", "content": "search in a loop"}],
        )  # fmt: skip
        assert r.parse().usage.input_tokens == LOOP_INPUT
        return r.headers["x-arbiter-cost-usd"]

    said, moved = _spent_by(sidecar, "k-loop", call)
    want = ANTHROPIC_COST + _usd((LOOP_INPUT - 200) * MEDIUM[0]) + 0.04
    assert said == pytest.approx(want, rel=1e-6)
    assert moved == pytest.approx(want, rel=1e-6)


def test_web_search_without_max_uses_reserved_and_billed(
    sidecar: Sidecar, stack: ExitStack
) -> None:
    """A web search tool without `max_uses` holds `web_search_uses` (10) searches and the
    loop's 10 reads: a $0.5 cap has no room (found held at its tokens alone, ~$0.008, so
    concurrent ones passed a cap by their searches unbounded); searches past the 10 held are
    billed as the usage reports them (12: $0.12)."""
    tool = {"type": "web_search_20250305", "name": "web_search"}

    def search(client: anthropic.Anthropic) -> Any:
        return client.messages.with_raw_response.create(
            model="sim-medium", max_tokens=800, tools=[tool],
            messages=[{"role": "user", "content": "look it up"}],
        )  # fmt: skip

    with pytest.raises(anthropic.RateLimitError):
        search(stack.enter_context(_anthropic(sidecar, _key(sidecar, "k-free-search-cap"))))
    assert tenant_spent(sidecar, "k-free-search-cap") == 0.0
    client = stack.enter_context(_anthropic(sidecar, _key(sidecar, "k-free-search")))
    said, moved = _spent_by(
        sidecar, "k-free-search", lambda: search(client).headers["x-arbiter-cost-usd"]
    )
    want = ANTHROPIC_COST + 0.01 * UNBOUNDED_SEARCHES
    assert said == pytest.approx(want, rel=1e-6)
    assert moved == pytest.approx(want, rel=1e-6)


def _search_preview(client: openai.OpenAI, max_tokens: int) -> Any:
    return client.chat.completions.with_raw_response.create(
        model="sim-tiny", max_tokens=max_tokens, web_search_options={},
        messages=[{"role": "user", "content": "what is new"}],
    )  # fmt: skip


def test_web_search_options_fee_reserved_and_billed(sidecar: Sidecar) -> None:
    """OpenAI's `web_search_options` bills a fee per call ($25 per 1,000 on its search-preview
    models) that its usage does not count: reserved (a $0.02 cap has no room for a $0.025
    fee) and billed at `price_search_call_usd` beside the tokens (found billed the tokens
    alone, $0.00012 for a $0.02512 call)."""
    with (
        _openai(sidecar, _key(sidecar, "k-search-fee-cap")) as client,
        pytest.raises(openai.RateLimitError),
    ):
        _search_preview(client, 100)
    assert tenant_spent(sidecar, "k-search-fee-cap") == 0.0
    with _openai(sidecar, _key(sidecar, "k-search-fee")) as client:
        said, moved = _spent_by(
            sidecar, "k-search-fee",
            lambda: _search_preview(client, 200).headers["x-arbiter-cost-usd"],
        )  # fmt: skip
    want = _usd(1000 * TINY[0] + 100 * TINY[1]) + 0.025
    assert said == pytest.approx(want, rel=1e-6)
    assert moved == pytest.approx(want, rel=1e-6)


def _candidate_costs(s: Sidecar, decision: str) -> dict[str, float]:
    row = s.admin("GET", f"/arbiter/decisions/{decision}").json()
    return {c["model"]: float(c["est_cost_usd"]) for c in row["candidates"]}


def test_routing_estimate_prices_fast_mode_and_audio(sidecar: Sidecar) -> None:
    """`auto`'s estimate of each model (the router ranks by it, the cascade's escalation reads
    it) is its bill's: a priority request at the model's fast multiple (2 on an OpenAI
    upstream), spoken output at the audio output price (sim-voice: 8x its text's); found
    priced at the standard text prices, the same as the plain request's."""
    key = _key(sidecar, "k-route-est")
    msgs: list[Any] = [{"role": "user", "content": "estimate me"}]
    with _openai(sidecar, key) as client:

        def decided(**extra: Any) -> dict[str, float]:
            r = client.chat.completions.with_raw_response.create(
                model="auto",
                max_tokens=100,
                messages=msgs,
                **extra,
                extra_headers={"cache-control": "no-store"},  # each one routed
            )
            return _candidate_costs(sidecar, r.headers["x-arbiter-decision-id"])

        plain = decided()
        fast = decided(service_tier="priority")
        spoken = decided(modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"})
    assert fast["sim-tier"] == pytest.approx(2 * plain["sim-tier"], rel=1e-3)
    assert fast["sim-medium"] == pytest.approx(6 * plain["sim-medium"], rel=1e-3)
    # the same prompt and output estimate, the output at $80 per 1M instead of $10
    out = (spoken["sim-voice"] - plain["sim-voice"]) / (VOICE[3] - VOICE[1])
    assert out > 0
    assert plain["sim-voice"] - out * VOICE[1] == pytest.approx(
        spoken["sim-voice"] - out * VOICE[3], rel=1e-3
    )


def _heavy_search(client: anthropic.Anthropic) -> Any:
    return client.messages.with_raw_response.create(
        model="sim-wide", max_tokens=800, tools=[_searching(1)],
        messages=[{"role": "user", "content": "one heavy search"}],
    )  # fmt: skip


def test_one_search_on_a_dollar_key_held_at_what_it_can_read(
    sidecar: Sidecar, stack: ExitStack
) -> None:
    """One search on a 200K-window model at $5/M: the loop's second read holds the prompt,
    the output limit and the search's results (`web_search_result_tokens`, 20,000), ~$0.13,
    not the whole window ($1.0355, so a $1 key was refused a call that costs $0.13)."""
    client = stack.enter_context(_anthropic(sidecar, _key(sidecar, "k-dollar")))
    said, moved = _spent_by(
        sidecar, "k-dollar", lambda: _heavy_search(client).headers["x-arbiter-cost-usd"]
    )
    assert said == pytest.approx(HEAVY_SEARCH_COST, rel=1e-6)
    assert moved == pytest.approx(HEAVY_SEARCH_COST, rel=1e-6)


def test_a_burst_of_searches_passes_a_cap_by_at_most_one_worst_case(
    sidecar: Sidecar, stack: ExitStack
) -> None:
    """8 concurrent single-search calls ($0.1315 each, held ~$0.135) on a $0.5 cap: those
    that find no room are refused (429), and the spend passes the cap by less than one
    call's worst case however they interleave."""
    client = stack.enter_context(_anthropic(sidecar, _key(sidecar, "k-burst")))

    def one(_: int) -> str:
        try:
            return _heavy_search(client).headers["x-arbiter-cost-usd"]
        except anthropic.RateLimitError:
            return "refused"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(one, range(8)))
    answered = [float(o) for o in outcomes if o != "refused"]
    assert answered and len(answered) < 8, outcomes
    assert all(c == pytest.approx(HEAVY_SEARCH_COST, rel=1e-6) for c in answered)
    spent = tenant_spent(sidecar, "k-burst")
    assert spent == pytest.approx(sum(answered), rel=1e-6)
    worst = _usd(2 * 200 + 800 + 20_000) * WIDE[0] + _usd(800 * WIDE[1]) + 0.01  # generous P
    assert spent <= 0.5 + worst


def test_code_execution_billed_a_container_session(sidecar: Sidecar, stack: ExitStack) -> None:
    """Anthropic bills code execution by container time ($0.05 an hour, 5 minutes at the
    least), which its usage does not report: a call offered the tool is billed
    `code_execution_minutes` (5) of it beside the tokens (found: tokens alone)."""
    client = stack.enter_context(_anthropic(sidecar, _key(sidecar, "k-code")))

    def call() -> str:
        r = client.beta.messages.with_raw_response.create(
            model="sim-medium", max_tokens=800, betas=["code-execution-2025-08-25"],
            tools=[{"type": "code_execution_20250825", "name": "code_execution"}],
            messages=[{"role": "user", "content": "compute it"}],
        )  # fmt: skip
        return r.headers["x-arbiter-cost-usd"]

    said, moved = _spent_by(sidecar, "k-code", call)
    want = ANTHROPIC_COST + 0.05 * 5 / 60
    assert said == pytest.approx(want, rel=1e-6)
    assert moved == pytest.approx(want, rel=1e-6)
