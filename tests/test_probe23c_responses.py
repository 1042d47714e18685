"""probe23c: /v1/responses from outside (the official openai SDK, raw httpx for what it will not
send) against a real `arbiter serve` in front of an upstream speaking both protocols
(tests/probe23c_rig.py). Arbiter's Responses API is stateless: what needs a stored response is
a clear 400 or OpenAI's 404, whatever the id or tenant; every stream, whichever protocol served
it, holds together by the spec's rules and ends as the whole answer does; a system prompt with
what cannot be a system prompt is a 400, not dropped."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pydantic
import pytest

from tests.probe21b_rig import OUTPUT_TOKENS, PRICES, PROMPT_TOKENS, Rig, rig
from tests.probe23c_rig import EXTRA, FaultHandler, checked_stream

TOOLS = [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}]
PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwA"
    "DhgGAWjR9awAAAABJRU5ErkJggg=="
)
PDF = "data:application/pdf;base64,JVBERi0xLjQKMSAwIG9iajw8Pj5lbmRvYmoKdHJhaWxlcjw8Pj4KJSVFT0Y="


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("probe23c-responses"), FaultHandler, EXTRA) as made:
        yield made


def word() -> str:
    return uuid.uuid4().hex


def refused(r: Rig, body: dict[str, Any], param: str) -> str:
    """A 400 in OpenAI's shape naming `param`, and no upstream call; its message."""
    before = len(r.recorder.seen)
    resp = r.raw("/v1/responses", body)
    assert resp.status_code == 400, (resp.status_code, resp.text[:300])
    err = resp.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param, err
    assert len(r.recorder.seen) == before, "an upstream call was made"
    return str(err["message"])


def same_but_ids(whole: dict[str, Any], final: dict[str, Any]) -> None:
    """Two Response objects equal but for their ids and clocks (two decisions)."""

    def norm(x: dict[str, Any]) -> Any:
        text = re.sub(r"dec_[0-9a-f]+", "ID", orjson.dumps(x).decode())
        return {k: v for k, v in orjson.loads(text).items() if not k.endswith("_at")}

    assert norm(whole) == norm(final)


@pytest.mark.parametrize("model", ["oa-1", "an-1"])
@pytest.mark.parametrize(
    "script", ["ok", "tool", "refusal", "long", "tools2", "text+tool", "whole"]
)
def test_every_stream_holds_together_and_ends_as_the_whole_answer(
    r: Rig, model: str, script: str
) -> None:
    """Held: text, a call, two interleaved calls, text then a call, a refusal and a cut answer,
    from either protocol: every event valid and in its place, the final Response the whole
    one's (tests/probe23c_rig.checked_stream)."""
    body = {"model": model, "input": f"{word()} [[s:{script}]]", "tools": TOOLS}
    whole = r.raw("/v1/responses", body)
    assert whole.status_code == 200, whole.text
    streamed = r.raw("/v1/responses", {**body, "stream": True})
    assert streamed.status_code == 200, streamed.text
    events = checked_stream(streamed.content)
    same_but_ids(whole.json(), events[-1]["response"])


