"""Registry changes made through the admin API reach every replica sharing the store."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.conftest import Sidecar
from tests.openapi_spec import validate

MESSAGES = [{"role": "user", "content": "Say hello in five words."}]


def _models(s: Sidecar, key: str) -> set[str]:
    r = httpx.get(f"{s.base_url}/models", headers={"authorization": f"Bearer {key}"})
    return {m["id"] for m in r.json()["data"]}


def test_admin_registry_change_reaches_the_other_replica(sidecar_config: Path) -> None:
    a, b = Sidecar(sidecar_config).start(), Sidecar(sidecar_config).start()
    try:
        key = str(a.create_key("reg")["key"])
        headers = {"authorization": f"Bearer {key}"}
        assert "sim-tiny" in _models(b, key)
        r = a.admin("PATCH", "/arbiter/admin/models/sim-tiny", json={"enabled": False})
        assert r.status_code == 200, r.text
        r = a.admin("PATCH", "/arbiter/admin/models/sim-small", json={"price_out_per_mtok": 3.0})
        assert r.json()["overrides"] == {"price_out_per_mtok": 3.0}
        assert "sim-tiny" not in _models(a, key)  # the replica that took the change: at once
        deadline = time.monotonic() + 30  # generous: a loaded machine slows the sync loop
        while "sim-tiny" in _models(b, key) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "sim-tiny" not in _models(b, key)  # the other one: within its sync interval
        gone = httpx.post(
            f"{b.base_url}/chat/completions",
            headers=headers,
            json={"model": "sim-tiny", "messages": MESSAGES},
        )
        assert gone.status_code == 404
        validate("ErrorResponse", gone.json())
        for _ in range(8):
            r = httpx.post(
                f"{b.base_url}/chat/completions",
                headers=headers,
                json={"model": "auto", "messages": MESSAGES},
            )
            assert r.headers["x-arbiter-model"] != "sim-tiny"
        r = httpx.post(
            f"{b.base_url}/chat/completions",
            headers=headers,
            json={"model": "sim-small", "messages": MESSAGES},
        )
        usage = r.json()["usage"]
        expected = (usage["prompt_tokens"] * 0.5 + usage["completion_tokens"] * 3.0) / 1e6
        assert abs(float(r.headers["x-arbiter-cost-usd"]) - expected) < 1e-8
        view = b.admin("GET", "/arbiter/admin/models").json()["data"]
        tiny = next(m for m in view if m["name"] == "sim-tiny")
        assert tiny["enabled"] is False
    finally:
        a.stop()
        b.stop()


def test_bad_patches_are_clean_400s(sidecar: Sidecar) -> None:
    for body in ({"price_in_per_mtok": -1}, {"colour": "red"}, {"enabled": "no"}, {}):
        r = sidecar.admin("PATCH", "/arbiter/admin/models/sim-small", json=body)
        assert r.status_code == 400, body
        validate("ErrorResponse", r.json())
    assert (
        sidecar.admin("PATCH", "/arbiter/admin/models/nope", json={"enabled": False}).status_code
        == 404
    )
