"""probe21b: /v1/embeddings from outside, with the official openai SDK, against a real
`arbiter serve` whose upstream records what it receives (tests/probe21b_rig.py): every input form
the spec allows reaches the upstream as sent and comes back in OpenAI's shape, with usage and
cost recorded; what the spec forbids, and what no upstream can serve, is a 400 in OpenAI's shape
before any upstream call."""

from __future__ import annotations

import base64
import struct
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.probe21b_rig import PRICES, WINDOWS, Rig, rig


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("probe21b-embed")) as made:
        yield made


def word() -> str:
    return uuid.uuid4().hex


def bad(r: Rig, body: dict[str, Any], param: str | None, status: int = 400) -> dict[str, Any]:
    before = len(r.recorder.seen)
    resp = r.raw("/v1/embeddings", body)
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    err = resp.json()["error"]
    assert err["message"] and "type" in err and "param" in err and "code" in err, err
    if param is not None:
        assert err["param"] == param, err
    assert len(r.recorder.seen) == before, "an upstream call was made"
    return dict(err)


def test_a_string(r: Rig) -> None:
    w = word()
    raw = r.client.embeddings.with_raw_response.create(model="em-1", input=w)
    out = raw.parse()
    assert out.object == "list" and len(out.data) == 1 and out.data[0].embedding == [0.25] * 3
    assert out.usage.prompt_tokens == 1
    path, body = r.recorder.one(w)
    assert path == "/v1/embeddings" and body["input"] == w and body["model"] == "em-1"
    rec = r.decision(raw.headers["x-arbiter-decision-id"])
    assert rec["status"] == "ok" and rec["task"] == "embedding"
    assert rec["cost_usd"] == pytest.approx(1 * PRICES["em-1"][0] / 1e6)


def test_a_list_of_strings(r: Rig) -> None:
    words = [word(), word(), word()]
    out = r.client.embeddings.create(model="em-1", input=words)
    assert [d.index for d in out.data] == [0, 1, 2]
    _, body = r.recorder.one(words[0])
    assert body["input"] == words


@pytest.mark.parametrize("tokens", [[1212, 318, 257], [[1212, 318], [257, 1332]]])
def test_token_arrays(r: Rig, tokens: Any) -> None:
    before = len(r.recorder.seen)
    out = r.client.embeddings.create(model="em-1", input=tokens)
    assert len(out.data) == (2 if isinstance(tokens[0], list) else 1)
    assert r.recorder.seen[before][1]["input"] == tokens


def test_dimensions_and_base64(r: Rig) -> None:
    w = word()
    out = r.client.embeddings.create(model="em-1", input=w, dimensions=4, encoding_format="base64")
    # asked for by the caller, base64 is handed over as it came (the SDK decodes only its own)
    assert isinstance(out.data[0].embedding, str)
    packed = base64.b64decode(out.data[0].embedding)
    assert struct.unpack("<4f", packed) == (0.25,) * 4
    _, body = r.recorder.one(w)
    assert body["dimensions"] == 4 and body["encoding_format"] == "base64"


def test_the_sdks_default_base64_is_decoded(r: Rig) -> None:
    """The SDK asks for base64 when the caller names no format (and decodes it): the
    upstream gets base64, the caller floats."""
    w = word()
    out = r.client.embeddings.create(model="em-1", input=w)
    _, body = r.recorder.one(w)
    assert body["encoding_format"] == "base64"
    assert out.data[0].embedding == [0.25] * 3
    raw = r.raw("/v1/embeddings", {"model": "em-1", "input": w, "encoding_format": "base64"})
    packed = base64.b64decode(raw.json()["data"][0]["embedding"])
    assert struct.unpack("<3f", packed) == (0.25, 0.25, 0.25)


@pytest.mark.parametrize(
    ("input_", "param"),
    [
        ([], "input"),
        ("", "input"),
        (["a", ""], "input"),
        (["a"] * 2049, "input"),
        ([[]], "input"),
        ([1, "a"], "input"),
        ([-1], "input"),
        ([[1], ["a"]], "input"),
        ([True], "input"),
        ({"text": "a"}, "input"),
        (5, "input"),
    ],
)  # fmt: skip
def test_inputs_the_spec_forbids(r: Rig, input_: Any, param: str) -> None:
    bad(r, {"model": "em-1", "input": input_}, param)


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"dimensions": 0}, "dimensions"),
        ({"dimensions": "3"}, "dimensions"),
        ({"encoding_format": "int8"}, "encoding_format"),
        ({"user": 3}, "user"),
    ],
)
def test_options_the_spec_forbids(r: Rig, extra: dict[str, Any], param: str) -> None:
    bad(r, {"model": "em-1", "input": "a", **extra}, param)


