"""combo24: a cascade x a client that leaves. A client gone during the cascade's first, cheap
call cancelled it and was charged that call's worst case, but the decision listed no attempt at
all (and /metrics no failed call that may be billed): a cost with no call behind it. A plain
request, and a cascade's escalated call, record theirs as `cancelled`, billed "maybe"; the
cheap call now does too."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.combo24_rig import Rig, books_settle, rig

TEXT = "Extract all the names from this text: Alice met Bob in Paris."
LEAVE_S = 0.5  # the client's timeout; the cheap model's first byte comes at 1.5 s


@pytest.fixture(scope="module", name="the_rig")
def rig_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("combo24_cancel")) as r:
        yield r


def _leave(r: Rig, surface: str, text: str) -> None:
    """`text` to `auto` through the surface's SDK, which gives up after LEAVE_S."""
    key, sc = r.keys["plain"], r.sidecar
    msgs = [{"role": "user", "content": text}]
    if surface == "chat":
        with (
            openai.OpenAI(base_url=sc.base_url, api_key=key, max_retries=0, timeout=LEAVE_S) as oa,
            pytest.raises(openai.APITimeoutError),
        ):
            oa.chat.completions.create(model="auto", messages=msgs, max_tokens=64)  # type: ignore[arg-type]
    else:
        with (
            anthropic.Anthropic(
                base_url=sc.root_url, api_key=key, max_retries=0, timeout=LEAVE_S
            ) as an,
            pytest.raises(anthropic.APITimeoutError),
        ):
            an.messages.create(model="auto", messages=msgs, max_tokens=64)  # type: ignore[arg-type]


@pytest.mark.parametrize("surface", ["chat", "messages"])
@pytest.mark.parametrize("slow", ["oa-1", "oa-2"])
def test_a_cancelled_cascade_call_is_on_record(the_rig: Rig, surface: str, slow: str) -> None:
    """`slow`: oa-1, the cascade's first model (the client leaves during the cheap call), or
    oa-2 (it leaves during the escalated call, the control: recorded before too)."""
    r = the_rig
    before = r.newest_decision()
    spent, _ = r.global_books()
    maybe = r.failed_calls_maybe()
    _leave(r, surface, f"{TEXT} [[fault:{slow}=delay@1.5]] [[cell:{surface}-{slow}]]")
    deadline = time.monotonic() + 10
    while (record := r.newest_decision()) is None or (before and record["id"] == before["id"]):
        assert time.monotonic() < deadline, "the left request was never recorded"
        time.sleep(0.05)
    attempts = [(a["model"], a["ok"], a["error"], a["billed"]) for a in record["attempts"]]
    assert attempts[-1:] == [(slow, False, "cancelled", True)], record
    if slow == "oa-1":
        assert attempts == [("oa-1", False, "cancelled", True)], record
    cost = float(record["cost_usd"])
    assert cost > 0, record  # the abandoned call may be billed: its worst case
    books_settle(r, spent, cost)
    assert r.failed_calls_maybe() - maybe == 1, record
