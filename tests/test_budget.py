"""Budget windows, worst-case estimates and which caps bind a caller (pure parts of budget.py)."""

from __future__ import annotations

import calendar
from pathlib import Path

import pytest

from arbiter.budget import Budgets, window_bounds
from arbiter.config import BudgetSettings, CapSettings, ModelSettings
from arbiter.principal import Principal


def test_windows() -> None:
    now = calendar.timegm((2026, 12, 31, 23, 59, 0))
    assert window_bounds("day", now) == (
        calendar.timegm((2026, 12, 31, 0, 0, 0)),
        calendar.timegm((2027, 1, 1, 0, 0, 0)),
    )
    assert window_bounds("month", now) == (
        calendar.timegm((2026, 12, 1, 0, 0, 0)),
        calendar.timegm((2027, 1, 1, 0, 0, 0)),
    )
    assert window_bounds("total", now) == (0.0, float("inf"))


def test_a_calls_worst_case_is_all_choices_at_the_limit() -> None:
    from arbiter.worst_case import CallWorst

    models = {"a": ModelSettings("a", "u", 1.0, 2.0), "b": ModelSettings("b", "u", 10.0, 30.0)}
    body = {"messages": [{"role": "user", "content": "hi"}], "n": 3}
    worst = CallWorst(models.__getitem__, body, 500, 2000, prompt=1000)
    assert worst("b") == (1000 * 10.0 + 3 * 500 * 30.0) / 1e6
    assert worst("a") == (1000 * 1.0 + 3 * 500 * 2.0) / 1e6
    no_limit = CallWorst(models.__getitem__, body, None, 2000, prompt=1000)
    assert no_limit("a") == (1000 * 1.0 + 3 * 4096 * 2.0) / 1e6  # the model's own maximum


def test_caps_bind_by_scope() -> None:
    caps = [
        CapSettings("global", 100.0),
        CapSettings("tenant", 5.0, "day"),
        CapSettings("tenant", 1.0, "day", "other"),
        CapSettings("key", 2.0, "total", "k1"),
    ]
    b = Budgets(BudgetSettings(caps=caps), store=None, alert=lambda *a: None)  # type: ignore[arg-type]
    bound = b.caps_for(Principal(tenant="acme", key_id="k1"), 0.0)
    assert [c.scope for c in bound] == ["global", "tenant:acme", "key:k1"]
    # its own day cap and the every-tenant one bind one window: once, at the stricter limit
    # (tests/test_budget_overlapping_caps.py)
    other = b.caps_for(Principal(tenant="other", key_id="k2"), 0.0)
    assert [(c.scope, c.limit_usd) for c in other] == [("global", 100.0), ("tenant:other", 1.0)]
    assert not Budgets(BudgetSettings(), None, lambda *a: None).enabled  # type: ignore[arg-type]


def test_caps_under_a_cent_print_their_digits() -> None:
    from arbiter.budget import BoundCap, _describe, usd

    assert usd(0.005) == "$0.005" and usd(0.0001234) == "$0.000123"
    assert usd(0.25) == "$0.25" and usd(12) == "$12.00" and usd(0) == "$0.00"
    cap = CapSettings("tenant", 0.005, "day")
    assert (
        _describe(BoundCap("tenant:acme", 0, 1, 0.005, cap)) == "tenant 'acme' daily cap of $0.005"
    )


def test_budget_keys_are_parsed_strictly(tmp_path: Path) -> None:
    from arbiter import config
    from arbiter.errors import ConfigError
    from arbiter.offline.demo import ADMIN_KEY_ENV, API_KEY_ENV, demo_config

    env = {API_KEY_ENV: "k", ADMIN_KEY_ENV: "a"}
    base = demo_config("http://127.0.0.1:9/v1", tmp_path / "c.db")
    s = config.loads(base, env=env)
    assert s.budgets.judge_scope == "tenant" and s.budgets.image_tokens is None
    assert s.models["sim-premium"].max_tokens_param == "max_completion_tokens"
    s = config.loads(base + '\n[budgets]\njudge_scope = "global"\noutage_allowance = 0\n', env=env)
    assert s.budgets.judge_scope == "global" and s.budgets.outage_allowance == 0
    for bad in ('judge_scope = "tenants"', "outage_allowance = 2", "image_tokens = -1"):
        with pytest.raises(ConfigError, match=r"budgets|tenants"):
            config.loads(base + f"\n[budgets]\n{bad}\n", env=env)


def test_lease_and_shutdown_grace_are_parsed_strictly(tmp_path: Path) -> None:
    from arbiter import config
    from arbiter.errors import ConfigError
    from arbiter.offline.demo import ADMIN_KEY_ENV, API_KEY_ENV, demo_config

    env = {API_KEY_ENV: "k", ADMIN_KEY_ENV: "a"}
    base = demo_config("http://127.0.0.1:9/v1", tmp_path / "c.db")
    s = config.loads(base, env=env)
    assert s.budgets.lease_s == 30.0 and s.server.shutdown_grace_s == 30.0
    s = config.loads(base.replace("[server]", "[server]\nshutdown_grace_s = 2.5"), env=env)
    assert s.server.shutdown_grace_s == 2.5
    s = config.loads(base + "\n[budgets]\nlease_s = 4\n", env=env)
    assert s.budgets.lease_s == 4.0
    cap = '\n[[budgets.caps]]\nscope = "global"\nlimit_usd = 5\nwindow = "total"\n'
    for bad in ("lease_s = 0.5", 'lease_s = "30"', "lease_s = nan", "lease_s = 2"):
        # (2 s: under 3 policy syncs of 1 s, the lease could lapse between renewals)
        with pytest.raises(ConfigError, match=r"budgets"):
            config.loads(base + f"\n[budgets]\n{bad}\n{cap}", env=env)
    # without caps nothing is leased: a slow policy sync is no reason to refuse the file
    s = config.loads(base.replace("[store]", "[store]\nsync_interval_ms = 60000"), env=env)
    assert s.store.sync_interval_ms == 60000
    for bad in ("shutdown_grace_s = -1", "shutdown_grace_s = 1e9", 'shutdown_grace_s = "x"'):
        with pytest.raises(ConfigError, match=r"server"):
            config.loads(base.replace("[server]", f"[server]\n{bad}"), env=env)
