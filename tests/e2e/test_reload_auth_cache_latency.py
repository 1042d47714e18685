"""What else a reload changes without a restart: the admin key (`[auth] admin_key_file`, read
again by each reload: the new key works at once, the old one is refused; with `workers = 2`
every worker reads the file on the supervisor's SIGHUP), the response cache's numbers (a shorter
`ttl_s` expires entries already written) and the latency model's (a new prior is the next
prediction's). Real `arbiter serve` processes, the official openai SDK as client. Before, any
`[auth]`, `[cache]` or `[latency]` difference refused the whole reload."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest

from tests.conftest import ADMIN_KEY, Sidecar
from tests.scripted_upstream import capped_sidecar, ok_chat_answer, serving
from tests.waiting import until

ASK = [{"role": "user", "content": "A haiku about the sea, please."}]
USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


class _Upstream(BaseHTTPRequestHandler):
    """Answers "ok" at once, whole or streamed."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        req = orjson.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        body, kind = ok_chat_answer(req["model"], bool(req.get("stream")), USAGE)
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serving(_Upstream) as url:
        yield url


def _metrics_status(s: Sidecar, key: str) -> int:
    with httpx.Client() as fresh:  # a connection of its own: the kernel picks the worker
        r = fresh.get(f"{s.root_url}/metrics", headers={"authorization": f"Bearer {key}"})
    return r.status_code


def test_a_rotated_admin_key_file_works_at_once_on_every_worker_and_the_old_key_stops(
    upstream: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "admin.key"
    key_file.write_text(ADMIN_KEY + "\n")

    def two_workers_key_file(doc: dict[str, Any]) -> None:
        doc.setdefault("server", {})["workers"] = 2
        doc["auth"] = {"mode": "keys", "admin_key_file": str(key_file)}

    with capped_sidecar(upstream, "sqlite", tmp_path, edit=two_workers_key_file) as s:
        new = "adm-rotated-" + os.urandom(8).hex()
        key_file.write_text(new + "\n")
        r = s.admin("POST", "/arbiter/admin/reload")  # the old key, still serving: accepted
        assert r.status_code == 200 and r.json()["outcome"] == "applied", r.text
        assert r.json()["changed"] == ["auth.admin_key"]  # its name, never its value
        assert new not in r.text and ADMIN_KEY not in r.text

        def every_worker(key: str, old: str) -> bool:  # fresh connections: both workers
            return all(
                _metrics_status(s, key) == 200 and _metrics_status(s, old) == 401 for _ in range(12)
            )

        until(lambda: every_worker(new, ADMIN_KEY), "the new admin key on every worker")
        # again by SIGHUP to the supervisor, which passes it to every worker
        newer = "adm-rotated-" + os.urandom(8).hex()
        key_file.write_text(newer)
        os.kill(s.proc.proc.pid, signal.SIGHUP)
        until(lambda: every_worker(newer, new), "the newer admin key on every worker")
        # the mode still needs a restart: refused by name, the key serving unchanged
        s.edit_config(lambda doc: doc["auth"].update(mode="open"))
        r = httpx.post(
            f"{s.root_url}/arbiter/admin/reload", headers={"authorization": f"Bearer {newer}"}
        )
        assert r.status_code == 400 and "auth.mode" in r.text, r.text
        assert _metrics_status(s, newer) == 200


def test_a_shorter_cache_ttl_expires_the_entries_written_under_the_old_one(
    upstream: str, tmp_path: Path
) -> None:
    def cached(doc: dict[str, Any]) -> None:
        doc["cache"] = {"enabled": True, "ttl_s": 86400.0}

    with capped_sidecar(upstream, "sqlite", tmp_path, edit=cached) as s:
        key = str(s.create_key("t-cache")["key"])
        with openai.OpenAI(base_url=s.base_url, api_key=key, max_retries=0, timeout=60) as gpt:

            def ask() -> str:
                raw = gpt.chat.completions.with_raw_response.create(
                    model="sim-premium", max_tokens=20, messages=ASK,  # type: ignore[arg-type]
                )  # fmt: skip
                return raw.headers["x-arbiter-cache"]

            assert ask() == "miss"
            assert ask() == "hit"
            written = time.monotonic()
            s.edit_config(lambda doc: doc["cache"].update(ttl_s=0.2))
            r = s.admin("POST", "/arbiter/admin/reload")
            assert r.status_code == 200 and r.json()["changed"] == ["cache.ttl_s"], r.text
            time.sleep(max(0.0, 0.25 - (time.monotonic() - written)))
            # the entry written under a day's TTL is older than the new 0.2 s: not served
            assert ask() == "miss"
            # the cache's matcher needs a restart: refused by name
            s.edit_config(lambda doc: doc["cache"].update(semantic=True))
            r = s.admin("POST", "/arbiter/admin/reload")
            assert r.status_code == 400 and "cache.semantic" in r.text, r.text


def test_a_new_latency_prior_is_the_next_predictions(upstream: str, tmp_path: Path) -> None:
    def greedy(doc: dict[str, Any]) -> None:
        doc["routing"]["explore"] = 0.0  # the same pick each time: its prediction compared

    with capped_sidecar(upstream, "sqlite", tmp_path, edit=greedy) as s:
        key = str(s.create_key("t-latency")["key"])
        slo = {"x-arbiter-max-ttft-ms": "3600000"}  # an SLO every model meets: a prediction
        with openai.OpenAI(base_url=s.base_url, api_key=key, max_retries=0, timeout=60) as gpt:

            def predicted() -> float:
                raw = gpt.chat.completions.with_raw_response.create(
                    model="auto", max_tokens=20, messages=ASK, extra_headers=slo, stream=True,  # type: ignore[arg-type]
                )  # fmt: skip
                for _ in raw.parse():
                    pass
                return float(raw.headers["x-arbiter-predicted-ttft-ms"])

            first = predicted()

            def slower(doc: dict[str, Any]) -> None:
                # the prior 10 x slower (default 2,000 ms), worth 1,000 calls (default 3): it
                # outweighs the pick's one fast call
                doc["latency"] = {"prior_ttft_ms": 20000.0, "prior_weight": 1000.0}

            s.edit_config(slower)
            r = s.admin("POST", "/arbiter/admin/reload")
            assert r.status_code == 200, r.text
            assert r.json()["changed"] == ["latency.prior_ttft_ms", "latency.prior_weight"]
            assert predicted() > 3 * first
            # a part made at start (the outlier filter) needs a restart: refused by name
            s.edit_config(lambda doc: doc["latency"].update(outlier_z=0.0))
            r = s.admin("POST", "/arbiter/admin/reload")
            assert r.status_code == 400 and "latency.outlier_z" in r.text, r.text
