"""probe21c: `[cache] ttl_s` lowered by a reload while identical requests keep coming (8 client
threads, the official openai SDK, bounded in time): from the reload on, no hit is served from an
entry older than the new TTL; the entries written before it stop being served once the new TTL
has passed since they were written, and new entries are written and served in their place."""

from __future__ import annotations

import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from arbiter.toml_text import to_toml
from tests.scripted_upstream import ScriptedHandler, capped_sidecar, ok_chat_answer, serving

USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
TTL = 0.5  # the new one, seconds
SLACK = 0.25  # between the client's clock and the entry's written time (a loaded host)


class _Ok(ScriptedHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        req = self.read_json()
        self.answer(*ok_chat_answer(req["model"], bool(req.get("stream")), USAGE))


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serving(_Ok) as url:
        yield url


def test_a_ttl_lowered_under_load_serves_no_entry_older_than_it(
    upstream: str, tmp_path: Path
) -> None:
    def cached(doc: dict[str, Any]) -> None:
        doc["cache"] = {"enabled": True, "ttl_s": 86400.0}

    with capped_sidecar(upstream, "sqlite", tmp_path, edit=cached) as s:
        key = str(s.create_key("t-ttl")["key"])
        # (started, ended, cache state, the entry's writer: a miss's decision, a hit's source)
        seen: list[tuple[float, float, str, str]] = []
        lock = threading.Lock()
        stop = threading.Event()

        def client() -> None:
            with openai.OpenAI(base_url=s.base_url, api_key=key, max_retries=0, timeout=30) as gpt:
                for _ in range(400):  # bounded; `stop` ends it first
                    if stop.is_set():
                        return
                    began = time.monotonic()
                    raw = gpt.chat.completions.with_raw_response.create(
                        model="sim-premium", max_tokens=20,
                        messages=[{"role": "user", "content": "The same question."}],
                    )  # fmt: skip
                    h = raw.headers
                    state = h["x-arbiter-cache"]
                    writer = (
                        h["x-arbiter-decision-id"] if state == "miss"
                        else h["x-arbiter-cache-source-decision-id"]
                    )  # fmt: skip
                    with lock:
                        seen.append((began, time.monotonic(), state, writer))

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while not any(x[2] == "hit" for x in seen) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # the entry serving ages past what the new TTL will allow
        doc = tomllib.loads(s.config_path.read_text())
        doc["cache"]["ttl_s"] = TTL
        s.config_path.write_text(to_toml(doc))
        r = s.admin("POST", "/arbiter/admin/reload")
        reloaded = time.monotonic()
        assert r.status_code == 200 and r.json()["changed"] == ["cache.ttl_s"], r.text
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads)
        # when each entry was written (at the latest): its miss's answer
        written = {w: end for _, end, state, w in seen if state == "miss"}
        after = [x for x in seen if x[0] > reloaded]
        assert after and any(x[2] == "hit" for x in after), "load went on with hits after it"
        for began, _, state, w in after:
            if state == "hit":
                assert w in written, w
                age = began - written[w]
                assert age <= TTL + SLACK, (age, w)
        # the entries before the reload: not served past the new TTL
        old = {w for b, _, st, w in seen if st == "miss" and b < reloaded}
        assert not [x for x in after if x[3] in old and x[0] > reloaded + TTL + SLACK]
