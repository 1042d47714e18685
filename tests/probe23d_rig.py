"""probe23d's rig: an operator's `arbiter serve` / `check-config` run as child processes on a
config written here (the demo pool on an upstream nobody calls unless a test says so), each
bounded in time, its exit status and its whole output kept; and a store file made read-only
the way the host allows (chmod for a user, the immutable attribute for root, whom no mode
stops)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any

import openai
import pytest

from arbiter.inherited_socket import fd_args
from arbiter.offline.demo import demo_settings
from arbiter.toml_text import to_toml
from tests.conftest import ENV
from tests.scripted_upstream import ScriptedHandler, ok_chat_answer

NOWHERE = "http://127.0.0.1:9/v1"  # the discard port: no test here calls an upstream there
SLOW_S = 17.0  # a stream's second half comes this long after its first (past 15 s)
USAGE = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}


class SlowStream(ScriptedHandler):
    """A stream's first event at once, the rest SLOW_S later; a whole answer at once."""

    def do_POST(self) -> None:
        body = self.read_json()
        answer, kind = ok_chat_answer(body["model"], bool(body.get("stream")), USAGE)
        if not body.get("stream"):
            self.answer(answer)
            return
        first, rest = answer.split(b"\n\n", 1)
        self.send_response(200)
        self.send_header("content-type", kind)
        self.end_headers()
        self.wfile.write(first + b"\n\n")
        self.wfile.flush()
        time.sleep(SLOW_S)
        self.wfile.write(rest)
        self.close_connection = True


def config_text(
    upstream: str = NOWHERE,
    sections: dict[str, Any] | None = None,
    db: Path = Path("a.db"),
    **server: Any,
) -> str:
    """The demo pool (no auth, its store at `db`) with `server` keys set, and each of
    `sections`' keys in its section."""
    doc = demo_settings(upstream, db, auth=False)
    doc["server"].update(server)
    for name, keys in (sections or {}).items():
        doc.setdefault(name, {}).update(keys)
    return to_toml(doc)


def write_config(
    tmp: Path, upstream: str = NOWHERE, sections: dict[str, Any] | None = None, **server: Any
) -> Path:
    """`config_text`'s file in `tmp`, its store beside it."""
    path = tmp / "arbiter.toml"
    path.write_text(config_text(upstream, sections, tmp / "a.db", **server))
    return path


@dataclass(slots=True)
class Ran:
    rc: int | None  # None: still running at the deadline (then stopped)
    out: str  # stdout and stderr together

    @property
    def lines(self) -> list[str]:
        return [line for line in self.out.splitlines() if line.strip()]


def arbiter(
    *args: str, timeout_s: float = 30.0, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Ran:
    """`python -m arbiter ARGS`, stopped (SIGTERM, then SIGKILL) if it runs past `timeout_s`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "arbiter", *args], env=env or ENV, cwd=cwd, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=timeout_s)
        return Ran(proc.returncode, out)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        return Ran(None, out)


@contextmanager
def serve_process(
    cfg: Path,
    env: dict[str, str] | None = None,
    *,
    listener: socket.socket | None = None,
    **popen: Any,
) -> Iterator[Popen[str]]:
    """`arbiter serve --config cfg` as a child in its own session (text pipes, where `popen`
    asks for any), serving on `listener` when given (held from the port's choice on, so no
    other process can take the port first; this process's copy closed once the child has it);
    stopped at the end: SIGTERM, then SIGKILL after 30 s."""
    held = fd_args(listener) if listener is not None else []
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "arbiter", "serve", "--config", str(cfg), *held],
            env=env or ENV, text=True, start_new_session=True,
            pass_fds=(listener.fileno(),) if listener is not None else (), **popen,
        )  # fmt: skip
    finally:
        if listener is not None:
            listener.close()
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def one_clear_line(ran: Ran, *words: str) -> str:
    """The run's `arbiter: ...` line, which names each of `words`; no traceback anywhere."""
    assert "Traceback" not in ran.out, ran.out[-3000:]
    said = [line for line in ran.lines if line.startswith("arbiter: ")]
    assert len(said) >= 1, ran.out[-3000:]
    for word in words:
        assert word in said[0], said
    return said[0]


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` unwritable for the sidecar while inside."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)]).returncode != 0:
        pytest.skip("root, and no immutable attribute on this filesystem: nothing is read-only")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


class StreamClient:
    """One streamed chat request through the openai SDK, in a thread: `got` holds its text, its
    finish reason and what the SDK raised; `first` is set at its first word (or its end)."""

    def __init__(self, base_url: str, model: str = "sim-tiny") -> None:
        self.base_url, self.model = base_url, model
        self.got: dict[str, object] = {"text": ""}
        self.first = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with openai.OpenAI(base_url=self.base_url, api_key="x", max_retries=0) as client:
            try:
                for chunk in client.chat.completions.create(
                    model=self.model, messages=[{"role": "user", "content": "hi"}],
                    stream=True, timeout=60,
                ):  # fmt: skip
                    if chunk.choices and chunk.choices[0].delta.content:
                        self.got["text"] = str(self.got["text"]) + chunk.choices[0].delta.content
                        self.first.set()
                    if chunk.choices and chunk.choices[0].finish_reason:
                        self.got["finish"] = chunk.choices[0].finish_reason
            except Exception as err:  # what the SDK raised is the finding
                self.got["error"] = repr(err)
        self.first.set()


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on (IPv4; its descriptors' sockets, /proc/net/tcp)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for row in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        cols = row.split()
        if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
            ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def children(pid: int) -> list[int]:
    """`pid`'s child processes (a supervisor's workers)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
    return out
