"""prov26: OpenAI parameters some OpenAI-protocol models refuse (`logprobs`, `reasoning_effort`)
are capabilities a model's entry marks it without (`no-logprobs`, `no-reasoning-effort`), so
`auto` never spends a refused call on it; a real `arbiter serve` and the openai SDK. `rsn-1`
answers like OpenAI's reasoning models (400 `unsupported_parameter` for `logprobs`), `old-1`
like gpt-4o (the same for `reasoning_effort`, even "none"). rsn-1 is the cheaper: `auto` picks it
unless a capability keeps it out."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.probe22a_rig import Reply, Rig, chat_whole, rig
from tests.probe_rig import model_toml, rig_toml

_n = itertools.count()


def _config(port: int, db: Path) -> str:
    caps = '["chat", "json", "tools", "vision", "%s"]'
    models = model_toml("rsn-1", "ro", (100.0, 200.0), 200000, caps % "no-logprobs")
    models += model_toml("old-1", "ro", (1000.0, 2000.0), 200000, caps % "no-reasoning-effort")
    failover = {"first_byte_timeout_s": 3.0, "total_timeout_s": 6.0, "deadline_s": 8.0,
                "retries_per_model": 0}  # fmt: skip
    return rig_toml(port, db, models, failover, baseline="old-1", breaker=100000)


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(Path(tmp_path_factory.mktemp("prov26_params")), _config) as made:
        yield made


def _refused(param: str) -> Reply:
    error = {
        "message": f"Unsupported parameter: '{param}' is not supported with this model.",
        "type": "invalid_request_error", "param": param, "code": "unsupported_parameter",
    }  # fmt: skip
    return Reply({"error": error}, status=400)


def _like_its_server(path: str, body: dict[str, Any]) -> Reply:
    if body["model"] == "rsn-1" and (body.get("logprobs") or "top_logprobs" in body):
        return _refused("logprobs")
    if body["model"] == "old-1" and "reasoning_effort" in body:
        return _refused("reasoning_effort")
    return Reply(chat_whole({"content": "ok"}, "stop"))


def _ask(r: Rig, model: str, **kw: Any) -> tuple[str, Any]:
    name = f"p{next(_n)}"
    m = r.script(name, _like_its_server)
    raw = r.oa.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": m}], **kw
    )
    raw.parse()
    return name, raw


@pytest.mark.parametrize(
    ("kw", "served_by"),
    [
        ({"logprobs": True, "top_logprobs": 2}, "old-1"),
        ({"reasoning_effort": "high"}, "rsn-1"),
    ],
)
def test_auto_skips_a_model_marked_without_the_parameter(
    r: Rig, kw: dict[str, Any], served_by: str
) -> None:
    """Before: `auto` chose the cheaper model whatever its marks, spent one refused call on it
    (rsn-1's 400 to logprobs, old-1's to reasoning_effort) and failed over. Now the one call
    goes to the model that takes the parameter, and the decision says why the other was out."""
    name, raw = _ask(r, "auto", **kw)
    assert raw.headers["x-arbiter-model"] == served_by
    assert [b["model"] for _, b in r.upstream.bodies(name)] == [served_by]
    decision = r.decision(raw.headers["x-arbiter-decision-id"])
    assert [a["model"] for a in decision["attempts"]] == [served_by]


@pytest.mark.parametrize(
    ("model", "kw", "param"),
    [
        ("rsn-1", {"logprobs": True}, "logprobs"),
        ("old-1", {"reasoning_effort": "low"}, "reasoning_effort"),
    ],
)
def test_a_named_model_marked_without_it_is_a_400_naming_the_parameter(
    r: Rig, model: str, kw: dict[str, Any], param: str
) -> None:
    """The operator said the model refuses it: the caller's 400 naming the field, before any
    reservation or call (before: the upstream's 400 after a reservation)."""
    name = f"p{next(_n)}"
    m = r.script(name, _like_its_server)
    with pytest.raises(openai.BadRequestError) as refused:
        r.oa.chat.completions.create(model=model, messages=[{"role": "user", "content": m}], **kw)
    assert refused.value.param == param and f"no-{param.replace('_', '-')}" in str(
        refused.value.message
    )
    assert r.upstream.bodies(name) == []


def test_reasoning_effort_none_reaches_a_model_without_effort_without_it(r: Rig) -> None:
    """ "none" asks for no reasoning, what gpt-4o does unasked: old-1 serves it, the field left
    out (before: old-1's 400); rsn-1 is still sent it (the control)."""
    name, raw = _ask(r, "old-1", reasoning_effort="none")
    assert raw.headers["x-arbiter-model"] == "old-1"
    (_, body), *_ = r.upstream.bodies(name)
    assert "reasoning_effort" not in body
    name, raw = _ask(r, "rsn-1", reasoning_effort="none")
    assert r.upstream.one(name)[1]["reasoning_effort"] == "none"


def test_plain_requests_still_route_to_the_cheaper(r: Rig) -> None:
    """The control: nothing asked, rsn-1 (the cheaper) serves, one call."""
    name, raw = _ask(r, "auto")
    assert raw.headers["x-arbiter-model"] == "rsn-1"
    assert len(r.upstream.bodies(name)) == 1


def test_check_config_names_openai_models_configured_without_their_marker() -> None:
    """o3 takes no logprobs, gpt-4o no reasoning_effort: each configured without its marker is
    named (a refused call before failover), gpt-5-chat as a chat model (effort, not logprobs);
    marked, or an Anthropic-protocol model: nothing."""
    from types import SimpleNamespace as NS

    def model(name: str, *caps: str, upstream: str = "ro") -> NS:
        return NS(name=name, upstream_model=None, upstream=upstream,
                  capabilities=["chat", "logprobs", "reasoning-effort", *caps])  # fmt: skip

    from arbiter.model_params import undeclared

    models = [model("o3-mini"), model("gpt-4o"), model("o4-mini", "no-logprobs"),
              model("openai/gpt-5-chat-latest"), model("o3", upstream="ra")]  # fmt: skip
    for m in models[2:3]:
        m.capabilities.remove("logprobs")
    out = undeclared(models, lambda m: "anthropic" if m.upstream == "ra" else "openai")
    assert [w.split(":")[0] for w in out] == [
        "models.o3-mini", "models.gpt-4o", "models.openai/gpt-5-chat-latest"
    ]  # fmt: skip
    assert '"no-logprobs"' in out[0]
    assert '"no-reasoning-effort"' in out[1] and '"no-reasoning-effort"' in out[2]


def test_the_responses_api_is_told_its_own_field_name(r: Rig) -> None:
    """`reasoning.effort` is the Responses API's name for it: a named old-1 refuses it under
    that name (the param the SDK's BadRequestError carries), and `auto` sends it to rsn-1."""
    name = f"p{next(_n)}"
    m = r.script(name, _like_its_server)
    with pytest.raises(openai.BadRequestError) as refused:
        r.oa.responses.create(model="old-1", reasoning={"effort": "high"}, input=m)
    assert refused.value.param == "reasoning.effort"
    raw = r.oa.responses.with_raw_response.create(
        model="auto", reasoning={"effort": "high"}, input=m
    )
    raw.parse()
    assert [b["model"] for _, b in r.upstream.bodies(name)] == ["rsn-1"]


def test_a_field_no_model_takes_is_named() -> None:
    """`auto`'s refusal names the field no model takes (model_params.untaken); a pair each
    half of which some model takes names none (no one field is at fault)."""
    from types import SimpleNamespace as NS

    from arbiter.model_params import untaken

    pool = [NS(capabilities=["chat", "reasoning-effort"]), NS(capabilities=["chat", "logprobs"])]
    assert untaken({"logprobs": True}, pool[:1]) == "logprobs"
    assert untaken({"top_logprobs": 2, "logprobs": True}, pool) is None
    assert untaken({"reasoning_effort": "low"}, pool[1:]) == "reasoning_effort"
    assert untaken({"reasoning_effort": "none"}, pool[1:]) is None
