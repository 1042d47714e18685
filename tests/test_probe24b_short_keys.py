"""probe24b: failed keys are not throttled (every 401 as fast as the first), so an operator key
short enough to guess is one a network neighbour can find: README's own example admin key,
`change-me-admin`, is 15 characters. `check-config` now warns about an admin, dashboard or
metrics key under 20 characters, naming its length, never the key."""

from __future__ import annotations

from arbiter.config import loads
from arbiter.config_warnings import config_warnings

DOC = (
    '[auth]\nadmin_key_env = "A"\ndashboard_key_env = "D"\nmetrics_key_env = "M"\n'
    '[upstreams.u]\nbase_url = "http://127.0.0.1:9/v1"\napi_key_env = "K"\n'
    '[models.m]\nupstream = "u"\nprice_in_per_mtok = 1.0\nprice_out_per_mtok = 1.0\n'
)


def _warnings(admin: str, dashboard: str, metrics: str) -> list[str]:
    env = {"A": admin, "D": dashboard, "M": metrics, "K": "sk-upstream"}
    return [w for w in config_warnings(loads(DOC, env=env)) if w.startswith("auth.")]


def test_a_short_operator_key_is_warned_about_without_being_shown() -> None:
    """Fails before: no warning for any of them."""
    warned = _warnings("change-me-admin", "dash-1234", "m" * 19)
    assert [w.split(":")[0] for w in warned] == [
        "auth.admin_key", "auth.dashboard_key", "auth.metrics_key",
    ]  # fmt: skip
    assert "15 characters" in warned[0] and "9 characters" in warned[1]
    assert not any("change-me-admin" in w or "dash-1234" in w for w in warned)


def test_a_long_random_key_is_not() -> None:
    assert _warnings("a" * 64, "d" * 20, "0123456789abcdef0123") == []
