"""The learned policy lives in the store: a restarted sidecar on the same SQLite file keeps it."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import Sidecar

CHAT = [{"role": "user", "content": "Tell me something nice about libraries."}]


def _policy(s: Sidecar, key: str) -> dict[tuple[str, str], tuple[float, float, float]]:
    rows = httpx.get(f"{s.root_url}/arbiter/policy", headers={"authorization": f"Bearer {key}"})
    return {(r["task"], r["model"]): (r["alpha"], r["beta"], r["n"]) for r in rows.json()["data"]}


def test_learned_policy_survives_a_restart(sidecar_config: Path) -> None:
    s = Sidecar(sidecar_config).start()
    headers: dict[str, str] = {}
    try:
        key = str(s.create_key("restart")["key"])
        headers = {"authorization": f"Bearer {key}"}
        # teach it: the cheapest model is excellent at chat, the others are poor
        for model, score in [
            ("sim-tiny", 1.0),
            ("sim-small", 0.0),
            ("sim-medium", 0.0),
            ("sim-premium", 0.0),
        ] * 12:
            r = httpx.post(
                f"{s.base_url}/chat/completions",
                headers=headers,
                json={"model": model, "messages": CHAT},
            )
            assert r.status_code == 200
            httpx.post(
                f"{s.base_url}/feedback",
                headers=headers,
                json={"decision_id": r.headers["x-arbiter-decision-id"], "score": score},
            )
        learned = _policy(s, key)
        assert learned[("chat", "sim-tiny")][0] >= 12  # alpha: 12 good answers
    finally:
        s.stop()  # SIGTERM: the final policy sync and recorder flush run on shutdown

    again = Sidecar(sidecar_config).start()
    try:
        kept = _policy(again, key)  # the key itself was persisted too
        for arm, (alpha, beta, n) in learned.items():
            assert kept[arm][0] == alpha and kept[arm][1] == beta and kept[arm][2] == n, arm
        chosen = [
            httpx.post(
                f"{again.base_url}/chat/completions",
                headers=headers,
                json={"model": "auto", "messages": CHAT},
            ).headers["x-arbiter-model"]
            for _ in range(10)
        ]
        assert chosen.count("sim-tiny") >= 8, chosen
    finally:
        again.stop()
