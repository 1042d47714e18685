"""probe23b: an upstream whose usage counts a side 0 beside the answer it gave. An output count
of 0 (a gateway's or lenient server's placeholder) billed the call on its prompt alone: the
answer's tokens were free to the caps, $0.011 charged for a call the upstream billed $0.025,
whole and streamed, OpenAI and Anthropic protocols alike. Both counts 0 charged the call's worst
case, though the answer finished and was there to count. A side counted 0 is now a side missing
(usage_counts.missing_sides): counted from what was relayed, as a usage that left it out is
(dropped_usage.py), with the operator's usage_dropped counted in /metrics. Real serve, the
official SDKs, the scripted upstream (tests/fault_upstream.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from tests.fault_upstream import COMPLETION_TOKENS, PROMPT_TOKENS
from tests.probe19a_harness import PRICES
from tests.probe22b_rig import ADMIN, Fleet, fleet

PROMPT_USD = PROMPT_TOKENS * PRICES["oa-1"][0] / 1e6  # oa-1 and an-1 share their prices
BILL_USD = PROMPT_USD + COMPLETION_TOKENS * PRICES["oa-1"][1] / 1e6
MAX_TOKENS = 20  # the worst case: the prompt and 20 output tokens


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, str]]:
    caps = [{"scope": "tenant", "limit_usd": 100.0, "window": "total"}]
    with fleet(tmp_path_factory.mktemp("zero"), "sqlite", caps) as f:
        yield f, str(f.first.create_key("t")["key"])


def _dropped(f: Fleet) -> float:
    text = httpx.get(f.first.root_url + "/metrics", headers=ADMIN, timeout=15).text
    return sum(
        float(v) for v in re.findall(r"^arbiter_usage_dropped_total\{.*\} (\S+)$", text, re.M)
    )


def _ask(f: Fleet, key: str, model: str, stream: bool) -> None:
    hi = [{"role": "user", "content": "hi"}]
    if model == "an-1":
        with anthropic.Anthropic(api_key=key, base_url=f.first.root_url, max_retries=0) as c:
            if stream:
                with c.messages.stream(model=model, max_tokens=MAX_TOKENS, messages=hi) as s:
                    assert s.get_final_text()
            else:
                assert c.messages.create(model=model, max_tokens=MAX_TOKENS, messages=hi).content
        return
    with openai.OpenAI(api_key=key, base_url=f.first.base_url, max_retries=0) as c:
        if stream:
            chunks = c.chat.completions.create(
                model=model, messages=hi, max_tokens=MAX_TOKENS, stream=True,  # type: ignore[arg-type]
                stream_options={"include_usage": True},
            )  # fmt: skip
            assert "".join(x.choices[0].delta.content or "" for x in chunks if x.choices)
        else:
            answer = c.chat.completions.create(model=model, messages=hi, max_tokens=MAX_TOKENS)  # type: ignore[arg-type]
            assert answer.choices[0].message.content


def _cost(f: Fleet) -> float:
    deadline = time.monotonic() + 10
    while True:  # the decision is written behind the answer (bounded)
        decisions = f.decisions()
        if decisions:
            return float(decisions[0]["cost_usd"])
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("model", ["oa-1", "an-1"])
@pytest.mark.parametrize("fault", ["zerooutput", "zeroboth"])
def test_a_side_counted_zero_is_counted_from_the_answer(
    rig: tuple[Fleet, str], fault: str, model: str, stream: bool
) -> None:
    f, key = rig
    before = f.settled().get("tenant:t", (0.0, 0.0))[0]
    dropped = _dropped(f)
    f.up.reset(**{model.replace("-", "_"): fault})
    _ask(f, key, model, stream)
    cost = _cost(f)
    assert f.settled()["tenant:t"][0] - before == pytest.approx(cost, abs=1e-9)
    # "The answer is ok." (5 o200k tokens, the upstream's 7) on the prompt (the upstream's 11
    # tokens, or the sidecar's count of "hi" in its frame, 5): the answer's tokens charged
    out_usd, in_usd = PRICES[model][1] / 1e6, PRICES[model][0] / 1e6
    assert cost >= 5 * out_usd + 4 * in_usd, (fault, cost)
    assert cost < PROMPT_USD * 2 + MAX_TOKENS * PRICES[model][1] / 1e6
    if fault == "zeroboth":  # not the worst case: priced from what was relayed
        assert cost < BILL_USD * 1.5, cost
    assert _dropped(f) == dropped + 1
    f.up.reset()
