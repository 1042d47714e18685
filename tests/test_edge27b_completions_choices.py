"""edge27b: a legacy /v1/completions answer with fewer choices than asked (`n` of each prompt)
says so as a chat one does (short_choices.py): a stream ends with a chunk holding no choice and
`x_arbiter_choices: "got of asked"`, a whole answer carries the `x-arbiter-choices` header, and
the decision's reason ends `; 1 of 2 choices answered (n)`. `best_of`'s extra candidates are
never returned, so they are not counted. The official openai SDK against a real `arbiter serve`
in front of a recording upstream (tests/probe21b_rig.py) whose `cn` script answers `n` choices
of each prompt and whose `c1` script one of each."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tests.probe21b_rig import OUTPUT_TOKENS, PROMPT_TOKENS, Rig, _Handler, rig
from tests.probe_rig import sse


class _Completions(_Handler):
    def scripted(self, script: str, body: dict[str, Any]) -> bool:
        if script not in ("cn", "c1") or self.path.endswith("/chat/completions"):
            return False
        prompt = body["prompt"]
        prompts = len(prompt) if isinstance(prompt, list) else 1
        k = prompts * ((body.get("n") or 1) if script == "cn" else 1)
        usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": OUTPUT_TOKENS,
                 "total_tokens": PROMPT_TOKENS + OUTPUT_TOKENS}  # fmt: skip
        head = {"id": "cmpl-n", "object": "text_completion", "created": 1, "model": body["model"]}
        if not body.get("stream"):
            choices = [{"index": i, "text": f"c{i}", "logprobs": None, "finish_reason": "stop"}
                       for i in range(k)]  # fmt: skip
            self._send(
                orjson.dumps({**head, "choices": choices, "usage": usage}), "application/json"
            )
            return True
        piece = {"logprobs": None}
        frames = [
            sse(None, {**head, "choices": [{**piece, "index": i, "text": t, "finish_reason": end}]})
            for t, end in (("c", None), ("", "stop"))
            for i in range(k)
        ]
        frames.append(sse(None, {**head, "choices": [], "usage": usage}))
        self._send(b"".join(frames) + b"data: [DONE]\n\n", "text/event-stream")
        return True


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("edge27b-completions"), _Completions) as made:
        yield made


def _prompt(script: str, prompts: int) -> str | list[str]:
    texts = [f"[[s:{script}]] {uuid.uuid4().hex}" for _ in range(prompts)]
    return texts[0] if prompts == 1 else texts


def _said(chunks: list[Any]) -> list[str]:
    extra = [c.model_extra or {} for c in chunks]
    return [e["x_arbiter_choices"] for e in extra if "x_arbiter_choices" in e]


def _stream(r: Rig, script: str, prompts: int, **more: Any) -> tuple[list[Any], str]:
    """The stream's chunks (the SDK's) and its decision's reason."""
    raw = r.client.completions.with_raw_response.create(
        model="oa-1", prompt=_prompt(script, prompts), stream=True, **more
    )
    chunks = list(raw.parse())
    return chunks, r.decision(raw.headers["x-arbiter-decision-id"])["reason"]


@pytest.mark.parametrize(
    ("prompts", "n", "said"), [(1, 2, "1 of 2"), (2, 2, "2 of 4"), (3, 1, None)]
)
def test_a_completions_stream_short_of_its_choices_says_so_at_its_end(
    r: Rig, prompts: int, n: int, said: str | None
) -> None:
    """Before: a stream of one choice a prompt for `n: 2` said nothing. Now its last chunk
    before [DONE] holds no choice and says `got of asked` (n of each prompt), and the decision's
    reason records it. Three prompts at n 1, answered one choice each, are whole (a guard: the
    prompts are counted, not n alone)."""
    chunks, reason = _stream(r, "c1", prompts, n=n, stream_options={"include_usage": True})
    assert len({ch.index for c in chunks for ch in c.choices}) == prompts
    if said is None:
        assert _said(chunks) == [] and "choices answered" not in reason
        return
    assert _said(chunks) == [said] and _said(chunks[-1:]) == [said]
    assert chunks[-1].choices == [] and chunks[-2].usage is not None  # after the usage chunk
    assert reason.endswith(f"; {said} choices answered (n)"), reason


def test_a_completions_stream_that_honours_n_says_nothing(r: Rig) -> None:
    """Control (passes before and after): every choice of every prompt streamed."""
    chunks, reason = _stream(r, "cn", 2, n=2)
    assert len({ch.index for c in chunks for ch in c.choices}) == 4
    assert _said(chunks) == [] and "choices answered" not in reason


@pytest.mark.parametrize(("script", "said"), [("c1", "1 of 2"), ("cn", None)])
def test_a_whole_completion_short_of_n_names_it_best_of_not_counted(
    r: Rig, script: str, said: str | None
) -> None:
    """`n: 2, best_of: 3`: two choices come back (best_of's third is never returned). Before:
    one of them and nothing said. Now `x-arbiter-choices: 1 of 2` and the reason's suffix; two
    (`cn`) say nothing (a guard against counting best_of)."""
    raw = r.client.completions.with_raw_response.create(
        model="oa-1", prompt=_prompt(script, 1), n=2, best_of=3
    )
    got = raw.parse()
    reason = r.decision(raw.headers["x-arbiter-decision-id"])["reason"]
    assert len(got.choices) == (1 if said else 2)
    assert raw.headers.get("x-arbiter-choices") == said
    assert ("choices answered" in reason) == (said is not None), reason
