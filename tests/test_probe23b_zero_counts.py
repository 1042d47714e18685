"""probe23b: an upstream whose usage counts a side 0 beside the answer it gave. An output count
of 0 (a gateway's or lenient server's placeholder) billed the call on its prompt alone: the
answer's tokens were free to the caps, $0.011 charged for a call the upstream billed $0.025,
whole and streamed, OpenAI and Anthropic protocols alike. Both counts 0 charged the call's worst
case, though the answer finished and was there to count. A side counted 0 is now a side missing
(usage_counts.missing_sides): counted from what was relayed, as a usage that left it out is
(dropped_usage.py), with the operator's usage_dropped counted in /metrics. Real serve, the
official SDKs, the scripted upstream (tests/fault_upstream.py)."""

from __future__ import annotations

import pytest

from tests.fault_upstream import COMPLETION_TOKENS, PROMPT_TOKENS
from tests.probe19a_harness import PRICES
from tests.probe22b_rig import Fleet
from tests.probe23b_rig import MAX_TOKENS, cost_under_fault, one_sidecar

__all__ = ["one_sidecar"]  # the module's sidecar (a fixture)

PROMPT_USD = PROMPT_TOKENS * PRICES["oa-1"][0] / 1e6  # oa-1 and an-1 share their prices
BILL_USD = PROMPT_USD + COMPLETION_TOKENS * PRICES["oa-1"][1] / 1e6


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("model", ["oa-1", "an-1"])
@pytest.mark.parametrize("fault", ["zerooutput", "zeroboth"])
def test_a_side_counted_zero_is_counted_from_the_answer(
    one_sidecar: tuple[Fleet, str], fault: str, model: str, stream: bool
) -> None:
    f, key = one_sidecar
    cost, dropped = cost_under_fault(f, key, model, fault, stream)
    # "The answer is ok." (5 o200k tokens, the upstream's 7) on the prompt (the upstream's 11
    # tokens, or the sidecar's count of "hi" in its frame, 5): the answer's tokens charged
    out_usd, in_usd = PRICES[model][1] / 1e6, PRICES[model][0] / 1e6
    assert cost >= 5 * out_usd + 4 * in_usd, (fault, cost)
    assert cost < PROMPT_USD * 2 + MAX_TOKENS * PRICES[model][1] / 1e6
    if fault == "zeroboth":  # not the worst case: priced from what was relayed
        assert cost < BILL_USD * 1.5, cost
    assert dropped == 1
    f.up.reset()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("model", ["oa-1", "an-1"])
def test_an_empty_answer_counted_zero_is_a_true_count(
    one_sidecar: tuple[Fleet, str], model: str, stream: bool
) -> None:
    """An answer with no text whose usage counts its output 0: that 0 is the count, no usage
    dropped (the zero-count rule raised `usage_dropped` for it, though nothing was missing)."""
    f, key = one_sidecar
    cost, dropped = cost_under_fault(f, key, model, "emptyzero", stream)
    assert cost == pytest.approx(PROMPT_USD, abs=1e-12)  # the upstream's prompt count, output 0
    assert dropped == 0
    f.up.reset()
