"""probe21c: a provider key rotated under load. 40 calls in flight (whole and streamed, the
official openai and anthropic SDKs) while the key file changes and a reload runs: each call
reaches the upstream exactly once and carries the old key or the new one, none fails; the old
provider's connections all close once their calls end (counted at the upstream); then 20
reloads in a row leak no connection (at the upstream) and no socket (in the sidecar's
process)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import anthropic
import openai
import pytest

from tests.conftest import Sidecar
from tests.scripted_upstream import ScriptedHandler, capped_sidecar, ok_chat_answer, serving
from tests.waiting import until

USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
HELD = 20  # calls held at the upstream when the key turns


class _Counting(ScriptedHandler):
    """Records each call (the marker in its prompt, its key, its connection's port), each
    connection opened and closed; a call waits for `release` while `hold` is set."""

    protocol_version = "HTTP/1.1"
    lock: ClassVar[threading.Lock] = threading.Lock()
    calls: ClassVar[list[tuple[str, str, int]]] = []
    opened: ClassVar[set[int]] = set()
    closed: ClassVar[set[int]] = set()
    hold: ClassVar[threading.Event] = threading.Event()
    release: ClassVar[threading.Event] = threading.Event()

    def setup(self) -> None:
        super().setup()
        with self.lock:
            self.opened.add(self.client_address[1])

    def do_POST(self) -> None:
        req = self.read_json()
        content = req["messages"][-1]["content"]  # a string, or parts (from /v1/messages)
        marker = content if isinstance(content, str) else "".join(p["text"] for p in content)
        with self.lock:
            self.calls.append(
                (marker, self.headers.get("authorization", ""), self.client_address[1])
            )
        if self.hold.is_set():
            self.release.wait(30)
        self.answer(*ok_chat_answer(req["model"], bool(req.get("stream")), USAGE))

    def finish(self) -> None:
        super().finish()
        with self.lock:
            self.closed.add(self.client_address[1])


@pytest.fixture
def upstream() -> Iterator[str]:
    _Counting.calls.clear()
    _Counting.opened.clear()
    _Counting.closed.clear()
    _Counting.hold.clear()
    _Counting.release.clear()
    with serving(_Counting) as url:
        try:
            yield url
        finally:
            _Counting.release.set()


def _from_file(doc: dict[str, Any]) -> None:
    up = doc["upstreams"]["sim"]
    up.pop("api_key_env", None)
    up["api_key_file"] = "sim.key"


def _claude(claude: anthropic.Anthropic, marker: str, stream: bool) -> str:
    ask: Any = [{"role": "user", "content": marker}]
    if not stream:
        answer = claude.messages.create(model="sim-premium", max_tokens=20, messages=ask)
        return "".join(b.text for b in answer.content if b.type == "text")
    with claude.messages.stream(model="sim-premium", max_tokens=20, messages=ask) as parts:
        return "".join(parts.text_stream)


def _call(gpt: openai.OpenAI, marker: str, stream: bool) -> str:
    ask: Any = [{"role": "user", "content": marker}]
    if not stream:
        answer = gpt.chat.completions.create(model="sim-premium", max_tokens=20, messages=ask)
        return answer.choices[0].message.content or ""
    parts = gpt.chat.completions.create(
        model="sim-premium", max_tokens=20, messages=ask, stream=True
    )
    return "".join(c.choices[0].delta.content or "" for c in parts if c.choices)


def _sockets(s: Sidecar) -> int:
    fds = Path(f"/proc/{s.proc.proc.pid}/fd")
    n = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):  # closed meanwhile
            n += os.readlink(fd).startswith("socket:")
    return n


def _open_at_upstream() -> set[int]:
    with _Counting.lock:
        return _Counting.opened - _Counting.closed


def test_a_key_rotated_under_40_calls_in_flight_then_20_reloads_leak_nothing(
    upstream: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "sim.key"
    key_file.write_text("sk-0\n")
    with capped_sidecar(upstream, "sqlite", tmp_path, edit=_from_file) as s:
        key = str(s.create_key("t-load")["key"])
        with (
            openai.OpenAI(base_url=s.base_url, api_key=key, max_retries=0, timeout=60) as gpt,
            anthropic.Anthropic(
                base_url=s.root_url, api_key=key, max_retries=0, timeout=60
            ) as claude,
            ThreadPoolExecutor(40) as pool,
        ):

            def one(i: int) -> Any:  # whole and streamed; every fourth by the anthropic SDK
                if i % 4 in (0, 1):
                    return pool.submit(_claude, claude, f"m{i}", i % 2 == 1)
                return pool.submit(_call, gpt, f"m{i}", i % 2 == 1)

            _Counting.hold.set()
            first = [one(i) for i in range(HELD)]
            until(lambda: len(_Counting.calls) == HELD, "20 calls held at the upstream")
            old_ports = {port for _, _, port in _Counting.calls}
            key_file.write_text("sk-1\n")
            reload = pool.submit(s.admin, "POST", "/arbiter/admin/reload", timeout=30)
            rest = [one(i) for i in range(HELD, 40)]
            r = reload.result(30)
            assert r.status_code == 200 and r.json()["outcome"] == "applied", r.text
            assert r.json()["changed"] == ["upstreams.sim.api_key"] and "sk-1" not in r.text
            until(lambda: len(_Counting.calls) == 40, "all 40 calls at the upstream")
            _Counting.release.set()
            assert [f.result(60) for f in first + rest] == ["ok"] * 40
            _Counting.hold.clear()
            markers = sorted(m for m, _, _ in _Counting.calls)
            assert markers == sorted(f"m{i}" for i in range(40))  # none twice, none lost
            by_marker = {m: k for m, k, _ in _Counting.calls}
            assert {by_marker[f"m{i}"] for i in range(HELD)} == {"Bearer sk-0"}
            assert {k for _, k, _ in _Counting.calls} <= {"Bearer sk-0", "Bearer sk-1"}
            assert _call(gpt, "after", False) == "ok"
            assert _Counting.calls[-1][1] == "Bearer sk-1"
            old_ports |= {p for _, k, p in _Counting.calls if k == "Bearer sk-0"}
            # the old provider's connections all close once their calls have ended
            until(lambda: old_ports <= _Counting.closed, "the old key's connections closed")

            # 20 reloads in a row (bounded), each rotating the key, each followed by a call
            sockets_before = _sockets(s)
            for n in range(2, 22):
                key_file.write_text(f"sk-{n}\n")
                r = s.admin("POST", "/arbiter/admin/reload", timeout=30)
                assert r.status_code == 200 and r.json()["outcome"] == "applied", r.text
                assert _call(gpt, f"r{n}", n % 2 == 0) == "ok"
                assert _Counting.calls[-1][1] == f"Bearer sk-{n}"
            last = _Counting.calls[-1][2]
            # every provider but the last has let its connection go: at most the last one's
            # (and none of the earlier ones) open at the upstream
            until(lambda: _open_at_upstream() <= {last}, "only the serving key's connection open")
            deadline = time.monotonic() + 10
            while _sockets(s) > sockets_before + 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _sockets(s) <= sockets_before + 2, (sockets_before, _sockets(s))
        assert s.proc.proc.poll() is None
