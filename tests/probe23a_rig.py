"""probe23a's rig (streams and transport): a real `arbiter serve` (probe22a's config: oa-1/oa-2
on an OpenAI-protocol upstream, an-1/an-2 on an Anthropic one) in front of a raw-socket upstream
on 127.0.0.1 that writes whatever bytes a test's script wants, however split and paced. Each test
registers its script under a marker its request carries (`[[p:NAME]]`); the upstream serves
requests one after another on each connection (keep-alive) until a script closes it, and records
every (path, body) it read."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tests.probe22a_rig import blocks_as_events, chat_frames, config, message_frames
from tests.probe_rig import Recorder, SdkRig, keyed_sidecar, marker, sdk_clients

# "Hello" streamed in two pieces, with usage and its end event, by each upstream protocol
OA = b"".join(chat_frames([{"role": "assistant", "content": "Hel"}, {"content": "lo"}], "stop"))
AN = b"".join(message_frames(blocks_as_events([{"type": "text", "text": "Hello"}]), "end_turn"))
# a whole chat answer, the smallest (a script's `whole(sock, ANSWER)`)
ANSWER = orjson.dumps({
    "id": "x", "object": "chat.completion", "created": 1, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
})  # fmt: skip

# a script writes its answer on the socket; True keeps the connection for the next request
Script = Callable[[socket.socket, str, dict[str, Any]], bool]
_MARK = b"[[p:"


def head(status: str = "200 OK", **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def whole(sock: socket.socket, body: bytes, status: str = "200 OK", **headers: str) -> bool:
    """A whole answer with its length (content-type JSON unless given); keeps the connection."""
    headers.setdefault("content_type", "application/json")
    sock.sendall(head(status, content_length=str(len(body)), **headers) + body)
    return True


def stream(sock: socket.socket, body: bytes, pieces: int = 1, pause: float = 0.0) -> bool:
    """`body` as an SSE answer ended by the close, split into `pieces` writes `pause` apart
    (`pieces` 0: one write per byte)."""
    sock.sendall(head(content_type="text/event-stream", connection="close"))
    step = 1 if pieces == 0 else max(1, -(-len(body) // pieces))
    for at in range(0, len(body), step):
        sock.sendall(body[at : at + step])
        if pause:
            time.sleep(pause)
    return False


@dataclass(slots=True)
class Upstream(Recorder):
    """Scripts by marker, every (path, body) received, and the connections it accepted."""

    scripts: dict[str, Script] = field(default_factory=dict)
    connections: list[int] = field(default_factory=lambda: [0])

    def calls(self, name: str) -> int:
        return len(self.bodies(f"[[p:{name}]]"))

    def script_for(self, body: dict[str, Any]) -> Script | None:
        name = marker(body, _MARK)
        return None if name is None else self.scripts.get(name)

    def serve(self, sock: socket.socket) -> None:
        with self.lock:
            self.connections[0] += 1
        reader = sock.makefile("rb")
        try:
            while True:
                line = reader.readline()
                if not line:
                    return
                path = line.split(b" ")[1].decode()
                length = 0
                while (line := reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = orjson.loads(reader.read(length)) if length else {}
                self.record(path, body)
                script = self.script_for(body)
                if script is None or not script(sock, path, body):
                    return
        except OSError:
            return  # the sidecar went away: what the test checks is its answer
        finally:
            reader.close()
            sock.close()


Rig = SdkRig[Upstream]


@contextmanager
def rig(tmp: Path, edit: Callable[[str], str] = lambda text: text) -> Iterator[Rig]:
    upstream = Upstream()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener closed
            sock.settimeout(30)
            threading.Thread(target=upstream.serve, args=(sock,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    text = edit(config(listener.getsockname()[1], tmp / "a.db"))
    try:
        with (
            keyed_sidecar(tmp / "a.toml", text) as (sidecar, key),
            sdk_clients(sidecar, key, 20) as (oa, an),
        ):
            yield Rig(upstream, sidecar, key, oa, an)
    finally:
        stop.set()
        listener.close()
