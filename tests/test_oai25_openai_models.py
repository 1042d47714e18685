"""oai25: OpenAI-protocol models that differ in what they take, through a real `arbiter serve`
and the openai SDK: the client's output limit reaches each under the name it takes
(`max_tokens_param`), and a routed request one refuses as unsupported goes to the next.
`rsn-1` answers like OpenAI's reasoning models (400 `unsupported_parameter` for `max_tokens`,
"use max_completion_tokens", and for `logprobs`); `old-1` is a server that knows only
`max_tokens` (declared `max_tokens_param = "max_tokens"`) and ignores the other name, as such
servers do, and takes logprobs."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.probe22a_rig import Reply, Rig, chat_whole, rig
from tests.probe_rig import model_toml, rig_toml

_n = itertools.count()
_CAPS = '["chat", "json", "tools", "vision"]'
_REFUSED = {
    "error": {
        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead.",
        "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter",
    }
}  # fmt: skip


def _config(port: int, db: Path) -> str:
    models = model_toml("rsn-1", "ro", (1000.0, 2000.0), 200000, _CAPS)
    models += model_toml(
        "old-1", "ro", (1000.0, 2000.0), 200000, _CAPS, 'max_tokens_param = "max_tokens"\n'
    )
    failover = {"first_byte_timeout_s": 3.0, "total_timeout_s": 6.0, "deadline_s": 8.0,
                "retries_per_model": 0}  # fmt: skip
    return rig_toml(port, db, models, failover, baseline="rsn-1", breaker=100000)


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(Path(tmp_path_factory.mktemp("oai25_limits")), _config) as made:
        yield made


def _like_its_server(path: str, body: dict[str, Any]) -> Reply:
    if body["model"] == "rsn-1" and "max_tokens" in body:
        return Reply(_REFUSED, status=400)
    if body["model"] == "rsn-1" and body.get("logprobs"):
        error = {**_REFUSED["error"], "param": "logprobs",
                 "message": "logprobs is not supported with this model."}  # fmt: skip
        return Reply({"error": error}, status=400)
    return Reply(chat_whole({"content": "ok"}, "stop"))


def _sent(r: Rig, model: str, **kw: Any) -> dict[str, Any]:
    name = f"l{next(_n)}"
    m = r.script(name, _like_its_server)
    r.oa.chat.completions.create(model=model, messages=[{"role": "user", "content": m}], **kw)
    _, body = r.upstream.one(name)
    return {k: v for k, v in body.items() if k in ("max_tokens", "max_completion_tokens")}


@pytest.mark.parametrize("model", ["rsn-1", "auto"])
def test_max_tokens_reaches_a_reasoning_model_as_max_completion_tokens(r: Rig, model: str) -> None:
    """The SDK still takes `max_tokens` (deprecated, not removed); OpenAI's reasoning models
    refuse it. It went to rsn-1 as it came: the upstream's 400 (a request routed by `auto`
    cannot know which name the model it gets takes). Now it goes under rsn-1's name."""
    assert _sent(r, model, max_tokens=50) == {"max_completion_tokens": 50}


def test_max_completion_tokens_reaches_a_max_tokens_server_as_max_tokens(r: Rig) -> None:
    """old-1 knows only `max_tokens`: the client's `max_completion_tokens: 50` went as it came,
    unread there, and the answer was not held to the 50 tokens Arbiter reserved for."""
    assert _sent(r, "old-1", max_completion_tokens=50) == {"max_tokens": 50}


def test_a_limit_under_the_models_own_name_goes_as_it_came(r: Rig) -> None:
    """Held: each model's own name, and Arbiter's limit when the client sets none."""
    assert _sent(r, "rsn-1", max_completion_tokens=50) == {"max_completion_tokens": 50}
    assert _sent(r, "old-1", max_tokens=50) == {"max_tokens": 50}
    assert _sent(r, "rsn-1") == {"max_completion_tokens": 1024}
    assert _sent(r, "old-1") == {"max_tokens": 1024}


def test_auto_tries_the_next_model_when_one_does_not_take_a_parameter(r: Rig) -> None:
    """Nothing in the config says which OpenAI models take `logprobs` (reasoning models
    refuse it): `auto` sent it to rsn-1 and relayed its 400, old-1 never asked. Now an
    upstream's 400 `unsupported_parameter` / `unsupported_value` under `auto` goes on to the
    next model; named, it is the caller's 400 as before (the control)."""
    name = f"l{next(_n)}"
    m = r.script(name, _like_its_server)
    messages: Any = [{"role": "user", "content": m}]
    raw = r.oa.chat.completions.with_raw_response.create(
        model="auto", messages=messages, logprobs=True
    )
    raw.parse()
    assert raw.headers["x-arbiter-model"] == "old-1"
    assert [b["model"] for _, b in r.upstream.bodies(name)] == ["rsn-1", "old-1"]
    attempts = r.decision(raw.headers["x-arbiter-decision-id"])["attempts"]
    assert [(a["model"], a["ok"]) for a in attempts] == [("rsn-1", False), ("old-1", True)]
    with pytest.raises(openai.BadRequestError):
        r.oa.chat.completions.create(model="rsn-1", messages=messages, logprobs=True)
    assert [b["model"] for _, b in r.upstream.bodies(name)] == ["rsn-1", "old-1", "rsn-1"]
