"""Outside probe (seventeenth session): Anthropic blocks with no OpenAI counterpart (documents,
thinking, redacted thinking, search results, container uploads) were sent on as they came,
unchecked. A malformed one (a document with no `source`, a source of an unknown type, a PDF
whose `data` is a number, a thinking block without `thinking` or with a number there) was
routed, sent to a Claude model and came back as the upstream's 400, which the client sees only
as "upstream ... returned HTTP 400 (bad request)": it never learnt which field was wrong. Now
each is the caller's 400 in Anthropic's shape naming the field, before any upstream call
(count_tokens too); the well-formed shapes of the anthropic SDK's types still pass, unchanged."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import anthropic_mock
from tests.adversarial.test_probe_upstream_sse import _with_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import check_anthropic_error

PDF = base64.b64encode(b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n%%EOF").decode()
SIGNED = {"type": "thinking", "thinking": "Let me see.", "signature": "c2lnbmF0dXJl"}
REDACTED = {"type": "redacted_thinking", "data": "ZW5jcnlwdGVk"}


def _user(*blocks: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [*blocks, {"type": "text", "text": "Summarise."}]}]


def _thinking_turn(*blocks: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [*blocks, {"type": "text", "text": "Sunny."}]},
        {"role": "user", "content": "Thanks. Tomorrow?"},
    ]


def _doc(**fields: Any) -> dict[str, Any]:
    return {"type": "document", **fields}


# the messages, and the param the 400 must name
BAD: dict[str, tuple[list[dict[str, Any]], str]] = {
    "document-without-source": (_user(_doc(title="t")), "messages.0.content.0.source"),
    "document-source-unknown": (
        _user(_doc(source={"type": "weird"})),
        "messages.0.content.0.source.type",
    ),
    "pdf-data-a-number": (
        _user(_doc(source={"type": "base64", "media_type": "application/pdf", "data": 5})),
        "messages.0.content.0.source.data",
    ),
    "pdf-wrong-media-type": (
        _user(_doc(source={"type": "base64", "media_type": "text/plain", "data": PDF})),
        "messages.0.content.0.source.media_type",
    ),
    "text-document-without-data": (
        _user(_doc(source={"type": "text", "media_type": "text/plain"})),
        "messages.0.content.0.source.data",
    ),
    "content-source-audio-block": (
        _user(_doc(source={"type": "content", "content": [{"type": "audio"}]})),
        "messages.0.content.0.source.content.0.type",
    ),
    "url-document-without-url": (
        _user(_doc(source={"type": "url"})),
        "messages.0.content.0.source.url",
    ),
    "document-title-a-list": (
        _user(_doc(source={"type": "url", "url": "https://example.com/a.pdf"}, title=["t"])),
        "messages.0.content.0.title",
    ),
    "citations-enabled-a-string": (
        _user(
            _doc(
                source={"type": "text", "media_type": "text/plain", "data": "x"},
                citations={"enabled": "yes"},
            )
        ),
        "messages.0.content.0.citations.enabled",
    ),
    "thinking-without-thinking": (
        _thinking_turn({"type": "thinking", "signature": "abc"}),
        "messages.1.content.0.thinking",
    ),
    "thinking-a-number": (
        _thinking_turn({**SIGNED, "thinking": 5}),
        "messages.1.content.0.thinking",
    ),
    "thinking-without-signature": (
        _thinking_turn({"type": "thinking", "thinking": "hm"}),
        "messages.1.content.0.signature",
    ),
    "redacted-without-data": (
        _thinking_turn({"type": "redacted_thinking"}),
        "messages.1.content.0.data",
    ),
    "search-result-without-source": (
        _user({"type": "search_result", "title": "t", "content": [{"type": "text", "text": "x"}]}),
        "messages.0.content.0.source",
    ),
    "search-result-image-content": (
        _user(
            {
                "type": "search_result",
                "source": "https://example.com",
                "title": "t",
                "content": [{"type": "image"}],
            }
        ),
        "messages.0.content.0.content.0.type",
    ),
    "container-upload-without-file": (
        _user({"type": "container_upload"}),
        "messages.0.content.0.file_id",
    ),
}
# every source and block of the SDK's request types, well formed: sent on as they came
GOOD: dict[str, list[dict[str, Any]]] = {
    "documents": _user(
        _doc(
            source={"type": "base64", "media_type": "application/pdf", "data": PDF},
            title="A",
            context="B",
            citations={"enabled": True},
        ),
        _doc(
            source={"type": "text", "media_type": "text/plain", "data": "The sky is blue."},
            title=None,
            context=None,
        ),
        _doc(source={"type": "content", "content": "plain"}),
        _doc(source={"type": "content", "content": [{"type": "text", "text": "a"}]}),
        _doc(source={"type": "url", "url": "https://example.com/a.pdf"}),
        _doc(source={"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"}),
    ),
    "search-result": _user(
        {
            "type": "search_result",
            "source": "https://example.com/w",
            "title": "Wiki",
            "content": [{"type": "text", "text": "x"}],
            "citations": {"enabled": True},
        }
    ),
    "thinking": _thinking_turn(SIGNED, REDACTED),
    "container-upload": _user({"type": "container_upload", "file_id": "file_01"}),
}


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _run(tmp_path: Path, mock: AnthropicMock, messages: list[dict[str, Any]]) -> list[Any]:
    """The answers of /v1/messages and its count_tokens to `messages`, for a Claude model on
    the mock; the mock's requests are cleared first."""
    mock.requests.clear()
    out = []

    async def main() -> None:
        edit = _with_mock(mock, "anthropic", "text", model="claude-mock")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
            body = {"model": "claude-mock", "max_tokens": 50, "messages": messages}
            out.append(await sc.client.post("/v1/messages", headers=sc.anthropic, json=body))
            del body["max_tokens"]
            out.append(
                await sc.client.post("/v1/messages/count_tokens", headers=sc.anthropic, json=body)
            )

    asyncio.run(main())
    return out


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_malformed_opaque_block_is_the_callers_400_naming_it(
    tmp_path: Path, mock: AnthropicMock, case: str
) -> None:
    messages, param = BAD[case]
    for r in _run(tmp_path, mock, messages):
        message = check_anthropic_error(r, 400, "invalid_request_error")
        assert message.startswith(param + ":"), (case, message)
    assert mock.requests == [], "nothing reaches the upstream"


@pytest.mark.parametrize("case", sorted(GOOD))
def test_well_formed_opaque_blocks_are_sent_on_as_they_came(
    tmp_path: Path, mock: AnthropicMock, case: str
) -> None:
    answer, count = _run(tmp_path, mock, GOOD[case])
    assert answer.status_code == 200, answer.text
    assert count.status_code == 200, count.text
    sent = [body for _, body in mock.requests if "max_tokens" in body]
    assert sent and sent[0]["messages"] == GOOD[case]
