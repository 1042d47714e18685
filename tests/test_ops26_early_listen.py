"""ops26: a lone `arbiter serve` answers while its start-up waits (a PostgreSQL migration lock
another session holds, as a replica mid-migration would): `/livez` 200, `/readyz` and `/healthz`
503 `starting`, a chat request a 503 `starting` in OpenAI's shape and a Messages request in
Anthropic's, each with `Retry-After`, a body sent with it read to its end (no reset); once the
lock is let go the app serves the same socket: `/readyz` 200, and a request the openai SDK
sent during the start-up is answered (its retries follow `Retry-After`). Before,
nothing answered on the port until the start-up was done: a startupProbe shorter than
`store.migrate_lock_wait_s` killed the pod mid-migration. And the interim answers' own shape,
by `early_listen.answer` (a head nobody would send included)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import orjson
import psycopg
import pytest

from arbiter.early_listen import answer
from arbiter.inherited_socket import loopback_listener, port_of
from arbiter.store.postgres import _MIGRATE_LOCK
from tests.ops25_rig import Upstream
from tests.pg import empty_store_url
from tests.probe23d_rig import arbiter, config_text, serve_process
from tests.scripted_upstream import serving

pytestmark = pytest.mark.postgres
CHAT = {"model": "sim-small", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {"model": "sim-small", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def _first(root: str, path: str, proc: object, timeout_s: float = 30.0) -> httpx.Response:
    end = time.monotonic() + timeout_s
    while True:
        try:
            return httpx.get(f"{root}{path}", timeout=2)
        except httpx.TransportError:
            assert time.monotonic() < end, f"nothing answered {path}"
            time.sleep(0.1)


def test_a_lone_sidecar_answers_starting_while_its_migration_waits(tmp_path: Path) -> None:
    with empty_store_url("postgres", tmp_path / "unused.db") as url, serving(Upstream) as up:
        cfg = tmp_path / "arbiter.toml"
        text = config_text(up, {"store": {"migrate_lock_wait_s": 60.0}}, tmp_path / "a.db")
        cfg.write_text(text.replace(f"sqlite:///{tmp_path / 'a.db'}", url))
        assert arbiter("migrate", "--config", str(cfg)).rc == 0
        listener = loopback_listener()
        root = f"http://127.0.0.1:{port_of(listener)}"
        with psycopg.connect(url) as holder:  # a replica's migration, under way
            holder.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_MIGRATE_LOCK,))
            with serve_process(cfg, listener=listener) as proc:
                live = _first(root, "/livez", proc)
                assert live.status_code == 200 and live.json() == {"status": "ok"}
                for path in ("/readyz", "/healthz"):
                    r = httpx.get(f"{root}{path}", timeout=5)
                    assert r.status_code == 503 and r.json()["status"] == "starting", r.text
                r = httpx.post(f"{root}/v1/chat/completions", json=CHAT, timeout=5)
                assert r.status_code == 503 and r.headers["retry-after"] == "2", r.text
                assert r.json()["error"]["code"] == "starting"
                big = {**CHAT, "messages": [{"role": "user", "content": "x" * 300_000}]}
                r = httpx.post(f"{root}/v1/chat/completions", json=big, timeout=5)
                assert r.status_code == 503, r.text  # a body it never reads: still answered
                r = httpx.post(f"{root}/v1/messages", json=MESSAGES, timeout=5,
                               headers={"anthropic-version": "2023-06-01"})  # fmt: skip
                assert r.status_code == 503 and r.headers["retry-after"] == "2", r.text
                assert r.json()["type"] == "error" and "starting" in r.text
                # the openai SDK, sent now: it retries the 503 after its Retry-After
                sdk = openai.OpenAI(base_url=f"{root}/v1", api_key="none", max_retries=10)
                with ThreadPoolExecutor(1) as pool:
                    sent = pool.submit(sdk.chat.completions.create, **CHAT)
                    time.sleep(1.0)
                    holder.commit()  # the lock let go: the start-up goes on
                    assert sent.result(timeout=90).choices[0].message.content
                end = time.monotonic() + 60
                while (r := httpx.get(f"{root}/readyz", timeout=5)).status_code != 200:
                    assert time.monotonic() < end and proc.poll() is None, r.text
                    time.sleep(0.1)
                r = httpx.post(f"{root}/v1/chat/completions", json=CHAT, timeout=30)
                assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("head", "status", "shape"),
    [
        (b"GET /livez HTTP/1.1\r\nhost: x", 200, "probe"),
        (b"GET /readyz/?verbose=1 HTTP/1.1\r\nhost: x", 503, "probe"),
        (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x", 503, "openai"),
        (b"POST /v1/messages HTTP/1.1", 503, "anthropic"),
        (b"POST /v1/models HTTP/1.1\r\nAnthropic-Version : 2023-06-01", 503, "anthropic"),
        (b"\xff\xfe garbage", 503, "openai"),
        (b"GET " + b"/" * 20_000 + b" HTTP/1.1", 503, "openai"),
    ],
)
def test_each_interim_answer_is_whole_http_in_its_shape(
    head: bytes, status: int, shape: str
) -> None:
    raw = answer(head)
    top, _, body = raw.partition(b"\r\n\r\n")
    lines = top.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 %d %s" % (status, b"OK" if status == 200 else
                                              b"Service Unavailable")  # fmt: skip
    headers = dict(line.split(b": ", 1) for line in lines[1:])
    assert int(headers[b"content-length"]) == len(body)
    assert headers[b"connection"] == b"close"
    doc = orjson.loads(body)
    if shape == "probe":
        assert doc["status"] in ("ok", "starting")
        return
    assert headers[b"retry-after"] == b"2"
    if shape == "openai":
        assert doc["error"]["code"] == "starting"
    else:
        assert doc["type"] == "error" and doc["error"]["type"] == "api_error"
