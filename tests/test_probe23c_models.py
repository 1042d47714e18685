"""probe23c: /v1/models from outside with both official SDKs against a real `arbiter serve`
(tests/probe23c_rig.py): a model id holding a slash is listed and retrieved, as given or
URL-encoded; Anthropic's paged list walks every model once, either way; a tenant restricted to
some models sees only those (and `auto`), and any other is a 404 in each SDK's shape."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from tests.probe21b_rig import Rig, rig
from tests.probe23c_rig import EXTRA, FaultHandler


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("probe23c-models"), FaultHandler, EXTRA) as made:
        yield made


def claude(r: Rig, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=r.sidecar.root_url, api_key=key, max_retries=0)


def test_an_id_with_a_slash_is_retrieved_as_given_or_encoded(r: Rig) -> None:
    assert r.client.models.retrieve("acme/oa-2").id == "acme/oa-2"
    with claude(r, r.key) as client:
        assert client.models.retrieve("acme/oa-2").id == "acme/oa-2"
    auth = {"authorization": f"Bearer {r.key}"}
    for path in ("acme/oa-2", "acme%2Foa-2", "acme%2foa%2D2"):
        got = httpx.get(f"{r.sidecar.base_url}/models/{path}", headers=auth)
        assert got.status_code == 200 and got.json()["id"] == "acme/oa-2", (path, got.text)
    with pytest.raises(openai.NotFoundError):
        r.client.models.retrieve("acme/oa-3")


def test_anthropics_pages_walk_every_model_once_forward_and_back(r: Rig) -> None:
    listed = [m.id for m in r.client.models.list()]
    assert listed[0] == "auto" and "acme/oa-2" in listed and len(set(listed)) == len(listed)
    with claude(r, r.key) as client:
        assert [m.id for m in client.models.list(limit=3)] == listed  # the SDK follows after_id
        back: list[str] = []
        page = client.models.list(limit=3, before_id=listed[-1])
        while True:
            back = [m.id for m in page.data] + back
            if not page.has_more:
                break
            page = client.models.list(limit=3, before_id=page.first_id)
    assert back == listed[:-1]


def test_a_restricted_tenant_sees_its_models_and_nothing_else(r: Rig) -> None:
    """[tenants.one] allowed_models = oa-1, em-1: listed with `auto` by both SDKs, every other
    model a 404 (not a 403 that says it exists), also as a cursor of Anthropic's pages and as
    a Responses model; `auto` routes among its own."""
    key = str(r.sidecar.create_key(tenant="one")["key"])
    with openai.OpenAI(base_url=r.sidecar.base_url, api_key=key, max_retries=0) as client:
        assert [m.id for m in client.models.list()] == ["auto", "oa-1", "em-1"]
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("acme/oa-2")
        # and as a Responses model: unknown to it, counted or called; `auto` picks among its own
        with pytest.raises(openai.NotFoundError):
            client.responses.create(model="an-1", input="hi")
        with pytest.raises(openai.NotFoundError):
            client.responses.input_tokens.count(model="an-1", input="hi")
        for _ in range(3):
            assert client.responses.create(model="auto", input="hi").model == "oa-1"
    with claude(r, key) as client:
        assert [m.id for m in client.models.list(limit=1)] == ["auto", "oa-1", "em-1"]
        with pytest.raises(anthropic.NotFoundError):
            client.models.retrieve("an-1")
        with pytest.raises(anthropic.BadRequestError):  # a cursor it may not see: no model
            client.models.list(after_id="an-1")


def test_an_unknown_models_long_name_is_not_echoed_whole(r: Rig) -> None:
    """Before: a 30 kB model name came back whole in the 404's message (/v1/models/{id} in
    both shapes, /v1/responses, /v1/embeddings, chat): every client's error log held the
    request again. Now its first 128 characters, as the stored-response 404 names an id."""
    name = "m" * 30_000
    auth = {"authorization": f"Bearer {r.key}"}
    answers = [
        httpx.get(f"{r.sidecar.base_url}/models/{name}", headers=auth),
        httpx.get(f"{r.sidecar.base_url}/models/{name}",
                  headers={**auth, "anthropic-version": "2023-06-01"}),
        r.raw("/v1/responses", {"model": name, "input": "hi"}),
        r.raw("/v1/embeddings", {"model": name, "input": "hi"}),
        r.raw("/v1/chat/completions",
              {"model": name, "messages": [{"role": "user", "content": "hi"}]}),
    ]  # fmt: skip
    for got in answers:
        assert got.status_code == 404, (got.request.url.path, got.status_code)
        assert len(got.content) < 600 and "m" * 128 in got.text, got.request.url.path
