"""probe24b's rig: a sidecar (`arbiter serve`, a child whose log is kept) holding recognisable
secrets (two upstream keys, the three operator keys, a PostgreSQL password in its store URL, a
token in its budget webhook's URL) in front of a hostile upstream that quotes back every header
it was sent, in error answers of each kind and in its headers' values; the headers each upstream
call carried are recorded."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

from arbiter.inherited_socket import fd_args, loopback_listener, port_of, spawn_on
from tests.child_process import die_with_parent
from tests.probe_rig import model_toml
from tests.scripted_upstream import ScriptedHandler, ok_chat_answer, serving

OA_KEY = "sk-p24bOA-" + "7f3a9c2e1d5b8a64"
AN_KEY = "sk-ant-p24bAN-" + "c0ffee4b1d2e3f"
ADMIN = "adm-p24bADMIN-31415926535"
DASH = "dash-p24bDASH-27182818284"
METRICS = "met-p24bMETRICS-1414213562"
PG_PASSWORD = "pgP24bpw-5772156649"
HOOK_TOKEN = "hookP24btok-1618033988"
SECRETS = (OA_KEY, AN_KEY, ADMIN, DASH, METRICS, PG_PASSWORD, HOOK_TOKEN)

# a request whose prompt holds one of these is answered that way (HTTP status, or the error
# object at HTTP 200); each answer quotes the key and every header the upstream was sent
ERRORS = {"E401": 401, "E403": 403, "E500": 500, "E400": 400, "E404": 404, "E429": 429}


def leaked(text: str) -> list[str]:
    """The rig's secrets found in `text`."""
    return [s for s in SECRETS if s in text]


@dataclass(slots=True)
class Seen:
    """The headers of each call the upstream got, in order."""

    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Hostile(ScriptedHandler):
    protocol_version = "HTTP/1.1"
    seen: Seen  # set on the subclass `running` makes
    listed: tuple[str, ...] = ()  # more model ids its listing names (discovery's)

    def do_GET(self) -> None:  # /v1/models for check-config --probe and discovery
        names = ("oa-1", "an-1", "hook-1", *self.listed)
        listing = {"object": "list", "data": [{"id": m, "object": "model"} for m in names]}
        self.answer(orjson.dumps(listing))

    def do_POST(self) -> None:
        with self.seen.lock:
            self.seen.headers.append({k.lower(): v for k, v in self.headers.items()})
        body = self.read_json()
        if self.path.startswith("/hook"):  # the budget webhook's POST
            return self.answer(b"{}")
        raw = orjson.dumps(body)
        echo = f"Incorrect API key provided. You sent: {dict(self.headers.items())}"
        error = {"error": {"message": echo, "type": "invalid_request_error"}}
        quoting = {"x-echo": str(self.headers.get("authorization") or self.headers["x-api-key"])}
        for mark, status in ERRORS.items():
            if mark.encode() in raw:
                return self.answer(orjson.dumps(error), headers=quoting, status=status)
        if b"AT200" in raw:  # the error object in a 200 (OpenAI's stream errors come so)
            return self.answer(orjson.dumps(error), headers=quoting)
        if b"REDIRECT" in raw:
            where = "http://x.example/" + quoting["x-echo"].replace(" ", "/")  # the key in it
            return self.answer(b"", headers={"location": where}, status=302)
        leaky = {**quoting, "set-cookie": "upstream_session=p24b", "x-internal-host": "10.9.8.7"}
        # its request id (relayed as x-request-id / request-id) and rate-limit headers (passed
        # on) quoting the key: only an upstream's own values may reach a client
        key = quoting["x-echo"].removeprefix("Bearer ")
        leaky |= {"x-request-id": f"req-{key}", "x-ratelimit-remaining-requests": key}
        leaky |= {"request-id": f"req-{key}", "anthropic-ratelimit-requests-remaining": key}
        if "/messages" in self.path:
            answer = {
                "id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
                "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
                "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 1},
            }  # fmt: skip
            return self.answer(orjson.dumps(answer), headers=leaky)
        usage = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
        text, kind = ok_chat_answer(body["model"], bool(body.get("stream")), usage)
        self.answer(text, kind, headers=leaky)


