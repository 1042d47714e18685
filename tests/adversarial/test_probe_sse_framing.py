"""Outside probe: upstream SSE framing that the spec allows but Arbiter misread.

- Lines ended by a lone CR ("\\r", one of the three line ends SSE allows): no line ever ended,
  so the whole body was one over-long line, or at its end one unparsable event (502).
- A CRLF whose CR and LF arrive in separate network reads must still be ONE line end.
- An event whose payload spans several `data:` lines (SSE joins them with "\\n"): the OpenAI
  stream read each line as its own chunk (502 'malformed chunk').
- An Anthropic-protocol stream whose frames have no `event:` line (the type is in the data):
  relayed as it came, the anthropic SDK (which dispatches on the event name) failed on it.
- `"finish_reason": ""` on every content chunk (Ollama's and SGLang's OpenAI-compatible
  servers) read as a finish: each delta closed the text block, so an Anthropic client got one
  text block per token (`content[0].text` was the first token only).
Both upstream protocols, read by an OpenAI and an Anthropic client (relayed and translated)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import openai
import orjson
import pytest

from tests import anthropic_mock
from tests.adversarial.test_probe_upstream_sse import _frames, _stream, _with_mock, run
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _split_data(body: bytes) -> bytes:
    """Each event's JSON payload spread over two `data:` lines (split after its first comma)."""
    out = []
    for frame in body.split(b"\n\n"):
        lines = []
        for line in frame.split(b"\n"):
            if line.startswith(b"data: {") and b"," in line:
                head, tail = line.split(b",", 1)
                lines += [head + b",", b"data: " + tail]
            else:
                lines.append(line)
        out.append(b"\n".join(lines))
    return b"\n\n".join(out)


def test_split_data_really_splits() -> None:
    body = _split_data(_stream())
    assert body.count(b"data: ") > _stream().count(b"data: ")
    first = body.split(b"\n\n")[0].split(b"\n")
    assert len(first) == 2 and all(line.startswith(b"data: ") for line in first)
    assert orjson.loads(b"\n".join(line[6:] for line in first))["choices"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_stream().replace(b"\n", b"\r"), id="cr-only"),
        pytest.param(_stream().replace(b"\n", b"\r\n"), id="crlf"),
        pytest.param(_split_data(_stream()), id="multi-line-data"),
        pytest.param(_split_data(_stream()).replace(b"\n", b"\r"), id="multi-line-data-cr"),
        pytest.param(
            _stream().replace(b'"finish_reason":null', b'"finish_reason":""'),
            id="empty-finish-reason",
        ),
        # not SSE, but read as one event per line before multi-line data was joined
        pytest.param(_stream().replace(b"\n\n", b"\n"), id="no-blank-lines"),
    ],
)
def test_openai_upstream_framing(tmp_path: Path, mock: AnthropicMock, body: bytes) -> None:
    run(tmp_path, mock, body, "openai")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_frames().replace(b"\n", b"\r"), id="cr-only"),
        pytest.param(_split_data(_frames()), id="multi-line-data"),
        pytest.param(_split_data(_frames()).replace(b"\n", b"\r"), id="multi-line-data-cr"),
        # events named only in their data's `type`: the anthropic SDK dispatches on the name
        pytest.param(
            b"\n\n".join(
                b"\n".join(x for x in f.split(b"\n") if not x.startswith(b"event:"))
                for f in _frames().split(b"\n\n")
            ),
            id="no-event-lines",
        ),
    ],
)
def test_anthropic_upstream_framing(tmp_path: Path, mock: AnthropicMock, body: bytes) -> None:
    run(tmp_path, mock, body, "anthropic", anthropic_mock.TEXT)


def test_crlf_split_across_reads_is_one_line_end(tmp_path: Path, mock: AnthropicMock) -> None:
    """CR at the end of one network read, LF at the start of the next: one line end, not two
    (the extra blank line would end the event after its first `data:` line)."""
    body = _split_data(_stream()).replace(b"\n", b"\r\n")
    segs = body.split(b"\r\n")
    pieces = [segs[0] + b"\r", *(b"\n" + s + b"\r" for s in segs[1:-1]), b"\n" + segs[-1]]
    assert b"".join(pieces) == body
    mock.replay_pieces = pieces
    run(tmp_path, mock, b"", "openai", upstream_model="replay-pieces")


def test_a_cut_stream_with_empty_finish_reasons_still_fails(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    """Cut before its real finish_reason (no [DONE]): "" on the chunks before is no finish."""
    body = _stream().replace(b'"finish_reason":null', b'"finish_reason":""')
    mock.replay_body = b"data: ".join(body.split(b"data: ", 3)[:3])  # two content chunks

    async def main() -> None:
        edit = _with_mock(mock, "openai")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (_, gpt):
            stream = await gpt.chat.completions.create(
                model="oa-mock",
                messages=[{"role": "user", "content": "Say hello."}],
                stream=True,
            )
            with pytest.raises(openai.APIError):
                async for _chunk in stream:
                    pass

    asyncio.run(main())
