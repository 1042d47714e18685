"""Anthropic-protocol models in the simulator: /v1/messages with the official `anthropic` SDK,
Anthropic's errors and stream framing, and the same simulation (reply, usage, billing, stats)
as the OpenAI path for the same prompts and seed."""

from __future__ import annotations

import asyncio
import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pydantic
import pytest
from anthropic.types import Message, RawMessageStreamEvent

from arbiter.config import FailoverSettings, ModelSettings, UpstreamSettings
from arbiter.errors import ConfigError, UpstreamError, UpstreamRateLimited, UpstreamUnavailable
from arbiter.offline.demo import (
    ANTHROPIC_TIERS,
    ANTHROPIC_UPSTREAM,
    API_KEY_ENV,
    demo_config,
    protocols,
    render,
    sim_config,
)
from arbiter.offline.sim import SimServer, sim_running
from arbiter.offline.sim.config import SimConfig, parse_config
from arbiter.offline.workload import make_workload
from arbiter.upstream.anthropic import AnthropicUpstream

from .helpers import ALL_GOOD, fast_config, fast_model

KEY = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}
BOTH = {**KEY, "authorization": "Bearer test-key"}  # the OpenAI path wants a Bearer token
HELLO = [{"role": "user", "content": "Hello there, how are you today?"}]
MATH = [{"role": "user", "content": "What is 12 * 7?"}]
_EVENT = pydantic.TypeAdapter(RawMessageStreamEvent)


def _event(data: str) -> RawMessageStreamEvent | None:
    """One stream event validated by the SDK's own type; None for a ping, which that union
    leaves out (the SDK skips pings)."""
    payload = json.loads(data)
    if payload == {"type": "ping"}:
        return None
    return _EVENT.validate_python(payload)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    config = fast_config(
        {
            "claude": fast_model(protocol="anthropic", quality=ALL_GOOD, chars_per_chunk=8),
            "gpt": fast_model(quality=ALL_GOOD),
        }
    )
    with SimServer(config) as server:
        yield server


@pytest.fixture
def sdk(sim: SimServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=sim.root_url, api_key="test-key", max_retries=0) as c:
        yield c


@pytest.fixture
def client(sim: SimServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.root_url, headers=KEY, timeout=10) as c:
        yield c


