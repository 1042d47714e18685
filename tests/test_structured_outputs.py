"""Strict structured outputs cross protocols, through the official SDKs: OpenAI's
`chat.completions.parse` (a strict json_schema response_format) served by an Anthropic-protocol
model (sent as `output_config.format`), and the anthropic SDK's `messages.parse(output_format=)`
(`output_config.format`) served by an OpenAI-protocol one (a strict json_schema); by name and by
`auto`, streamed and not, each answer parsed by the SDK. Only `json-schema` models serve them: a
model named without it is a 400 naming the field, in the client's shape."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anthropic
import openai
import orjson
import pytest
from pydantic import BaseModel

from arbiter.protocols.schema_dialects import for_anthropic
from arbiter.surfaces.openai_chat import parse_chat_request
from arbiter.upstream_body import body_for
from tests.inproc import InProcess, recorded_decision, run_with_claude
from tests.sdk_clients import check_anthropic_error, check_completion, check_message, sdks

CLAUDE = "sim-medium"  # served over Anthropic's API
GPT = "sim-small"  # served over OpenAI's
ASK = [{"role": "user", "content": "Extract the person: Ada Lovelace, 36, from London."}]


class Person(BaseModel):
    name: str
    age: int
    city: str


OUTPUT_FORMAT: Any = {"type": "json_schema", "schema": Person.model_json_schema()}


def sure_extraction(text: str) -> str:
    """Every simulated model answers extraction well: a parse failure is then ours."""
    return "\n".join(
        "extraction = 1.0" if line.startswith("extraction = ") else line
        for line in text.splitlines()
    )


def only_routable(*names: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        for name in ("sim-tiny", "sim-small", "sim-medium", "sim-premium"):
            if name in names:
                continue
            i = text.index("capabilities = ", text.index(f"[models.{name}]\n"))
            text = text[:i] + 'capabilities = ["chat", "no-route"]' + text[text.index("\n", i) :]
        return text

    return edit


def without_schema(name: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        i = text.index("capabilities = ", text.index(f"[models.{name}]\n"))
        return text[:i] + 'capabilities = ["chat", "json", "tools"]' + text[text.index("\n", i) :]

    return edit


def run(tmp_path: Path, body: Callable[[InProcess], Awaitable[None]], **kw: Any) -> None:
    run_with_claude(tmp_path, body, edit_sim=sure_extraction, **kw)


decision = recorded_decision


async def openai_parse(sc: InProcess, model: str) -> str:
    """One parse and one stream through the openai SDK; the model that served them."""
    async with sdks(sc) as (_, gpt):
        raw = await gpt.chat.completions.with_raw_response.parse(
            model=model, messages=ASK, response_format=Person,  # type: ignore[arg-type]
        )  # fmt: skip
        check_completion(raw.content)
        parsed = raw.parse().choices[0].message.parsed
        assert isinstance(parsed, Person), raw.content
        row = await decision(sc, raw.headers["x-arbiter-decision-id"])
        assert row["task"] == "extraction"
        async with gpt.chat.completions.stream(
            model=model, messages=ASK, response_format=Person,  # type: ignore[arg-type]
        ) as stream:  # fmt: skip
            final = await stream.get_final_completion()
        assert isinstance(final.choices[0].message.parsed, Person)
        assert stream._response.headers["x-arbiter-model"] == raw.headers["x-arbiter-model"]
        return raw.headers["x-arbiter-model"]


async def anthropic_parse(sc: InProcess, model: str) -> str:
    """One parse and one stream through the anthropic SDK; the model that served them."""
    async with sdks(sc) as (claude, _):
        message = await claude.messages.parse(
            model=model, max_tokens=300, messages=ASK,  # type: ignore[arg-type]
            output_format=Person,
        )  # fmt: skip
        assert isinstance(message.parsed_output, Person), message
        # the same body raw (what `parse` sends), for the headers and the decision
        raw = await claude.messages.with_raw_response.create(
            model=model, max_tokens=300, messages=ASK,  # type: ignore[arg-type]
            output_config={"format": OUTPUT_FORMAT},
        )  # fmt: skip
        Person.model_validate_json(check_message(await raw.read()).content[0].text)  # type: ignore[union-attr]
        row = await decision(sc, raw.headers["x-arbiter-decision-id"])
        assert row["task"] == "extraction"  # the classifier sees output_config.format
        async with claude.messages.stream(
            model=model, max_tokens=300, messages=ASK,  # type: ignore[arg-type]
            output_format=Person,
        ) as stream:  # fmt: skip
            final = await stream.get_final_message()
        assert isinstance(final.parsed_output, Person)
        return raw.headers["x-arbiter-model"]


def test_openai_parse_by_name_on_an_anthropic_model(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        assert await openai_parse(sc, CLAUDE) == CLAUDE

    run(tmp_path, body)


def test_openai_parse_auto_may_pick_an_anthropic_model(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        assert await openai_parse(sc, "auto") == CLAUDE

    run(tmp_path, body, edit_config=only_routable(CLAUDE))


def test_anthropic_parse_by_name_on_an_openai_model(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        assert await anthropic_parse(sc, GPT) == GPT

    run(tmp_path, body)


def test_anthropic_parse_auto_may_pick_an_openai_model(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        assert await anthropic_parse(sc, "auto") == GPT

    run(tmp_path, body, edit_config=only_routable(GPT))


def test_anthropic_output_config_same_protocol_still_relayed(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        assert await anthropic_parse(sc, CLAUDE) == CLAUDE

    run(tmp_path, body)


@pytest.mark.parametrize("client", ["openai", "anthropic"])
def test_a_model_without_json_schema_is_not_picked_and_named_is_a_400(
    tmp_path: Path, client: str
) -> None:
    """`json` alone (a best-effort JSON instruction) cannot promise a strict schema."""
    target = CLAUDE if client == "openai" else GPT

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, gpt):
            if client == "openai":
                with pytest.raises(openai.BadRequestError) as err:
                    await gpt.chat.completions.parse(
                        model=target, messages=ASK, response_format=Person,  # type: ignore[arg-type]
                    )  # fmt: skip
                assert err.value.body["param"] == "response_format"  # type: ignore[index]
                assert "json-schema" in err.value.body["message"]  # type: ignore[index]
                raw = await gpt.chat.completions.with_raw_response.parse(
                    model="auto", messages=ASK, response_format=Person,  # type: ignore[arg-type]
                )  # fmt: skip
            else:
                r = await sc.client.post(
                    "/v1/messages",
                    json={"model": target, "max_tokens": 300, "messages": ASK,
                          "output_config": {"format": OUTPUT_FORMAT}},
                    headers=sc.anthropic,
                )  # fmt: skip
                assert "json-schema" in check_anthropic_error(r, 400, "invalid_request_error")
                with pytest.raises(anthropic.BadRequestError):
                    await claude.messages.parse(
                        model=target, max_tokens=300, messages=ASK,  # type: ignore[arg-type]
                        output_format=Person,
                    )  # fmt: skip
                raw = await claude.messages.with_raw_response.create(
                    model="auto", max_tokens=300, messages=ASK,  # type: ignore[arg-type]
                    output_config={"format": OUTPUT_FORMAT},
                )  # fmt: skip
            row = await decision(sc, raw.headers["x-arbiter-decision-id"])
            why = {c["model"]: c["why_not"] for c in row["candidates"] if not c["eligible"]}
            assert "json-schema" in why[target], why

    run(tmp_path, body, edit_config=without_schema(target))


class Loose(BaseModel):
    name: str
    nickname: str = "none"  # optional: OpenAI's strict mode refuses the schema


def test_a_schema_openai_strict_mode_refuses_is_a_400_naming_it_to_an_openai_model(
    tmp_path: Path,
) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            with pytest.raises(anthropic.BadRequestError) as err:
                await claude.messages.parse(
                    model=GPT, max_tokens=300, messages=ASK,  # type: ignore[arg-type]
                    output_format=Loose,
                )  # fmt: skip
            assert "'nickname'" in str(err.value) and "strict" in str(err.value)
            served = await claude.messages.parse(
                model=CLAUDE, max_tokens=300, messages=ASK,  # type: ignore[arg-type]
                output_format=Loose,
            )  # fmt: skip
            assert isinstance(served.parsed_output, Loose)

    run(tmp_path, body)


def test_a_strict_schema_refused_on_responses_names_text_format(tmp_path: Path) -> None:
    """The Responses API's field is `text.format`: its 400 names that, not the Chat
    Completions view's `response_format` the request was translated to."""

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            with pytest.raises(openai.BadRequestError) as err:
                await gpt.responses.parse(model=CLAUDE, input=ASK, text_format=Person)  # type: ignore[arg-type]
            assert err.value.body["param"] == "text.format"  # type: ignore[index]
            assert "response_format" not in err.value.body["message"]  # type: ignore[index]
            assert "json-schema" in err.value.body["message"]  # type: ignore[index]

    run(tmp_path, body, edit_config=without_schema(CLAUDE))


