"""An upstream's error text never reaches a tenant: it can quote the operator's key. A real HTTP
upstream on loopback answers errors that carry a key-like fragment; the client gets the status
and a message in Arbiter's words."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from arbiter.offline.demo import demo_config
from tests.conftest import ADMIN_KEY, Sidecar
from tests.openapi_spec import validate
from tests.scripted_upstream import ScriptedHandler, serving

LEAK = "sk-proj-abc1****************************wxyz"
ANSWERS = {  # model (as the upstream sees it) -> (status, error body)
    "sim-tiny": (
        401,
        {"message": f"Incorrect API key provided: {LEAK}.", "type": "invalid_request_error",
         "param": None, "code": "invalid_api_key"},
    ),
    "sim-small": (
        400,
        {"message": f"Invalid 'messages' for org-7Hq (key {LEAK})", "type": "invalid_request_error",
         "param": "messages", "code": "invalid_value"},
    ),
    "sim-medium": (500, {"message": f"internal error at 10.0.0.7, key {LEAK}", "type": "server"}),
}  # fmt: skip


class _Leaky(ScriptedHandler):
    def do_POST(self) -> None:
        body = self.read_json()
        status, error = ANSWERS.get(body.get("model"), ANSWERS["sim-medium"])
        self.answer(json.dumps({"error": error}).encode(), status=status)


@pytest.fixture(scope="module")
def leaky_sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    with serving(_Leaky) as upstream:
        tmp: Path = tmp_path_factory.mktemp("leaky")
        cfg = tmp / "arbiter.toml"
        cfg.write_text(demo_config(upstream, tmp / "a.db"))
        s = Sidecar(cfg).start()
        yield s
        s.stop()


@pytest.mark.parametrize(
    ("model", "status", "words"),
    [
        ("sim-tiny", 503, "returned HTTP 401 (authentication failed)"),
        ("sim-small", 400, "returned HTTP 400 (bad request): invalid_value"),
        ("sim-medium", 503, "returned HTTP 500 (server error)"),
        ("auto", None, "returned HTTP"),  # whichever model it routed to
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_the_client_never_sees_the_upstreams_error_text(
    leaky_sidecar: Sidecar, model: str, status: int | None, words: str, stream: bool
) -> None:
    r = httpx.post(
        f"{leaky_sidecar.base_url}/chat/completions",
        json={"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
        timeout=30,
    )
    assert r.status_code == status if status else r.status_code in (400, 503), r.text
    validate("ErrorResponse", r.json())
    message = r.json()["error"]["message"]
    assert words in message
    for secret in ("sk-proj", "wxyz", "Incorrect API key", "org-7Hq", "10.0.0.7"):
        assert secret not in r.text, (secret, r.text)
