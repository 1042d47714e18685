"""In-request cascade: the cheapest model answers first; a weak answer escalates, both charged."""

from __future__ import annotations

import contextlib
import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from arbiter.offline.demo import demo_settings
from arbiter.toml_text import to_toml
from tests.conftest import Sidecar

CODE = [{"role": "user", "content": "Write a Python function add(a, b) that returns the sum."}]


@contextlib.contextmanager
def _cascading_sidecar(
    tmp_path: Path, sim_url: str, routing: str
) -> Iterator[tuple[Sidecar, dict[str, str]]]:
    """A sidecar on the demo config with `routing` lines added to [routing], and a client key's
    headers."""
    cfg = tmp_path / "arbiter.toml"
    doc = demo_settings(sim_url, tmp_path / "a.db")
    doc["routing"].update(tomllib.loads(routing))
    cfg.write_text(to_toml(doc))
    sidecar = Sidecar(cfg).start()
    try:
        yield sidecar, {"authorization": f"Bearer {sidecar.create_key('cascade')['key']}"}
    finally:
        sidecar.stop()


@pytest.fixture
def cascading(tmp_path: Path, sim_url: str) -> Iterator[Sidecar]:
    with _cascading_sidecar(tmp_path, sim_url, 'cascade_tasks = ["code"]') as (sidecar, _):
        yield sidecar


def _ask_until_cascade(
    sidecar: Sidecar,
    headers: dict[str, str],
    messages: list[dict[str, str]],
    first: str,
    *,
    skip_escalations_without: str | None = None,
) -> tuple[httpx.Response, dict[str, Any]]:
    """Routed requests until one cascades from `first` (a cascade starts only when the router
    picks a dearer model, and a fresh sidecar's random seed may route straight to `first`).
    With `skip_escalations_without`, rows escalated for another reason (the sim's answers can
    be cut off or hedge) are skipped. Returns that response and its decision row."""
    for _ in range(60):
        r = httpx.post(
            f"{sidecar.base_url}/chat/completions",
            headers=headers,
            json={"model": "auto", "messages": messages},
        )
        assert r.status_code == 200
        row: dict[str, Any] = httpx.get(
            f"{sidecar.root_url}/arbiter/decisions/{r.headers['x-arbiter-decision-id']}",
            headers=headers,
        ).json()
        reason = row["reason"]
        other = skip_escalations_without is not None and (
            "escalated (" in reason and skip_escalations_without not in reason
        )
        if f"cascade: {first}" in reason and not other:
            return r, row
    pytest.fail(f"no request cascaded from {first}")


def _control(sim_url: str, **patch: object) -> None:
    httpx.post(sim_url.removesuffix("/v1") + "/_sim/control", json=patch).raise_for_status()


def test_cascade_keeps_a_good_cheap_answer_and_escalates_a_bad_one(
    cascading: Sidecar, sim_url: str
) -> None:
    key = str(cascading.create_key("cascade")["key"])
    headers = {"authorization": f"Bearer {key}"}
    try:
        _control(sim_url, model="sim-tiny", quality={"code": 1.0})
        r, row = _ask_until_cascade(cascading, headers, CODE, "sim-tiny")
        assert r.headers["x-arbiter-model"] == "sim-tiny"  # the cheap answer passed: kept
        assert "answered first and its answer passed" in row["reason"]
        assert [a["model"] for a in row["attempts"]] == ["sim-tiny"]

        _control(sim_url, model="sim-tiny", quality={"code": 0.0})
        r, row = _ask_until_cascade(cascading, headers, CODE, "sim-tiny")
        assert r.status_code == 200 and r.headers["x-arbiter-model"] != "sim-tiny"
        first, final = row["attempts"][0], row["attempts"][-1]
        assert first["model"] == "sim-tiny" and first["error"].startswith("escalated")
        assert final["model"] == row["chosen_model"] and final["ok"]
        assert "escalated" in row["reason"]
        # both calls are charged: the recorded cost exceeds the final model's own share
        usage = r.json()["usage"]
        prices = {"sim-small": (0.5, 1.5), "sim-medium": (2.5, 10.0), "sim-premium": (15.0, 60.0)}
        pin, pout = prices[row["chosen_model"]]
        own = (usage["prompt_tokens"] * pin + usage["completion_tokens"] * pout) / 1e6
        assert row["cost_usd"] > own
    finally:
        _control(sim_url, model="sim-tiny", quality={"code": 0.35})


CHAT = [{"role": "user", "content": "Tell me something nice about the sea."}]


@pytest.mark.parametrize(("min_tokens", "escalates"), [(100_000, True), (1, False)])
def test_a_short_first_answer_escalates_from_the_configured_first_model(
    tmp_path: Path, sim_url: str, min_tokens: int, escalates: bool
) -> None:
    routing = (
        'cascade_tasks = ["chat"]\ncascade_first_model = "sim-small"\n'
        f"cascade_min_answer_tokens = {{ chat = {min_tokens} }}"
    )
    with _cascading_sidecar(tmp_path, sim_url, routing) as (sidecar, headers):
        _, row = _ask_until_cascade(
            sidecar, headers, CHAT, "sim-small", skip_escalations_without="a short answer"
        )
        assert row["attempts"][0]["model"] == "sim-small"
        if escalates:
            assert "a short answer" in row["reason"] and row["chosen_model"] != "sim-small"
            assert row["attempts"][0]["error"].startswith("escalated: a short answer")
        else:
            assert "answered first and its answer passed" in row["reason"]
            assert row["chosen_model"] == "sim-small"


MATH = [
    {
        "role": "user",
        "content": "A farmer has 17 rows of 23 apple trees. How many trees does he have? "
        "Show your work.",
    }
]


