"""Outside probe (eleventh session): once every model a request could use had its circuit open,
Arbiter answered 503 `no_route_available` (Anthropic's 529) with no Retry-After, so the official
SDKs retried on their own backoff (0.5 s, then 1 s) into the same refusal while the circuit
stayed open for its cool-down (15 s by default): retries that could not succeed, and none
left for when the model could answer again. The refusal now says, as Retry-After, when the
first of those circuits lets a probe through, so an SDK's retry lands when it can succeed.
The request routed by `auto` (refused by routing) and the named one (refused by failover)
alike."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import anthropic
import anthropic._base_client
import httpx2
import openai
import openai._base_client
import pytest

from arbiter.offline.demo import API_KEY_ENV
from tests import anthropic_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process

DOWN = "claude-down"  # the mock answering 529 overloaded_error, the only routable model
ASK = [{"role": "user", "content": "Summarize: the tide rises and falls."}]
TASKS = ("code", "math", "extraction", "summarization", "translation", "creative", "chat")


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def only_the_mock(mock: AnthropicMock, cooldown_s: float) -> Callable[[str], str]:
    """The demo config with every sim model off the routes, the overloaded mock the one model
    `auto` may pick, and a circuit that opens on the first failure."""

    def edit(text: str) -> str:
        for name in ("sim-tiny", "sim-small", "sim-medium", "sim-premium"):
            i = text.index("capabilities = ", text.index(f"[models.{name}]\n"))
            text = text[:i] + 'capabilities = ["chat", "no-route"]' + text[text.index("\n", i) :]
        priors = "\n".join(f"{t} = 0.99" for t in TASKS)
        return text + (
            f"\n[breaker]\nfailure_threshold = 1\ncooldown_s = {cooldown_s}\n"
            f'\n[upstreams.mock]\nbase_url = "{mock.base_url}"\nprotocol = "anthropic"\n'
            f'api_key_env = "{API_KEY_ENV}"\n\n'
            f'[models.{DOWN}]\nupstream = "mock"\nupstream_model = "overloaded"\n'
            "price_in_per_mtok = 0.05\nprice_out_per_mtok = 0.1\ncontext_window = 32000\n"
            f'capabilities = ["chat"]\n[models.{DOWN}.priors]\n{priors}\n'
        )

    return edit


@pytest.mark.parametrize("model", ["auto", DOWN])
def test_a_refusal_for_open_circuits_says_when_to_retry(
    tmp_path: Path, mock: AnthropicMock, model: str
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=only_the_mock(mock, 30.0)) as sc:
            chat = {"model": model, "messages": ASK}
            first = await sc.client.post("/v1/chat/completions", json=chat, headers=sc.auth)
            assert first.status_code == 503, first.text  # the upstream's 529: the circuit opens
            for path, body in (
                ("/v1/chat/completions", chat),
                ("/v1/messages", {**chat, "max_tokens": 20}),
                ("/v1/responses", {"model": model, "input": "Summarize: the tide."}),
            ):
                r = await sc.client.post(path, json=body, headers=sc.auth_for(path))
                assert r.status_code in (503, 529), (path, r.text)
                assert "circuit" in r.text, (path, r.text)
                assert 1 <= int(r.headers["retry-after"]) <= 30, (path, r.headers)

    asyncio.run(main())


class _SdkRetryClock:
    """The breaker's clock, moved on only by the SDKs' retry sleeps (which no longer sleep): the
    retry lands exactly as long after the refusal as the SDK chose to wait, however loaded the
    host (with a real 1 s cool-down, a host slow by a second between the circuit opening and the
    next request put the refused call itself through as the probe)."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:  # stands in for anyio.sleep in the SDKs
        self.slept.append(seconds)
        self.now += seconds


COOLDOWN_S = 15.0  # the default: only the test clock passes it


def test_the_sdks_retry_lands_when_the_circuit_lets_a_probe_through(
    tmp_path: Path, mock: AnthropicMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = _SdkRetryClock()
    # the SDKs' one use of anyio is their retry sleep (_sleep_for_retry)
    monkeypatch.setattr(openai._base_client, "anyio", clock)
    monkeypatch.setattr(anthropic._base_client, "anyio", clock)

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=only_the_mock(mock, COOLDOWN_S)) as sc:
            monkeypatch.setattr(sc.services.breaker, "_clock", clock)
            transport = httpx2.ASGITransport(app=sc.app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
                gpt = openai.AsyncOpenAI(
                    api_key=sc.api_key, base_url="http://127.0.0.1/v1", http_client=http
                )
                claude = anthropic.AsyncAnthropic(
                    api_key=sc.api_key, base_url="http://127.0.0.1", http_client=http
                )
                with pytest.raises(openai.InternalServerError):  # opens the circuit
                    await gpt.with_options(max_retries=0).chat.completions.create(
                        model=DOWN,
                        messages=ASK,  # type: ignore[arg-type]
                    )
                before = len(mock.requests)
                # refused (open), then retried once after Retry-After: the probe goes up (the
                # SDK's own backoff, 0.5-1 s, would land in the open circuit: no probe)
                with pytest.raises(openai.InternalServerError):
                    await gpt.with_options(max_retries=1).chat.completions.create(
                        model=DOWN,
                        messages=ASK,  # type: ignore[arg-type]
                    )
                assert len(mock.requests) == before + 1
                assert clock.slept == [COOLDOWN_S], "the SDK waited the Retry-After it was given"
                with pytest.raises(anthropic.APIStatusError):
                    await claude.with_options(max_retries=1).messages.create(
                        model=DOWN,
                        max_tokens=20,
                        messages=ASK,  # type: ignore[arg-type]
                    )
                assert len(mock.requests) == before + 2
                assert clock.slept == [COOLDOWN_S, COOLDOWN_S]

    asyncio.run(main())
