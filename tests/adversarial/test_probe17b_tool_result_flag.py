"""Outside probe (seventeenth session): a tool_result whose `is_error` is not a boolean got the
400 "is_error: Input should be a valid boolean", with `param` "is_error": the one error of an
Anthropic block that did not say which message and block it meant (a client with many tool
results could not find it). Now it names the field's full path, as every other error does."""

from __future__ import annotations

import pytest

from arbiter.errors import InvalidRequest
from arbiter.protocols.anthropic import decode_request


def test_a_tool_results_bad_is_error_is_named_by_its_path() -> None:
    call = {"type": "tool_use", "id": "t1", "name": "f", "input": {}}
    result = {"type": "tool_result", "tool_use_id": "t1", "is_error": "yes"}
    body = {
        "model": "m",
        "max_tokens": 5,
        "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": [call]},
            {"role": "user", "content": [result]},
        ],
    }
    with pytest.raises(InvalidRequest) as info:
        decode_request(body)
    assert info.value.param == "messages.2.content.0.is_error"
    assert info.value.message.startswith("messages.2.content.0.is_error: "), info.value.message
