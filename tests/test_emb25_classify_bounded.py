"""emb25: the classifier reads a bounded number of messages, however many a body holds.

Before, `classify` walked every message of a body looking for a system message it did not have
(100,000 tiny messages: 70-82 ms on the event loop, route_plan's call). Now the last
TAIL_MESSAGES and the first HEAD_MESSAGES at most."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, overload

from arbiter import worst_case
from arbiter.classify import HEAD_MESSAGES, TAIL_MESSAGES, classify


class Counted(Sequence[Mapping[str, Any]]):
    """A list of messages that counts the items read from it."""

    def __init__(self, items: list[Mapping[str, Any]]) -> None:
        self.items = items
        self.read = 0

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, i: int) -> Mapping[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Mapping[str, Any]]: ...
    def __getitem__(self, i: int | slice) -> Any:
        got = self.items[i]
        self.read += len(got) if isinstance(i, slice) else 1
        return got


def _turns(n: int) -> list[Mapping[str, Any]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": "ok"} for i in range(n)]


def test_a_huge_body_is_read_no_further_than_the_bound() -> None:
    messages = Counted(_turns(100_000))
    assert classify(messages) == "chat"
    assert messages.read <= 2 * (TAIL_MESSAGES + HEAD_MESSAGES)  # _modality's walk and the loop


def test_the_system_prompt_and_the_last_turn_are_still_read() -> None:
    """The control: a system prompt first and the user's turn last, 100,000 messages apart."""
    system = {"role": "system", "content": "You are a Python programmer."}
    messages = [system, *_turns(100_000), {"role": "user", "content": "Hello there"}]
    assert classify(messages) == "code"
    ask = {"role": "user", "content": "Write a Python function that reverses a list."}
    tools = [{"role": "assistant", "content": "calling"}, {"role": "tool", "content": "{}"}] * 100
    assert classify([*_turns(99_999), ask, *tools]) == "code"  # 200 tool turns after it


def test_a_body_of_many_messages_is_walked_for_images_off_the_loop() -> None:
    """Before: every message walked on the loop to learn whether the body's inline images
    were big enough for a thread (then None: walked again, on the loop, when first asked)."""
    many = {"messages": _turns(2_000)}
    assert asyncio.run(worst_case.image_parts_off_loop(many)) == []  # read, in a thread
    assert asyncio.run(worst_case.image_parts_off_loop({"messages": _turns(10)})) is None
