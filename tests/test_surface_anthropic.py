"""Anthropic at both edges, in process: the official `anthropic` SDK on /v1/messages (routed, by
name to an Anthropic-protocol model, by name to an OpenAI-protocol one), the official `openai` SDK
routed onto a Claude-protocol model and back, and a stream cut after content in either direction
(what the surface refuses: test_surface_anthropic_refusals.py). Every answer and stream event is
validated against the SDK's own types (tests/sdk_clients.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from tests.adversarial.test_probe5_image_data import _vision
from tests.inproc import (
    ANTHROPIC_VERSION,
    InProcess,
    recorded_decision,
    run_with_claude,
    sidecar_in_process,
)
from tests.sdk_clients import (
    ARBITER_HEADERS,
    STREAM_HEADERS,
    anthropic_events,
    check_anthropic_error,
    check_completion,
    check_message,
    openai_chunks,
    sdks,
    sim_requests,
)

CLAUDE = "sim-medium"  # served over Anthropic's API (ANTHROPIC_TIERS)
GPT = "sim-small"  # served over OpenAI's
USER = [{"role": "user", "content": "Summarize in two sentences: the tide rises and falls."}]
THINKING = {"type": "enabled", "budget_tokens": 1024}
DOCUMENT = {
    "type": "document",
    "source": {"type": "text", "media_type": "text/plain", "data": "The tide rises."},
}


def run(tmp_path: Path, body: Callable[[InProcess], Awaitable[None]], **kw: Any) -> None:
    run_with_claude(tmp_path, body, **kw)


decision = recorded_decision


# -- the anthropic SDK ---------------------------------------------------------------------


def test_anthropic_sdk_create_routed_by_name_and_translated(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            for model in ("auto", CLAUDE, GPT):
                raw = await claude.messages.with_raw_response.create(
                    model=model, max_tokens=200, messages=USER,  # type: ignore[arg-type]
                )  # fmt: skip
                for header in ARBITER_HEADERS:
                    assert raw.headers.get(header), (model, header)
                served = raw.headers["x-arbiter-model"]
                if model != "auto":
                    assert served == model
                message = check_message(await raw.read())
                assert (await raw.parse()).id == message.id
                assert message.role == "assistant" and message.content[0].type == "text"
                assert message.content[0].text and message.stop_reason == "end_turn"
                assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
                # an Anthropic-protocol answer is the upstream's own message (the simulator's
                # msg_ id); an OpenAI one is translated (the completion's id kept inside)
                translated = message.id.startswith("msg_chatcmpl-")
                assert translated == (served != CLAUDE), (served, message.id)
                row = await decision(sc, raw.headers["x-arbiter-decision-id"])
                assert row["status"] == "ok" and row["chosen_model"] == served
                assert row["mode"] == ("routed" if model == "auto" else "passthrough")

    run(tmp_path, body)


def test_anthropic_sdk_stream_final_message_and_every_event_valid(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            for model in ("auto", CLAUDE, GPT):
                async with claude.messages.stream(
                    model=model, max_tokens=200, messages=USER,  # type: ignore[arg-type]
                ) as stream:  # fmt: skip
                    text = "".join([t async for t in stream.text_stream])
                    final = await stream.get_final_message()
                final = check_message(final.model_dump_json().encode())
                assert final.content[0].type == "text" and final.content[0].text == text != ""
                assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0
                # the same stream on the wire: every event valid, in Anthropic's order
                r = await sc.client.post(
                    "/v1/messages",
                    json={"model": model, "max_tokens": 200, "messages": USER, "stream": True},
                    headers={"x-api-key": sc.api_key, **ANTHROPIC_VERSION},
                )
                assert r.status_code == 200 and r.headers["content-type"].startswith(
                    "text/event-stream"
                )
                for header in STREAM_HEADERS:
                    assert r.headers.get(header), (model, header)
                kinds = [e["type"] for e in anthropic_events(r.content)]
                assert kinds[0] == "message_start" and kinds[-1] == "message_stop", kinds
                assert kinds.count("message_stop") == 1 and "error" not in kinds
                assert kinds[-2] == "message_delta" and "content_block_delta" in kinds
                assert kinds.count("content_block_start") == kinds.count("content_block_stop")

    run(tmp_path, body)


def test_count_tokens_counts_without_asking_an_upstream(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        before = await sim_requests(sc)
        async with sdks(sc) as (claude, _):
            short = await claude.messages.count_tokens(model="auto", messages=USER)  # type: ignore[arg-type]
            long = await claude.messages.count_tokens(
                model=CLAUDE,
                system="You are terse. " * 50,
                messages=USER,  # type: ignore[arg-type]
            )
        assert 0 < short.input_tokens < long.input_tokens
        # a block OpenAI has no counterpart for is counted too (regression: it was refused)
        doc = await sc.client.post(
            "/v1/messages/count_tokens",
            json={"model": "auto", "messages": [{"role": "user", "content": [DOCUMENT]}]},
            headers=sc.anthropic,
        )
        assert doc.status_code == 200 and doc.json()["input_tokens"] > 0, doc.text
        assert await sim_requests(sc) == before
        bad = await sc.client.post(
            "/v1/messages/count_tokens", json={"model": "auto"}, headers=sc.anthropic
        )
        check_anthropic_error(bad, 400, "invalid_request_error")

    run(tmp_path, body)


PNG = "".join(  # a 1x1 PNG
    (
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA",
        "hKmMIQAAAABJRU5ErkJggg==",
    )
)


def test_anthropic_sdk_image_to_either_protocol(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        image = {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                             "data": PNG}}  # fmt: skip
        turn = [{"role": "user", "content": [image, {"type": "text", "text": "What is this?"}]}]
        async with sdks(sc) as (claude, _):
            for model in (CLAUDE, GPT):
                raw = await claude.messages.with_raw_response.create(
                    model=model, max_tokens=100, messages=turn,  # type: ignore[arg-type]
                )  # fmt: skip
                assert raw.headers["x-arbiter-model"] == model
                assert check_message(await raw.read()).content

    run(tmp_path, body, edit_config=_vision)  # both models named: both must see


# -- the openai SDK onto a Claude-protocol model --------------------------------------------


def test_openai_sdk_onto_a_claude_protocol_model_and_back(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            raw = await gpt.chat.completions.with_raw_response.create(
                model=CLAUDE, messages=USER,  # type: ignore[arg-type]
            )  # fmt: skip
            assert raw.headers["x-arbiter-model"] == CLAUDE
            completion = check_completion(raw.content)
            assert completion.choices[0].message.content
            assert completion.choices[0].finish_reason == "stop"
            assert completion.usage is not None and completion.usage.completion_tokens > 0
            stream = await gpt.chat.completions.create(
                model=CLAUDE,
                messages=USER,  # type: ignore[arg-type]
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = [c async for c in stream]
            assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
            # the wire: each chunk valid by the OpenAI spec, [DONE] last
            r = await sc.client.post(
                "/v1/chat/completions",
                json={"model": CLAUDE, "messages": USER, "stream": True},
                headers=sc.auth,
            )
            assert r.status_code == 200 and r.headers["x-arbiter-model"] == CLAUDE
            wire, done = openai_chunks(r.content)
            assert done and wire[-1]["choices"][0]["finish_reason"] == "stop"
            assert all("error" not in c for c in wire)

    run(tmp_path, body)


def test_openai_sdk_routed_by_auto_lands_on_the_claude_model(tmp_path: Path) -> None:
    """Routing crosses protocols: with the OpenAI models other than the Claude one disabled for
    routing (`no-route`), an OpenAI client's "auto" call is served by the Anthropic upstream."""

    def claude_only(text: str) -> str:
        for name in ("sim-tiny", "sim-small", "sim-premium"):
            i = text.index("capabilities = ", text.index(f"[models.{name}]\n"))
            text = text[:i] + 'capabilities = ["chat", "no-route"]' + text[text.index("\n", i) :]
        return text

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            served = set()
            for i in range(3):
                messages = [{"role": "user", "content": f"Write a Python function #{i}."}]
                raw = await gpt.chat.completions.with_raw_response.create(
                    model="auto", messages=messages,  # type: ignore[arg-type]
                )  # fmt: skip
                check_completion(raw.content)
                served.add(raw.headers["x-arbiter-model"])
                stream = await gpt.chat.completions.create(
                    model="auto", messages=messages, stream=True,  # type: ignore[arg-type]
                )  # fmt: skip
                chunks = [c async for c in stream]
                assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
                assert stream.response.headers["x-arbiter-model"] == CLAUDE
            assert served == {CLAUDE}, served

    run(tmp_path, body, edit_config=claude_only)


