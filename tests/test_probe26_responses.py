"""probe26: /v1/responses from outside (the official openai SDK) against a real `arbiter serve`
in front of a recording upstream (tests/probe21b_rig.py): the end-user and prompt-cache fields a
Responses client sends reach the model as a chat client's do."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.probe21b_rig import Rig, rig

# OpenAI's names for the end user and the prompt cache (the Responses spec's CreateResponse and
# the Chat Completions one's, the same fields)
FIELDS = {
    "safety_identifier": "user-1b2c",
    "prompt_cache_key": "tenant-7-support",
    "prompt_cache_retention": "24h",
}


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("probe26-responses")) as made:
        yield made


def sent(r: Rig, word: str) -> dict[str, Any]:
    """The upstream body of the one call that carried `word`."""
    return r.recorder.one(word)[1]


def test_end_user_and_cache_fields_reach_an_openai_model(r: Rig) -> None:
    """They were accepted and dropped: OpenAI charged a policy breach to the operator's whole
    organisation instead of the end user the safety_identifier named (`user`'s successor, which
    OpenAI's deprecation notice tells clients to send instead), and lost the prompt-cache hits
    the key asks for, while the same fields through /v1/chat/completions reach the model."""
    word = uuid.uuid4().hex
    r.client.responses.create(model="oa-1", input=f"hi {word}", **FIELDS)  # type: ignore[call-overload]
    body = sent(r, word)
    assert {k: body.get(k) for k in FIELDS} == FIELDS, body
    chat_word = uuid.uuid4().hex
    r.client.chat.completions.create(
        model="oa-1",
        messages=[{"role": "user", "content": f"hi {chat_word}"}],
        **FIELDS,  # type: ignore[arg-type]
    )
    chat = sent(r, chat_word)
    assert {k: chat.get(k) for k in FIELDS} == FIELDS, "the chat surface's rule changed"


@pytest.mark.parametrize("stream", [False, True])
def test_the_end_user_reaches_an_anthropic_model_as_chats_does(r: Rig, stream: bool) -> None:
    """Anthropic's `metadata.user_id` from the safety_identifier, as for a chat request; the
    cache hints, which Anthropic has no place for, are dropped and named."""
    word, chat_word = uuid.uuid4().hex, uuid.uuid4().hex
    raw = r.client.responses.with_raw_response.create(  # type: ignore[call-overload]
        model="an-1", input=f"hi {word}", stream=stream, **FIELDS
    )
    dropped = raw.headers.get("x-arbiter-dropped", "")
    answer = raw.parse()
    if stream:
        assert [e.type for e in answer][-1] == "response.completed"
    r.client.chat.completions.create(
        model="an-1",
        messages=[{"role": "user", "content": f"hi {chat_word}"}],
        safety_identifier=FIELDS["safety_identifier"],
    )
    user_id = sent(r, chat_word)["metadata"]["user_id"]
    body = sent(r, word)
    assert body.get("metadata") == {"user_id": user_id}, body
    assert not {"prompt_cache_key", "prompt_cache_retention", "safety_identifier"} & set(body)
    assert "prompt_cache_key" in dropped, dropped


def test_input_tokens_takes_the_sdks_personality(r: Rig) -> None:
    """`responses.input_tokens.count(personality=...)`, a field of the spec's TokenCountsBody,
    was a 400 `Unknown parameter`; now typed as the spec types it and counted as without it
    (OpenAI's preset prompt is its own); `responses.create` has no such field and still refuses
    it."""
    plain = r.client.responses.input_tokens.count(model="oa-1", input="hi there")
    styled = r.client.responses.input_tokens.count(
        model="oa-1", input="hi there", personality="friendly"
    )
    assert styled.input_tokens == plain.input_tokens > 0
    for body, path in (
        ({"personality": "p" * 65}, "/v1/responses/input_tokens"),
        ({"personality": 3}, "/v1/responses/input_tokens"),
        ({"personality": "friendly"}, "/v1/responses"),
    ):
        resp = r.raw(path, {"model": "oa-1", "input": "hi", **body})
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"]["param"] == "personality", resp.text


SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}}


@pytest.mark.parametrize("model", ["oa-1", "an-1", "auto"])
@pytest.mark.parametrize("name", ["Order summary", "order.summary", "x" * 65])
def test_a_schema_name_openai_refuses_is_a_400_whatever_the_route(
    r: Rig, model: str, name: str
) -> None:
    """A JSON schema's `name` is held to OpenAI's rule (a function name's: 1-64 of
    [a-zA-Z0-9_-]) on both surfaces before routing; it was sent on, and the same request was
    answered by a model that ignores the name and refused by OpenAI's after routing."""
    word = uuid.uuid4().hex
    before = len(r.recorder.seen)
    fmt = {"type": "json_schema", "name": name, "schema": SCHEMA}
    resp = r.raw("/v1/responses", {"model": model, "input": word, "text": {"format": fmt}})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == "text.format.name", resp.text
    chat = r.raw(
        "/v1/chat/completions",
        {
            "model": model,
            "messages": [{"role": "user", "content": word}],
            "response_format": {"type": "json_schema", "json_schema": {**fmt, "type": None}},
        },
    )
    assert chat.status_code == 400, chat.text
    assert chat.json()["error"]["param"] == "response_format.json_schema.name", chat.text
    assert len(r.recorder.seen) == before, "an upstream call was made"


def test_a_schema_name_openai_takes_is_sent_on(r: Rig) -> None:
    word = uuid.uuid4().hex
    fmt = {"type": "json_schema", "name": "order_summary-V2", "schema": SCHEMA}
    r.client.responses.create(model="oa-1", input=f"{word} [[s:json]]", text={"format": fmt})  # type: ignore[typeddict-item]
    sent_format = sent(r, word)["response_format"]
    assert sent_format["json_schema"]["name"] == "order_summary-V2", sent_format


@pytest.fixture(scope="module")
def cached(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("probe26-cache"), extra="\n[cache]\nenabled = true\n") as made:
        yield made


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses"])
@pytest.mark.parametrize(
    ("field", "first", "second"),
    [
        ("user", "enduser-1", "enduser-2"),  # the control: left out of the key all along
        ("safety_identifier", "enduser-1", "enduser-2"),
        ("prompt_cache_key", "k1", "k2"),
        ("prompt_cache_retention", "24h", "in_memory"),
        ("service_tier", "default", "flex"),
    ],
)
def test_end_user_labels_and_provider_hints_do_not_split_the_cache(
    cached: Rig, path: str, field: str, first: str, second: str
) -> None:
    """`user` has never been part of the exact cache's key (an end-user label: a tenant's end
    users share its entries); `safety_identifier`, its successor, was, so a client following
    OpenAI's deprecation of `user` never got a hit across its users, and a `prompt_cache_key`
    split the cache it asks to raise the hits of (chat; /v1/responses since those fields go on
    to the model)."""
    word = uuid.uuid4().hex
    seen = []
    for value in (first, second):
        body: dict[str, Any] = {"model": "oa-1", field: value}
        if path == "/v1/responses":
            body["input"] = f"q {word}"
        else:
            body["messages"] = [{"role": "user", "content": f"q {word}"}]
        resp = cached.raw(path, body)
        assert resp.status_code == 200, resp.text
        seen.append(resp.headers["x-arbiter-cache"])
    assert seen == ["miss", "hit"], seen
    assert len(cached.recorder.bodies(word)) == 1


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses"])
@pytest.mark.parametrize("with_user", [False, True])
def test_the_dropped_header_names_the_identifier_only_when_it_is_dropped(
    r: Rig, path: str, with_user: bool
) -> None:
    """To an Anthropic model the safety_identifier is `metadata.user_id`, unless `user` takes
    that place: `x-arbiter-dropped` named it dropped in both cases."""
    word = uuid.uuid4().hex
    body: dict[str, Any] = {"model": "an-1", "safety_identifier": "enduser-9"}
    if with_user:
        body["user"] = "enduser-user"
    if path == "/v1/responses":
        body["input"] = word
    else:
        body["messages"] = [{"role": "user", "content": word}]
    resp = r.raw(path, body)
    assert resp.status_code == 200, resp.text
    named = resp.headers.get("x-arbiter-dropped", "").split(",")
    sent_id = sent(r, word)["metadata"]["user_id"]
    assert sent_id == ("enduser-user" if with_user else "enduser-9"), sent_id
    assert ("safety_identifier" in [n.strip() for n in named]) is with_user, named
