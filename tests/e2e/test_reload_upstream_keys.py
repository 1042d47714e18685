"""A provider key rotated without a restart: `[upstreams.X] api_key_file` is read again by each
reload (SIGHUP or `POST /arbiter/admin/reload`); the next call carries the new key, a stream in
flight runs to its end on the old connection and old key, and that connection is closed when
the stream ends, not before. A base URL changed, an upstream added with its model and taken out
again: live too. A real `arbiter serve`, an upstream on 127.0.0.1 that records each call's key
and connection, the official openai SDK as client. Before, a key came only from an environment
variable the running process could not see changed, and any `upstreams.*` difference refused
the whole reload."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import openai
import orjson
import pytest

from tests.conftest import Sidecar
from tests.scripted_upstream import capped_sidecar, ok_chat_answer, serving
from tests.waiting import until

USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
ASK = [{"role": "user", "content": "A haiku about rain, please."}]


class _Upstream(BaseHTTPRequestHandler):
    """Answers "ok"; records (its server's tag, the Authorization header, the client's port) per
    call and the ports whose connection the sidecar closed. A stream waits for `release`."""

    protocol_version = "HTTP/1.1"
    tag: ClassVar[str] = "a"
    calls: ClassVar[list[tuple[str, str, int]]] = []
    closed: ClassVar[list[int]] = []
    streams: ClassVar[list[int]] = []
    release: ClassVar[threading.Event] = threading.Event()

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        req = orjson.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        port = self.client_address[1]
        self.calls.append((self.tag, self.headers.get("authorization", ""), port))
        if req.get("stream"):
            self.streams.append(port)
            self.release.wait(30)
        body, kind = ok_chat_answer(req["model"], bool(req.get("stream")), USAGE)
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def finish(self) -> None:  # the connection's end: the sidecar closed it (EOF)
        super().finish()
        self.closed.append(self.client_address[1])


class _Other(_Upstream):
    tag = "b"


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[str, str]]:
    with serving(_Upstream) as a, serving(_Other) as b:
        try:
            yield a, b
        finally:
            _Upstream.release.set()


def _key_file(tmp: Path, key: str) -> Path:
    path = tmp / "sim.key"
    path.write_text(key + "\n")
    return path


def _reloads(s: Sidecar, outcome: str) -> float:
    text = s.admin("GET", "/metrics").text
    line = f'arbiter_config_reloads_total{{outcome="{outcome}"}}'
    return float(next(x for x in text.splitlines() if x.startswith(line)).split()[-1])


def _ask(gpt: openai.OpenAI, model: str = "sim-premium") -> str:
    answer = gpt.chat.completions.create(model=model, max_tokens=20, messages=ASK)  # type: ignore[arg-type]
    return answer.choices[0].message.content or ""


def test_a_rotated_key_file_is_the_next_calls_key_and_a_stream_in_flight_ends_on_the_old(
    upstreams: tuple[str, str], tmp_path: Path
) -> None:
    url, _ = upstreams
    key_file = _key_file(tmp_path, "sk-old")

    def from_file(doc: dict[str, Any]) -> None:
        up = doc["upstreams"]["sim"]
        up.pop("api_key_env", None)
        up["api_key_file"] = "sim.key"  # relative: read from the config file's folder

    _Upstream.calls.clear()
    _Upstream.closed.clear()
    _Upstream.streams.clear()
    _Upstream.release.clear()
    with capped_sidecar(url, "sqlite", tmp_path, edit=from_file) as s:
        key = str(s.create_key("t-rotate")["key"])
        with openai.OpenAI(base_url=s.base_url, api_key=key, max_retries=0, timeout=60) as gpt:
            assert _ask(gpt) == "ok"
            assert _Upstream.calls[-1][1] == "Bearer sk-old"
            got: dict[str, str] = {}

            def stream() -> None:
                parts = gpt.chat.completions.create(
                    model="sim-premium", max_tokens=20, messages=ASK, stream=True,  # type: ignore[arg-type]
                )  # fmt: skip
                got["text"] = "".join(c.choices[0].delta.content or "" for c in parts if c.choices)

            streaming = threading.Thread(target=stream)
            streaming.start()
            until(lambda: len(_Upstream.streams) == 1, "the stream's call at the upstream")
            held = _Upstream.streams[0]
            assert _Upstream.calls[-1][1] == "Bearer sk-old"
            key_file.write_text("sk-new\n")  # the config file itself is unchanged
            os.kill(s.proc.proc.pid, signal.SIGHUP)
            until(lambda: _reloads(s, "applied") == 1, "the reload applied")
            assert _ask(gpt) == "ok"
            _, auth, port = _Upstream.calls[-1]
            assert auth == "Bearer sk-new" and port != held  # a new provider, its own connection
            assert held not in _Upstream.closed  # the stream in flight keeps its connection
            _Upstream.release.set()
            streaming.join(30)
            assert got.get("text") == "ok"
            # the old provider's last call ended: its connection is closed now
            until(lambda: held in _Upstream.closed, "the old connection closed after the stream")
            assert _ask(gpt) == "ok"
            assert _Upstream.calls[-1][1:] == ("Bearer sk-new", port)  # the new one is kept open
            # the endpoint, for an unchanged file and key: nothing to do
            r = s.admin("POST", "/arbiter/admin/reload")
            assert r.status_code == 200 and r.json()["outcome"] == "unchanged", r.text
            # a key file that cannot be read: a 400 naming it, the key serving stays
            key_file.unlink()
            r = s.admin("POST", "/arbiter/admin/reload")
            assert r.status_code == 400 and "api_key_file" in r.text, r.text
            assert _ask(gpt) == "ok" and _Upstream.calls[-1][1] == "Bearer sk-new"
        assert s.proc.proc.poll() is None  # SIGHUP's default would have ended it


def test_a_base_url_an_upstream_added_and_taken_out_change_live(
    upstreams: tuple[str, str], tmp_path: Path
) -> None:
    """The sim upstream moves to the second server; then an upstream `extra` is added with a
    model of its own, which answers; then both go, and the model is unknown again. An
    upstream's protocol or discovery still needs a restart: refused by name."""
    url, other = upstreams
    _Upstream.calls.clear()
    with capped_sidecar(url, "sqlite", tmp_path) as s:
        key = str(s.create_key("t-move")["key"])
        with openai.OpenAI(base_url=s.base_url, api_key=key, max_retries=0, timeout=60) as gpt:
            assert _ask(gpt) == "ok" and _Upstream.calls[-1][0] == "a"

            def move(doc: dict[str, Any]) -> None:
                doc["upstreams"]["sim"]["base_url"] = other

            s.edit_config(move)
            r = s.admin("POST", "/arbiter/admin/reload")
            assert r.status_code == 200, r.text
            assert r.json()["changed"] == ["upstreams.sim.base_url"]
            assert _ask(gpt) == "ok" and _Upstream.calls[-1][0] == "b"

            def add(doc: dict[str, Any]) -> None:
                doc["upstreams"]["extra"] = {"base_url": url}
                doc["models"]["extra-model"] = {
                    "upstream": "extra", "price_in_per_mtok": 1.0, "price_out_per_mtok": 2.0,
                }  # fmt: skip

            s.edit_config(add)
            r = s.admin("POST", "/arbiter/admin/reload")
            assert r.status_code == 200, r.text
            assert _ask(gpt, "extra-model") == "ok"
            assert _Upstream.calls[-1][:2] == ("a", "")  # no key: none configured for it

            def protocol(doc: dict[str, Any]) -> None:
                doc["upstreams"]["extra"]["protocol"] = "anthropic"

            s.edit_config(protocol)
            r = s.admin("POST", "/arbiter/admin/reload")
            assert r.status_code == 400 and "upstreams.extra.protocol" in r.text, r.text
            assert "upstreams.sim" not in r.json()["error"]["message"]

            def remove(doc: dict[str, Any]) -> None:
                del doc["upstreams"]["extra"]
                del doc["models"]["extra-model"]

            s.edit_config(remove)
            r = s.admin("POST", "/arbiter/admin/reload")
            assert r.status_code == 200, r.text
            with pytest.raises(openai.NotFoundError):
                _ask(gpt, "extra-model")
            assert _ask(gpt) == "ok" and _Upstream.calls[-1][0] == "b"