def non_strict(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}}


def test_a_non_strict_schema_goes_as_structured_output_where_the_model_has_them(
    tmp_path: Path,
) -> None:
    """An OpenAI client's non-strict json_schema to an Anthropic model with `json-schema` went
    as an instruction in the system prompt; it now goes as `output_config.format` (constrained
    decoding gives the shape it asks for). Without the capability, and for json_object (no
    schema Anthropic takes means "any object"), it stays an instruction."""
    schema = Person.model_json_schema()

    async def body(sc: InProcess) -> None:
        def sent(model: str, fmt: dict[str, Any]) -> dict[str, Any]:
            raw = orjson.dumps({"model": model, "messages": ASK, "response_format": fmt})
            settings = sc.services.registry.get(model)
            assert settings is not None
            return body_for(parse_chat_request(raw), settings, "anthropic")

        told = "Respond with a single valid JSON object"
        structured = sent(CLAUDE, non_strict(schema))
        assert structured["output_config"]["format"] == {
            "type": "json_schema", "schema": for_anthropic(schema),
        }  # fmt: skip
        assert told not in str(structured.get("system", ""))
        loose = sent(CLAUDE, {"type": "json_object"})
        assert "output_config" not in loose and told in loose["system"]
        # and the SDK's answer through the sidecar parses as the schema
        async with sdks(sc) as (_, gpt):
            raw = await gpt.chat.completions.with_raw_response.create(
                model=CLAUDE, messages=ASK, response_format=non_strict(schema),  # type: ignore[arg-type]
            )  # fmt: skip
            text = check_completion(raw.content).choices[0].message.content
            Person.model_validate_json(text or "")

    run(tmp_path, body)


