"""health25: Kubernetes' probes apart from /healthz (which stays as it was). `/livez` is 200 while
the process answers; `/readyz` is a 503 naming why not while a `server.workers` set starts,
while the sidecar drains after SIGTERM, and while the store is down under strict durability
(every answer a 503 then), and 200 otherwise: under batched durability a store outage leaves it
ready, requests answered. Checked through real `arbiter serve` children (PostgreSQL refusing
connections; SIGTERM with a stream in flight) and, for the worker set's start, in process."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from arbiter import worker_ready
from tests.inproc import sidecar_in_process
from tests.ops25_rig import Upstream, served
from tests.pg import fresh_database, require_pg, set_connections
from tests.scripted_upstream import ok_chat_answer, serving

PATIENCE_S = 15.0  # a probe's state follows the store within ~1 s; generous on a loaded host


def _chat(root: str, content: str = "hi") -> httpx.Response:
    return httpx.post(
        f"{root}/v1/chat/completions", timeout=30,
        json={"model": "sim-small", "messages": [{"role": "user", "content": content}]},
    )  # fmt: skip


def _until(
    root: str, path: str, status: int, said: str, store_healthy: bool | None = None
) -> dict[str, Any]:
    """Poll `path` until it answers `status` with `"status": said` (and `store_healthy` when
    given); its body."""
    end = time.monotonic() + PATIENCE_S
    last: Any = None
    while time.monotonic() < end:
        r = httpx.get(f"{root}{path}", timeout=5)
        last = (r.status_code, r.text)
        if (
            r.status_code == status
            and r.json()["status"] == said
            and (store_healthy is None or r.json()["store_healthy"] is store_healthy)
        ):
            return r.json()  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"{path} never said {status} {said}: last {last}")


@pytest.mark.parametrize("durability", ["strict", "batched"])
def test_readiness_follows_the_store_under_strict_durability_only(
    tmp_path: Path, durability: str
) -> None:
    with fresh_database(require_pg()) as url, serving(Upstream) as up:
        store = {"url": url, "durability": durability, "spool_dir": str(tmp_path / "spool")}
        with served(tmp_path, up, {"store": store}) as s:
            assert _until(s.root, "/readyz", 200, "ready")["store_healthy"] is True
            assert httpx.get(f"{s.root}/livez").json() == {"status": "ok"}
            set_connections(urlsplit(url).path.lstrip("/"), allowed=False)
            try:
                # strict: the commit fails, a 503; batched: answered, the record queued
                assert _chat(s.root).status_code == (503 if durability == "strict" else 200)
                health = httpx.get(f"{s.root}/healthz")
                assert health.status_code == 200  # as before: users have it wired
                if durability == "strict":
                    body = _until(s.root, "/readyz", 503, "store_unavailable")
                else:
                    end = time.monotonic() + PATIENCE_S
                    while httpx.get(f"{s.root}/healthz").json()["store_healthy"]:
                        assert time.monotonic() < end, "the outage was never seen"
                        time.sleep(0.1)
                    r = httpx.get(f"{s.root}/readyz")
                    assert r.status_code == 200, r.text
                    body = r.json()
                    assert _chat(s.root).status_code == 200  # traffic is answered
                assert body["store_healthy"] is False
                r = httpx.get(f"{s.root}/livez")
                assert r.status_code == 200 and r.json() == {"status": "ok"}
            finally:
                set_connections(urlsplit(url).path.lstrip("/"), allowed=True)
            _until(s.root, "/readyz", 200, "ready", store_healthy=True)  # back
            assert _chat(s.root).status_code == 200


class SlowStream(Upstream):
    """A stream whose rest follows its first event after 3 s (ops25's answers otherwise)."""

    def do_POST(self) -> None:
        body = self.read_json()
        if not body.get("stream"):
            answer, kind = ok_chat_answer(body["model"], False, {"prompt_tokens": 5,
                                          "completion_tokens": 1, "total_tokens": 6})  # fmt: skip
            self.answer(answer, kind)
            return
        answer, kind = ok_chat_answer(body["model"], True, {"prompt_tokens": 5,
                                      "completion_tokens": 1, "total_tokens": 6})  # fmt: skip
        head, rest = answer.split(b"\n\n", 1)
        self.send_response(200)
        self.send_header("content-type", kind)
        self.end_headers()
        self.wfile.write(head + b"\n\n")
        self.wfile.flush()
        time.sleep(3)
        self.wfile.write(rest)
        self.wfile.flush()
        self.close_connection = True


def test_readiness_is_never_ready_once_sigterm_arrived(tmp_path: Path) -> None:
    with serving(SlowStream) as up, served(tmp_path, up) as s:
        assert httpx.get(f"{s.root}/readyz").status_code == 200
        events: list[bytes] = []

        def stream() -> None:
            with httpx.stream(
                "POST", f"{s.root}/v1/chat/completions", timeout=30,
                json={"model": "sim-small", "stream": True,
                      "messages": [{"role": "user", "content": "slow"}]},
            ) as r:  # fmt: skip
                events.extend(r.iter_bytes())

        t = threading.Thread(target=stream)
        t.start()
        time.sleep(1.0)  # the stream is open, its rest 2 s away
        s.proc.send_signal(signal.SIGTERM)
        seen: list[int | str] = []
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            try:
                r = httpx.get(f"{s.root}/readyz", timeout=2)
                seen.append(r.status_code)
                assert r.status_code == 503 and r.json()["status"] == "draining", r.text
            except httpx.TransportError:
                seen.append("refused")  # the listener closed: what a probe reads as not ready
            time.sleep(0.02)
        t.join(20)
        s.proc.wait(30)
    assert b"[DONE]" in b"".join(events)  # the stream in flight finished
    assert seen and 200 not in seen, seen


def test_readiness_waits_for_every_worker_and_drains_liveness_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready = tmp_path / "ready"
    ready.mkdir()
    monkeypatch.setenv(worker_ready.READY_DIR_ENV, str(ready))
    monkeypatch.setenv(worker_ready.COUNT_ENV, "2")
    monkeypatch.setenv("ARBITER_WORKER", "0")

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            worker_ready.mark_ready()  # this worker serves; worker 1 not yet
            r = await sc.client.get("/readyz")
            assert r.status_code == 503, r.text
            assert orjson.loads(r.content)["status"] == "starting"
            assert r.json()["workers"] == {"ready": 1, "of": 2}
            assert (await sc.client.get("/livez")).status_code == 200  # this one answers
            (ready / "1").touch()
            r = await sc.client.get("/readyz")
            assert r.status_code == 200 and r.json()["status"] == "ready", r.text
            assert r.json()["workers"] == {"ready": 2, "of": 2}
            # SIGTERM's handler sets this (cli.py) ~0.1 s before uvicorn closes the listener
            sc.services.stopping.draining = True
            r = await sc.client.get("/readyz")
            assert r.status_code == 503 and r.json()["status"] == "draining", r.text
            assert (await sc.client.get("/livez")).status_code == 200
            assert (await sc.client.get("/healthz")).status_code == 200  # as it was

    asyncio.run(main())
