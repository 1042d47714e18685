"""What the probe rigs (probe19a_harness, probe21b_rig, probe22a_rig, probe23a_rig, and
probe22b_rig through 19a's config) share: the sidecar's TOML (keys auth, a quiet server, SQLite
flushed every 20 ms, routing without exploration or difficulty, no latency probes, one huge
global cap, an OpenAI- and an Anthropic-protocol upstream on one port), a recorder of what a
scripted upstream received, SSE frames, a started sidecar with a tenant key and the official
SDKs as its clients (`SdkRig`: with the upstream's scripts by marker), and a decision polled
until the store has it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

import anthropic
import openai
import orjson

from arbiter.offline.demo import API_KEY_ENV
from tests.conftest import Sidecar
from tests.scripted_upstream import ScriptedHandler, serving


def model_toml(
    name: str, upstream: str, prices: tuple[float, float], window: int, caps: str, more: str = ""
) -> str:
    """One `[models.NAME]` table: its upstream, prices (USD per 1M tokens, in and out), context
    window and capabilities (a TOML list), then `more` lines as they are."""
    return (
        f'[models.{name}]\nupstream = "{upstream}"\nprice_in_per_mtok = {prices[0]}\n'
        f"price_out_per_mtok = {prices[1]}\ncontext_window = {window}\n"
        f"capabilities = {caps}\n{more}"
    )


def rig_toml(
    port: int,
    db: Path,
    models: str,
    failover: Mapping[str, float],
    *,
    baseline: str = "oa-1",
    routing: str = "judge_sample_rate = 0.0\n",
    breaker: int | None = None,
    upstreams: tuple[str, str] = ("ro", "ra"),
    upstream_more: str = "",
) -> str:
    """The sidecar's config: `models` (model_toml tables) on an OpenAI-protocol upstream
    (`upstreams[0]`, at `/v1`) and an Anthropic-protocol one (`upstreams[1]`), both on `port`;
    `failover`'s keys as they are; `routing` and `upstream_more` lines added to those tables."""
    fail = "".join(f"{k} = {v}\n" for k, v in failover.items())
    brk = "" if breaker is None else f"[breaker]\nfailure_threshold = {breaker}\n"
    return f"""
[auth]
mode = "keys"
admin_key_env = "ARBITER_DEMO_ADMIN_KEY"
[server]
log_level = "warning"
[store]
url = "sqlite:///{db}"
flush_interval_ms = 20
[routing]
baseline = "{baseline}"
quality_target = 0.5
explore = 0.0
seed = 3
difficulty = false
{routing}[latency]
probe_unseen = false
[failover]
{fail}{brk}[budgets]
caps = [{{ scope = "global", limit_usd = 100000.0, window = "total" }}]
[upstreams.{upstreams[0]}]
base_url = "http://127.0.0.1:{port}/v1"
api_key_env = "{API_KEY_ENV}"
{upstream_more}[upstreams.{upstreams[1]}]
base_url = "http://127.0.0.1:{port}"
protocol = "anthropic"
api_key_env = "{API_KEY_ENV}"
{upstream_more}{models}"""


@dataclass(slots=True)
class Recorder:
    """What a scripted upstream received: (path, body) per call, in order."""

    seen: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, path: str, body: dict[str, Any]) -> None:
        with self.lock:
            self.seen.append((path, body))

    def bodies(self, text: str) -> list[tuple[str, dict[str, Any]]]:
        """The calls whose body holds `text` (each test's own)."""
        with self.lock:
            return [(p, b) for p, b in self.seen if text.encode() in orjson.dumps(b)]

    def one(self, text: str) -> tuple[str, dict[str, Any]]:
        calls = self.bodies(text)
        assert len(calls) == 1, [p for p, _ in calls]
        return calls[0]


class RecordingHandler(ScriptedHandler):
    """A scripted upstream's handler that records each request it reads."""

    recorder: Recorder  # set on the subclass sidecar_before makes
    protocol_version = "HTTP/1.1"

    def recorded_json(self) -> dict[str, Any]:
        """The request's JSON body, recorded with its path."""
        body: dict[str, Any] = self.read_json()
        self.recorder.record(self.path, body)
        return body


