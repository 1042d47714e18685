"""The sidecar in this process: its ASGI app behind httpx's ASGI transport, the simulated pool on a
loopback thread. Fast tests of the pipeline and server branches use this; the end-to-end tests in
tests/e2e keep proving the real server (uvicorn, sockets, signals) in child processes.

    async with sidecar_in_process(tmp_path) as sc:
        r = await sc.client.post("/v1/chat/completions", json=..., headers=sc.auth)
"""

from __future__ import annotations

import asyncio
import time
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from arbiter import config
from arbiter.auth import create_key
from arbiter.offline.demo import API_KEY_ENV, demo_config, sim_config
from arbiter.offline.sim.config import parse_config
from arbiter.offline.sim.runner import SimServer, sim_running
from arbiter.server import build_app
from arbiter.services import Services
from tests.conftest import ADMIN_KEY, ENV

# what the anthropic SDK sends on every call (an Anthropic-shaped test client sends it too:
# /v1/messages refuses a request without it, as Anthropic's API does)
ANTHROPIC_VERSION = {"anthropic-version": "2023-06-01"}
# the operator's reads a tenant's key may make, each scoped by `?tenant=` (read_scope)
TENANT_READS = (
    "/arbiter/decisions",
    "/arbiter/stats",
    "/arbiter/alerts",
    "/arbiter/policy",
    "/arbiter/budgets",
    "/arbiter/timeseries",
    "/arbiter/pareto",
    "/arbiter/tenants",
)


@dataclass(slots=True)
class InProcess:
    client: (
        httpx.AsyncClient
    )  # talks to the app in this process (base URL http://127.0.0.1, as a local client)
    services: Services
    sim: SimServer
    api_key: str
    app: Starlette  # for clients that bring their own transport (the SDKs use httpx2)
    admin_key: str = ADMIN_KEY

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"}

    @property
    def anthropic(self) -> dict[str, str]:
        """`auth` plus the `anthropic-version` header: an Anthropic client's."""
        return {**self.auth, **ANTHROPIC_VERSION}

    def auth_for(self, path: str) -> dict[str, str]:
        """The headers its SDK sends to `path`: the anthropic SDK's on /v1/messages."""
        return self.anthropic if path.startswith("/v1/messages") else self.auth

    @property
    def admin(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.admin_key}"}


@asynccontextmanager
async def demo_app(
    tmp_path: Path,
    *,
    edit_config: Callable[[str], str] = lambda text: text,
    edit_sim: Callable[[str], str] = lambda text: text,
    anthropic_models: Collection[str] = (),
    store_url: str | None = None,
) -> AsyncIterator[tuple[Services, Starlette, SimServer]]:
    """The demo pool's simulator running, and a sidecar's services and app on it (not started:
    its lifespan or the caller starts them); the arguments as `sidecar_in_process`'s."""
    sim_cfg = parse_config(tomllib.loads(edit_sim(sim_config(anthropic_models))))
    async with sim_running(sim_cfg) as sim:
        db = tmp_path / "arbiter.db"
        text = demo_config(sim.base_url, db, anthropic_models=anthropic_models)
        if store_url is not None:
            assert text.count(f'url = "sqlite:///{db}"') == 1, "the demo config's store moved"
            text = text.replace(f'url = "sqlite:///{db}"', f'url = "{store_url}"')
        text = edit_config(text)
        settings = config.loads(text, env=ENV)
        services = Services(settings, seed=7)
        yield services, build_app(settings, services=services), sim


@asynccontextmanager
async def sidecar_in_process(
    tmp_path: Path,
    *,
    edit_config: Callable[[str], str] = lambda text: text,
    edit_sim: Callable[[str], str] = lambda text: text,
    tenant: str = "default",
    anthropic_models: Collection[str] = (),
    store_url: str | None = None,
) -> AsyncIterator[InProcess]:
    """A demo-pool sidecar (keys on, SQLite in `tmp_path`, or the store at `store_url`) and a
    client key for `tenant`; `anthropic_models` are served (and called) over Anthropic's API;
    `edit_config`/`edit_sim` rewrite the TOML texts before they are parsed."""
    async with demo_app(
        tmp_path, edit_config=edit_config, edit_sim=edit_sim,
        anthropic_models=anthropic_models, store_url=store_url,
    ) as (services, app, sim):  # fmt: skip
        await services.start()
        try:
            key = create_key(services.store, tenant).key
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1", timeout=30
            ) as client:
                yield InProcess(client, services, sim, key, app)
        finally:
            await services.stop()


def run_with_claude(
    tmp_path: Path, body: Callable[[InProcess], Awaitable[None]], **kw: Any
) -> None:
    """`body` against an in-process sidecar whose pool has sim-medium speaking Anthropic."""

    async def main() -> None:
        async with sidecar_in_process(tmp_path, anthropic_models=("sim-medium",), **kw) as sc:
            await body(sc)

    asyncio.run(main())


async def recorded_decision(
    sc: InProcess, decision_id: str, wait_s: float = 10.0
) -> dict[str, Any]:
    """The admin's view of one recorded decision, once it is recorded: the recorder's flush
    waited for (the endpoint's own gives up after 2 s, and a loaded host's writer may be
    behind), and a stream's decision, recorded as its end goes out, looked for again until
    it is submitted (a client that read the end may ask a moment before). Bounded: a decision
    never recorded still fails."""
    deadline = time.monotonic() + wait_s
    while True:
        flushed = await asyncio.to_thread(sc.services.recorder.flush, wait_s)
        assert flushed, "the recorder did not write what was submitted"
        r = await sc.client.get(f"/arbiter/decisions/{decision_id}", headers=sc.admin)
        if r.status_code != 404 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def uncapped_messages(text: str) -> str:
    """A config edit: `server.max_messages` at its most (1,000,000), for the tests of bodies of
    tens of thousands of messages (the default 10,000 refuses them: message_cap.py)."""
    return text.replace("[server]\n", "[server]\nmax_messages = 1000000\n", 1)


def raw_openai_upstream(port: int) -> Callable[[str], str]:
    """A config edit adding upstream `raw` at 127.0.0.1:`port` (OpenAI protocol) and its one
    model `oa-raw`, callable by name only: for tests whose upstream is a scripted socket."""

    def edit(text: str) -> str:
        return text + (
            f'\n[upstreams.raw]\nbase_url = "http://127.0.0.1:{port}/v1"\n'
            f'protocol = "openai"\napi_key_env = "{API_KEY_ENV}"\n'
            '[models.oa-raw]\nupstream = "raw"\nprice_in_per_mtok = 1.0\n'
            "price_out_per_mtok = 2.0\ncontext_window = 32000\n"
            'capabilities = ["chat", "no-route"]\n'
        )

    return edit


def raw_anthropic_upstream(port: int) -> Callable[[str], str]:
    """Upstream `rawa` at 127.0.0.1:`port` (Anthropic protocol) and its one model `an-raw`."""

    def edit(text: str) -> str:
        return text + (
            f'\n[upstreams.rawa]\nbase_url = "http://127.0.0.1:{port}"\n'
            f'protocol = "anthropic"\napi_key_env = "{API_KEY_ENV}"\n'
            '[models.an-raw]\nupstream = "rawa"\nprice_in_per_mtok = 1.0\n'
            "price_out_per_mtok = 2.0\ncontext_window = 32000\n"
            'capabilities = ["chat", "no-route"]\n'
        )

    return edit
