"""End to end: the official `anthropic` SDK (sync) and LangChain's ChatAnthropic against the demo
stack with an Anthropic-protocol tier (`arbiter sim` + `arbiter serve`, real sockets)."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest
from anthropic.types import Message

from arbiter.demo import ANTHROPIC_TIERS, Running, running_stack
from tests.sdk_clients import ARBITER_HEADERS, STREAM_EVENT

USER = [{"role": "user", "content": "Summarize in two sentences: the tide rises and falls."}]
CLAUDE = ANTHROPIC_TIERS[0]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with running_stack(
        tmp_path_factory.mktemp("anthropic-sdk"), anthropic_models=ANTHROPIC_TIERS
    ) as s:
        yield s


@pytest.fixture
def claude(stack: Running) -> Iterator[anthropic.Anthropic]:
    root = stack.base_url.removesuffix("/v1")
    with anthropic.Anthropic(api_key=stack.api_key, base_url=root, max_retries=0, timeout=30) as c:
        yield c


@pytest.mark.parametrize("model", ["auto", CLAUDE, "sim-small"])
def test_sync_sdk_create(claude: anthropic.Anthropic, model: str) -> None:
    raw = claude.messages.with_raw_response.create(
        model=model, max_tokens=200, messages=USER,  # type: ignore[arg-type]
    )  # fmt: skip
    for header in ARBITER_HEADERS:
        assert raw.headers.get(header), header
    if model != "auto":
        assert raw.headers["x-arbiter-model"] == model
    message = Message.model_validate_json(raw.read())
    assert raw.parse().id == message.id
    assert message.content[0].type == "text" and message.content[0].text
    assert message.stop_reason == "end_turn" and message.usage.output_tokens > 0


@pytest.mark.parametrize("model", ["auto", CLAUDE, "sim-small"])
def test_sync_sdk_stream(claude: anthropic.Anthropic, model: str) -> None:
    kinds = []
    with claude.messages.stream(
        model=model, max_tokens=200, messages=USER,  # type: ignore[arg-type]
    ) as stream:  # fmt: skip
        for event in stream:
            if event.type in ("text", "input_json", "citation", "signature", "thinking"):
                continue  # the SDK's own convenience events, derived from the raw ones
            STREAM_EVENT.validate_python(event.model_dump())
            kinds.append(event.type)
        final = stream.get_final_message()
    Message.model_validate(final.model_dump())
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop", kinds
    assert final.content[0].type == "text" and final.content[0].text
    assert final.stop_reason == "end_turn"


def test_sync_sdk_count_tokens(claude: anthropic.Anthropic) -> None:
    count = claude.messages.count_tokens(model="auto", messages=USER)  # type: ignore[arg-type]
    assert count.input_tokens > 0


def test_bad_key_is_anthropics_authentication_error(stack: Running) -> None:
    root = stack.base_url.removesuffix("/v1")
    with (
        anthropic.Anthropic(api_key="sk-wrong", base_url=root, max_retries=0) as c,
        pytest.raises(anthropic.AuthenticationError) as info,
    ):
        c.messages.create(model="auto", max_tokens=10, messages=USER)  # type: ignore[arg-type]
    assert info.value.status_code == 401
    assert info.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]


def test_langchain_chat_anthropic_invoke_and_stream(stack: Running) -> None:
    langchain_anthropic = pytest.importorskip("langchain_anthropic")
    root = stack.base_url.removesuffix("/v1")
    for model in ("auto", CLAUDE):
        llm = langchain_anthropic.ChatAnthropic(
            model=model, base_url=root, api_key=stack.api_key, max_tokens=200, max_retries=0
        )
        answer = llm.invoke("Summarize in two sentences: the tide rises and falls.")
        assert isinstance(answer.content, str) and answer.content, answer
        assert answer.response_metadata["stop_reason"] == "end_turn"
        pieces = list(llm.stream("Translate to French: good morning."))
        text = "".join(p.text for p in pieces)
        assert text, pieces
