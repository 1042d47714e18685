"""probe23c: /v1/embeddings from outside (the official openai SDK, raw httpx for a client that
reads base64 itself) against a real `arbiter serve` whose upstream misbehaves on the embeddings
endpoint by script (tests/probe23c_rig.py): an answer that is no list of one embedding per input
is a 502, not relayed; each vector comes in the encoding the client asked, whatever the
upstream answered; an upstream without the endpoint is a clear 4xx in OpenAI's shape."""

from __future__ import annotations

import base64
import struct
import uuid
from collections.abc import Iterator

import openai
import pytest

from arbiter.upstream.embeddings_answer import INLINE_BYTES
from tests.probe21b_rig import PRICES, Rig, rig
from tests.probe23c_rig import EXTRA, VECTOR, FaultHandler

# the rig's vector as the client reads it: float32, as OpenAI's base64 holds it
F32 = list(struct.unpack("<4f", struct.pack("<4f", *VECTOR)))


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("probe23c-embed"), FaultHandler, EXTRA) as made:
        yield made


def inputs(script: str) -> list[str]:
    return [f"{uuid.uuid4().hex} [[s:{script}]]", "b", "c"]


@pytest.mark.parametrize("script", ["efew", "enotlist"])
def test_an_answer_short_of_the_inputs_or_no_list_is_a_502(r: Rig, script: str) -> None:
    """Before: relayed as a 200 (two vectors for three inputs: a client zipping them read one
    fewer without a word; `data: 3` too). Now the upstream's failure, recorded failed."""
    resp = r.raw("/v1/embeddings", {"model": "em-x", "input": inputs(script)})
    assert resp.status_code == 502, resp.text
    err = resp.json()["error"]
    assert err["type"] == "server_error" and err["code"] == "upstream_error", err
    rec = r.decision(resp.headers["x-arbiter-decision-id"])
    assert rec["status"] == "failed" and rec["error"] == "upstream_error"
    with pytest.raises(openai.InternalServerError):
        r.client.embeddings.create(model="em-x", input=inputs(script), encoding_format="float")
    assert len(r.client.embeddings.create(model="em-x", input=inputs("ok")).data) == 3


def test_base64_asked_of_an_upstream_that_answers_floats_is_float32_little_endian(r: Rig) -> None:
    """Before: the floats relayed to a client that asked base64 (its b64decode of a list
    raised). Now the bytes OpenAI would give: the vector as float32, little-endian."""
    body = {"model": "em-x", "input": inputs("efloat"), "encoding_format": "base64"}
    resp = r.raw("/v1/embeddings", body)
    assert resp.status_code == 200, resp.text
    for item in resp.json()["data"]:
        assert base64.b64decode(item["embedding"]) == struct.pack("<4f", *VECTOR)
    # the SDK asks base64 when no format is named, and decodes it: floats either way
    out = r.client.embeddings.create(model="em-x", input=inputs("efloat"))
    assert [d.embedding for d in out.data] == [F32] * 3
    rec = r.decision(resp.headers["x-arbiter-decision-id"])
    assert rec["status"] == "ok" and rec["cost_usd"] == pytest.approx(3 * PRICES["em-1"][0] / 1e6)
    # an answer past embeddings_answer.INLINE_BYTES is converted off the loop: the same bytes
    many = r.raw("/v1/embeddings", {**body, "input": inputs("efloat") * 600})
    assert many.status_code == 200 and len(many.content) > INLINE_BYTES, many.text[:200]
    assert {base64.b64decode(d["embedding"]) for d in many.json()["data"]} == {
        struct.pack("<4f", *VECTOR)
    }


@pytest.mark.parametrize("fmt", [None, "float"])
def test_floats_asked_of_an_upstream_that_answers_base64_are_floats(
    r: Rig, fmt: str | None
) -> None:
    """Before: base64 strings relayed to a client that asked floats (or named no format:
    OpenAI's default is float). Now the vector's floats."""
    body = {"model": "em-x", "input": inputs("eb64")}
    resp = r.raw("/v1/embeddings", body if fmt is None else {**body, "encoding_format": fmt})
    assert resp.status_code == 200, resp.text
    assert [d["embedding"] for d in resp.json()["data"]] == [F32] * 3


def test_vectors_already_as_asked_are_relayed_as_they_came(r: Rig) -> None:
    """Held: base64 asked and given, floats asked and given: the upstream's bytes."""
    b64 = r.raw("/v1/embeddings", {"model": "em-x", "input": inputs("eb64"),
                                   "encoding_format": "base64"})  # fmt: skip
    want = base64.b64encode(struct.pack("<4f", *VECTOR)).decode()
    assert [d["embedding"] for d in b64.json()["data"]] == [want] * 3
    floats = r.raw("/v1/embeddings", {"model": "em-x", "input": inputs("efloat")})
    assert [d["embedding"] for d in floats.json()["data"]] == [VECTOR] * 3


@pytest.mark.parametrize("script", ["e404", "ehtml"])
def test_an_upstream_without_embeddings_is_a_clear_404(r: Rig, script: str) -> None:
    """Held: the upstream's 404 (OpenAI's JSON or a page of HTML) reaches the client as a 404
    in OpenAI's shape naming the model's upstream, the SDK's NotFoundError, nothing billed."""
    with pytest.raises(openai.NotFoundError) as caught:
        r.client.embeddings.create(model="em-x", input=inputs(script))
    assert "upstream em-x returned HTTP 404" in caught.value.message
    resp = r.raw("/v1/embeddings", {"model": "em-x", "input": inputs(script)})
    rec = r.decision(resp.headers["x-arbiter-decision-id"])
    assert rec["status"] == "failed" and rec["cost_usd"] == 0.0


def test_a_tenant_uses_only_its_models(r: Rig) -> None:
    """Held: a tenant allowed em-1 alone is told em-x does not exist (404, not 403)."""
    key = str(r.sidecar.create_key(tenant="one")["key"])
    with openai.OpenAI(base_url=r.sidecar.base_url, api_key=key, max_retries=0) as client:
        assert len(client.embeddings.create(model="em-1", input=["a"]).data) == 1
        with pytest.raises(openai.NotFoundError):
            client.embeddings.create(model="em-x", input=["a"])


@pytest.mark.parametrize("path", ["/v1/embeddings", "/v1/completions"])
def test_an_error_object_at_http_200_is_the_error_it_names(r: Rig, path: str) -> None:
    """Before: relayed as a 200 (the error object, with a usage Arbiter added and billed, and a
    completion id it made up): the SDK read a list without `data`, a completion without
    choices. Now classified as chat's is: a rate limit is a 429 in OpenAI's shape, the SDK's
    RateLimitError, recorded failed and billed nothing. (Last in this file: it cools models.)"""
    # one call a model: a rate limit cools its model down (the next call there is a 503)
    body = {"model": "em-1" if path.endswith("embeddings") else "oa-1"}
    field = "input" if path.endswith("embeddings") else "prompt"
    resp = r.raw(path, {**body, field: inputs("err200")[0]})
    assert resp.status_code == 429, resp.text
    assert resp.json()["error"]["type"] == "rate_limit_error", resp.text
    rec = r.decision(resp.headers["x-arbiter-decision-id"])
    assert rec["status"] == "failed" and rec["cost_usd"] == 0.0
    if path.endswith("embeddings"):
        with pytest.raises(openai.RateLimitError):
            r.client.embeddings.create(model="em-small", input=inputs("err200"))
