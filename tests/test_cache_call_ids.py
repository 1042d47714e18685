"""cache/call_ids.py: the keys hold which result answers which call, not the ids' spelling."""

from __future__ import annotations

from typing import Any

from arbiter.cache.call_ids import without_call_ids


def _chat(pairs: list[tuple[str, str]], answered: list[str]) -> list[dict[str, Any]]:
    calls = [{"id": i, "type": "function", "function": {"name": n, "arguments": "{}"}}
             for i, n in pairs]  # fmt: skip
    return [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        *({"role": "tool", "tool_call_id": i, "content": f"r{k}"} for k, i in enumerate(answered)),
    ]


def test_spelling_goes_pairing_stays() -> None:
    a = without_call_ids("openai", _chat([("x", "f"), ("y", "g")], ["x", "y"]))
    b = without_call_ids("openai", _chat([("call_1", "f"), ("call_2", "g")], ["call_1", "call_2"]))
    swapped = without_call_ids("openai", _chat([("p", "f"), ("q", "g")], ["q", "p"]))
    assert a == b
    assert swapped != a
    assert [m.get("tool_call_id") for m in a[2:]] == ["#0", "#1"]


def test_an_id_reused_in_one_turn_pairs_in_order_and_unknown_results_keep_theirs() -> None:
    reused = without_call_ids("openai", _chat([("c", "f"), ("c", "g")], ["c", "c"]))
    assert [m["tool_call_id"] for m in reused[2:]] == ["#0", "#1"]
    stray = without_call_ids("openai", _chat([("c", "f")], ["zz"]))
    assert stray[2]["tool_call_id"] == "zz"


def test_anthropic_blocks_and_untouched_messages() -> None:
    messages: list[Any] = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "text", "text": "ok"},
                                          {"type": "tool_use", "id": "toolu_9", "name": "f",
                                           "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9",
                                      "content": "r"}]},
    ]  # fmt: skip
    out = without_call_ids("anthropic", messages)
    assert out[0] is messages[0] and out[1]["content"][0] is messages[1]["content"][0]
    assert out[1]["content"][1]["id"] == "#0" and out[2]["content"][0]["tool_use_id"] == "#0"
    assert messages[1]["content"][1]["id"] == "toolu_9", "the client's body is not changed"
    plain: list[Any] = [{"role": "user", "content": "hi"}]
    assert without_call_ids("anthropic", plain) is plain
