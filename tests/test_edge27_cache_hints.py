"""edge27: prompt-cache hints and provider-serving fields do not split Arbiter's exact cache,
and fields that can change the answer still do; the official openai and anthropic SDKs against a
real `arbiter serve` (cache on) in front of a recording upstream (tests/probe21b_rig.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import pytest

from tests.probe21b_rig import Rig, rig

Body = Callable[[str], dict[str, Any]]


@pytest.fixture(scope="module")
def cached(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("edge27-cache"), extra="\n[cache]\nenabled = true\n") as made:
        yield made


def _chat(word: str, **more: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": f"q {word}"}], **more}


def _chat_part(word: str, **hint: Any) -> dict[str, Any]:
    part = {"type": "text", "text": f"q {word}", **hint}
    return {"messages": [{"role": "user", "content": [part]}]}


def _claude(word: str, *, block: bool = False, system: bool = False, tool: bool = False,
            **more: Any) -> dict[str, Any]:  # fmt: skip
    hint = {"cache_control": {"type": "ephemeral"}}
    text = {"type": "text", "text": f"q {word}", **(hint if block else {})}
    sent: dict[str, Any] = {"messages": [{"role": "user", "content": [text]}], **more}
    sent["system"] = [{"type": "text", "text": "Be brief.", **(hint if system else {})}]
    sent["tools"] = [{"name": "lookup", "input_schema": {"type": "object"},
                      **(hint if tool else {})}]  # fmt: skip
    return sent


# (surface, the first request's body, the second's, whether the second is a hit)
CASES: dict[str, tuple[str, Body, Body, bool]] = {
    "chat prompt_cache_options": (
        "chat",
        lambda w: _chat(w, prompt_cache_options={"ttl": "30m"}),
        lambda w: _chat(w, prompt_cache_options={"mode": "explicit"}),
        True,
    ),
    "chat breakpoint on a part": (
        "chat",
        lambda w: _chat_part(w, prompt_cache_breakpoint={"mode": "explicit"}),
        _chat_part,
        True,
    ),
    # `store: true` bypasses the cache (a provider-side object): false is its absence
    "chat store false": ("chat", lambda w: _chat(w, store=False), _chat, True),
    "claude breakpoint on the last block": (
        "claude",
        lambda w: _claude(w, block=True),
        _claude,
        True,
    ),
    "claude breakpoint on system and tools": (
        "claude",
        lambda w: _claude(w, system=True, tool=True),
        _claude,
        True,
    ),
    "claude top-level cache_control": (
        "claude",
        lambda w: _claude(w, cache_control={"type": "ephemeral"}),
        _claude,
        True,
    ),
    "claude inference_geo": (
        "claude",
        lambda w: _claude(w, inference_geo="us"),
        lambda w: _claude(w, inference_geo="global"),
        True,
    ),
    "claude speed": (
        "claude",
        lambda w: _claude(w, speed="fast"),
        _claude,
        True,
    ),
    "responses prompt_cache_options": (
        "responses",
        lambda w: {"input": f"q {w}", "prompt_cache_options": {"ttl": "30m"}},
        lambda w: {"input": f"q {w}"},
        True,
    ),
    # the controls: what can change the answer still splits
    "chat seed": ("chat", lambda w: _chat(w, seed=1), lambda w: _chat(w, seed=2), False),
    "chat prompt_cache_options with a field not a hint": (
        "chat",
        lambda w: _chat(w, prompt_cache_options={"ttl": "30m"}),
        lambda w: _chat(w, prompt_cache_options={"ttl": "30m", "prewarm": True}),
        False,
    ),
    "claude temperature": (
        "claude",
        lambda w: _claude(w, block=True, temperature=0.1),
        lambda w: _claude(w, block=True, temperature=0.9),
        False,
    ),
    "claude another text under the same breakpoint": (
        "claude",
        lambda w: _claude(w, block=True),
        lambda w: _claude(w + " more", block=True),
        False,
    ),
}


def _ask(cached: Rig, surface: str, body: dict[str, Any]) -> str:
    """The request through its surface's SDK; its `x-arbiter-cache` (hit or miss)."""
    raw: Any
    if surface == "claude":
        with anthropic.Anthropic(
            base_url=cached.sidecar.root_url, api_key=cached.key, max_retries=0, timeout=30
        ) as claude:
            fields = {k: body.pop(k) for k in ("messages", "system", "tools")}
            raw = claude.messages.with_raw_response.create(
                model="an-1", max_tokens=64, **fields, extra_body=body
            )
    elif surface == "chat":
        raw = cached.client.chat.completions.with_raw_response.create(
            model="oa-1", messages=body.pop("messages"), extra_body=body
        )
    else:
        raw = cached.client.responses.with_raw_response.create(
            model="oa-1", input=body.pop("input"), extra_body=body
        )
    raw.parse()
    return str(raw.headers["x-arbiter-cache"])


@pytest.mark.parametrize("case", list(CASES))
def test_hints_do_not_split_the_cache_and_answer_fields_do(cached: Rig, case: str) -> None:
    """Each hint case was a miss, miss before (a rolling Anthropic breakpoint, an OpenAI
    breakpoint or cache option kept the same question from ever hitting); the controls are a
    miss, miss before and after."""
    surface, first, second, hit = CASES[case]
    word = uuid.uuid4().hex
    seen = [_ask(cached, surface, first(word)), _ask(cached, surface, second(word))]
    assert seen == ["miss", "hit" if hit else "miss"], seen
    assert len(cached.recorder.bodies(word)) == (1 if hit else 2)
