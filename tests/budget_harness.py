"""An in-process sidecar whose upstream calls are scripted, for the budget tests: what each call
does (answers with usage, is reset after the body, answers 200 with invalid JSON, ...) and what
body each call was sent."""

from __future__ import annotations

import time
import tomllib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx

from arbiter import config
from arbiter.config import ModelSettings, Settings
from arbiter.errors import UpstreamError, UpstreamRateLimited, UpstreamUnavailable
from arbiter.offline.demo import ADMIN_KEY_ENV, API_KEY_ENV, demo_settings
from arbiter.server import build_app
from arbiter.services import Services
from arbiter.toml_text import to_toml
from arbiter.types import ChatResult, Usage

ADMIN = "adm-budget-tests"
ENV = {API_KEY_ENV: "sim-key", ADMIN_KEY_ENV: ADMIN}
HEADERS = {"authorization": f"Bearer {ADMIN}"}  # the admin runs as tenant "default"


def settings(
    tmp_path: Path,
    cap_usd: float | None,
    extra: str = "",
    routing: str = "",
    capabilities: tuple[str, ...] = (),
    store_url: str | None = None,
) -> Settings:
    """`capabilities`: added to every demo model's (e.g. "vision", for requests with images);
    `store_url`: another store than a SQLite file in `tmp_path` (tests.pg.empty_store_url)."""
    doc = demo_settings("http://127.0.0.1:9/v1", tmp_path / "budget.db")
    if store_url is not None:
        doc["store"] = {"url": store_url}
    for model in doc["models"].values():
        model["capabilities"] = [*model.get("capabilities", ()), *capabilities]
    # the difficulty score and the judge are off unless `routing` turns them on
    doc["routing"].update({"difficulty": False, "judge_sample_rate": 0.0} | tomllib.loads(routing))
    text = to_toml(doc) + "\n" + extra + "\n"
    if cap_usd is not None:
        text += f'\n[[budgets.caps]]\nscope = "tenant"\nlimit_usd = {cap_usd}\nwindow = "total"\n'
    return config.loads(text, env=ENV)


class Scripted:
    """An upstream whose calls do, in turn, what `steps` says ("ok" once they run out)."""

    def __init__(self, *steps: str, usage: tuple[int, int] = (100, 50)) -> None:
        self.steps = list(steps)
        self.usage = usage
        self.bodies: list[dict[str, Any]] = []

    def _next(self, body: dict[str, Any]) -> str:
        self.bodies.append(body)
        return self.steps.pop(0) if self.steps else "ok"

    async def complete(self, body: dict[str, Any], model: ModelSettings) -> ChatResult:
        step = self._next(body)
        if step == "reset":  # the upstream generated (and billed) the answer; the reply was lost
            raise UpstreamUnavailable("connection reset") from httpx.RemoteProtocolError("reset")
        if step == "bad_json":
            raise UpstreamError(f"{model.name}: malformed answer from upstream")
        if step == "429":
            raise UpstreamRateLimited(f"{model.name}: upstream answered 429")
        if step == "refused":  # nothing listening: never reached the upstream
            raise UpstreamUnavailable("refused") from httpx.ConnectError("refused")
        usage = Usage(*self.usage) if step == "ok" else Usage()
        body_out = {"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]}
        return ChatResult(model.name, body_out, "hi", "stop", usage, 1.0)

    async def open_stream(
        self, body: dict[str, Any], model: ModelSettings, *, deadline: float | None = None
    ) -> Any:
        step = self._next(body)
        if step == "cut_before_content":
            raise UpstreamError(f"{model.name}: stream ended before any content")
        return _Stream(Usage(*self.usage))

    async def aclose(self) -> None:
        pass

    async def retire(self) -> None:  # a reload took its upstream out (Upstream.retire)
        pass


class _Stream:
    def __init__(self, usage: Usage) -> None:
        self.usage = usage
        self.done = False

    async def events(self) -> AsyncIterator[bytes]:
        yield b'{"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}'
        self.done = True

    async def aclose(self) -> None:
        pass


class Harness:
    def __init__(
        self, s: Settings, upstream: Scripted, budget_clock: Callable[[], float] = time.time
    ) -> None:
        """`budget_clock`: the wall clock cap windows are cut on (Services')."""
        self.services = Services(s, seed=1, budget_clock=budget_clock)
        self.upstream = upstream
        for name in self.services.upstreams:
            self.services.upstreams[name] = upstream  # type: ignore[assignment]
        self.app = build_app(s, services=self.services)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://127.0.0.1"
        )

    async def __aenter__(self) -> Harness:
        await self.services.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
        await self.services.stop()

    async def chat(self, body: dict[str, Any]) -> httpx.Response:
        body = {"model": "sim-premium", **body}
        return await self.client.post("/v1/chat/completions", json=body, headers=HEADERS)

    async def settled(self) -> dict[str, float]:
        """Wait for settles; the tenant's spent and reserved."""
        import asyncio

        if self.services._spend_tasks:
            await asyncio.wait(set(self.services._spend_tasks))
        rows = self.services.store.budget_usage("tenant:default")
        return {"spent": rows[0]["spent_usd"], "reserved": rows[0]["reserved_usd"]} if rows else {}

    def decision(self, decision_id: str) -> dict[str, Any]:
        self.services.recorder.flush(5.0)
        row = self.services.store.decision(decision_id)
        assert row is not None
        return row


def sidecar_calls(tmp_path: Path, routing: str, prompt: str) -> tuple[int, list[str]]:
    """One chat request (`prompt`) through a sidecar with `[routing]` lines `routing`: its
    status and the models its upstream calls went to, in order."""
    import asyncio

    body = {"model": "auto", "messages": [{"role": "user", "content": prompt}]}
    names: list[str] = []

    class Named(Scripted):
        async def complete(self, body: dict[str, Any], model: ModelSettings) -> ChatResult:
            names.append(model.name)
            return await super().complete(body, model)

    async def go() -> int:
        async with Harness(settings(tmp_path, None, routing=routing), Named()) as h:
            r = await h.client.post("/v1/chat/completions", json=body, headers=HEADERS)
            await h.settled()
            return r.status_code

    return asyncio.run(go()), names
