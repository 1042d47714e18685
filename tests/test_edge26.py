"""edge26: provider edges prov26 and anth25b left, through a real `arbiter serve` and the
official SDKs. `rsn-1` answers like OpenAI's reasoning models (no logprobs), `old-1` like gpt-4o
(no reasoning_effort) and ignores `n` when told to; the Claude models are named upstream by
their family: `cl-3` Claude 3.7 Sonnet (no adaptive, no interleaved thinking), `cl-45` Sonnet
4.5 (interleaved, not adaptive), `cl-46` Opus 4.6 (both), cheapest first."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from arbiter.implied_capabilities import with_implied
from arbiter.listing import Listed, parse_page
from arbiter.ratelimit_names import for_surface
from tests.probe22a_rig import Reply, Rig, chat_whole, message_whole, rig
from tests.probe_rig import model_toml, rig_toml

_n = itertools.count()
_INTERLEAVED = "interleaved-thinking-2025-05-14"
_AN_LIMITS = {
    "anthropic-ratelimit-requests-limit": "50",
    "anthropic-ratelimit-input-tokens-limit": "40000",
    "anthropic-ratelimit-input-tokens-remaining": "39000",
    "anthropic-ratelimit-output-tokens-limit": "8000",
}


def _config(port: int, db: Path) -> str:
    oa = '["chat", "json", "tools", "%s"]'
    models = model_toml("rsn-1", "ro", (100.0, 200.0), 200000, oa % "no-logprobs")
    models += model_toml("old-1", "ro", (1000.0, 2000.0), 200000, oa % "no-reasoning-effort")
    for name, upstream, price, an in (
        ("cl-3", "claude-3-7-sonnet-20250219", 300.0, '["chat", "tools", "vision"]'),
        ("cl-45", "claude-sonnet-4-5-20250929", 600.0, '["chat", "tools"]'),
        ("cl-46", "claude-opus-4-6", 900.0, '["chat", "tools"]'),
    ):
        models += model_toml(
            name, "ra", (price, price * 2), 200000, an, f'upstream_model = "{upstream}"\n'
        )
    failover = {"first_byte_timeout_s": 3.0, "total_timeout_s": 6.0, "deadline_s": 8.0,
                "retries_per_model": 0}  # fmt: skip
    return rig_toml(port, db, models, failover, baseline="old-1", breaker=100000)


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(Path(tmp_path_factory.mktemp("edge26")), _config) as made:
        yield made


def _choices(k: int) -> dict[str, Any]:
    body = chat_whole({"content": "c0"}, "stop")
    one = body["choices"][0]
    body["choices"] = [{**one, "index": i, "message": {**one["message"], "content": f"c{i}"}}
                       for i in range(k)]  # fmt: skip
    return body


def _server(path: str, body: dict[str, Any]) -> Reply:
    if path.endswith("/messages"):
        text = [{"type": "text", "text": "ok"}]
        return Reply(message_whole(text, "end_turn"), headers=_AN_LIMITS)
    if body["model"] == "old-1":  # a server that ignores `n`, unless told to honour it
        honours = "honour-n" in str(body["messages"])
        return Reply(_choices(body.get("n", 1) if honours else 1))
    return Reply(_choices(body.get("n", 1)))


def _mark() -> str:
    return f"e{next(_n)}"


# 1. an upstream that ignores `n`


@pytest.mark.parametrize("model", ["old-1", "auto"])
def test_an_answer_short_of_n_says_so(r: Rig, model: str) -> None:
    """Before: one choice for `n: 2`, and nothing said why. Now `x-arbiter-choices: 1 of 2`
    (the answer, valid and paid for, relayed as it came). `auto` picks old-1: rsn-1 is blocked
    by the logprobs it refuses."""
    name = _mark()
    m = r.script(name, _server)
    raw = r.oa.chat.completions.with_raw_response.create(
        model=model, n=2, logprobs=True, messages=[{"role": "user", "content": m}]
    )
    assert len(raw.parse().choices) == 1
    assert raw.headers["x-arbiter-model"] == "old-1"
    assert raw.headers["x-arbiter-choices"] == "1 of 2"


def test_an_answer_with_its_n_choices_has_no_such_header(r: Rig) -> None:
    """The control: two choices asked and given; one asked (no `n`) and given."""
    name = _mark()
    m = r.script(name, _server)
    for kw in ({"n": 2}, {}):
        raw = r.oa.chat.completions.with_raw_response.create(
            model="old-1", messages=[{"role": "user", "content": f"{m} honour-n"}], **kw
        )
        assert len(raw.parse().choices) == kw.get("n", 1)
        assert "x-arbiter-choices" not in raw.headers


# 2. two fields each some model takes, none both


def test_auto_refusal_names_both_fields_when_no_model_takes_them_together(r: Rig) -> None:
    """Before: `param: null` and a message naming no field. Now both are named, `param` the
    first (the SDK's BadRequestError.param)."""
    name = _mark()
    m = r.script(name, _server)
    with pytest.raises(openai.BadRequestError) as refused:
        r.oa.chat.completions.create(
            model="auto", logprobs=True, reasoning_effort="high",
            messages=[{"role": "user", "content": m}],
        )  # fmt: skip
    assert refused.value.param == "logprobs"
    message = str(refused.value.message)
    assert "`logprobs` and `reasoning_effort` together" in message
    assert r.upstream.bodies(name) == []


def test_the_same_for_an_image_with_adaptive_thinking(r: Rig) -> None:
    """Claude 3.7 (cl-3) reads images, Opus 4.6 (cl-46) thinks adaptively, none both: the
    anthropic client's 400 names the thinking and the messages (before: neither)."""
    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    with pytest.raises(anthropic.BadRequestError) as refused:
        r.an.messages.create(
            model="auto", max_tokens=4000, thinking={"type": "adaptive"},
            messages=[{"role": "user", "content": [image, {"type": "text", "text": _mark()}]}],
        )  # fmt: skip
    assert "`thinking` and `messages` together" in str(refused.value.message)


# 3. thinking per type


def _think(r: Rig, model: str, thinking: dict[str, Any], betas: list[str] | None = None) -> Any:
    name = _mark()
    m = r.script(name, _server)
    kw: dict[str, Any] = {"model": model, "max_tokens": 4000, "thinking": thinking,
                          "messages": [{"role": "user", "content": m}]}  # fmt: skip
    if betas is None:
        return r.an.messages.with_raw_response.create(**kw)
    return r.an.beta.messages.with_raw_response.create(betas=betas, **kw)


_ENABLED = {"type": "enabled", "budget_tokens": 1024}


@pytest.mark.parametrize(
    ("thinking", "betas", "served_by"),
    [
        ({"type": "adaptive"}, None, "cl-46"),
        (_ENABLED, [_INTERLEAVED], "cl-45"),
        (_ENABLED, None, "cl-3"),  # the control: manual thinking, the cheapest Claude
    ],
)
def test_auto_routes_a_thinking_type_to_a_model_that_takes_it(
    r: Rig, thinking: dict[str, Any], betas: list[str] | None, served_by: str
) -> None:
    """Before: the cheapest Claude (3.7 Sonnet) whatever the type: Anthropic's 400 for
    `adaptive`, interleaving silently not done."""
    raw = _think(r, "auto", thinking, betas)
    raw.parse()
    assert raw.headers["x-arbiter-model"] == served_by


@pytest.mark.parametrize(
    ("model", "thinking", "betas", "says"),
    [
        ("cl-45", {"type": "adaptive"}, None, "`adaptive`"),
        ("cl-3", _ENABLED, [_INTERLEAVED], "interleaved thinking"),
    ],
)
def test_a_named_model_without_the_type_is_a_400_naming_it(
    r: Rig, model: str, thinking: dict[str, Any], betas: list[str] | None, says: str
) -> None:
    """Before: sent upstream (a refusal after the reservation, or no interleaving)."""
    with pytest.raises(anthropic.BadRequestError) as refused:
        _think(r, model, thinking, betas)
    assert says in str(refused.value.message) and model in str(refused.value.message)


def test_the_family_implies_the_types_and_config_marks_or_declares_them() -> None:
    """Known families: what Anthropic documents; an unknown name keeps both (the upstream
    decides, as before); a marker refuses one, a declared one wins over the family."""
    types = ("adaptive-thinking", "interleaved-thinking")

    def has(caps: list[str], upstream: str | None) -> list[bool]:
        out = with_implied(caps, "anthropic", upstream)
        return [t in out for t in types]

    assert has([], "claude-3-7-sonnet-20250219") == [False, False]
    assert has([], "claude-sonnet-4-5") == [False, True]
    assert has([], "claude-opus-4-6") == [True, True]
    assert has([], "us.anthropic.claude-3-7-sonnet-20250219-v1:0") == [False, False]
    assert has([], "anthropic/claude-sonnet-4-5") == [False, True]
    assert has([], "my-claude") == [True, True]
    assert has(["no-adaptive-thinking"], "my-claude") == [False, True]
    assert has(["adaptive-thinking"], "claude-3-7-sonnet") == [True, False]
    assert "adaptive-thinking" not in with_implied([], "openai", "claude-opus-4-6")


def test_anthropics_listing_says_adaptive_per_model_and_the_store_keeps_it() -> None:
    """Before: the listing's `thinking.types.adaptive` was not read: an unknown-named model
    Anthropic lists without adaptive was routed it, a listed one of an older family refused."""

    def entry(name: str, adaptive: bool) -> dict[str, Any]:
        return {
            "type": "model", "id": name, "max_input_tokens": 200000, "max_tokens": 8192,
            "capabilities": {"thinking": {"supported": True, "types": {
                "enabled": {"supported": True}, "adaptive": {"supported": adaptive}}}},
        }  # fmt: skip

    page = {"data": [entry("claude-next", False), entry("claude-sonnet-4-5-x", True)]}
    without_it, with_it = parse_page(page).models
    assert "no-adaptive-thinking" in without_it.capabilities
    assert "adaptive-thinking" in with_implied(with_it.capabilities, "anthropic", with_it.id)
    for listed in (without_it, with_it):  # as the shared store keeps them
        stored = Listed.from_json(listed.id, listed.to_json())
        assert stored.capabilities == listed.capabilities
    assert "adaptive-thinking" not in with_implied(without_it.capabilities, "anthropic", "x")


# 4. Anthropic's per-direction token limits to an OpenAI client


def test_an_openai_client_reads_every_limit_under_its_names_and_which_were_renamed(
    r: Rig,
) -> None:
    """Before: `anthropic-ratelimit-input-tokens-*` reached the openai client as they came, and
    nothing listed the headers renamed. Now OpenAI's pattern, and `x-arbiter-renamed-headers`
    lists the upstream's names (`x-arbiter-dropped` stays the request's fields)."""
    name = _mark()
    m = r.script(name, _server)
    raw = r.oa.chat.completions.with_raw_response.create(
        model="cl-46", messages=[{"role": "user", "content": m}]
    )
    raw.parse()
    h = raw.headers
    assert not [k for k in h if k.startswith("anthropic-ratelimit-")]
    assert h["x-ratelimit-limit-requests"] == "50"
    assert h["x-ratelimit-limit-input-tokens"] == "40000"
    assert h["x-ratelimit-remaining-input-tokens"] == "39000"
    assert h["x-ratelimit-limit-output-tokens"] == "8000"
    assert h["x-arbiter-renamed-headers"].split(", ") == list(_AN_LIMITS)


def test_a_same_protocol_answer_lists_nothing_renamed() -> None:
    """The control: an Anthropic client reads Anthropic's names as they came, no list."""
    assert for_surface(dict(_AN_LIMITS), "anthropic") == _AN_LIMITS