def _anthropic_body(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """An OpenAI-style conversation as an Anthropic body (system messages -> `system`)."""
    system = "\n".join(m["content"] for m in messages if m["role"] == "system")
    body: dict[str, Any] = {"max_tokens": 4096, **extra}
    body["messages"] = [m for m in messages if m["role"] != "system"]
    if system:
        body["system"] = system
    return body


def _frames(r: httpx.Response) -> list[tuple[str, str]]:
    """(event name, data payload) of each SSE frame of a whole body."""
    out = []
    for frame in r.text.split("\n\n"):
        lines = frame.splitlines()
        name = next((x[len("event: ") :] for x in lines if x.startswith("event: ")), "")
        data = next((x[len("data: ") :] for x in lines if x.startswith("data: ")), "")
        if name or data:
            out.append((name, data))
    return out


# -- the wire: JSON, SSE, count_tokens, models -------------------------------------------------


def test_create_returns_a_valid_message(client: httpx.Client, sdk: anthropic.Anthropic) -> None:
    for item in make_workload(20, seed=3):
        r = client.post("/v1/messages", json=_anthropic_body(item.messages, model="claude"))
        assert r.status_code == 200, r.text
        message = Message.model_validate(r.json())
        assert message.type == "message" and message.role == "assistant"
        assert message.model == "claude" and message.id.startswith("msg_")
        assert [b.type for b in message.content] == ["text"]
        assert message.stop_reason in ("end_turn", "max_tokens")
        text = message.content[0].text
        assert message.usage.output_tokens == -(-len(text) // 4)
        assert message.usage.input_tokens == sum(-(-len(m["content"]) // 4) for m in item.messages)
    answer = sdk.messages.create(model="claude", max_tokens=100, messages=MATH)
    assert answer.content[0].text.endswith("Answer: 84")


def test_stream_events_validate_and_sdk_assembles_them(
    client: httpx.Client, sdk: anthropic.Anthropic
) -> None:
    body = {"model": "claude", "max_tokens": 1000, "messages": HELLO, "stream": True}
    with client.stream("POST", "/v1/messages", json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        r.read()
    frames = _frames(r)
    assert [name for name, _ in frames][:2] == ["message_start", "ping"]
    events = [e for _, data in frames if (e := _event(data)) is not None]
    assert [name for name, _ in frames if name != "ping"] == [e.type for e in events]
    kinds = [e.type for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[2:-3]) == {"content_block_delta"} and len(kinds[2:-3]) >= 3
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    delta = events[-2]
    assert delta.type == "message_delta" and delta.delta.stop_reason == "end_turn"
    assert delta.usage.output_tokens == -(-len(text) // 4)
    start = events[0]
    assert start.type == "message_start" and start.message.usage.input_tokens == 8

    with sdk.messages.stream(model="claude", max_tokens=1000, messages=HELLO) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    Message.model_validate(final.model_dump())
    assert final.content[0].text == streamed and final.stop_reason == "end_turn"
    assert final.usage.output_tokens == -(-len(streamed) // 4)


def test_count_tokens_is_what_the_request_is_billed(sdk: anthropic.Anthropic) -> None:
    kwargs: dict[str, Any] = {"model": "claude", "system": "Be brief.", "messages": MATH}
    counted = sdk.messages.count_tokens(**kwargs)
    answer = sdk.messages.create(max_tokens=100, **kwargs)
    assert counted.input_tokens == answer.usage.input_tokens == 3 + 4


def test_stop_sequences_and_max_tokens_set_the_stop_reason(sdk: anthropic.Anthropic) -> None:
    stopped = sdk.messages.create(
        model="claude",
        max_tokens=100,
        messages=MATH,
        stop_sequences=["Answer:"],
    )
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "Answer:"
    text = stopped.content[0].text
    assert "Answer" not in text and text.startswith("Let's work")
    assert stopped.usage.output_tokens == -(-len(text) // 4)
    cut = sdk.messages.create(model="claude", max_tokens=3, messages=HELLO)
    assert cut.stop_reason == "max_tokens" and cut.stop_sequence is None
    assert cut.usage.output_tokens == 3


def test_openai_path_honours_stop_too(sim: SimServer) -> None:
    with openai.OpenAI(base_url=sim.base_url, api_key="k", max_retries=0) as oa:
        done = oa.chat.completions.create(model="gpt", messages=MATH, stop=["Answer:"])
    assert done.choices[0].finish_reason == "stop"
    assert "Answer" not in (done.choices[0].message.content or "")


def test_models_are_listed_per_protocol(sim: SimServer, sdk: anthropic.Anthropic) -> None:
    assert [m.id for m in sdk.models.list()] == ["claude"]
    with openai.OpenAI(base_url=sim.base_url, api_key="k", max_retries=0) as oa:
        assert [m.id for m in oa.models.list()] == ["gpt"]


def test_tools_are_accepted_but_answered_in_text(sdk: anthropic.Anthropic) -> None:
    """The simulated models never call tools (neither protocol does); a tool round trip in the
    history is still a valid request and gets a text answer."""
    weather = {"name": "weather", "input_schema": {"type": "object", "properties": {}}}
    history: list[Any] = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny, 21 C"}]},
    ]  # fmt: skip
    answer = sdk.messages.create(model="claude", max_tokens=200, messages=history, tools=[weather])
    assert answer.stop_reason == "end_turn" and [b.type for b in answer.content] == ["text"]


def test_async_sdk_against_sim_running() -> None:
    config = fast_config({"claude": fast_model(protocol="anthropic")})

    async def go() -> tuple[Message, Message]:
        async with sim_running(config) as sim:
            client = anthropic.AsyncAnthropic(base_url=sim.root_url, api_key="k", max_retries=0)
            async with client:
                made = await client.messages.create(model="claude", max_tokens=50, messages=HELLO)
                async with client.messages.stream(
                    model="claude",
                    max_tokens=50,
                    messages=HELLO,
                ) as stream:
                    final = await stream.get_final_message()
        return made, final

    made, final = asyncio.run(go())
    for message in (made, final):
        Message.model_validate(message.model_dump())
        assert message.stop_reason in ("end_turn", "max_tokens")


# -- errors ------------------------------------------------------------------------------------


def _error_type(exc: anthropic.APIStatusError) -> str:
    body = exc.response.json()
    assert body["type"] == "error" and isinstance(body["error"]["message"], str)
    return str(body["error"]["type"])


def test_wrong_endpoint_and_unknown_model_are_404_in_the_endpoints_shape(
    sim: SimServer, sdk: anthropic.Anthropic
) -> None:
    before = sim.state.stats_json()["total_requests"]
    for model in ("gpt", "nope"):  # an OpenAI-protocol model, and no model at all
        with pytest.raises(anthropic.NotFoundError) as caught:
            sdk.messages.create(model=model, max_tokens=10, messages=HELLO)
        assert _error_type(caught.value) == "not_found_error"
        with pytest.raises(anthropic.NotFoundError):
            sdk.messages.count_tokens(model=model, messages=HELLO)
    oa = openai.OpenAI(base_url=sim.base_url, api_key="k", max_retries=0)
    with oa, pytest.raises(openai.NotFoundError) as wrong:
        oa.chat.completions.create(model="claude", messages=HELLO)
    assert wrong.value.code == "model_not_found"
    assert sim.state.stats_json()["total_requests"] == before  # none reached a model


def test_auth_takes_x_api_key_or_bearer(sim: SimServer) -> None:
    body = {"model": "claude", "max_tokens": 10, "messages": HELLO}
    url = sim.root_url + "/v1/messages"
    none = httpx.post(url, json=body, headers={"anthropic-version": "2023-06-01"})
    assert none.status_code == 401 and none.json()["error"]["type"] == "authentication_error"
    assert httpx.post(url, json=body, headers={"x-api-key": "k"}).status_code == 200
    assert httpx.post(url, json=body, headers={"authorization": "Bearer k"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": "claude", "messages": HELLO}, "max_tokens"),
        ({"model": "claude", "max_tokens": 10, "messages": [
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]}]},
         "tool_use_id"),
        ({"model": "claude", "max_tokens": 10, "messages": [
            {"role": "user", "content": [{"type": "audio", "data": "x"}]}]}, "type"),
        ({"model": "claude", "max_tokens": 10, "messages": []}, "messages"),
    ],
)  # fmt: skip
def test_bad_requests_are_anthropic_400s(
    client: httpx.Client, body: dict[str, Any], fragment: str
) -> None:
    r = client.post("/v1/messages", json=body)
    assert r.status_code == 400
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
    assert fragment in r.json()["error"]["message"]
    garbage = client.post("/v1/messages", content=b"{not json")
    assert garbage.status_code == 400


def _flaky(**failures: Any) -> SimConfig:
    return fast_config({"claude": fast_model(protocol="anthropic", failures=failures)}, hang_s=0.05)


def test_429_is_a_rate_limit_error_with_retry_after() -> None:
    with SimServer(_flaky(error_429=1.0)) as sim:
        sdk = anthropic.Anthropic(base_url=sim.root_url, api_key="k", max_retries=0)
        with pytest.raises(anthropic.RateLimitError) as caught:
            sdk.messages.create(model="claude", max_tokens=10, messages=HELLO)
        assert _error_type(caught.value) == "rate_limit_error"
        assert caught.value.response.headers["retry-after"] == "1"
        assert sim.state.stats["claude"].failures["error_429"] == 1


def test_5xx_are_api_error_500_or_overloaded_529_and_down_is_529() -> None:
    with SimServer(_flaky(error_5xx=1.0, timeout=0.0)) as sim:
        sdk = anthropic.Anthropic(base_url=sim.root_url, api_key="k", max_retries=0)
        seen: dict[int, str] = {}
        for i in range(30):
            with pytest.raises(anthropic.InternalServerError) as caught:
                ask = [{"role": "user", "content": f"fact {i}"}]
                sdk.messages.create(model="claude", max_tokens=10, messages=ask)
            seen[caught.value.status_code] = _error_type(caught.value)
        assert seen == {500: "api_error", 529: "overloaded_error"}
        httpx.post(sim.root_url + "/_sim/control", json={"model": "claude", "down": True})
        with pytest.raises(anthropic.OverloadedError) as down:
            sdk.messages.create(model="claude", max_tokens=10, messages=HELLO)
        assert _error_type(down.value) == "overloaded_error"


def test_timeout_is_a_504_timeout_error() -> None:
    with SimServer(_flaky(timeout=1.0)) as sim:
        r = httpx.post(sim.root_url + "/v1/messages", headers=KEY,
                       json={"model": "claude", "max_tokens": 10, "messages": HELLO})  # fmt: skip
    assert r.status_code == 504 and r.json()["error"]["type"] == "timeout_error"


def test_malformed_answer_is_not_a_message() -> None:
    with SimServer(_flaky(malformed=1.0)) as sim, httpx.Client(headers=KEY) as http:
        for i in range(6):
            r = http.post(sim.root_url + "/v1/messages", json={
                "model": "claude", "max_tokens": 100,
                "messages": [{"role": "user", "content": f"fact {i}"}]})  # fmt: skip
            assert r.status_code == 200
            with pytest.raises((json.JSONDecodeError, pydantic.ValidationError)):
                Message.model_validate(json.loads(r.text))
        assert sim.state.stats["claude"].failures["malformed"] == 6


# -- stream faults in Anthropic framing --------------------------------------------------------


def _stream_raw(sim: SimServer, body: dict[str, Any]) -> tuple[list[tuple[str, str]], bool]:
    """The frames received, and whether the connection ended cleanly."""
    chunks: list[bytes] = []
    clean = True
    with httpx.Client(headers=KEY, timeout=10) as http:
        try:
            with http.stream("POST", sim.root_url + "/v1/messages", json=body) as r:
                for chunk in r.iter_raw():
                    chunks.append(chunk)
        except httpx.RemoteProtocolError:
            clean = False
    return _frames(httpx.Response(200, content=b"".join(chunks))), clean


STREAM = {"model": "claude", "max_tokens": 1000, "messages": HELLO, "stream": True}


def test_cut_stream_never_ends_with_message_stop() -> None:
    with SimServer(_flaky(stream_cut=1.0, stream_cut_after=2)) as sim:
        frames, clean = _stream_raw(sim, STREAM)
        assert not clean
        assert [name for name, _ in frames] == [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
        ]
        sdk = anthropic.Anthropic(base_url=sim.root_url, api_key="k", max_retries=0)
        # this SDK lets its transport's error through when a stream is cut mid-body
        cut = (anthropic.APIConnectionError, httpx2.RemoteProtocolError)
        with (
            pytest.raises(cut),
            sdk.messages.stream(model="claude", max_tokens=1000, messages=HELLO) as stream,
        ):
            stream.get_final_message()
        stats = sim.state.stats["claude"]
        assert stats.failures["stream_cut"] == 2 and stats.ok == 0


def test_malformed_event_is_one_bad_delta() -> None:
    with SimServer(_flaky(malformed_chunk=1.0)) as sim:
        frames, clean = _stream_raw(sim, STREAM)
        assert clean and frames[-1][0] == "message_stop"
        bad = []
        for name, data in frames:
            try:
                _event(data)
            except json.JSONDecodeError:
                bad.append(name)
        assert bad == ["content_block_delta"]
        assert sim.state.stats["claude"].failures["malformed_chunk"] == 1


def test_stall_and_trickle_still_end_properly() -> None:
    config = _flaky(stall=1.0, stall_ms=1, trickle=1.0, trickle_ms=1)
    with SimServer(config) as sim:
        frames, clean = _stream_raw(sim, STREAM)
        assert clean and frames[-1][0] == "message_stop"
        for _, data in frames:
            _event(data)
        failures = sim.state.stats["claude"].failures
        assert failures["stall"] == failures["trickle"] == 1


# -- the same simulation as the OpenAI path ----------------------------------------------------


def _pool(protocol: str) -> SimConfig:
    failures = {"error_5xx": 0.1, "error_429": 0.1}
    return fast_config({"m": fast_model(protocol=protocol, report_cost="both",
                                        reported_price_factor=1.1, failures=failures)})  # fmt: skip


def test_same_seed_same_replies_usage_and_billing_on_both_protocols() -> None:
    items = make_workload(40, seed=5)
    openai_side: list[Any] = []
    anthropic_side: list[Any] = []
    reasons: set[str] = set()
    with SimServer(_pool("openai")) as sim, httpx.Client(headers=BOTH, timeout=10) as http:
        for i, item in enumerate(items):
            body: dict[str, Any] = {"model": "m", "messages": item.messages, "max_tokens": 60}
            if i % 3 == 0:
                body["stop"] = ["Answer:"]
            r = http.post(sim.base_url + "/chat/completions", json=body)
            if r.status_code != 200:
                openai_side.append(r.status_code)
                continue
            data, choice = r.json(), r.json()["choices"][0]
            finish = {"stop": "end_turn", "length": "max_tokens"}[choice["finish_reason"]]
            usage = data["usage"]
            openai_side.append((choice["message"]["content"], finish,
                                (usage["prompt_tokens"], usage["completion_tokens"], usage["cost"]),
                                r.headers["x-upstream-cost-usd"]))  # fmt: skip
        openai_stats = sim.state.stats_json()
    with SimServer(_pool("anthropic")) as sim, httpx.Client(headers=KEY, timeout=10) as http:
        for i, item in enumerate(items):
            extra = {"stop_sequences": ["Answer:"]} if i % 3 == 0 else {}
            body = _anthropic_body(item.messages, model="m", max_tokens=60, **extra)
            r = http.post(sim.root_url + "/v1/messages", json=body)
            if r.status_code != 200:
                anthropic_side.append(429 if r.status_code == 429 else "5xx")
                continue
            message = Message.model_validate(r.json())
            reasons.add(str(message.stop_reason))
            reason = "end_turn" if message.stop_reason == "stop_sequence" else message.stop_reason
            cost = r.json()["usage"]["cost"]
            anthropic_side.append((message.content[0].text, reason,
                                   (message.usage.input_tokens, message.usage.output_tokens, cost),
                                   r.headers["x-upstream-cost-usd"]))  # fmt: skip
        anthropic_stats = sim.state.stats_json()
    openai_side = [s if not isinstance(s, int) or s == 429 else "5xx" for s in openai_side]
    assert anthropic_side == openai_side
    assert 429 in openai_side and "5xx" in openai_side  # the failures line up too
    assert reasons == {"end_turn", "max_tokens", "stop_sequence"}
    assert anthropic_stats == openai_stats


def test_same_seed_same_stream_on_both_protocols() -> None:
    with SimServer(_pool("openai")) as sim, httpx.Client(headers=BOTH, timeout=10) as http:
        body = {"model": "m", "messages": HELLO, "stream": True,
                "stream_options": {"include_usage": True}}  # fmt: skip
        with http.stream("POST", sim.base_url + "/chat/completions", json=body) as r:
            r.read()
        chunks = [json.loads(d) for _, d in _frames(r) if d != "[DONE]"]
        openai_text = "".join(c["choices"][0]["delta"].get("content", "")
                              for c in chunks if c["choices"])  # fmt: skip
        openai_usage = chunks[-1]["usage"]["completion_tokens"]
        openai_stats = sim.state.stats_json()
    with (
        SimServer(_pool("anthropic")) as sim,
        anthropic.Anthropic(base_url=sim.root_url, api_key="k", max_retries=0) as sdk,
        sdk.messages.stream(model="m", max_tokens=4096, messages=HELLO) as stream,
    ):
        final = stream.get_final_message()
        anthropic_stats = sim.state.stats_json()
    assert final.content[0].text == openai_text
    assert final.usage.output_tokens == openai_usage
    assert anthropic_stats == openai_stats


# -- config --------------------------------------------------------------------------------------


def test_protocol_is_parsed_strictly() -> None:
    assert parse_config({"models": {"a": {}}}).models["a"].protocol == "openai"
    assert parse_config({"models": {"a": {"protocol": "anthropic"}}}).models["a"].protocol == (
        "anthropic"
    )
    with pytest.raises(ConfigError, match="protocol"):
        parse_config({"models": {"a": {"protocol": "claude"}}})


# -- the demo pool -----------------------------------------------------------------------------


def test_demo_pool_serves_its_anthropic_tiers_over_messages() -> None:
    assert all(
        m.protocol == "openai" for m in parse_config(tomllib.loads(sim_config())).models.values()
    )
    config = parse_config(tomllib.loads(sim_config(ANTHROPIC_TIERS)))
    served = {name: m.protocol for name, m in config.models.items()}
    assert served == {
        **dict.fromkeys(served, "openai"),
        **dict.fromkeys(ANTHROPIC_TIERS, "anthropic"),
    }
    with (
        SimServer(config) as sim,
        anthropic.Anthropic(base_url=sim.root_url, api_key="k", max_retries=0) as sdk,
    ):
        assert [m.id for m in sdk.models.list()] == list(ANTHROPIC_TIERS)
        for tier in ANTHROPIC_TIERS:
            answer = sdk.messages.create(model=tier, max_tokens=200, messages=HELLO)
            Message.model_validate(answer.model_dump())
        with openai.OpenAI(base_url=sim.base_url, api_key="k", max_retries=0) as oa:
            assert "sim-tiny" in [m.id for m in oa.models.list()]
            oa.chat.completions.create(model="sim-tiny", messages=HELLO)


def test_demo_config_puts_anthropic_tiers_on_an_anthropic_upstream(tmp_path: Path) -> None:
    sim_url = "http://127.0.0.1:9/v1"
    today = tomllib.loads(demo_config(sim_url, tmp_path / "a.db"))
    assert set(today["upstreams"]) == {"sim"}
    assert {m["upstream"] for m in today["models"].values()} == {"sim"}
    mixed = tomllib.loads(demo_config(sim_url, tmp_path / "a.db", anthropic_models=ANTHROPIC_TIERS))
    assert mixed["upstreams"][ANTHROPIC_UPSTREAM] == {
        "base_url": "http://127.0.0.1:9", "protocol": "anthropic", "api_key_env": API_KEY_ENV,
    }  # fmt: skip
    for name, model in mixed["models"].items():
        assert model["upstream"] == (ANTHROPIC_UPSTREAM if name in ANTHROPIC_TIERS else "sim")


def test_demo_table_names_each_models_api() -> None:
    part = {"requests": 2, "cost_usd": 0.0, "baseline_cost_usd": 1.0, "savings_pct": 100.0,
            "quality": 1.0, "baseline_quality": 1.0, "quality_ratio": 1.0}  # fmt: skip
    result = {**part, "second_half": part, "baseline_model": "sim-premium",
              "by_model_task": {"sim-medium": {"chat": 1}, "sim-tiny": {"chat": 1}},
              "protocols": protocols(ANTHROPIC_TIERS)}  # fmt: skip
    rows = {line.split()[0]: line.split()[1] for line in render(result).splitlines()[3:5]}
    assert rows == {"sim-medium": "anthropic", "sim-tiny": "openai"}


# -- the sidecar's Anthropic provider reads the sim (no mock: the real provider, the real sim) ----


def _provider_run(failures: dict[str, Any], stream: bool) -> tuple[Any, Any]:
    """(what the provider returned or raised, the sim's stats for the model)."""
    config = fast_config({"claude": fast_model(protocol="anthropic", report_cost="header",
                                               chars_per_chunk=8, failures=failures)})  # fmt: skip
    body = {"max_tokens": 500, "messages": HELLO}
    model = ModelSettings("claude", "sim", 1.0, 2.0)

    async def go() -> tuple[Any, Any]:
        async with sim_running(config) as sim:
            upstream = AnthropicUpstream(
                UpstreamSettings("sim", sim.root_url, api_key="k"), FailoverSettings()
            )
            try:
                if not stream:
                    return await upstream.complete(body, model), sim.state.stats_json()
                opened = await upstream.open_stream(body, model)
                frames = [frame async for frame in opened.events()]
                await opened.aclose()
                return (frames, opened), sim.state.stats_json()
            except UpstreamError as err:
                return err, sim.state.stats_json()
            finally:
                await upstream.aclose()

    return asyncio.run(go())


def test_sidecar_provider_reads_answers_usage_and_cost() -> None:
    result, stats = _provider_run({}, stream=False)
    claude = stats["models"]["claude"]
    assert result.content and result.finish_reason == "stop"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (
        claude["prompt_tokens"], claude["completion_tokens"])  # fmt: skip
    assert result.usage.reported_cost_usd == pytest.approx(claude["true_cost_usd"])
    (frames, opened), stats = _provider_run({}, stream=True)
    claude = stats["models"]["claude"]
    assert opened.done and frames[-1].startswith(b"event: message_stop")
    assert opened.usage.completion_tokens == claude["completion_tokens"]
    assert opened.usage.prompt_tokens == claude["prompt_tokens"]


@pytest.mark.parametrize(
    ("failures", "stream", "error", "retry_after"),
    [
        ({"error_429": 1.0}, False, UpstreamRateLimited, 1.0),
        ({"error_5xx": 1.0}, False, UpstreamUnavailable, None),
        ({"error_5xx": 1.0}, True, UpstreamUnavailable, None),
        ({"malformed": 1.0}, False, UpstreamError, None),
        ({"malformed_chunk": 1.0}, True, UpstreamError, None),
        ({"stream_cut": 1.0, "stream_cut_after": 3}, True, UpstreamError, None),
    ],
)
def test_sidecar_provider_classifies_the_sims_failures(
    failures: dict[str, Any], stream: bool, error: type[UpstreamError], retry_after: float | None
) -> None:
    result, _ = _provider_run(failures, stream)
    assert isinstance(result, error)
    assert result.retry_after_s == retry_after


# -- prompt caching ------------------------------------------------------------------------------


def test_cache_control_prefix_is_written_then_read_and_billed_at_cache_prices() -> None:
    manual = "You answer questions about this manual. " * 40  # 1600 chars: 400 tokens
    system = [{"type": "text", "text": manual, "cache_control": {"type": "ephemeral"}}]
    config = fast_config({"claude": fast_model(protocol="anthropic", price_in_per_mtok=10.0,
                                               price_out_per_mtok=0.0)})  # fmt: skip
    with SimServer(config) as sim:
        sdk = anthropic.Anthropic(base_url=sim.root_url, api_key="k", max_retries=0)
        first = sdk.messages.create(model="claude", max_tokens=50, system=system, messages=HELLO)
        second = sdk.messages.create(model="claude", max_tokens=50, system=system, messages=MATH)
        with sdk.messages.stream(
            model="claude", max_tokens=50, system=system, messages=HELLO
        ) as stream:
            streamed = stream.get_final_message()
        plain = sdk.messages.create(model="claude", max_tokens=50, system=manual, messages=HELLO)
        stats = sim.state.stats["claude"]
    assert (first.usage.cache_creation_input_tokens, first.usage.cache_read_input_tokens) == (
        400,
        0,
    )
    assert first.usage.input_tokens == 8  # the uncached rest: HELLO
    assert (second.usage.cache_creation_input_tokens, second.usage.cache_read_input_tokens) == (
        0, 400)  # fmt: skip
    assert second.usage.input_tokens == 4  # MATH
    assert streamed.usage.cache_read_input_tokens == 400 and streamed.usage.input_tokens == 8
    assert plain.usage.cache_read_input_tokens == plain.usage.cache_creation_input_tokens == 0
    assert plain.usage.input_tokens == 408
    assert (stats.cache_write_tokens, stats.cache_read_tokens) == (400, 800)
    assert stats.prompt_tokens == 408 + 404 + 408 + 408  # all input, cached or not
    uncached = 8 + 4 + 8 + 408
    expected = (uncached + 400 * 1.25 + 800 * 0.1) * 10.0 / 1e6
    assert stats.true_cost_usd == pytest.approx(expected)


def test_cache_breakpoint_in_a_message_and_reset_empties_the_cache() -> None:
    history = [
        {"role": "user", "content": [{"type": "text", "text": "x" * 400,
                                      "cache_control": {"type": "ephemeral"}}]},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "Now summarise it."},
    ]  # fmt: skip
    with SimServer(fast_config({"claude": fast_model(protocol="anthropic")})) as sim:
        sdk = anthropic.Anthropic(base_url=sim.root_url, api_key="k", max_retries=0)
        ask = {"model": "claude", "max_tokens": 50, "messages": history}
        assert sdk.messages.create(**ask).usage.cache_creation_input_tokens == 100
        assert sdk.messages.create(**ask).usage.cache_read_input_tokens == 100
        httpx.post(sim.root_url + "/_sim/reset")
        assert sdk.messages.create(**ask).usage.cache_creation_input_tokens == 100


def test_sidecar_provider_reads_cache_usage() -> None:
    system = [{"type": "text", "text": "y" * 800, "cache_control": {"type": "ephemeral"}}]
    body = {"max_tokens": 50, "system": system, "messages": HELLO}
    model = ModelSettings("claude", "sim", 1.0, 2.0)

    async def go() -> list[Any]:
        async with sim_running(fast_config({"claude": fast_model(protocol="anthropic")})) as sim:
            upstream = AnthropicUpstream(
                UpstreamSettings("sim", sim.root_url, api_key="k"), FailoverSettings()
            )
            try:
                return [(await upstream.complete(body, model)).usage for _ in range(2)]
            finally:
                await upstream.aclose()

    first, second = asyncio.run(go())
    assert (first.prompt_tokens, first.cache_write_tokens, first.cache_read_tokens) == (208, 200, 0)
    assert (second.prompt_tokens, second.cache_write_tokens, second.cache_read_tokens) == (
        208, 0, 200)  # fmt: skip
