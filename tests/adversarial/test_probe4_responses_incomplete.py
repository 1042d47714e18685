"""Outside probe: /v1/responses through the official `openai` SDK, an answer cut by
`max_output_tokens`. `client.responses.stream(...).get_final_response()` raises "Didn't receive a
`response.completed` event" for it: the SDK's own contract (openai/lib/streaming/responses/
_responses.py sets the final response only on `response.completed`), the same against OpenAI,
whose cut answer ends with `response.incomplete`. What the SDK reads from that event was wrong:
the Response said `status: "incomplete"` with `incomplete_details.reason: "max_output_tokens"`,
but the item that was cut said `status: "completed"`, in `response.output_item.done`, in the
final event's output, and in the non-streamed Response (OpenAI marks the cut item
`incomplete`; a client checking the item was told the text was whole). The item's done events
now wait for the stop reason."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

ESSAY = "Write a long essay about rivers."


@pytest.mark.parametrize("model", ["sim-small", "sim-medium"])  # OpenAI and Anthropic upstreams
def test_a_cut_answer_says_incomplete_down_to_its_item(tmp_path: Path, model: str) -> None:
    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, anthropic_models=("sim-medium",)) as sc,
            sdks(sc) as (_, gpt),
        ):
            async with gpt.responses.stream(
                model=model, input=ESSAY, max_output_tokens=16
            ) as stream:
                events = [event async for event in stream]
                with pytest.raises(RuntimeError, match=r"response\.completed"):
                    await stream.get_final_response()  # the SDK's contract, as with OpenAI
            assert [e.sequence_number for e in events] == list(range(len(events)))
            last = events[-1]
            assert last.type == "response.incomplete"
            response = last.response
            assert response.status == "incomplete"
            assert response.incomplete_details is not None
            assert response.incomplete_details.reason == "max_output_tokens"
            text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
            item = response.output[-1]
            assert item.type == "message" and item.status == "incomplete"
            assert item.content[0].type == "output_text" and item.content[0].text == text
            done = [e for e in events if e.type == "response.output_item.done"]
            assert done[-1].item.status == "incomplete"
            assert response.output_text == text

            whole = await gpt.responses.create(model=model, input=ESSAY, max_output_tokens=16)
            assert whole.status == "incomplete" and whole.output[-1].status == "incomplete"
            assert whole.output_text

            # an answer that ends on its own: completed, down to its item
            async with gpt.responses.stream(model=model, input="Say hi.") as stream:
                final = await stream.get_final_response()
            assert final.status == "completed" and final.incomplete_details is None
            assert [o.status for o in final.output] == ["completed"] * len(final.output)

    asyncio.run(main())
