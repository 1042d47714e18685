"""edge27b: the Response object echoes the `service_tier` its OpenAI-protocol upstream answered
(the tier the call ran at, as OpenAI's Response says it). The official openai SDK against a real
`arbiter serve` in front of edge27's tier-answering upstream (tests/test_edge27_responses.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.probe21b_rig import _MARK, Rig, rig
from tests.test_edge27_responses import _Tiered


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("edge27b-tier"), _Tiered) as made:
        yield made


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("asked", "answered"), [("priority", "priority"), (None, "default")])
def test_a_response_echoes_the_tier_its_upstream_answered(
    r: Rig, asked: str | None, answered: str, stream: bool
) -> None:
    """Before: `service_tier` None whatever the upstream ran it at (the answer's tier was read
    for the bill only). Now the upstream's word: `priority` asked and served, `default` when
    none was asked (OpenAI's answer names it); a stream's every Response object says it (its
    chunks name it from the first)."""
    more = {} if asked is None else {"service_tier": asked}
    got = r.client.responses.create(  # type: ignore[call-overload]
        model="oa-1", input=f"{_MARK.decode()}tier]] {uuid.uuid4().hex}", stream=stream, **more
    )
    if not stream:
        assert got.service_tier == answered
        return
    shown = [(e.type, e.response.service_tier) for e in got if hasattr(e, "response")]
    assert shown[-1] == ("response.completed", answered), shown
    assert {tier for _, tier in shown} == {answered}, shown


def test_an_upstream_that_names_no_tier_gets_none_echoed(r: Rig) -> None:
    """Control (passes before and after): the rig's plain answer names no tier, and an
    Anthropic model's answer has none of OpenAI's: nothing is made up."""
    for model in ("oa-1", "an-1"):
        got = r.client.responses.create(model=model, input=f"plain {uuid.uuid4().hex}")
        assert got.service_tier is None, model
        events = r.client.responses.create(model=model, input="plain", stream=True)
        assert [e.response.service_tier for e in events if hasattr(e, "response")][-1] is None
