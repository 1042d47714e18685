"""Two promises of the docs, over real HTTP: fields the OpenAI spec marks nullable accept null
(= unset), and a `no-route` model (examples/arbiter.toml) is callable by name but never routed."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Sidecar
from tests.openapi_spec import validate

HI = [{"role": "user", "content": "Say hello in five words."}]


@pytest.fixture(scope="module")
def sidecar(module_sidecar: Sidecar) -> Sidecar:
    """One sidecar for this module's tests: each sends its own requests on its own key and
    reads back only its own decisions."""
    return module_sidecar


def _post(sidecar: Sidecar, api_key: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(
        f"{sidecar.base_url}/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {api_key}"},
        timeout=30,
    )


@pytest.mark.parametrize(
    "nulls",
    [
        {"stream": None},
        {"stream": None, "stream_options": None},
        {"max_completion_tokens": None, "max_tokens": None},
        {"n": None, "temperature": None, "top_p": None, "seed": None, "response_format": None},
    ],
)
def test_null_means_unset(sidecar: Sidecar, api_key: str, nulls: dict[str, object]) -> None:
    r = _post(sidecar, api_key, {"model": "auto", "messages": HI, **nulls})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")  # null stream: not SSE
    validate("CreateChatCompletionResponse", r.json())


def test_a_null_max_completion_tokens_leaves_max_tokens_in_force(
    sidecar: Sidecar, api_key: str
) -> None:
    """max_tokens still counts: a limit no context window can hold is refused before any call."""
    body = {
        "model": "sim-small",
        "messages": HI,
        "max_completion_tokens": None,
        "max_tokens": 10**9,
    }
    r = _post(sidecar, api_key, body)
    assert r.status_code == 400 and "context length" in r.json()["error"]["message"], r.text


def test_a_no_route_model_is_callable_by_name_but_never_routed(
    sidecar: Sidecar, api_key: str
) -> None:
    r = _post(sidecar, api_key, {"model": "judge", "messages": HI})
    assert r.status_code == 200, r.text
    assert r.headers["x-arbiter-model"] == "judge"
    row = sidecar.admin("GET", f"/arbiter/decisions/{r.headers['x-arbiter-decision-id']}").json()
    assert row["mode"] == "passthrough" and row["chosen_model"] == "judge"
    routed = [_post(sidecar, api_key, {"model": "auto", "messages": HI}) for _ in range(10)]
    for resp in routed:
        assert resp.status_code == 200 and resp.headers["x-arbiter-model"] != "judge"
        d = sidecar.admin("GET", f"/arbiter/decisions/{resp.headers['x-arbiter-decision-id']}")
        assert "judge" not in {c["model"] for c in d.json()["candidates"]}
    models = httpx.get(
        f"{sidecar.base_url}/models", headers={"authorization": f"Bearer {api_key}"}, timeout=10
    )
    # listed, since it is callable by name, as not routed (`routed: false`); retrievable too
    listed = {m["id"]: m for m in models.json()["data"]}
    assert listed["judge"]["routed"] is False
    one = httpx.get(
        f"{sidecar.base_url}/models/judge",
        headers={"authorization": f"Bearer {api_key}"},
        timeout=10,
    )
    assert one.status_code == 200 and one.json()["routed"] is False
