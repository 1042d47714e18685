"""probe27a: shadow traffic keeps to the tenant's `allowed_models`. an-1 is a challenger (every
routed answer copied to it); tenant `t1` may use oa-1 and oa-2 only. t1's prompts must never
reach an-1 (an operator restricts a tenant's models to keep its data with some providers);
before, every t1 request routed to oa-1 also sent its prompt to an-1 as a shadow call. Another
tenant (the control, unrestricted) still has its answers copied to an-1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fault_upstream import fault_upstream
from tests.probe24d_rig import config_text, serve, until

pytestmark = pytest.mark.timeout(120)

SHADOW = """
[shadow]
challengers = ["an-1"]
sample_rate = 1.0
budget_usd = 10.0
auto_promote = false
max_in_flight = 64

[tenants.t1]
allowed_models = ["oa-1", "oa-2"]
"""


def test_a_tenants_prompts_are_never_shadowed_to_a_model_it_may_not_use(tmp_path: Path) -> None:
    with fault_upstream() as up:
        cfg = tmp_path / "arbiter.toml"
        cfg.write_text(config_text(up.port, tmp_path) + SHADOW)
        with serve(cfg, tenant="t1") as s:
            for i in range(4):
                raw = s.gpt.chat.completions.with_raw_response.create(
                    model="auto", messages=[{"role": "user", "content": f"Say hi {i}."}],
                    max_tokens=16,
                )  # fmt: skip
                assert raw.http_response.status_code == 200
                assert raw.headers["x-arbiter-model"] in ("oa-1", "oa-2")
            skipped = until(
                lambda: s.get("/arbiter/challengers").json().get("skipped", {}),
                "t1's shadow skips counted",
            )
            assert skipped.get("no_eligible_challenger") == 4, skipped
            assert not [c for c in up.calls if c[1] == "an-1"], up.calls
            # the control: an unrestricted tenant's answers are copied to an-1
            key = str(s.sidecar.create_key("t2")["key"])
            other = s.gpt.with_options(api_key=key)
            other.chat.completions.create(
                model="auto", messages=[{"role": "user", "content": "Say hi."}], max_tokens=16
            )
            until(lambda: [c for c in up.calls if c[1] == "an-1"], "t2's shadow call to an-1")