def marker(body: dict[str, Any], mark: bytes) -> str | None:
    """The name after `mark` (up to `]]`) in a request's body, or None: the script it asks for."""
    raw = orjson.dumps(body)
    at = raw.find(mark)
    if at < 0:
        return None
    return raw[at + len(mark) : raw.index(b"]]", at)].decode()


def sse(name: str | None, data: dict[str, Any] | str) -> bytes:
    """One SSE frame (an `event:` line where `name` is given)."""
    payload = data if isinstance(data, str) else orjson.dumps(data).decode()
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {payload}\n\n".encode()


@contextmanager
def keyed_sidecar(cfg: Path, text: str) -> Iterator[tuple[Sidecar, str]]:
    """`arbiter serve` on `text` (written to `cfg`) and a key of the tenant "default"; stopped
    at the end."""
    cfg.write_text(text)
    sidecar = Sidecar(cfg).start()
    try:
        yield sidecar, str(sidecar.create_key("default")["key"])
    finally:
        sidecar.stop()


@contextmanager
def sdk_clients(
    sidecar: Sidecar, key: str, timeout: float
) -> Iterator[tuple[openai.OpenAI, anthropic.Anthropic]]:
    """The official SDKs on the sidecar with `key`, no retries of their own."""
    with (
        openai.OpenAI(base_url=sidecar.base_url, api_key=key, max_retries=0, timeout=timeout) as oa,
        anthropic.Anthropic(
            base_url=sidecar.root_url, api_key=key, max_retries=0, timeout=timeout
        ) as an,
    ):
        yield oa, an


@contextmanager
def sidecar_before(
    tmp: Path,
    handler: type[RecordingHandler],
    recorder: Recorder,
    config: Callable[[int, Path], str],
) -> Iterator[tuple[Sidecar, str, openai.OpenAI, anthropic.Anthropic]]:
    """`handler` recording into `recorder`, served on a free port, and in front of it a
    sidecar on `config(port, db)`, a tenant's key and the SDKs (20 s timeouts); all stopped at
    the end."""
    with serving(type("Handler", (handler,), {"recorder": recorder})) as url:
        text = config(urlsplit(url).port or 0, tmp / "a.db")
        with (
            keyed_sidecar(tmp / "a.toml", text) as (sidecar, key),
            sdk_clients(sidecar, key, 20) as (oa, an),
        ):
            yield sidecar, key, oa, an


def recorded_decision(sidecar: Sidecar, decision_id: str) -> dict[str, Any]:
    """The recorded decision (polled: the store flushes every 20 ms; 10 s at most)."""
    deadline = time.monotonic() + 10
    while True:
        r = sidecar.admin("GET", f"/arbiter/decisions/{decision_id}", timeout=10)
        if r.status_code == 200:
            return dict(r.json())
        assert time.monotonic() < deadline, f"decision {decision_id} never recorded"
        time.sleep(0.05)


class _Scripted(Protocol):
    scripts: dict[str, Any]  # a rig's own Script type, by marker


U = TypeVar("U", bound=_Scripted)


@dataclass(slots=True)
class SdkRig(Generic[U]):
    """A started sidecar in front of a scripted `upstream`, a tenant's key and the official
    SDKs on it (probe22a's HTTP-server upstream, probe23a's raw-socket one)."""

    upstream: U
    sidecar: Sidecar
    key: str
    oa: openai.OpenAI
    an: anthropic.Anthropic

    def script(self, marker: str, fn: Callable[..., Any]) -> str:
        """Register `fn` for `marker`; the text a request carries to be answered by it."""
        self.upstream.scripts[marker] = fn
        return f"[[p:{marker}]]"

    def decision(self, decision_id: str) -> dict[str, Any]:
        return recorded_decision(self.sidecar, decision_id)
