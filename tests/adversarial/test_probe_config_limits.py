"""Outside probe: config values that `arbiter check-config` called OK but that break the sidecar
it serves. `[failover] retries_per_model = -1` or `deadline_s = -1` made every request a 503
saying "circuits open" (no model was ever tried); `total_timeout_s = -1` made every answer a 504;
`first_byte_timeout_s = 0` every stream; NaN (TOML has nan and inf) in a timeout, the breaker's
cooldown or a routing prior passed too. Each is now a problem naming the key, as the other
sections' ranges are."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "arbiter.toml"


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("failover", "retries_per_model", "-1"),
        ("failover", "deadline_s", "-1.0"),
        ("failover", "deadline_s", "nan"),
        ("failover", "total_timeout_s", "-1.0"),
        ("failover", "first_byte_timeout_s", "0.0"),
        ("failover", "connect_timeout_s", "inf"),
        ("failover", "max_models", "0"),
        ("failover", "backoff_ms", "-5"),
        ("failover", "max_retry_after_s", "nan"),
        ("breaker", "failure_threshold", "0"),
        ("breaker", "cooldown_s", "nan"),
        ("server", "port", "70000"),
        ("store", "max_backlog", "-1"),
        ("store", "retention_days", "nan"),
        ("store", "prune_interval_s", "inf"),
        ("store", "shutdown_write_s", "nan"),
        ("auth", "key_cache_ttl_s", "nan"),
        ("routing", "prior_strength", "nan"),
        ("routing", "default_prior", "-1.0"),
        ("routing", "evidence_cap", "-1.0"),
        ("routing", "expected_output_tokens", "-1"),
        ("routing", "change_false_alarms_per_100k", "nan"),
        ("references", "calibration_slope", "nan"),
    ],
)
def test_check_config_refuses_a_value_that_breaks_serving(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    section: str,
    key: str,
    value: str,
) -> None:
    monkeypatch.setenv("SIM_API_KEY", "sk-sim")
    monkeypatch.setenv("ARBITER_ADMIN_KEY", "adm-test")
    # the same override an operator's environment can make (ARBITER_<SECTION>__<KEY>)
    monkeypatch.setenv(f"ARBITER_{section.upper()}__{key.upper()}", value)
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(EXAMPLE.read_text())
    assert main(["check-config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"{section}.{key}" in err, err


def test_the_example_and_edge_values_that_work_stay_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIM_API_KEY", "sk-sim")
    monkeypatch.setenv("ARBITER_ADMIN_KEY", "adm-test")
    for var, value in {
        "ARBITER_FAILOVER__RETRIES_PER_MODEL": "0", "ARBITER_FAILOVER__BACKOFF_MS": "0",
        "ARBITER_FAILOVER__MAX_MODELS": "1", "ARBITER_FAILOVER__MAX_RETRY_AFTER_S": "0.0",
        "ARBITER_BREAKER__COOLDOWN_S": "0.0", "ARBITER_AUTH__KEY_CACHE_TTL_S": "0.0",
        "ARBITER_STORE__RETENTION_DAYS": "0.0", "ARBITER_SERVER__PORT": "0",
    }.items():  # fmt: skip
        monkeypatch.setenv(var, value)
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(EXAMPLE.read_text())
    assert main(["check-config", str(cfg)]) == 0, capsys.readouterr().err