@pytest.mark.parametrize(("threshold", "escalates"), [(0.001, True), (1.0, False)])
def test_math_cascade_uses_the_shipped_verifier(
    tmp_path: Path, sim_url: str, threshold: float, escalates: bool
) -> None:
    """routing.cascade_math_verifier: the shipped verifier's score (v2: P(cheap answer wrong))
    decides a math cascade (the mechanism behind `cascade_verifier` in bench/results/routing.md)."""
    routing = f'cascade_tasks = ["math"]\ncascade_math_verifier = {threshold}'
    with _cascading_sidecar(tmp_path, sim_url, routing) as (sidecar, headers):
        _, row = _ask_until_cascade(
            sidecar, headers, MATH, "sim-tiny", skip_escalations_without="verifier score"
        )
        if escalates:  # no answer the sim writes scores under 0.1%
            assert "verifier score=" in row["reason"] and row["chosen_model"] != "sim-tiny"
        else:  # a score >= 1 never holds: only an empty or cut-off answer would escalate
            assert "answered first and its answer passed" in row["reason"]


@pytest.mark.parametrize(("bias", "escalates"), [(50.0, True), (-50.0, False)])
def test_math_cascade_runs_a_verifier_of_named_columns(
    tmp_path: Path, sim_url: str, bias: float, escalates: bool
) -> None:
    """Round nine: a verifier that names its columns (v5's format: here one of step_check's
    features, with a bias that fixes the score at 1 or 0) is what the sidecar's cascade runs
    under routing.cascade_math_verifier_file, as `arbiter replay` does."""
    spec = {"version": "named-columns", "features": ["checked_steps_5"], "mean": [0.0],
            "std": [1.0], "weights": [0.0], "bias": bias}  # fmt: skip
    path = tmp_path / "verifier.json"
    path.write_text(json.dumps(spec))
    routing = (f'cascade_tasks = ["math"]\ncascade_math_verifier = 0.99\n'
               f'cascade_math_verifier_file = "{path}"')  # fmt: skip
    with _cascading_sidecar(tmp_path, sim_url, routing) as (sidecar, headers):
        _, row = _ask_until_cascade(
            sidecar, headers, MATH, "sim-tiny", skip_escalations_without="verifier score"
        )
        if escalates:
            assert "verifier score=1.00" in row["reason"] and row["chosen_model"] != "sim-tiny"
        else:
            assert "answered first and its answer passed" in row["reason"]


def test_cascade_all_asks_the_first_model_on_every_request(tmp_path: Path, sim_url: str) -> None:
    """routing.cascade_all: every request of a cascade task tries the cheap model first (the
    router's own choice, which may be the cheap model itself, is not what decides)."""
    routing = 'cascade_tasks = ["code"]\ncascade_all = true\n'
    with _cascading_sidecar(tmp_path, sim_url, routing) as (sidecar, headers):
        for _ in range(6):
            r = httpx.post(
                f"{sidecar.base_url}/chat/completions",
                headers=headers,
                json={"model": "auto", "messages": CODE},
            )
            assert r.status_code == 200
            row = httpx.get(
                f"{sidecar.root_url}/arbiter/decisions/{r.headers['x-arbiter-decision-id']}",
                headers=headers,
            ).json()
            assert "; cascade: " in row["reason"], row["reason"]


def test_math_cascade_runs_verifier_v6_as_the_replay_scores_it(
    tmp_path: Path, sim_url: str
) -> None:
    """gsm13: under `cascade_math_verifier_file = "v6"` (the fix's expected gain, a value head
    over v5's named columns) the running sidecar keeps or escalates a cheap math answer as the
    replay's rule does for the same prompt and answer (`as_sidecar.SidecarCascade` over the
    loader both use, `configured_verifier`). The threshold sits between v6's and v5's scores of
    the sim's (deterministic, right) answer, so the choice shows which verifier ran."""
    from random import Random

    from arbiter.cascade import configured_verifier
    from arbiter.offline.as_sidecar import SidecarCascade
    from arbiter.offline.sim.content import _math, detect_task

    prompt = "A farmer plants 17 rows of 23 apple trees. How many trees is that? Calculate 17 * 23."
    assert detect_task(prompt, None) == "math"
    answer = _math(prompt, None, True, Random(0)).content  # the sim's right answer: no draws
    s5, s6 = (configured_verifier(v).score(prompt, answer) for v in ("v5", "v6"))
    assert abs(s5 - s6) > 1e-6
    threshold = (s5 + s6) / 2
    replayed = {
        v: SidecarCascade(frozenset({"math"}), verifier_threshold=threshold,
                          verifier=configured_verifier(v)).rule("math", None, None)(
            "math", prompt, answer, "stop", None)[0]
        for v in ("v5", "v6")
    }  # fmt: skip
    assert replayed["v6"] != replayed["v5"]
    routing = (f'cascade_tasks = ["math"]\ncascade_math_verifier = {threshold!r}\n'
               'cascade_math_verifier_file = "v6"')  # fmt: skip
    try:
        _control(sim_url, model="sim-tiny", quality={"math": 1.0})  # its right answer, above
        with _cascading_sidecar(tmp_path, sim_url, routing) as (sidecar, headers):
            messages = [{"role": "user", "content": prompt}]
            r, row = _ask_until_cascade(sidecar, headers, messages, "sim-tiny")
    finally:
        _control(sim_url, model="sim-tiny", quality={"math": 0.35})
    kept = row["chosen_model"] == "sim-tiny"
    if kept:
        assert r.json()["choices"][0]["message"]["content"] == answer
        assert "answered first and its answer passed" in row["reason"]
    else:
        assert f"verifier score={s6:.2f}" in row["reason"], row["reason"]
    assert kept is not replayed["v6"]  # escalate = not kept, as the replay decided