def test_a_missing_input(r: Rig) -> None:
    err = bad(r, {"model": "em-1"}, "input")
    assert "input" in err["message"]


def test_2048_inputs_pass(r: Rig) -> None:
    out = r.client.embeddings.create(model="em-1", input=["a"] * 2048, encoding_format="float")
    assert len(out.data) == 2048


def test_auto_is_a_400(r: Rig) -> None:
    bad(r, {"model": "auto", "input": "a"}, "model")


def test_an_anthropic_model_is_a_400(r: Rig) -> None:
    err = bad(r, {"model": "an-1", "input": "a"}, "model")
    assert "Anthropic" in err["message"]


def test_an_unknown_model_is_openais_404(r: Rig) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        r.client.embeddings.create(model="no-such-model", input="a")
    assert caught.value.code == "model_not_found" or "no-such-model" in caught.value.message


@pytest.mark.parametrize(
    ("model", "input_", "where"),
    [
        ("em-1", "lorem ipsum " * 90_000, "'input'"),  # a megabyte
        ("em-1", ["short", "lorem ipsum " * 20_000], "'input[1]'"),
        ("em-1", [[7] * 2, [7] * 40_000], "'input[1]'"),
        ("em-small", [7] * 600, "'input'"),  # one input as token ids
    ],
)
def test_an_input_past_the_models_window_is_a_400(
    r: Rig, model: str, input_: Any, where: str
) -> None:
    """OpenAI: at most 8,192 tokens per input (em-1's window here is 32,000, em-small's 512):
    one past the model's context window is refused before any call or reservation, as chat's
    prompt is, with OpenAI's code."""
    err = bad(r, {"model": model, "input": input_}, "input")
    assert err["code"] == "context_length_exceeded", err
    window = WINDOWS.get(model, 32000)
    assert where in err["message"] and f"{window} tokens" in err["message"], err


def test_inputs_each_within_the_window_pass_though_their_sum_is_past_it(r: Rig) -> None:
    w = word()
    out = r.client.embeddings.create(
        model="em-1", input=[w, *["lorem ipsum " * 5_000] * 8], encoding_format="float"
    )
    assert len(out.data) == 9
    assert len(r.recorder.bodies(w)) == 1


def test_the_azure_sdks_path_is_checked_alike(r: Rig) -> None:
    """AzureOpenAI's /openai/deployments/{name}/embeddings is the same surface: its input past
    the window is the same 400, and a good one is answered."""
    with openai.AzureOpenAI(
        azure_endpoint=r.sidecar.root_url, api_key=r.key, api_version="2024-10-21", max_retries=0
    ) as azure:
        assert len(azure.embeddings.create(model="em-1", input=[word()]).data) == 1
        with pytest.raises(openai.BadRequestError) as caught:
            azure.embeddings.create(model="em-small", input=[7] * 600)
    assert caught.value.code == "context_length_exceeded"


def test_inputs_past_openais_per_request_total_are_a_400(r: Rig) -> None:
    """OpenAI's embedding models take at most 300,000 tokens in one request, all inputs
    together: 40 inputs of 8,000 tokens (each within the 8,192 window) reached the upstream,
    reserved for, and OpenAI refused them there. Now a 400 naming the limit, OpenAI's code,
    before any call; 36 of them (288,000) pass, and so do 40 to a model whose limit is not
    known (em-1: not one of OpenAI's, its server sets its own)."""
    err = bad(r, {"model": "em-3", "input": [[7] * 8_000] * 40}, "input")
    assert err["code"] == "max_tokens_per_request", err
    assert "320000 tokens" in err["message"] and "max 300000 tokens" in err["message"], err
    with pytest.raises(openai.BadRequestError) as caught:  # the SDK reads it as OpenAI's
        r.client.embeddings.create(model="em-3", input=[[7] * 8_000] * 40)
    assert caught.value.code == "max_tokens_per_request"
    before = len(r.recorder.seen)
    out = r.client.embeddings.create(
        model="em-3", input=[[7] * 8_000] * 36, encoding_format="float"
    )
    assert len(out.data) == 36 and len(r.recorder.seen) == before + 1
    assert r.recorder.seen[-1][1]["model"] == "text-embedding-3-small"
    out = r.client.embeddings.create(
        model="em-1", input=[[7] * 8_000] * 40, encoding_format="float"
    )
    assert len(out.data) == 40 and len(r.recorder.seen) == before + 2
