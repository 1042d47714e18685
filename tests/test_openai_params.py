"""check_chat's shortcuts (surfaces/openai_params.py): a body with none of the fields it checks
skips the checks, one with only sampling ranges and token limits runs only those. Both must
give what the full checks give: these tests keep CHAT_FIELDS and the checks in step."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from arbiter.errors import InvalidRequest
from arbiter.surfaces import openai_params
from arbiter.surfaces.openai_params import CHAT_FIELDS, check_chat, check_chat_fields

# a value of each checked field that the checks refuse (tool_choice: names a tool, none given)
BAD: dict[str, Any] = {
    "temperature": 3, "top_p": 1.5, "presence_penalty": -3, "frequency_penalty": 9,
    "stream_options": {"include_usage": "yes"}, "user": 7, "stop": 5, "logit_bias": [],
    "metadata": "x", "seed": "1", "prompt_cache_key": 1, "service_tier": 2,
    "reasoning_effort": 3, "verbosity": "loud", "modalities": "text", "safety_identifier": 9,
    "store": "yes", "parallel_tool_calls": "yes",
    "tool_choice": {"type": "function", "function": {"name": "f"}}, "logprobs": 1,
    "top_logprobs": 21, "max_tokens": 0, "max_completion_tokens": -1,
}  # fmt: skip
# values the checks accept, several of which they change (no tools: dropped)
GOOD: dict[str, Any] = {
    "temperature": 0.2, "top_p": 1, "max_tokens": 32, "max_completion_tokens": 16,
    "tool_choice": "auto", "parallel_tool_calls": True, "stream_options": {"include_usage": True},
    "user": "u", "seed": 3, "stop": ["x"],
}  # fmt: skip
PLAIN = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


class _Reads(dict[str, Any]):
    """A body that records every field the checks look at."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def pop(self, key: str, *default: Any) -> Any:
        self.read.add(key)
        return super().pop(key, *default)


def test_every_field_the_checks_read_is_in_chat_fields() -> None:
    """A check added for a new field must add it to CHAT_FIELDS, or a body with only that
    field would skip it. `stream` and `tools` are read only next to a checked field."""
    body = _Reads(PLAIN)
    check_chat_fields(body)
    assert body.read - {"stream", "tools"} <= CHAT_FIELDS
    assert set(BAD) == CHAT_FIELDS  # every field has a refused value below


@pytest.mark.parametrize("field", sorted(BAD))
def test_each_checked_field_alone_is_still_refused(field: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        check_chat({**PLAIN, field: BAD[field]})
    assert field in (err.value.param or "")


def _outcome(check: Any, body: dict[str, Any]) -> tuple[Any, ...]:
    body = copy.deepcopy(body)
    try:
        check(body)
    except InvalidRequest as err:
        return ("refused", err.param, err.message)
    return ("accepted", body)


@pytest.mark.parametrize(
    "fields",
    [()]
    + [(f,) for f in sorted(BAD)]
    + list(itertools.combinations(sorted(openai_params._RANGES_AND_LIMITS), 2))
    + [("temperature", "tool_choice"), ("max_tokens", "user"), ("stream_options", "top_p")],
)
def test_the_shortcuts_give_what_the_full_checks_give(fields: tuple[str, ...]) -> None:
    """Same refusal (the first field in the checks' order) or the same body, for good and bad
    values of single fields and pairs, including pairs only the shortcut sees."""
    for values in itertools.product((GOOD, BAD), repeat=len(fields)):
        body = {**PLAIN, "stream": True, "tools": []}
        body.update({f: v[f] for f, v in zip(fields, values, strict=True) if f in v})
        assert _outcome(check_chat, body) == _outcome(check_chat_fields, body)


def test_a_body_with_none_of_the_fields_reads_none_of_them() -> None:
    """The shortcut itself: a plain request is not looked at field by field (fails if it is)."""
    body = _Reads({**PLAIN, "stream": False, "tools": [{"type": "function"}]})
    check_chat(body)
    assert body.read == set()
    limited = _Reads({**PLAIN, "max_tokens": 32, "temperature": 0.5})
    check_chat(limited)
    assert limited.read <= openai_params._RANGES_AND_LIMITS
