"""POST /v1/embeddings and /v1/completions (to a named model: recorded, priced, budgeted, with
retries), and GET /v1/models/{id} in either SDK's shape; in process against the simulated pool
with the official SDKs as clients, answers checked against OpenAI's spec."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from arbiter.types import count_tokens
from tests.inproc import InProcess, recorded_decision, run_with_claude
from tests.openapi_spec import validate
from tests.sdk_clients import sdks, sim_requests

CLAUDE = "sim-medium"
GPT = "sim-small"
HI_CHAT = [{"role": "user", "content": "hi"}]


def run(tmp_path: Path, body: Callable[[InProcess], Awaitable[None]], **kw: Any) -> None:
    run_with_claude(tmp_path, body, **kw)


decision = recorded_decision


def test_embeddings_through_the_sdk_recorded_and_priced(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            raw = await gpt.embeddings.with_raw_response.create(
                model=GPT, input=["the tide rises", "the tide falls"], encoding_format="float"
            )
            result = raw.parse()
            validate("CreateEmbeddingResponse", raw.http_response.json())
            assert len(result.data) == 2 and len(result.data[0].embedding) == 256
            again = await gpt.embeddings.create(
                model=GPT, input=["the tide rises"], encoding_format="float"
            )
            assert again.data[0].embedding == result.data[0].embedding  # deterministic
            short = await gpt.embeddings.create(model=GPT, input="x", dimensions=8)
            assert len(short.data[0].embedding) == 8
            # the SDK asks for base64 by default and decodes it: the same vector
            b64 = await gpt.embeddings.create(model=GPT, input=["the tide rises"])
            assert b64.data[0].embedding == pytest.approx(result.data[0].embedding, abs=1e-6)
            row = await decision(sc, raw.headers["x-arbiter-decision-id"])
            assert row["mode"] == "passthrough" and row["task"] == "embedding"
            assert row["status"] == "ok" and row["chosen_model"] == GPT
            price_in = sc.services.registry[GPT].price_in_per_mtok
            assert row["cost_usd"] == pytest.approx(result.usage.prompt_tokens * price_in / 1e6)
            assert float(raw.headers["x-arbiter-cost-usd"]) == pytest.approx(row["cost_usd"])
            assert row["baseline_cost_usd"] == row["cost_usd"]  # not routed: nothing saved
            assert raw.headers["x-request-id"].startswith("simreq_")

    run(tmp_path, body)


def test_completions_through_the_sdk_recorded_and_priced(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            raw = await gpt.completions.with_raw_response.create(
                model=GPT, prompt="Once upon a time", max_tokens=30
            )
            completion = raw.parse()
            validate("CreateCompletionResponse", raw.http_response.json())
            assert completion.choices[0].text and completion.usage is not None
            row = await decision(sc, raw.headers["x-arbiter-decision-id"])
            assert row["task"] == "completion" and row["status"] == "ok"
            m = sc.services.registry[GPT]
            usage = completion.usage
            expected = m.cost_usd(usage.prompt_tokens, usage.completion_tokens)
            assert row["cost_usd"] == pytest.approx(expected)

    run(tmp_path, body)


def test_completions_stream_through_the_sdk_recorded_and_priced(tmp_path: Path) -> None:
    """stream=true on the legacy surface: text_completion chunks (parsed by the SDK), the
    usage chunk only when asked, [DONE], and a decision priced from the usage the upstream
    reported (always asked for, to price the call)."""

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            raw = await gpt.completions.with_raw_response.create(
                model=GPT, prompt="Once upon a time", max_tokens=30, stream=True,
                stream_options={"include_usage": True},
            )  # fmt: skip
            assert raw.headers["content-type"].startswith("text/event-stream")
            chunks = [c async for c in raw.parse()]
            # every chunk parsed by the SDK's Completion type; the spec's schema (written for
            # the whole answer) wants a finish_reason, which only the last choice chunk has
            assert all(c.object == "text_completion" for c in chunks)
            validate("CreateCompletionResponse", chunks[-2].model_dump(exclude_unset=True))
            text = "".join(c.choices[0].text for c in chunks if c.choices)
            assert text and chunks[-2].choices[0].finish_reason in ("stop", "length")
            usage = chunks[-1].usage
            assert chunks[-1].choices == [] and usage is not None and usage.completion_tokens > 0
            row = await decision(sc, raw.headers["x-arbiter-decision-id"])
            assert row["task"] == "completion" and row["status"] == "ok" and row["stream"]
            m = sc.services.registry[GPT]
            expected = m.cost_usd(usage.prompt_tokens, usage.completion_tokens)
            assert row["cost_usd"] == pytest.approx(expected) and row["completion_tokens"] > 0
            plain = [c async for c in await gpt.completions.create(
                model=GPT, prompt="Once upon a time", max_tokens=30, stream=True
            )]  # fmt: skip
            assert plain and all(c.usage is None for c in plain)  # not asked: not sent
        r = await sc.client.post(
            "/v1/completions",
            json={"model": GPT, "prompt": "Hi", "max_tokens": 20, "stream": True},
            headers=sc.auth,
        )
        assert r.text.endswith("data: [DONE]\n\n"), r.text
        feed = await sc.client.get("/arbiter/decisions?limit=1", headers=sc.admin)
        assert feed.json()["data"][0]["cost_usd"] > 0  # priced without the client's usage

    run(tmp_path, body)


def test_a_completions_stream_cut_midway_ends_with_an_error_event(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with httpx.AsyncClient() as c:
            base = sc.sim.base_url.removesuffix("/v1")
            control = {"model": GPT, "stream_cut": 1.0, "stream_cut_after": 2}
            assert (await c.post(f"{base}/_sim/control", json=control)).status_code == 200
        r = await sc.client.post(
            "/v1/completions",
            json={"model": GPT, "prompt": "Tell me a story", "max_tokens": 60, "stream": True},
            headers=sc.auth,
        )
        assert r.status_code == 200 and "[DONE]" not in r.text
        events = [line[6:] for line in r.text.split("\n") if line.startswith("data: ")]
        assert len(events) >= 2 and "error" in orjson.loads(events[-1])
        row = (await sc.client.get("/arbiter/decisions?limit=1", headers=sc.admin)).json()
        assert row["data"][0]["status"] == "failed" and row["data"][0]["cost_usd"] > 0

    run(tmp_path, body)


@pytest.mark.parametrize(
    ("path", "payload", "status", "param"),
    [
        ("/v1/embeddings", {"model": "auto", "input": "x"}, 400, "model"),
        ("/v1/completions", {"model": "auto", "prompt": "x"}, 400, "model"),
        ("/v1/embeddings", {"model": GPT}, 400, "input"),
        ("/v1/embeddings", {"model": GPT, "input": []}, 400, "input"),
        ("/v1/embeddings", {"model": GPT, "input": [1, "a"]}, 400, "input"),
        ("/v1/embeddings", {"model": GPT, "input": "x", "dimensions": 0}, 400, "dimensions"),
        ("/v1/embeddings", {"model": GPT, "input": "x", "encoding_format": "hex"}, 400,
         "encoding_format"),
        ("/v1/embeddings", {"model": CLAUDE, "input": "x"}, 400, "model"),
        ("/v1/embeddings", {"model": "nope", "input": "x"}, 404, "model"),
        ("/v1/completions", {"model": GPT, "prompt": "x", "stream": "yes"}, 400, "stream"),
        ("/v1/completions", {"model": GPT, "prompt": "x", "stream_options": {}}, 400,
         "stream_options"),
        ("/v1/completions", {"model": GPT, "prompt": "x", "n": 1000}, 400, "n"),
        ("/v1/completions", {"model": GPT, "prompt": "x", "max_tokens": -1}, 400, "max_tokens"),
        ("/v1/completions", {"model": GPT, "prompt": {"a": 1}}, 400, "prompt"),
    ],
)  # fmt: skip
def test_bad_input_is_a_clear_4xx_in_openais_shape(
    tmp_path: Path, path: str, payload: dict[str, Any], status: int, param: str
) -> None:
    async def body(sc: InProcess) -> None:
        before = await sim_requests(sc)
        r = await sc.client.post(path, json=payload, headers=sc.auth)
        assert r.status_code == status, r.text
        validate("ErrorResponse", r.json())
        assert r.json()["error"]["param"] == param
        assert await sim_requests(sc) == before  # refused before any upstream call
        r = await sc.client.post(path, content=b"{nope", headers=sc.auth)
        assert r.status_code == 400

    run(tmp_path, body)


def test_a_budget_cap_refuses_an_embedding_it_cannot_cover(tmp_path: Path) -> None:
    def tiny_cap(text: str) -> str:
        return text + '\n[[budgets.caps]]\nscope = "global"\nwindow = "day"\nlimit_usd = 1e-9\n'

    async def body(sc: InProcess) -> None:
        r = await sc.client.post(
            "/v1/embeddings", json={"model": GPT, "input": "x " * 2000}, headers=sc.auth
        )
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "budget_exceeded"

    run(tmp_path, body, edit_config=tiny_cap)


def test_a_failing_upstream_is_retried_and_recorded_failed(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with httpx.AsyncClient() as c:
            base = sc.sim.base_url.removesuffix("/v1")
            r = await c.post(f"{base}/_sim/control", json={"model": GPT, "down": True})
            assert r.status_code == 200, r.text
        r = await sc.client.post(
            "/v1/completions", json={"model": GPT, "prompt": "hi"}, headers=sc.auth
        )
        assert r.status_code >= 500 or r.status_code == 429, r.text
        validate("ErrorResponse", r.json())
        feed = await sc.client.get("/arbiter/decisions?limit=1", headers=sc.admin)
        row = feed.json()["data"][0]
        assert row["task"] == "completion" and row["status"] == "failed"
        assert len(row["attempts"]) >= 2  # retried like any call (failover.py)
        assert not any(a["ok"] for a in row["attempts"])

    run(tmp_path, body)


def test_models_by_id_in_either_shape(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, gpt):
            model = await gpt.models.retrieve(GPT)
            assert model.id == GPT and model.object == "model"
            validate("Model", model.model_dump(mode="json", exclude_none=True))
            assert (await gpt.models.retrieve("auto")).id == "auto"
            with pytest.raises(openai.NotFoundError):
                await gpt.models.retrieve("no-such-model")
            info = await claude.models.retrieve(CLAUDE)
            assert info.id == CLAUDE and info.type == "model"
            with pytest.raises(anthropic.NotFoundError):
                await claude.models.retrieve("no-such-model")
        r = await sc.client.get("/v1/models/sim-premium", headers={"authorization": "Bearer x"})
        assert r.status_code == 401
        r = await sc.client.get(
            "/v1/models/sim-premium",
            headers={"authorization": "Bearer x", "anthropic-version": "2023-06-01"},
        )
        assert r.status_code == 401 and r.json()["type"] == "error"

    run(tmp_path, body)


def test_a_model_not_allowed_for_the_tenant_is_not_found(tmp_path: Path) -> None:
    def restrict(text: str) -> str:
        return text + '\n[tenants.default]\nallowed_models = ["sim-small"]\n'

    async def body(sc: InProcess) -> None:
        r = await sc.client.get(f"/v1/models/{GPT}", headers=sc.auth)
        assert r.status_code == 200
        r = await sc.client.get("/v1/models/sim-premium", headers=sc.auth)
        assert r.status_code == 404 and r.json()["error"]["param"] == "model"
        unknown = r.json()["error"]
        anthropic_auth = {**sc.auth, "anthropic-version": "2023-06-01"}
        # every endpoint that takes a model name answers as for an unknown model: a 403 would
        # confirm to the tenant that the hidden model exists
        for path, payload in [
            ("/v1/embeddings", {"model": "sim-premium", "input": "x"}),
            ("/v1/completions", {"model": "sim-premium", "prompt": "x"}),
            ("/v1/chat/completions", {"model": "sim-premium", "messages": HI_CHAT}),
            ("/v1/responses", {"model": "sim-premium", "input": "x"}),
            ("/v1/responses/input_tokens", {"model": "sim-premium", "input": "x"}),
        ]:
            r = await sc.client.post(path, json=payload, headers=sc.auth)
            assert r.status_code == 404, (path, r.text)
            assert r.json()["error"] == unknown, path
        for path, payload in [
            ("/v1/messages", {"model": "sim-premium", "max_tokens": 9, "messages": HI_CHAT}),
            ("/v1/messages/count_tokens", {"model": "sim-premium", "messages": HI_CHAT}),
        ]:
            r = await sc.client.post(path, json=payload, headers=anthropic_auth)
            assert r.status_code == 404, (path, r.text)
            error = r.json()["error"]
            assert error["type"] == "not_found_error", path
            assert error["message"] == unknown["message"], path

    run(tmp_path, body, edit_config=restrict)


def test_a_client_leaving_a_completions_stream_is_recorded_as_a_disconnect(
    tmp_path: Path,
) -> None:
    """The app driven over ASGI by a client that disconnects after the first chunk: the
    upstream stream is closed and the decision says client_disconnected, priced (the upstream
    may bill the call)."""

    async def body(sc: InProcess) -> None:
        payload = {"model": GPT, "prompt": "Tell me a long story", "max_tokens": 400,
                   "stream": True}  # fmt: skip
        inbox = [{"type": "http.request", "body": orjson.dumps(payload), "more_body": False}]
        left = asyncio.Event()
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            if inbox:
                return inbox.pop(0)
            await left.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                chunks.append(message["body"])
                left.set()

        scope = _completions_scope(sc.api_key)
        await asyncio.wait_for(sc.app(scope, receive, send), 30)
        assert chunks and not any(b"[DONE]" in c for c in chunks)
        sc.services.recorder.flush(5.0)
        row = (await sc.client.get("/arbiter/decisions?limit=1", headers=sc.admin)).json()
        assert row["data"][0]["error"] == "client_disconnected", row
        assert row["data"][0]["status"] == "failed" and row["data"][0]["cost_usd"] > 0

    run(tmp_path, body)


def _completions_scope(api_key: str) -> dict[str, Any]:
    """An ASGI scope for POST /v1/completions as a loopback client with `api_key` sends it."""
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/completions", "raw_path": b"/v1/completions",
        "root_path": "", "query_string": b"", "server": ("arbiter", 80),
        "client": ("127.0.0.1", 1),
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {api_key}".encode()),
                    (b"content-type", b"application/json")],
    }  # fmt: skip


def _leave_after_first_chunk(sc: InProcess, payload: dict[str, Any]) -> Awaitable[str]:
    """Drive the app over ASGI with a client that disconnects after the first chunk; the
    decision id the response named."""

    async def go() -> str:
        inbox = [{"type": "http.request", "body": orjson.dumps(payload), "more_body": False}]
        left = asyncio.Event()
        headers: dict[str, str] = {}

        async def receive() -> dict[str, Any]:
            if inbox:
                return inbox.pop(0)
            await left.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers.update((k.decode(), v.decode()) for k, v in message["headers"])
            if message["type"] == "http.response.body" and message.get("body"):
                left.set()

        scope = _completions_scope(sc.api_key)
        await asyncio.wait_for(sc.app(scope, receive, send), 30)
        return headers["x-arbiter-decision-id"]

    return go()


_SIM_SMALL = (
    '[models.sim-small]\nupstream = "sim"\nprice_in_per_mtok = 0.5\nprice_out_per_mtok = 1.5\n'
    'context_window = 32000\ncapabilities = ["chat", "json", "json-schema", "tools"'
)


@pytest.mark.parametrize("bills_whole_stream", [False, True])
def test_a_cut_completions_stream_is_charged_what_was_generated_as_a_chat_stream_is(
    tmp_path: Path, bills_whole_stream: bool
) -> None:
    """A completions stream the client left was charged its worst case (the prompt plus every
    choice at max_tokens), while a chat stream is charged what the upstream generated until the
    sidecar closed it (cut_stream_cost.py). It now follows chat's rule, and keeps the worst case
    for a model marked `bills-after-disconnect` (its provider bills the whole stream)."""

    def mark(text: str) -> str:
        assert _SIM_SMALL in text
        return text.replace(_SIM_SMALL, _SIM_SMALL + ', "bills-after-disconnect"')

    async def body(sc: InProcess) -> None:
        payload = {"model": GPT, "prompt": ["Tell me a long story", "And another"],
                   "max_tokens": 4000, "n": 2, "stream": True}  # fmt: skip
        decision_id = await _leave_after_first_chunk(sc, payload)
        sc.services.recorder.flush(5.0)
        row = await decision(sc, decision_id)
        assert row["error"] == "client_disconnected" and row["status"] == "failed", row
        m = sc.services.registry[GPT]
        prompt = count_tokens(["Tell me a long story", "And another"])
        worst = m.cost_usd(prompt, 4000 * 2 * 2)  # every choice of every prompt at the limit
        if bills_whole_stream:
            assert row["cost_usd"] == pytest.approx(worst), (row["cost_usd"], worst)
        else:
            # the prompt plus what the sim made until the close: a small part of the worst case
            assert m.cost_usd(prompt, 1) < row["cost_usd"] < worst / 20, (row["cost_usd"], worst)

    run(tmp_path, body, **({"edit_config": mark} if bills_whole_stream else {}))
