"""`arbiter demo` measures the same thing on every run: the simulated pool's answers are a
function of the prompt (not of the order concurrent requests arrive in), one quality draw per
prompt is shared by the models (so routed vs baseline on the same prompts is not luck), and the
sidecar's routers draw from the seed the demo sets (routing.seed)."""

from __future__ import annotations

import itertools
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from arbiter import config
from arbiter.config import ConfigError
from arbiter.offline import demo
from arbiter.offline.sim import SimServer
from arbiter.offline.sim.config import parse_config
from arbiter.offline.sim.simulate import offline_call
from arbiter.offline.sim.state import SimState
from arbiter.offline.workload import make_workload
from arbiter.principal import Principal
from arbiter.routing import RouteRequest
from arbiter.services import Services
from arbiter.toml_text import to_toml
from tests.conftest import ENV

_KEY = {"Authorization": "Bearer sim-demo-key"}


def _demo_pool(**top: Any) -> dict[str, Any]:
    raw = demo.sim_settings(paired=True)
    raw["latency_scale"] = 0.0  # the same draws, without the waiting
    raw.update(top)
    return raw


def _answers(order: list[tuple[str, int]], prompts: list[Any]) -> dict[tuple[str, int], str]:
    """Each (model, prompt) of `order` sent in that order to a fresh demo pool: its answer."""
    cfg = parse_config(_demo_pool())
    out: dict[tuple[str, int], str] = {}
    with (
        SimServer(cfg) as sim,
        httpx.Client(base_url=sim.root_url, headers=_KEY, timeout=30) as client,
    ):
        for model, k in order:
            r = client.post("/v1/chat/completions", json={"model": model, "messages": prompts[k]})
            assert r.status_code == 200, r.text
            out[(model, k)] = r.json()["choices"][0]["message"]["content"]
    return out


def test_the_demo_pools_answers_do_not_depend_on_arrival_order() -> None:
    # the demo's routed and baseline requests run concurrently: which of them reaches a model
    # first must not change what any of them is answered (it used to: a per-model counter)
    prompts = [item.messages for item in make_workload(24, seed=3)]
    pairs = [(m, k) for k in range(len(prompts)) for m in ("sim-premium", "sim-small")]
    first = _answers(pairs, prompts)
    second = _answers(pairs[::-1] + pairs[:6], prompts)  # reversed, and some asked twice
    assert first == {p: second[p] for p in first}


def test_one_quality_draw_per_prompt_is_shared_by_the_demo_pools_models() -> None:
    # common random numbers: a stronger model answers well every prompt a weaker one does, and
    # each model's rate stays the configured one (the draws are paired, not tuned)
    state = SimState(parse_config(_demo_pool()))
    items = make_workload(600, seed=5)
    good: dict[str, list[bool]] = {}
    for name in demo.DEMO_POOL:
        profile = state.config.models[name]
        good[name] = [
            bool(offline_call(state, profile, {"model": name, "messages": item.messages})[2])
            for item in items
        ]
    order = ["sim-tiny", "sim-small", "sim-medium", "sim-premium"]
    for weaker, stronger in itertools.pairwise(order):
        nested = all(s for w, s in zip(good[weaker], good[stronger], strict=True) if w)
        assert nested, f"{weaker} answered well a prompt {stronger} got wrong"
    code = [k for k, item in enumerate(items) if item.task == "code"]
    tiny_code = sum(good["sim-tiny"][k] for k in code) / len(code)
    assert 0.2 < tiny_code < 0.5, tiny_code  # configured 0.35 (before difficulty)
    assert sum(good["sim-premium"]) / len(items) > 0.9


def test_a_demo_run_asks_its_stack_for_paired_draws_and_seeded_routers(tmp_path: Path) -> None:
    # what `arbiter demo` runs (run() passes its --seed): the files the stack starts from
    with demo.running_stack(tmp_path, seed=7):
        sim = tomllib.loads((tmp_path / "sim.toml").read_text())
        sidecar = tomllib.loads((tmp_path / "arbiter.toml").read_text())
    assert sim["same_draws_per_prompt"] is True and sim["paired_quality_draws"] is True
    assert sidecar["routing"]["seed"] == 7


class _Asked(Exception):
    pass


def test_arbiter_demo_starts_its_stack_with_its_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: dict[str, Any] = {}

    def fake_stack(workdir: Path, **options: Any) -> Any:
        asked.update(options)
        raise _Asked

    monkeypatch.setattr(demo, "running_stack", fake_stack)
    monkeypatch.setattr(demo.signal, "signal", lambda *_args: None)
    with pytest.raises(_Asked):
        demo.run(requests=4, seed=11, as_json=True, keep_running=False, concurrency=2)
    assert asked["seed"] == 11


def test_paired_quality_draws_is_a_strict_boolean() -> None:
    with pytest.raises(ConfigError, match="paired_quality_draws"):
        parse_config(_demo_pool(paired_quality_draws="yes"))


def _choices(tmp_path: Path, name: str, seed: int | None) -> list[str]:
    doc = demo.demo_settings("http://127.0.0.1:9/v1", tmp_path / f"{name}.db", router_seed=seed)
    svc = Services(config.loads(to_toml(doc), env=ENV))
    try:
        router = svc.router_for(Principal())
        tasks = ("code", "math", "extraction", "chat")
        return [router.decide(RouteRequest("t", tasks[k % 4], 200, 300)).chosen for k in range(400)]
    finally:
        svc.store.close()


def test_the_demo_seeds_the_sidecars_routers(tmp_path: Path) -> None:
    one, again = _choices(tmp_path, "one", 7), _choices(tmp_path, "again", 7)
    assert one == again
    other = _choices(tmp_path, "other", 8)
    assert other != one, Counter(one)  # the draws do matter: a seed is not a no-op


def test_routing_seed_is_a_strict_integer(tmp_path: Path) -> None:
    doc = demo.demo_settings("http://127.0.0.1:9/v1", tmp_path / "x.db")
    doc["routing"]["seed"] = "7"
    with pytest.raises(ConfigError, match=r"routing\.seed"):
        config.loads(to_toml(doc), env=ENV)