def _config(port: int, store_url: str, more: str, ro_more: str) -> str:
    hook = f"http://hook:{HOOK_TOKEN}@127.0.0.1:{port}/hook?token={HOOK_TOKEN}"
    models = model_toml("oa-1", "ro", (1.0, 2.0), 100000, '["chat"]')
    models += model_toml("an-1", "ra", (1.0, 2.0), 100000, '["chat"]')
    # dear: two calls of one token pass half of t-hook's cap, and the webhook fires
    models += model_toml("hook-1", "ro", (1000.0, 1000.0), 100000, '["chat"]')
    return f"""
[auth]
mode = "keys"
admin_key_env = "P24B_ADMIN"
dashboard_key_env = "P24B_DASH"
metrics_key_env = "P24B_METRICS"
[server]
log_level = "debug"
[store]
url = "{store_url}"
flush_interval_ms = 20
[routing]
baseline = "oa-1"
quality_target = 0.5
explore = 0.0
judge_sample_rate = 0.0
difficulty = false
[latency]
probe_unseen = false
[breaker]
failure_threshold = 1000000
[budgets]
webhook_url = "{hook}"
caps = [{{ scope = "tenant", name = "t-hook", limit_usd = 0.02, window = "total" }}]
[upstreams.ro]
base_url = "http://127.0.0.1:{port}/v1"
api_key_env = "P24B_OA"
{ro_more}[upstreams.ra]
base_url = "http://127.0.0.1:{port}"
protocol = "anthropic"
api_key_env = "P24B_AN"
{models}{more}"""


ENV = {
    **os.environ,
    "P24B_OA": OA_KEY, "P24B_AN": AN_KEY, "P24B_ADMIN": ADMIN, "P24B_DASH": DASH,
    "P24B_METRICS": METRICS,
}  # fmt: skip


def with_password(url: str) -> str:
    """A PostgreSQL URL with the rig's password (the test server trusts loopback: unused)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}:{PG_PASSWORD}@{host}"))


@dataclass(slots=True)
class Running:
    root: str  # the sidecar's http://127.0.0.1:PORT
    config: Path
    log: Path  # the child's stdout and stderr
    seen: Seen

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`arbiter ARGS` with the sidecar's environment (its secrets too)."""
        command = [sys.executable, "-m", "arbiter", *args]
        return subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=60)

    def get(self, path: str, key: str) -> httpx.Response:
        return httpx.get(self.root + path, headers={"authorization": f"Bearer {key}"}, timeout=20)


@contextmanager
def running(
    tmp: Path, store_url: str, more: str = "", ro_more: str = "", listed: tuple[str, ...] = ()
) -> Iterator[Running]:
    """The hostile upstream (its listing naming `listed` too) and the sidecar in front of it,
    `more` TOML after the config's models and `ro_more` in the OpenAI upstream's table; both
    stopped at the end."""
    seen = Seen()
    with serving(type("H", (Hostile,), {"seen": seen, "listed": listed})) as url:
        cfg, log = tmp / "arbiter.toml", tmp / "sidecar.log"
        cfg.write_text(_config(urlsplit(url).port or 0, store_url, more, ro_more))
        sock = loopback_listener()
        root = f"http://127.0.0.1:{port_of(sock)}"
        args = [sys.executable, "-m", "arbiter", "serve", "--config", str(cfg), *fd_args(sock)]
        with log.open("wb") as out:
            proc = spawn_on(
                sock, args, ENV, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=die_with_parent(),
            )  # fmt: skip
        try:
            _wait_healthy(root, proc)
            yield Running(root, cfg, log, seen)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_healthy(root: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the sidecar exited at start-up"
        try:
            if httpx.get(root + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("the sidecar never answered /healthz")


def flat(value: Any) -> str:
    """`value` as one string to search (a response's body and headers, a list of them)."""
    return orjson.dumps(value, default=str).decode()