@pytest.mark.parametrize("model", ["oa-1", "an-1"])
def test_a_stream_the_upstream_breaks_ends_failed_with_what_was_shown(r: Rig, model: str) -> None:
    """Held: the text streamed so far, one `error` event, then response.failed whose output is
    the open message `incomplete` with that text; recorded failed, billed its worst case (no
    usage came: README's rule for a failed call)."""
    resp = r.raw("/v1/responses", {"model": model, "input": f"{word()} [[s:cut]]", "stream": True})
    assert resp.status_code == 200, resp.text
    events = checked_stream(resp.content)
    shown = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert shown == "ok"
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "ok"
    rec = r.decision(resp.headers["x-arbiter-decision-id"])
    assert rec["status"] == "failed" and rec["error"] == "upstream_error" and rec["cost_usd"] > 0


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"previous_response_id": "resp_dec_0123456789abcdef01234567"}, "previous_response_id"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"store": True}, "store"),
        ({"background": True}, "background"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "tools[0].type"),
        ({"tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]}, "tools[0].type"),
        ({"tools": [{"type": "custom", "name": "c"}]}, "tools[0].type"),
        ({"tools": TOOLS, "tool_choice": {"type": "web_search_preview"}}, "tool_choice"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"include": ["message.output_text.logprobs"]}, "include"),
        ({"include": ["file_search_call.result"]}, "include"),
        ({"truncation": "middle"}, "truncation"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        ({"input": [{"type": "function_call_output", "call_id": "c1", "output": "42"},
                    {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}],
          "tools": TOOLS}, "input[0].call_id"),
        ({"input": [{"role": "user", "content": "hi"},
                    {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}],
          "tools": TOOLS}, "input[1].call_id"),
    ],
)  # fmt: skip
def test_what_needs_stored_responses_or_hosted_tools_is_a_400(
    r: Rig, extra: dict[str, Any], param: str
) -> None:
    """Held: never answered as if the field were not there."""
    refused(r, {"model": "oa-1", "input": "hi", **extra}, param)


def test_a_chain_on_a_response_just_given_is_a_400_and_its_id_a_404_to_every_tenant(
    r: Rig,
) -> None:
    """Held: the id of a response Arbiter just gave cannot be chained on, read, listed or
    deleted by its own tenant or another (404, not a 403 that says it exists); store: false
    then chained is the same 400; a bad key is a 401 first."""
    first = r.client.responses.create(model="oa-1", input=word(), store=False)
    assert first.store is False
    refused(r, {"model": "oa-1", "input": "more", "previous_response_id": first.id},
            "previous_response_id")  # fmt: skip
    other = str(r.sidecar.create_key(tenant="two")["key"])
    for key in (r.key, other):
        with openai.OpenAI(base_url=r.sidecar.base_url, api_key=key, max_retries=0) as client:
            with pytest.raises(openai.NotFoundError):
                client.responses.retrieve(first.id)
            with pytest.raises(openai.NotFoundError):
                client.responses.input_items.list(first.id, limit=5, order="asc")
            with pytest.raises(openai.NotFoundError):
                client.responses.delete(first.id)
    bad = httpx.get(
        f"{r.sidecar.base_url}/responses/{first.id}", headers={"authorization": "Bearer arb-no"}
    )
    assert bad.status_code == 401, bad.text


def test_usage_and_cost_are_recorded_as_chats(r: Rig) -> None:
    """Held: a Response's usage is the upstream's, its decision priced by it, on either
    protocol, whole and streamed."""
    for model in ("oa-1", "an-1"):
        raw = r.client.responses.with_raw_response.create(model=model, input=word())
        resp = raw.parse()
        assert resp.usage is not None
        assert (resp.usage.input_tokens, resp.usage.output_tokens) == (PROMPT_TOKENS, OUTPUT_TOKENS)
        rec = r.decision(raw.headers["x-arbiter-decision-id"])
        pin, pout = PRICES[model]
        assert rec["cost_usd"] == pytest.approx((PROMPT_TOKENS * pin + OUTPUT_TOKENS * pout) / 1e6)
        streamed = r.raw("/v1/responses", {"model": model, "input": word(), "stream": True})
        rec = r.decision(streamed.headers["x-arbiter-decision-id"])
        assert rec["stream"] and rec["status"] == "ok"
        assert rec["cost_usd"] == pytest.approx((PROMPT_TOKENS * pin + OUTPUT_TOKENS * pout) / 1e6)


