"""oai25: the official openai SDK's newer Chat Completions features through a real `arbiter
serve`, named and `auto`, when the pool holds an Anthropic-protocol model: each feature routes
only to models that carry it, is translated, or is a 400 naming it, never dropped in silence.
Two pools: `mixed` (an-1, Anthropic, cheap, with `json-schema`; oa-1, OpenAI, dear: `auto`
picks an-1 unless the request keeps it out) and `claude` (an-1 alone: a feature it cannot
carry leaves `auto` no model)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pydantic
import pytest

from tests.probe22a_rig import Reply, Rig, blocks_as_events, message_frames, message_whole, rig
from tests.probe_rig import model_toml, rig_toml

_n = itertools.count()
_CAPS = '["chat", "json", "tools", "vision", "json-schema"]'
_FAILOVER = {"first_byte_timeout_s": 3.0, "total_timeout_s": 6.0, "deadline_s": 8.0,
             "retries_per_model": 0}  # fmt: skip


def _mixed(port: int, db: Path) -> str:
    models = model_toml("an-1", "ra", (1000.0, 2000.0), 200000, _CAPS)
    models += model_toml("oa-1", "ro", (3000.0, 6000.0), 200000, _CAPS)
    return rig_toml(port, db, models, _FAILOVER, breaker=100000)


def _claude(port: int, db: Path) -> str:
    models = model_toml("an-1", "ra", (1000.0, 2000.0), 200000, _CAPS)
    return rig_toml(port, db, models, _FAILOVER, baseline="an-1", breaker=100000)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(Path(tmp_path_factory.mktemp("oai25_mixed")), _mixed) as made:
        yield made


@pytest.fixture(scope="module")
def claude(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(Path(tmp_path_factory.mktemp("oai25_claude")), _claude) as made:
        yield made


def mark() -> tuple[str, str]:
    name = f"f{next(_n)}"
    return name, f"[[p:{name}]]"


def served_by(r: Rig, model: str, **kw: Any) -> tuple[str, str, dict[str, Any]]:
    """The model Arbiter chose, the path it called and the body it sent."""
    name, m = mark()
    raw = r.oa.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": f"hi {m}"}], **kw
    )
    raw.parse()
    path, body = r.upstream.one(name)
    return raw.headers["x-arbiter-model"], path, body


def test_store_true_is_never_sent_to_an_anthropic_model(mixed: Rig) -> None:
    """`store: true` asks OpenAI to keep the completion for the caller to fetch
    (`chat.completions.retrieve`, evals); Anthropic keeps nothing, so it was dropped on the way
    and the caller's stored completions silently missed every request routed to Claude. Now
    `auto` sends it only to an OpenAI-protocol model, and naming an-1 is a 400 naming it."""
    # control: without store (or store false) routing picks the cheaper Claude
    for kw in ({}, {"store": False}):
        model, path, _ = served_by(mixed, "auto", **kw)
        assert (model, path) == ("an-1", "/v1/messages"), kw
    model, path, body = served_by(mixed, "auto", store=True, metadata={"app": "a"})
    assert (model, path) == ("oa-1", "/v1/chat/completions")
    assert body["store"] is True and body["metadata"] == {"app": "a"}
    name, m = mark()
    with pytest.raises(openai.BadRequestError) as refused:
        mixed.oa.chat.completions.create(
            model="an-1", messages=[{"role": "user", "content": m}], store=True
        )
    assert refused.value.param == "store" and "store" in refused.value.message
    assert mixed.upstream.bodies(name) == []


@pytest.mark.parametrize(
    ("kw", "feature"),
    [
        ({"logprobs": True, "top_logprobs": 2}, "logprobs"),
        ({"n": 2}, "n > 1"),
        ({"reasoning_effort": "high"}, "reasoning_effort"),
        ({"verbosity": "low"}, "verbosity"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
        ({"web_search_options": {}}, "web_search_options"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"functions": [{"name": "f", "parameters": {"type": "object"}}]}, "functions"),
        ({"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}}, "audio"),
        ({"store": True}, "store"),
    ],
)
def test_auto_with_a_feature_no_model_carries_is_a_400_naming_it(
    claude: Rig, kw: dict[str, Any], feature: str
) -> None:
    """Held (but store): each feature Claude cannot carry leaves `auto` no model: a 400
    naming it, nothing sent."""
    name, m = mark()
    with pytest.raises(openai.BadRequestError) as refused:
        claude.oa.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": m}], **kw
        )
    assert feature in refused.value.message
    assert claude.upstream.bodies(name) == []


@pytest.mark.parametrize(
    "kw",
    [
        {"service_tier": "flex"},
        {"seed": 3},
        {"metadata": {"a": "b"}},
        {"prompt_cache_key": "k"},
        {"frequency_penalty": 0.5},
        {"reasoning_effort": "none"},
    ],
)
def test_hints_readme_says_are_dropped_reach_claude_without_them(
    mixed: Rig, kw: dict[str, Any]
) -> None:
    """Held: the hints README lists as dropped on the way to Anthropic."""
    model, path, body = served_by(mixed, "auto", **kw)
    assert (model, path) == ("an-1", "/v1/messages")
    assert not set(kw) & set(body)


class Weather(pydantic.BaseModel):
    city: str
    temp: int


def _json_answer(text: str) -> Any:
    content = [{"type": "text", "text": text}]

    def fn(path: str, body: dict[str, Any]) -> Reply:
        if body.get("stream"):
            return Reply(frames=message_frames(blocks_as_events(content), "end_turn"))
        return Reply(message_whole(content, "end_turn"))

    return fn


@pytest.mark.parametrize("model", ["auto", "an-1"])
def test_parse_and_stream_parse_a_schema_claude_answers(mixed: Rig, model: str) -> None:
    """Held: `chat.completions.parse` / `.stream` with a pydantic model (strict json_schema)
    routed to Claude (json-schema): its output_config.format, and the SDK parses the answer."""
    m = mixed.script(f"js{next(_n)}", _json_answer('{"city": "Oslo", "temp": 3}'))
    messages: Any = [{"role": "user", "content": f"weather {m}"}]
    done = mixed.oa.chat.completions.parse(model=model, messages=messages, response_format=Weather)
    assert done.choices[0].message.parsed == Weather(city="Oslo", temp=3)
    with mixed.oa.chat.completions.stream(
        model=model, messages=messages, response_format=Weather
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_completion()
    assert "content.done" in kinds
    assert final.choices[0].message.parsed == Weather(city="Oslo", temp=3)
    for _, body in mixed.upstream.bodies(m[4:-2]):
        assert body["output_config"]["format"]["type"] == "json_schema"


def _refusing(text: str, stop: str = "refusal") -> Any:
    """Claude declining a structured-output request: its refusal message as text, whatever the
    schema (Anthropic: "the refusal message takes precedence over schema constraints")."""
    content = [{"type": "text", "text": text}]

    def fn(path: str, body: dict[str, Any]) -> Reply:
        if body.get("stream"):
            return Reply(frames=message_frames(blocks_as_events(content), stop))
        return Reply(message_whole(content, stop))

    return fn


@pytest.mark.parametrize("model", ["auto", "an-1"])
def test_claudes_refusal_of_a_schema_is_the_refusal_the_sdk_reads(mixed: Rig, model: str) -> None:
    """Claude's refusal under a strict schema came as `content`, text no JSON parser reads:
    `chat.completions.stream(response_format=Weather)` parses content as partial JSON on every
    delta and raised jiter's ValueError mid-stream (no openai error an app catches). Now the
    text is `message.refusal` / `delta.refusal`, as OpenAI answers a structured output it
    declines: the stream emits refusal events and ends in the SDK's own
    ContentFilterFinishReasonError (finish content_filter, as before), as `parse` does."""
    text = "I can't help with that request."
    m = mixed.script(f"rf{next(_n)}", _refusing(text))
    messages: Any = [{"role": "user", "content": f"weather {m}"}]
    kinds: list[str] = []
    with (
        pytest.raises(openai.ContentFilterFinishReasonError),
        mixed.oa.chat.completions.stream(
            model=model, messages=messages, response_format=Weather
        ) as stream,
    ):
        for event in stream:
            kinds.append(event.type)
    assert "refusal.delta" in kinds and "content.delta" not in kinds
    assert stream.current_completion_snapshot.choices[0].message.refusal == text
    with pytest.raises(openai.ContentFilterFinishReasonError):
        mixed.oa.chat.completions.parse(model=model, messages=messages, response_format=Weather)
    whole = mixed.oa.chat.completions.create(
        model=model,
        messages=messages,
        response_format=openai.lib._parsing.type_to_response_format_param(Weather),  # type: ignore[arg-type]
    )
    assert (whole.choices[0].message.content, whole.choices[0].message.refusal) == (None, text)
    assert whole.choices[0].finish_reason == "content_filter"


def test_schema_text_and_plain_refusals_stay_content(mixed: Rig) -> None:
    """Controls: a schema's JSON that opens with blanks is parsed as content; a refusal of a
    request without a schema stays the content it was (probe22a's held shape)."""
    m = mixed.script(f"js{next(_n)}", _json_answer('\n  {"city": "Oslo", "temp": 3}'))
    messages: Any = [{"role": "user", "content": f"weather {m}"}]
    with mixed.oa.chat.completions.stream(
        model="an-1", messages=messages, response_format=Weather
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.parsed == Weather(city="Oslo", temp=3)
    m = mixed.script(f"rf{next(_n)}", _refusing("No."))
    plain = mixed.oa.chat.completions.create(
        model="an-1", messages=[{"role": "user", "content": f"hi {m}"}]
    )
    assert (plain.choices[0].message.content, plain.choices[0].message.refusal) == ("No.", None)
    chunks = list(
        mixed.oa.chat.completions.create(
            model="an-1", messages=[{"role": "user", "content": f"hi {m}"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "No."


@pytest.mark.parametrize("model", ["auto", "an-1"])
def test_claudes_refusal_of_a_text_format_is_a_refusal_part(mixed: Rig, model: str) -> None:
    """The same on /v1/responses: Claude's refusal of a strict `text.format` was an
    `output_text` part (incomplete, content_filter), and `responses.parse(text_format=...)` and
    `responses.stream` ran it through the caller's model: pydantic's ValidationError. Now it is
    a `refusal` part of a completed response, whole and streamed, as OpenAI answers one (the
    SDK leaves it out of `output_parsed`)."""
    text = "I can't help with that request."
    m = mixed.script(f"rr{next(_n)}", _refusing(text))
    done = mixed.oa.responses.parse(model=model, input=f"weather {m}", text_format=Weather)
    assert done.status == "completed" and done.output_parsed is None
    assert [c.model_dump() for c in done.output[0].content] == [  # type: ignore[union-attr]
        {"type": "refusal", "refusal": text}
    ]
    with mixed.oa.responses.stream(model=model, input=f"weather {m}", text_format=Weather) as s:
        kinds = [event.type for event in s]
        final = s.get_final_response()
    assert "response.refusal.done" in kinds and "response.output_text.delta" not in kinds
    assert final.status == "completed" and final.output_parsed is None


def test_a_text_format_claude_answers_is_parsed_by_the_responses_sdk(mixed: Rig) -> None:
    """Control: JSON that opens with blanks is the answer, parsed whole and streamed."""
    m = mixed.script(f"js{next(_n)}", _json_answer('\n  {"city": "Oslo", "temp": 3}'))
    done = mixed.oa.responses.parse(model="an-1", input=f"weather {m}", text_format=Weather)
    assert done.output_parsed == Weather(city="Oslo", temp=3)
    with mixed.oa.responses.stream(model="an-1", input=f"weather {m}", text_format=Weather) as s:
        final = s.get_final_response()
    assert final.output_parsed == Weather(city="Oslo", temp=3)