def test_a_stream_cut_after_content_ends_with_one_error_event_across_protocols(
    tmp_path: Path,
) -> None:
    """The simulator cuts every stream after two content chunks: an Anthropic client reading an
    OpenAI-protocol model, and an OpenAI client reading the Anthropic-protocol one, each get the
    text so far and then one terminal error event in their own protocol, never an ending."""

    async def body(sc: InProcess) -> None:
        async with httpx.AsyncClient() as c:
            r = await c.post(
                sc.sim.base_url.removesuffix("/v1") + "/_sim/control",
                json={"model": "*", "stream_cut": 1.0, "stream_cut_after": 2},
            )
            assert r.status_code == 200, r.text
        r = await sc.client.post(
            "/v1/messages",
            json={"model": GPT, "max_tokens": 200, "messages": USER, "stream": True},
            headers=sc.anthropic,
        )
        kinds = [e["type"] for e in anthropic_events(r.content)]
        assert "content_block_delta" in kinds and kinds[-1] == "error", kinds
        assert kinds.count("error") == 1 and "message_stop" not in kinds, kinds
        r = await sc.client.post(
            "/v1/chat/completions",
            json={"model": CLAUDE, "messages": USER, "stream": True},
            headers=sc.auth,
        )
        chunks, done = openai_chunks(r.content)
        assert not done and "error" in chunks[-1], chunks
        assert sum("error" in c for c in chunks) == 1
        assert any(c.get("choices") and c["choices"][0]["delta"].get("content") for c in chunks)
        for decision_id in (r.headers["x-arbiter-decision-id"],):
            assert (await decision(sc, decision_id))["status"] == "failed"

    run(tmp_path, body)


def test_the_anthropic_sdk_lists_the_pool(tmp_path: Path) -> None:
    from anthropic.types import ModelInfo

    async def go() -> None:
        async with sidecar_in_process(tmp_path, anthropic_models=("sim-medium",)) as sc:
            r = await sc.client.get(
                "/v1/models", headers={"x-api-key": sc.api_key, "anthropic-version": "2023-06-01"}
            )
            assert r.status_code == 200, r.text
            models = [ModelInfo.model_validate(m) for m in r.json()["data"]]
            assert models[0].id == "auto" and "sim-medium" in {m.id for m in models}
            bad = await sc.client.get(
                "/v1/models", headers={"x-api-key": "nope", "anthropic-version": "2023-06-01"}
            )
            assert bad.status_code == 401
            assert bad.json()["error"]["type"] == "authentication_error"
            openai = await sc.client.get("/v1/models", headers=sc.auth)
            assert openai.json()["object"] == "list"

    asyncio.run(go())
