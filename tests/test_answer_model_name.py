"""An answer's `model` names the model as its upstream does, on every surface: a chat
completion relayed from an OpenAI upstream showed the upstream's name, one translated from an
Anthropic upstream (and every Responses answer, and an Anthropic Message from an OpenAI
upstream) showed Arbiter's. Now each shows the upstream's, whole and streamed, as OpenAI's
own API names its snapshot; `x-arbiter-model` names Arbiter's. Real serve, the official SDKs,
the scripted upstream (it answers with the model name it was sent)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.probe22b_rig import Fleet, fleet

UPSTREAM = {"oa-1": "gpt-up-1", "an-1": "claude-up-1"}
HI: Any = [{"role": "user", "content": "hi"}]


def _named(doc: dict[str, Any]) -> None:
    for name, upstream in UPSTREAM.items():
        doc["models"][name]["upstream_model"] = upstream


@pytest.fixture(scope="module")
def f(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, str]]:
    with fleet(tmp_path_factory.mktemp("named"), "sqlite", [], edit=_named) as it:
        yield it, str(it.first.create_key("t")["key"])


@pytest.mark.parametrize("model", ["oa-1", "an-1"])
def test_every_surface_names_the_upstreams_model(f: tuple[Fleet, str], model: str) -> None:
    fl, key = f
    want = UPSTREAM[model]
    with openai.OpenAI(api_key=key, base_url=fl.first.base_url, max_retries=0) as gpt:
        raw = gpt.chat.completions.with_raw_response.create(model=model, messages=HI)
        assert raw.parse().model == want
        assert raw.headers["x-arbiter-model"] == model
        chunks = gpt.chat.completions.create(model=model, messages=HI, stream=True)
        assert {c.model for c in chunks} == {want}
        assert gpt.responses.create(model=model, input="hi").model == want
        events = list(gpt.responses.create(model=model, input="hi", stream=True))
        assert events[-1].response.model == want  # type: ignore[union-attr]
    with anthropic.Anthropic(api_key=key, base_url=fl.first.root_url, max_retries=0) as claude:
        assert claude.messages.create(model=model, max_tokens=20, messages=HI).model == want
        with claude.messages.stream(model=model, max_tokens=20, messages=HI) as s:
            assert s.get_final_message().model == want
