"""anth25b: small mismatches anth25 left, through a real `arbiter serve` (probe22a's rig, the
response cache on) with the official SDKs.

- An `auto` request that failed on every model named the routed model in x-arbiter-model and
  the last model tried in its message: both now name the last one tried.
- A cache hit of an answer translated from the other protocol said nothing of the fields its
  request dropped (x-arbiter-dropped): the hit now names them as the live answer did.
- `workspace_id` / `user_profile_id` were taken as body fields and forwarded: the SDK sends them
  as `anthropic-workspace-id` / `anthropic-user-profile-id` headers, and in a body Anthropic
  refuses them (`Extra inputs are not permitted`), so Arbiter does too. The headers pass and
  are not forwarded (the upstream key and its workspace are the operator's).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.probe22a_rig import Reply, Rig, cached_config, rig

_n = itertools.count()


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(Path(tmp_path_factory.mktemp("anth25b_mis")), cached_config) as made:
        yield made


def failing(path: str, body: dict[str, Any]) -> Reply:
    return Reply({"error": {"message": "boom"}}, status=500)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_failed_auto_request_names_the_last_model_tried(r: Rig, stream: bool) -> None:
    name = f"f{next(_n)}"
    mark = r.script(name, failing)
    with pytest.raises(anthropic.APIStatusError) as err:
        kw: dict[str, Any] = {"model": "auto", "max_tokens": 50,
                              "messages": [{"role": "user", "content": mark}]}  # fmt: skip
        if stream:
            with r.an.messages.stream(**kw) as s:
                s.until_done()
        else:
            r.an.messages.create(**kw)
    tried = [b.get("model") for _, b in r.upstream.bodies(name)]
    assert len(tried) >= 2  # failed over at least once: the routed model was not the last
    shown = err.value.response.headers["x-arbiter-model"]
    assert f"upstream {shown} " in err.value.message
    decision = r.decision(err.value.response.headers["x-arbiter-decision-id"])
    assert decision["attempts"][-1]["model"] == shown


def claude_headers(r: Rig, mark: str, stream: bool) -> dict[str, str]:
    kw: dict[str, Any] = {"model": "oa-1", "max_tokens": 50, "extra_body": {"top_k": 5},
                          "messages": [{"role": "user", "content": mark}]}  # fmt: skip
    if stream:
        with r.an.messages.with_streaming_response.create(stream=True, **kw) as resp:
            assert "message_stop" in "".join(resp.iter_text())
            return dict(resp.headers)
    raw = r.an.messages.with_raw_response.create(**kw)
    assert raw.parse().content[0].type == "text"
    return dict(raw.headers)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_hit_of_a_translated_answer_names_what_was_dropped(r: Rig, stream: bool) -> None:
    mark = f"[[p:h{next(_n)}]]"
    live = claude_headers(r, mark, stream)
    assert live.get("x-arbiter-cache") != "hit" and live["x-arbiter-dropped"] == "top_k"
    hit = claude_headers(r, mark, stream)
    assert hit["x-arbiter-cache"] == "hit"
    assert hit.get("x-arbiter-dropped") == "top_k"


def test_an_openai_clients_hit_of_a_claude_answer_names_what_was_dropped(r: Rig) -> None:
    mark = f"[[p:h{next(_n)}]]"
    heads = []
    for _ in range(2):
        raw = r.oa.chat.completions.with_raw_response.create(
            model="an-1", seed=7, messages=[{"role": "user", "content": mark}]
        )
        assert raw.parse().choices[0].message.content == "ok"
        heads.append(raw.headers)
    assert [h.get("x-arbiter-cache") for h in heads] == ["miss", "hit"]
    assert [h.get("x-arbiter-dropped") for h in heads] == ["seed", "seed"]


def test_a_hit_of_a_relayed_answer_drops_nothing(r: Rig) -> None:  # the control
    mark = f"[[p:h{next(_n)}]]"
    kw: dict[str, Any] = {
        "model": "an-1",
        "max_tokens": 50,
        "extra_body": {"top_k": 5},
        "messages": [{"role": "user", "content": mark}],
    }
    r.an.messages.create(**kw)
    raw = r.an.messages.with_raw_response.create(**kw)
    assert raw.headers["x-arbiter-cache"] == "hit" and "x-arbiter-dropped" not in raw.headers


@pytest.mark.parametrize("field", ["workspace_id", "user_profile_id"])
def test_workspace_and_profile_ids_in_a_body_are_refused(r: Rig, field: str) -> None:
    name = f"w{next(_n)}"
    mark = f"[[p:{name}]]"
    with pytest.raises(anthropic.BadRequestError) as err:
        r.an.messages.create(
            model="an-1", max_tokens=50, messages=[{"role": "user", "content": mark}],
            extra_body={field: "wrkspc_x"},
        )  # fmt: skip
    assert f"{field}: Extra inputs are not permitted" in err.value.message
    assert r.upstream.bodies(name) == []


def test_the_sdks_workspace_and_profile_headers_pass(r: Rig) -> None:  # the control
    name = f"w{next(_n)}"
    mark = f"[[p:{name}]]"
    msg = r.an.messages.create(
        model="an-1", max_tokens=50, messages=[{"role": "user", "content": mark}],
        workspace_id="wrkspc_x", user_profile_id="prof_x",
    )  # fmt: skip
    assert msg.content[0].type == "text"
    _, sent = r.upstream.one(name)
    assert not {"workspace_id", "user_profile_id"} & set(sent)


def test_openai_client_error_headers_agree_too(r: Rig) -> None:
    name = f"f{next(_n)}"
    mark = r.script(name, failing)
    with pytest.raises(openai.APIStatusError) as err:
        r.oa.chat.completions.create(model="auto", messages=[{"role": "user", "content": mark}])
    shown = err.value.response.headers["x-arbiter-model"]
    assert f"upstream {shown} " in err.value.message
