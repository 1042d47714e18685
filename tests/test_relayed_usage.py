"""relayed_usage: which usage objects a client reads as they came, and what replaces the others."""

from __future__ import annotations

from typing import Any

import pytest

from arbiter import relayed_usage as ru

GOOD = {
    "prompt_tokens": 11,
    "completion_tokens": 7,
    "total_tokens": 18,
    "prompt_tokens_details": {"cached_tokens": 0},
    "completion_tokens_details": None,
}


@pytest.mark.parametrize(
    "usage",
    [GOOD, {"prompt_tokens": 0, "completion_tokens": 0}, {**GOOD, "cost": 0.25}],
)
def test_a_well_formed_openai_usage_is_relayed_as_it_came(usage: Any) -> None:
    assert ru.openai_usage(usage, 5, 6) is None


def test_an_openai_usage_left_out_stays_out() -> None:
    assert ru.openai_usage(None, 5, 6) is None  # optional in a chat completion


@pytest.mark.parametrize(
    "usage",
    [
        {**GOOD, "prompt_tokens": -5},
        {**GOOD, "completion_tokens": 10**13},
        {**GOOD, "completion_tokens": True},  # a bool is no count
        {**GOOD, "total_tokens": "18"},
        {**GOOD, "reasoning_tokens": -1},  # any other count too
        {"completion_tokens": 7},
        {},
        [],
    ],
)
def test_an_openai_usage_with_a_count_that_is_none_is_replaced_whole(usage: Any) -> None:
    assert ru.openai_usage(usage, 5, 6) == {
        "prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11,
    }  # fmt: skip


def test_anthropic_and_embeddings_usage_are_required() -> None:
    assert ru.anthropic_usage({"input_tokens": 3, "output_tokens": 4}, 5, 6) is None
    assert ru.anthropic_usage(None, 5, 6) == {"input_tokens": 5, "output_tokens": 6}
    assert ru.anthropic_usage({"input_tokens": -5, "output_tokens": 4}, 5, 6) is not None
    assert ru.anthropic_delta_usage({"output_tokens": 4}, 6) is None
    assert ru.anthropic_delta_usage(None, 6) == {"output_tokens": 6}
    assert ru.embeddings_usage({"prompt_tokens": 2, "total_tokens": 2}, 9) is None
    assert ru.embeddings_usage(None, 9) == {"prompt_tokens": 9, "total_tokens": 9}