@pytest.mark.parametrize("role", ["system", "developer"])
@pytest.mark.parametrize(
    "part",
    [{"type": "input_image", "image_url": PNG}, {"type": "input_file", "file_data": PDF}],
)
def test_an_image_or_file_in_a_system_message_is_a_400(
    r: Rig, role: str, part: dict[str, Any]
) -> None:
    """Before: dropped without a word (the upstream got the system text alone, on either
    protocol, and the caller an answer to a prompt it did not send). The system prompt reaches
    every model as text (Chat Completions' system and developer messages take text parts only,
    Anthropic's `system` text blocks): a 400 naming the part."""
    for model in ("oa-1", "an-1", "auto"):
        items = [
            {"role": role, "content": [{"type": "input_text", "text": "Read it."}, part]},
            {"role": "user", "content": word()},
        ]
        message = refused(r, {"model": model, "input": items}, "input[0].content[1].type")
        assert part["type"] in message and "user message" in message
    # in a user message the same part is served
    out = r.client.responses.create(
        model="oa-1",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "x"}, part]}],
    )
    assert out.status == "completed"


@pytest.mark.parametrize("model", ["oa-1", "an-1"])
def test_a_system_messages_parts_reach_the_model_one_per_line(r: Rig, model: str) -> None:
    """Before: joined with nothing ("Be brief." and "Answer in French." reached the model as
    "Be brief.Answer in French."); chat's system parts are one per line, and so are these."""
    w = word()
    items = [
        {"role": "developer", "content": [
            {"type": "input_text", "text": f"Be brief {w}."},
            {"type": "input_text", "text": "Answer in French."},
        ]},
        {"role": "user", "content": "hi"},
    ]  # fmt: skip
    r.client.responses.create(model=model, input=items)  # type: ignore[arg-type]
    path, body = r.recorder.one(w)
    system = body["system"] if path.endswith("/messages") else body["messages"][0]["content"]
    assert system == f"Be brief {w}.\nAnswer in French."


@pytest.mark.parametrize("where", ["endpoint", "deployment", "base_url"])
def test_the_azure_sdks_responses_and_models_paths_are_served(r: Rig, where: str) -> None:
    """Before: the AzureOpenAI SDK's responses.create and models.list were 404s ("Unknown path
    /openai/responses"), though its chat and embeddings were served: the SDK asks the paths
    that have no deployment under `{azure_endpoint}/openai/`. Now /v1's, whole and streamed,
    the stored-response 404 and the token count too, however the client is built."""
    made = {
        "endpoint": {"azure_endpoint": r.sidecar.root_url},
        "deployment": {"azure_endpoint": r.sidecar.root_url, "azure_deployment": "oa-1"},
        "base_url": {"base_url": r.sidecar.root_url + "/openai"},
    }[where]
    with openai.AzureOpenAI(
        api_key=r.key, api_version="2025-03-01-preview", max_retries=0, **made
    ) as azure:
        w = word()
        assert azure.responses.create(model="an-1", input=w).output_text == "ok"
        assert r.recorder.one(w)[0] == "/v1/messages"
        events = list(azure.responses.create(model="oa-1", input=word(), stream=True))
        assert events[-1].type == "response.completed"
        assert [m.id for m in azure.models.list()][:2] == ["auto", "oa-1"]
        assert azure.models.retrieve("acme/oa-2").id == "acme/oa-2"
        assert azure.responses.input_tokens.count(model="oa-1", input="hi").input_tokens > 0
        with pytest.raises(openai.NotFoundError):
            azure.responses.retrieve("resp_" + w)
        with pytest.raises(openai.BadRequestError):
            azure.responses.create(model="oa-1", input="hi", previous_response_id="resp_1")


class Out(pydantic.BaseModel):
    a: int


