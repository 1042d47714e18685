"""Outside probe (eighteenth session, spec-driven fuzz): a streamed /v1/responses answer from an
Anthropic model whose stream broke after its `message_delta` (no `message_stop`: the upstream
went away at the very end) ended, rightly, in `error` + `response.failed`, but its
`sequence_number`s jumped (0..7, then 11, 12): the text item's done events were numbered when the
stop reason came, held back with it (a failed stream must not show a finish), then dropped, so
the client saw neither those events nor consecutive numbers. The item's done events now wait for
the end of the message itself: on a failure they come, numbered in turn, before the `error`.
Every event is checked against OpenAI's spec."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from arbiter.offline.demo import API_KEY_ENV
from tests import anthropic_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.openapi_spec import validate_response_event
from tests.sdk_clients import sse


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _models(mock: AnthropicMock, *kinds: str) -> str:
    """Config text: Anthropic-protocol models `m-<kind>` on the mock, each its behaviour."""
    text = (
        f'\n[upstreams.amock]\nbase_url = "{mock.base_url}"\nprotocol = "anthropic"\n'
        f'api_key_env = "{API_KEY_ENV}"\n'
    )
    for kind in kinds:
        text += (
            f'\n[models.m-{kind}]\nupstream = "amock"\nupstream_model = "{kind}"\n'
            "price_in_per_mtok = 1.0\nprice_out_per_mtok = 2.0\ncontext_window = 32000\n"
            'capabilities = ["chat", "tools", "no-route"]\n'
        )
    return text


@pytest.mark.parametrize("kind", ["no-stop", "text", "tool", "reset", "overloaded-event"])
def test_every_event_is_numbered_in_turn_whatever_ends_the_stream(
    tmp_path: Path, mock: AnthropicMock, kind: str
) -> None:
    async def main() -> None:
        edit = lambda text: text + _models(mock, kind)  # noqa: E731
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
            r = await sc.client.post(
                "/v1/responses",
                json={"model": f"m-{kind}", "input": "Weather in Paris?", "stream": True,
                      "tools": [{"type": "function", "name": "get_weather",
                                 "parameters": {"type": "object"}}]},
                headers=sc.auth,
            )  # fmt: skip
            assert r.status_code == 200, r.text
            events = [orjson.loads(data) for _, data in sse(r.content)]
            for event in events:
                validate_response_event(event)
            assert [e["sequence_number"] for e in events] == list(range(len(events)))
            last = events[-1]
            ok = kind in ("text", "tool")
            assert last["type"] == ("response.completed" if ok else "response.failed"), last
            # every item the final Response lists was opened and closed before the client's eyes
            done = [e["item"]["id"] for e in events if e["type"] == "response.output_item.done"]
            assert done == [item["id"] for item in last["response"]["output"]][: len(done)]
            if kind == "no-stop":  # its text ended before the break: whole, and said done
                assert done == [item["id"] for item in last["response"]["output"]]
                texts = [e["text"] for e in events if e["type"] == "response.output_text.done"]
                assert texts == [anthropic_mock.TEXT]

    asyncio.run(main())
