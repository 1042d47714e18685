"""End to end: the official `openai` SDK against a live sidecar and a live sim, over real HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import Sidecar
from tests.openapi_spec import validate

MESSAGES = [{"role": "user", "content": "Summarize in two sentences: the tide rises and falls."}]


@pytest.fixture(scope="module")
def sidecar(module_sidecar: Sidecar) -> Sidecar:
    """One sidecar for this module's tests: each sends its own requests on its own key and
    reads back only its own decisions."""
    return module_sidecar


@pytest.fixture
def oai(sidecar: Sidecar, api_key: str) -> Iterator[openai.OpenAI]:
    with client(sidecar, api_key) as c:
        yield c


@pytest.fixture
def auth(api_key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {api_key}"}


@contextlib.contextmanager
def client(sidecar: Sidecar, api_key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=sidecar.base_url, api_key=api_key, max_retries=0, timeout=30) as c:
        yield c


def test_routed_call_has_decision_headers(sidecar: Sidecar, oai: openai.OpenAI) -> None:
    raw = oai.chat.completions.with_raw_response.create(
        model="auto",
        messages=MESSAGES,  # type: ignore[arg-type]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content
    for header in (
        "x-arbiter-model",
        "x-arbiter-decision-id",
        "x-arbiter-task",
        "x-arbiter-cost-usd",
        "x-arbiter-baseline-cost-usd",
    ):
        assert raw.headers.get(header), header
    assert raw.headers["x-arbiter-task"] == "summarization"
    assert raw.headers["x-arbiter-model"].startswith("sim-")
    assert float(raw.headers["x-arbiter-baseline-cost-usd"]) > 0
    validate("CreateChatCompletionResponse", completion.model_dump(exclude_unset=True))


def test_passthrough_is_recorded(sidecar: Sidecar, oai: openai.OpenAI) -> None:
    raw = oai.chat.completions.with_raw_response.create(
        model="sim-small",
        messages=MESSAGES,  # type: ignore[arg-type]
    )
    assert raw.headers["x-arbiter-model"] == "sim-small"
    decision_id = raw.headers["x-arbiter-decision-id"]
    feed = sidecar.admin("GET", "/arbiter/decisions", params={"limit": 10}).json()
    row = next(d for d in feed["data"] if d["id"] == decision_id)
    assert row["mode"] == "passthrough"
    assert row["chosen_model"] == "sim-small"
    assert row["cost_usd"] > 0 and row["baseline_cost_usd"] > row["cost_usd"]


def test_the_decision_feed_pages_by_cursor(sidecar: Sidecar, oai: openai.OpenAI) -> None:
    sent = {
        oai.chat.completions.with_raw_response.create(model="auto", messages=MESSAGES).headers[  # type: ignore[arg-type]
            "x-arbiter-decision-id"
        ]
        for _ in range(5)
    }
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 2}
    for _ in range(50):
        page = sidecar.admin("GET", "/arbiter/decisions", params=params).json()
        assert page["object"] == "list"
        assert page["last_id"] == (page["data"][-1]["id"] if page["data"] else None)
        seen += [d["id"] for d in page["data"]]
        if not page["has_more"]:
            break
        params["after"] = page["last_id"]
    assert sent <= set(seen) and len(seen) == len(set(seen))
    r = sidecar.admin("GET", "/arbiter/decisions", params={"after": "no-such-decision"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "after"


def test_models_lists_pool_and_auto(sidecar: Sidecar, oai: openai.OpenAI) -> None:
    models = oai.models.list()
    ids = {m.id for m in models.data}
    assert {"auto", "sim-tiny", "sim-small", "sim-medium", "sim-premium"} <= ids
    # a no-route model is callable by name, so it is listed, never routed by `auto`
    judge = next(m for m in models.data if m.id == "judge")
    assert judge.model_extra and judge.model_extra["routed"] is False
    validate("ListModelsResponse", oai.get("/models", cast_to=httpx.Response).json())


def test_unknown_model_is_404_in_openai_shape(sidecar: Sidecar, oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        oai.chat.completions.create(model="gpt-nope", messages=MESSAGES)  # type: ignore[arg-type]
    body = info.value.response.json()
    validate("ErrorResponse", body)
    assert body["error"]["code"] == "model_not_found"
    assert body["error"]["param"] == "model"


def test_malformed_json_is_400(sidecar: Sidecar, auth: dict[str, str]) -> None:
    r = httpx.post(
        f"{sidecar.base_url}/chat/completions",
        content=b'{"model": "auto", "messa',
        headers={"content-type": "application/json", **auth},
    )
    assert r.status_code == 400
    validate("ErrorResponse", r.json())
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_missing_messages_is_400(sidecar: Sidecar, oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        oai.post("/chat/completions", body={"model": "auto"}, cast_to=httpx.Response)
    body = info.value.response.json()
    validate("ErrorResponse", body)
    assert body["error"]["param"] == "messages"


def test_body_over_limit_is_413(tmp_path: Path, sim_url: str) -> None:
    from arbiter.offline.demo import demo_settings
    from arbiter.toml_text import to_toml

    cfg = tmp_path / "arbiter.toml"
    doc = demo_settings(sim_url, tmp_path / "a.db")
    doc["server"]["max_body_bytes"] = 65536
    cfg.write_text(to_toml(doc))
    s = Sidecar(cfg).start()
    try:
        big = [{"role": "user", "content": "x" * 70_000}]
        key = str(s.create_key()["key"])
        with client(s, key) as c, pytest.raises(openai.APIStatusError) as info:
            c.chat.completions.create(model="auto", messages=big)  # type: ignore[arg-type]
        assert info.value.status_code == 413
        body = info.value.response.json()
        validate("ErrorResponse", body)
        assert body["error"]["code"] == "request_too_large"
    finally:
        s.stop()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "auto", "messages": []}, "messages"),
        ({"model": "auto", "messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"model": "auto", "messages": MESSAGES, "max_tokens": -3}, "max_tokens"),
        ({"model": "auto", "messages": MESSAGES, "stream": "yes"}, "stream"),
        ({"messages": MESSAGES}, "model"),
        ([1, 2, 3], None),
    ],
)
def test_bad_requests_are_clean_400s(
    sidecar: Sidecar, auth: dict[str, str], body: object, param: str | None
) -> None:
    r = httpx.post(f"{sidecar.base_url}/chat/completions", json=body, headers=auth)
    assert r.status_code == 400, r.text
    validate("ErrorResponse", r.json())
    assert r.json()["error"]["param"] == param


def test_unknown_fields_are_forwarded(sidecar: Sidecar, oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="sim-tiny",
        messages=MESSAGES,  # type: ignore[arg-type]
        extra_body={"arbiter_test_unknown_field": {"nested": True}},
        seed=3,
        temperature=0.2,
    )
    assert completion.choices[0].message.content


def test_unknown_path_and_method_are_openai_errors(sidecar: Sidecar, auth: dict[str, str]) -> None:
    r = httpx.get(f"{sidecar.base_url}/nope", headers=auth)
    assert r.status_code == 404
    validate("ErrorResponse", r.json())
    r = httpx.get(f"{sidecar.base_url}/chat/completions", headers=auth)
    assert r.status_code == 405
    validate("ErrorResponse", r.json())