@pytest.mark.parametrize("stream", [False, True])
def test_a_strict_schema_to_a_claude_model_is_its_structured_output(r: Rig, stream: bool) -> None:
    """Held: text.format json_schema (strict, what responses.parse sends) to an Anthropic model
    with `json-schema` reaches it as output_config.format (bounds it cannot keep moved into the
    description, as Anthropic's SDK moves them), and the answer parses, whole and streamed."""
    w = word()
    if stream:
        with r.client.responses.stream(
            model="an-2", input=f"{w} [[s:json]]", text_format=Out
        ) as events:
            parsed = events.get_final_response().output_parsed
    else:
        parsed = r.client.responses.parse(
            model="an-2", input=f"{w} [[s:json]]", text_format=Out
        ).output_parsed
    assert parsed == Out(a=1)
    path, body = r.recorder.one(w)
    assert path == "/v1/messages" and "system" not in body
    fmt = body["output_config"]["format"]
    assert fmt["type"] == "json_schema" and fmt["schema"]["required"] == ["a"]
    # a bound Anthropic refuses is said in the description, not sent as a keyword
    bounded = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 3}},
               "required": ["n"], "additionalProperties": False}  # fmt: skip
    w = word()
    r.client.responses.create(
        model="an-2",
        input=f"{w} [[s:json]]",
        text={"format": {"type": "json_schema", "name": "b", "schema": bounded, "strict": True}},
    )
    sent = r.recorder.one(w)[1]["output_config"]["format"]["schema"]["properties"]["n"]
    assert "minimum" not in sent and "minimum: 3" in sent["description"]


def test_feedback_takes_a_responses_id(r: Rig) -> None:
    """Before: a 404 'No decision with id resp_dec_...': a Responses client has its Response's
    id at hand (the decision's header needs the SDK's raw response, which a stream helper
    hides), and that id is `resp_` and the decision's. Now it grades that decision."""
    resp = r.client.responses.create(model="oa-1", input=word())
    got = r.raw("/v1/feedback", {"decision_id": resp.id, "score": 0.25})
    assert got.status_code == 200, got.text
    assert got.json()["decision_id"] == resp.id.removeprefix("resp_")
    assert r.decision(got.json()["decision_id"])["grade"] == 0.25
    missing = r.raw("/v1/feedback", {"decision_id": "resp_nothing", "score": 1.0})
    assert missing.status_code == 404 and "resp_nothing" in missing.text


@pytest.mark.parametrize("model", ["oa-1", "an-1", "auto"])
def test_a_misspelt_field_of_a_function_tool_is_a_400(r: Rig, model: str) -> None:
    """Before: a function tool's unknown field was not read, so a misspelt `parameters` sent the
    tool to the model with no arguments at all (a 200, the model calling f({})), as a top-level
    misspelling is not (a 400 naming it). Now the same 400, `Unknown parameter`, as OpenAI's;
    a deferred tool (tool search, a hosted tool) a 400 too; the spec's other fields pass."""
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    tool = {"type": "function", "name": "f", "paramters": schema}
    message = refused(r, {"model": model, "input": "hi", "tools": [tool]}, "tools[0].paramters")
    assert message == "Unknown parameter: 'tools[0].paramters'."
    deferred = {"type": "function", "name": "f", "parameters": schema, "defer_loading": True}
    refused(r, {"model": model, "input": "hi", "tools": [deferred]}, "tools[0].defer_loading")
    w = word()
    spelt = {"type": "function", "name": "f", "parameters": schema, "strict": False,
             "output_schema": {"type": "string"}, "allowed_callers": ["direct"],
             "defer_loading": False, "description": "weather"}  # fmt: skip
    r.client.responses.create(model=model, input=w, tools=[spelt])  # type: ignore[list-item]
    _, body = r.recorder.one(w)
    sent = body["tools"][0]
    assert (sent.get("input_schema") or sent["function"]["parameters"]) == schema


