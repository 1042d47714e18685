"""`server.max_messages` (message_cap.py): a request with more messages (Responses: `input`
items) than the bound is the caller's 400 in its surface's shape, naming the bound, checked as
soon as the body is parsed; one at the bound is served (the control). A body of 100,000 tiny
messages held the loop ~300 ms before (bench/results/mem26.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anthropic
import openai
import orjson
import pytest

from arbiter import config
from arbiter.errors import ConfigError, InvalidRequest
from arbiter.message_cap import DEFAULT_MAX_MESSAGES
from arbiter.surfaces.anthropic_messages import parse_count_tokens_request, parse_messages_request
from arbiter.surfaces.openai_chat import parse_chat_request
from arbiter.surfaces.openai_responses import parse_responses_request
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

CLAUDE = "sim-medium"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"
CAP = 5


def _turns(n: int) -> list[dict[str, str]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": "hi"} for i in range(n)]


def _bodies(n: int) -> dict[str, bytes]:
    turns = _turns(n)
    return {
        "chat": orjson.dumps({"model": "m", "messages": turns}),
        "messages": orjson.dumps({"model": "m", "max_tokens": 5, "messages": turns}),
        "count_tokens": orjson.dumps({"model": "m", "messages": turns}),
        "responses": orjson.dumps({"model": "m", "input": turns}),
    }


def _parse(kind: str, raw: bytes, cap: int) -> object:
    if kind == "chat":
        return parse_chat_request(raw, None, cap)
    if kind == "messages":
        return parse_messages_request(raw, None, cap)
    if kind == "count_tokens":
        return parse_count_tokens_request(raw, cap)
    return parse_responses_request(raw, None, cap)


@pytest.mark.parametrize("kind", ["chat", "messages", "count_tokens", "responses"])
def test_past_the_bound_is_a_400_naming_it(kind: str) -> None:
    _parse(kind, _bodies(CAP + 1)[kind], CAP + 1)  # at the bound: read (the control)
    with pytest.raises(InvalidRequest) as info:
        _parse(kind, _bodies(CAP + 1)[kind], CAP)
    assert info.value.param == ("input" if kind == "responses" else "messages")
    assert "server.max_messages" in str(info.value) and "at most 5" in str(info.value)


def test_the_default_bound_refuses_a_100k_message_body() -> None:
    raw = _bodies(100_000)["chat"]
    with pytest.raises(InvalidRequest, match="100,000 items"):
        parse_chat_request(raw)  # the default, as the surfaces' callers outside serve get
    parse_chat_request(_bodies(DEFAULT_MAX_MESSAGES)["chat"])


def test_the_key_is_parsed_strictly() -> None:
    text = EXAMPLE.read_text()
    env = {"SIM_API_KEY": "sk-test", "ARBITER_ADMIN_KEY": "adm-test"}
    assert config.loads(text, env=env).server.max_messages == DEFAULT_MAX_MESSAGES
    line = "max_body_bytes = 4194304"
    assert line in text
    given = lambda v: text.replace(line, f"{line}\nmax_messages = {v}")  # noqa: E731
    assert config.loads(given(7), env=env).server.max_messages == 7
    for bad in ("0", '"7"', "true", "1.5", "1000001"):
        with pytest.raises(ConfigError, match="max_messages"):
            config.loads(given(bad), env=env)


def test_through_the_sdks_in_each_surfaces_shape(tmp_path: Path) -> None:
    capped = lambda text: text.replace("[server]\n", f"[server]\nmax_messages = {CAP}\n", 1)  # noqa: E731

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, anthropic_models=(CLAUDE,), edit_config=capped) as sc,
            sdks(sc) as (claude, gpt),
        ):
            assert sc.services.settings.server.max_messages == CAP
            ok = await gpt.chat.completions.create(model="auto", messages=_turns(CAP))  # type: ignore[arg-type]
            assert ok.choices[0].message.content  # at the bound: served (the control)
            with pytest.raises(openai.BadRequestError) as oa:
                await gpt.chat.completions.create(model="auto", messages=_turns(CAP + 1))  # type: ignore[arg-type]
            assert oa.value.status_code == 400 and oa.value.param == "messages"
            assert "server.max_messages" in oa.value.message
            with pytest.raises(openai.BadRequestError) as rs:
                await gpt.responses.create(model="auto", input=_turns(CAP + 1))  # type: ignore[arg-type]
            assert rs.value.param == "input"
            ok_an = await claude.messages.create(
                model=CLAUDE,
                max_tokens=20,
                messages=_turns(CAP),  # type: ignore[arg-type]
            )
            assert ok_an.content
            with pytest.raises(anthropic.BadRequestError) as an:
                await claude.messages.create(
                    model=CLAUDE,
                    max_tokens=20,
                    messages=_turns(CAP + 1),  # type: ignore[arg-type]
                )
            assert an.value.status_code == 400
            body = an.value.body
            assert isinstance(body, dict) and body["type"] == "error"
            assert body["error"]["type"] == "invalid_request_error"
            assert "server.max_messages" in body["error"]["message"]

    asyncio.run(main())
