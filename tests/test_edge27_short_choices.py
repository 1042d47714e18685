"""edge27: a streamed Chat Completions answer with fewer choices than its `n` asked ends with a
chunk that says so (`x_arbiter_choices`, the whole answer's `x-arbiter-choices` header's value),
and the decision's reason records it, streamed or whole. The official openai SDK against a real
`arbiter serve` in front of a recording upstream (tests/probe21b_rig.py) whose `n` script
answers every choice asked and whose `one` script ignores `n`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tests.probe21b_rig import OUTPUT_TOKENS, PROMPT_TOKENS, Rig, _Handler, rig
from tests.probe_rig import sse


class _Choices(_Handler):
    def scripted(self, script: str, body: dict[str, Any]) -> bool:
        if script not in ("n", "one"):
            return False
        k = (body.get("n") or 1) if script == "n" else 1
        usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": OUTPUT_TOKENS,
                 "total_tokens": PROMPT_TOKENS + OUTPUT_TOKENS}  # fmt: skip
        head = {"id": "chatcmpl-n", "created": 1, "model": body["model"]}
        if not body.get("stream"):
            choices = [{"index": i, "message": {"role": "assistant", "content": f"c{i}"},
                        "finish_reason": "stop"} for i in range(k)]  # fmt: skip
            whole = {**head, "object": "chat.completion", "choices": choices, "usage": usage}
            self._send(orjson.dumps(whole), "application/json")
            return True
        head = {**head, "object": "chat.completion.chunk"}
        frames = [
            sse(None, {**head, "choices": [{"index": i, "delta": delta, "finish_reason": end}]})
            for delta, end in (({"role": "assistant", "content": "c"}, None), ({}, "stop"))
            for i in range(k)  # the choices interleaved, as OpenAI streams them
        ]
        frames.append(sse(None, {**head, "choices": [], "usage": usage}))
        self._send(b"".join(frames) + b"data: [DONE]\n\n", "text/event-stream")
        return True


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("edge27-choices"), _Choices) as made:
        yield made


def _stream(r: Rig, model: str, script: str, **more: Any) -> tuple[list[Any], dict[str, Any]]:
    """The stream's chunks (the SDK's) and its decision."""
    raw = r.client.chat.completions.with_raw_response.create(
        model=model,
        stream=True,
        messages=[{"role": "user", "content": f"[[s:{script}]] {uuid.uuid4().hex}"}],
        **more,
    )
    chunks = list(raw.parse())
    return chunks, r.decision(raw.headers["x-arbiter-decision-id"])


def _said(chunks: list[Any]) -> list[str]:
    return [
        c.model_extra["x_arbiter_choices"]
        for c in chunks
        if "x_arbiter_choices" in (c.model_extra or {})
    ]


@pytest.mark.parametrize("model", ["oa-1", "auto"])
def test_a_stream_short_of_n_says_so_at_its_end(r: Rig, model: str) -> None:
    """Before: one choice streamed for `n: 2` and nothing said (the headers leave before the
    choices). Now its last chunk before [DONE] says `1 of 2`, with no choice in it, and the
    decision's reason records it. `auto` picks oa-1 (an-1 takes no `n`)."""
    chunks, decision = _stream(r, model, "one", n=2)
    assert {ch.index for c in chunks for ch in c.choices} == {0}
    assert _said(chunks) == ["1 of 2"]
    assert chunks[-1].choices == [] and _said(chunks[-1:]) == ["1 of 2"]
    assert "1 of 2 choices answered" in decision["reason"], decision["reason"]
    assert decision["status"] == "ok"


def test_the_usage_chunk_asked_for_still_comes(r: Rig) -> None:
    chunks, _ = _stream(r, "oa-1", "one", n=3, stream_options={"include_usage": True})
    assert _said(chunks) == ["1 of 3"]
    assert [c.usage.completion_tokens for c in chunks if c.usage] == [OUTPUT_TOKENS]


def test_a_whole_answer_short_of_n_is_recorded_too(r: Rig) -> None:
    """The header was there (edge26); the decision said nothing."""
    raw = r.client.chat.completions.with_raw_response.create(
        model="oa-1", n=2, messages=[{"role": "user", "content": f"[[s:one]] {uuid.uuid4().hex}"}]
    )
    assert raw.headers["x-arbiter-choices"] == "1 of 2"
    decision = r.decision(raw.headers["x-arbiter-decision-id"])
    assert "1 of 2 choices answered" in decision["reason"], decision["reason"]


@pytest.mark.parametrize("more", [{"n": 2}, {}])
def test_a_stream_with_its_choices_says_nothing(r: Rig, more: dict[str, Any]) -> None:
    """The controls: `n: 2` given two choices, and no `n` at all."""
    chunks, decision = _stream(r, "oa-1", "n", **more)
    assert {ch.index for c in chunks for ch in c.choices} == set(range(more.get("n", 1)))
    assert _said(chunks) == []
    assert "choices answered" not in decision["reason"]


class _Extra(_Choices):
    """`more` ignores `n` the other way: three choices whatever was asked."""

    def scripted(self, script: str, body: dict[str, Any]) -> bool:
        if script != "more":
            return False
        return super().scripted("n", {**body, "n": 3})


@pytest.fixture(scope="module")
def extra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("left27-choices"), _Extra) as made:
        yield made


@pytest.mark.parametrize("more", [{}, {"n": 2}])
def test_a_whole_answer_past_n_is_cut_to_it(extra: Rig, more: dict[str, Any]) -> None:
    """left27: before, three choices for `n: 1` reached the client whole, unsaid. Now the
    first `n` (indexes 0..n-1), `3 of n` in the header and the decision's reason."""
    n = more.get("n", 1)
    raw = extra.client.chat.completions.with_raw_response.create(
        model="oa-1", messages=[{"role": "user", "content": f"[[s:more]] {uuid.uuid4().hex}"}],
        **more,
    )  # fmt: skip
    assert [c.index for c in raw.parse().choices] == list(range(n))
    assert raw.headers["x-arbiter-choices"] == f"3 of {n}"
    decision = extra.decision(raw.headers["x-arbiter-decision-id"])
    assert f"3 of {n} choices answered" in decision["reason"], decision["reason"]


@pytest.mark.parametrize("more", [{}, {"n": 2}])
def test_a_stream_past_n_drops_the_stray_indexes(extra: Rig, more: dict[str, Any]) -> None:
    n = more.get("n", 1)
    chunks, decision = _stream(extra, "oa-1", "more", **more)
    assert {ch.index for c in chunks for ch in c.choices} == set(range(n))
    assert _said(chunks) == [f"3 of {n}"] and chunks[-1].choices == []
    assert f"3 of {n} choices answered" in decision["reason"], decision["reason"]