def test_without_json_schema_a_non_strict_schema_stays_an_instruction(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        raw = orjson.dumps(
            {"model": CLAUDE, "messages": ASK,
             "response_format": non_strict(Person.model_json_schema())}
        )  # fmt: skip
        settings = sc.services.registry.get(CLAUDE)
        assert settings is not None and "json-schema" not in settings.capabilities
        sent = body_for(parse_chat_request(raw), settings, "anthropic")
        assert "output_config" not in sent
        assert "Respond with a single valid JSON object" in sent["system"]

    run(tmp_path, body, edit_config=without_schema(CLAUDE))


def test_a_shadow_challenger_without_json_schema_gets_no_strict_schema(tmp_path: Path) -> None:
    """A strict schema that routing keeps from a model without `json-schema` was still sent to
    it as shadow traffic (challengers checked only tools, vision and context)."""

    def edit(text: str) -> str:
        text = without_schema(CLAUDE)(text)
        return (
            text
            + '\n[shadow]\nchallengers = ["sim-medium"]\nsample_rate = 1.0\nbudget_usd = 10.0\n'
        )

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            for _ in range(4):
                await gpt.chat.completions.parse(
                    model="auto", messages=ASK, response_format=Person,  # type: ignore[arg-type]
                )  # fmt: skip
        await sc.services.shadow.drain()
        r = await sc.client.get("/arbiter/decisions", params={"limit": 50}, headers=sc.admin)
        shadow = [d for d in r.json()["data"] if d["mode"] == "shadow"]
        assert shadow == [], [d["chosen_model"] for d in shadow]
        assert sc.services.shadow.skipped.get("no_eligible_challenger", 0) >= 4

    run(tmp_path, body, edit_config=edit)