def test_a_misspelt_field_of_text_format_is_a_400(r: Rig) -> None:
    """Before: `stirct: true` went unread: the schema was served as a best-effort one (an-1,
    which cannot keep a strict schema, answered it: a 200) where `strict: true` is a 400 on
    that model. Now `Unknown parameter: 'text.format.stirct'`, as OpenAI's."""
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
              "additionalProperties": False}  # fmt: skip
    fmt = {"type": "json_schema", "name": "o", "schema": schema, "stirct": True}
    message = refused(r, {"model": "an-1", "input": "hi", "text": {"format": fmt}},
                      "text.format.stirct")  # fmt: skip
    assert message == "Unknown parameter: 'text.format.stirct'."
    refused(r, {"model": "oa-1", "input": "hi",
                "text": {"format": {"type": "json_object", "schema": schema}}},
            "text.format.schema")  # fmt: skip
    fmt = {"type": "json_schema", "name": "o", "schema": schema, "strict": True, "description": "d"}
    good = r.raw("/v1/responses", {"model": "oa-1", "input": "hi", "text": {"format": fmt}})
    assert good.status_code == 200, good.text


@pytest.mark.parametrize(
    ("part", "field"),
    [
        ({"type": "input_image", "image_url": PNG, "detial": "low"}, "detial"),
        ({"type": "input_file", "file_data": PDF, "filname": "a.pdf"}, "filname"),
    ],
)
def test_a_misspelt_field_of_an_image_or_file_part_is_a_400(
    r: Rig, part: dict[str, Any], field: str
) -> None:
    """Before: unread (a misspelt `detail: low` billed the image at `auto`, 765 tokens for
    85 on gpt-4o; a file lost its name). Now `Unknown parameter` naming it; the spec's fields
    (a cache breakpoint too) pass."""
    items = [{"role": "user", "content": [part]}]
    message = refused(r, {"model": "oa-1", "input": items}, f"input[0].content[0].{field}")
    assert message == f"Unknown parameter: 'input[0].content[0].{field}'."
    good = {k: v for k, v in part.items() if k != field}
    items = [
        {"role": "user", "content": [{**good, "prompt_cache_breakpoint": {"mode": "explicit"}}]}
    ]
    assert r.raw("/v1/responses", {"model": "oa-1", "input": items}).status_code == 200


def test_chats_include_usage_in_stream_options_is_a_400(r: Rig) -> None:
    """edge23. Before: `stream_options.include_usage` (chat's, no Responses field: the spec's
    ResponseStreamOptions has `include_obfuscation` only) was accepted and ignored. Now
    `Unknown parameter` naming it, as any misspelt field is; the spec's option passes."""
    body = {"model": "oa-1", "input": "hi", "stream": True}
    message = refused(
        r, {**body, "stream_options": {"include_usage": True}}, "stream_options.include_usage"
    )
    assert message == "Unknown parameter: 'stream_options.include_usage'."
    good = r.raw("/v1/responses", {**body, "stream_options": {"include_obfuscation": False}})
    assert good.status_code == 200, good.text


def test_azures_v1_base_url_is_served_as_v1(r: Rig) -> None:
    """Before: Azure's v1 API path, `{endpoint}/openai/v1/` as the plain OpenAI SDK's base URL,
    was a 404 ("Unknown path /openai/v1/chat/completions"). Now every OpenAI surface under it
    is /v1's; Anthropic's messages are not among them."""
    with openai.OpenAI(
        api_key=r.key, base_url=r.sidecar.root_url + "/openai/v1", max_retries=0
    ) as v1:
        w = word()
        v1.chat.completions.create(model="oa-1", messages=[{"role": "user", "content": w}])
        assert r.recorder.one(w)[0] == "/v1/chat/completions"
        w = word()
        assert v1.responses.create(model="an-1", input=w).output_text == "ok"
        assert r.recorder.one(w)[0] == "/v1/messages"
        assert [m.id for m in v1.models.list()][:2] == ["auto", "oa-1"]
        with pytest.raises(openai.NotFoundError):
            v1.responses.retrieve("resp_" + w)
    messages = r.raw("/openai/v1/messages", {"model": "an-1", "max_tokens": 5, "messages": []})
    assert messages.status_code == 404, messages.text
