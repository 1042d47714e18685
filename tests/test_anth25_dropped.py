"""anth25: a request translated for a model of the other protocol loses the hints that protocol
has no place for (Anthropic's top_k, service_tier, inference_geo, top-level cache_control;
OpenAI's seed, penalties, store, metadata, prompt-cache hints...) and the anthropic-beta header
an OpenAI model is never sent. They were dropped silently:
the caller could not tell its top_k was never applied. Now the answer says which, whole and
streamed, in x-arbiter-dropped (official SDKs through a real `arbiter serve`, probe22a's rig);
the body the upstream got has none of them. Controls: a same-protocol answer (every field
relayed) and a translated request with nothing dropped carry no header."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.probe22a_rig import Rig, rig


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(Path(tmp_path_factory.mktemp("anth25_dropped"))) as made:
        yield made


def claude(
    r: Rig, marker: str, model: str, stream: bool, extra: dict[str, Any], beta: bool = False
) -> str | None:
    """x-arbiter-dropped of one anthropic SDK request (None: absent), read to its end;
    `beta`: with an anthropic-beta header (the SDK's `betas=`)."""
    kw: dict[str, Any] = {"model": model, "max_tokens": 50, "extra_body": extra,
                          "messages": [{"role": "user", "content": marker}]}  # fmt: skip
    if beta:
        kw["extra_headers"] = {"anthropic-beta": "context-1m-2025-08-07"}
    if stream:
        with r.an.messages.with_streaming_response.create(stream=True, **kw) as resp:
            assert "message_stop" in "".join(resp.iter_text())
            return resp.headers.get("x-arbiter-dropped")
    raw = r.an.messages.with_raw_response.create(**kw)
    assert raw.parse().content[0].type == "text"
    return raw.headers.get("x-arbiter-dropped")


HINTS = {"top_k": 5, "service_tier": "standard_only", "cache_control": {"type": "ephemeral"}}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_an_anthropic_clients_hints_dropped_for_an_openai_model_are_named(
    r: Rig, stream: bool
) -> None:
    name = f"d{stream}"
    mark = f"[[p:{name}]]"
    shown = claude(r, mark, "oa-1", stream, HINTS, beta=True)
    assert shown is not None and set(shown.split(", ")) == {*HINTS, "anthropic-beta"}
    _, sent = r.upstream.one(name)
    assert not set(HINTS) & set(sent)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_nothing_dropped_no_header(r: Rig, stream: bool) -> None:
    assert claude(r, f"[[p:n{stream}]]", "oa-1", stream, {}) is None  # translated, no hint
    name = f"s{stream}"
    mark = f"[[p:{name}]]"
    assert claude(r, mark, "an-1", stream, HINTS, beta=True) is None  # relayed
    _, sent = r.upstream.one(name)
    assert {k: sent[k] for k in HINTS} == HINTS


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_an_openai_clients_hints_dropped_for_an_anthropic_model_are_named(
    r: Rig, stream: bool
) -> None:
    name = f"o{stream}"
    mark = f"[[p:{name}]]"
    kw: dict[str, Any] = {"model": "an-1", "seed": 7, "frequency_penalty": 0.5,
                          "prompt_cache_key": "k",
                          "messages": [{"role": "user", "content": mark}]}  # fmt: skip
    if stream:
        with r.oa.chat.completions.with_streaming_response.create(stream=True, **kw) as resp:
            assert "[DONE]" in "".join(resp.iter_text())
            shown = resp.headers.get("x-arbiter-dropped")
    else:
        raw = r.oa.chat.completions.with_raw_response.create(**kw)
        assert raw.parse().choices[0].message.content == "ok"
        shown = raw.headers.get("x-arbiter-dropped")
    assert shown is not None
    assert set(shown.split(", ")) == {"seed", "frequency_penalty", "prompt_cache_key"}
    _, sent = r.upstream.one(name)
    assert not {"seed", "frequency_penalty", "prompt_cache_key"} & set(sent)
