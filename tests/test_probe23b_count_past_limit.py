"""probe23b: an upstream whose usage counts more output than the call could generate. Counts
were believed up to 10^8 tokens: a call sent max_tokens 20 (its worst case $0.049) whose answer
said completion_tokens 10^7 was charged $20,000.011, a tenant's $1.00 cap passed by 400,000
worst cases and the tenant locked out. No server generates past the output limit it was sent
(every choice's, reasoning and thinking included), so such a count is no count: the answer is
priced from what it relayed (dropped_usage.py), with the operator's usage_dropped, as an
absurd count is; so is a prompt count past 4x the model's context window (10^7 said of "hi"
was charged $10,000). Whole and streamed, OpenAI and Anthropic protocols, pass-through
completions."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from tests.fault_upstream import PROMPT_TOKENS
from tests.probe19a_harness import PRICES
from tests.probe22b_rig import Fleet
from tests.probe23b_rig import (
    MAX_TOKENS,
    cost_under_fault,
    new_cost,
    one_sidecar,
    usage_dropped_total,
)

__all__ = ["one_sidecar"]  # the module's sidecar (a fixture)

WORST_USD = 0.06  # the prompt and 20 output tokens, with room for the learnt ratio


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("model", ["oa-1", "an-1"])
@pytest.mark.parametrize("fault", ["pastlimit", "pastwindow"])  # 10^7 output / prompt tokens
def test_a_count_past_what_the_call_could_bill_is_no_count(
    one_sidecar: tuple[Fleet, str], fault: str, model: str, stream: bool
) -> None:
    f, key = one_sidecar
    cost, dropped = cost_under_fault(f, key, model, fault, stream)
    # priced from the answer it relayed: 5 tokens, on the prompt
    assert PROMPT_TOKENS * PRICES[model][0] / 1e6 < cost < WORST_USD, cost
    assert cost <= (PROMPT_TOKENS * PRICES[model][0] + MAX_TOKENS * PRICES[model][1]) / 1e6
    assert dropped == 1
    f.up.reset()


def test_a_pass_through_completion_past_its_limit_is_no_count(
    one_sidecar: tuple[Fleet, str],
) -> None:
    f, key = one_sidecar
    dropped, seen = usage_dropped_total(f), len(f.decisions())
    f.up.reset(oa_1="pastlimit")
    with openai.OpenAI(api_key=key, base_url=f.first.base_url, max_retries=0) as gpt:
        assert gpt.completions.create(model="oa-1", prompt="hi", max_tokens=MAX_TOKENS).choices
    cost = new_cost(f, seen)
    # its prompt as the budget counts "hi" (1 token) and the answer's 5: $0.011
    assert 5 * PRICES["oa-1"][1] / 1e6 < cost < WORST_USD, cost
    assert usage_dropped_total(f) == dropped + 1
    f.up.reset()


@pytest.mark.parametrize("fault", ["pastlimit", "pastwindow"])
def test_the_client_reads_the_counts_it_was_billed_by(
    one_sidecar: tuple[Fleet, str], fault: str
) -> None:
    """Billed from Arbiter's counts, the answer still showed the client the upstream's (10^7
    output tokens said of a call sent max_tokens 20), on chat and pass-through completions,
    whole and streamed. Now each shows the counts it was billed by, as for a count that is no
    count (relayed_usage.py), and so do Anthropic's Messages; a usage within the limits is
    relayed as it came (the control)."""
    f, key = one_sidecar
    hi: Any = [{"role": "user", "content": "hi"}]
    with openai.OpenAI(api_key=key, base_url=f.first.base_url, max_retries=0) as gpt:
        for told in (fault, "ok"):
            f.up.reset(oa_1=told)
            shown = [
                gpt.chat.completions.create(model="oa-1", messages=hi, max_tokens=MAX_TOKENS).usage,
                gpt.completions.create(model="oa-1", prompt="hi", max_tokens=MAX_TOKENS).usage,
                *(c.usage for c in gpt.chat.completions.create(
                    model="oa-1", messages=hi, max_tokens=MAX_TOKENS, stream=True,
                    stream_options={"include_usage": True}) if c.usage),
                *(c.usage for c in gpt.completions.create(
                    model="oa-1", prompt="hi", max_tokens=MAX_TOKENS, stream=True,
                    stream_options={"include_usage": True}) if c.usage),
            ]  # fmt: skip
            assert len(shown) == 4, shown
            for usage in shown:
                assert usage is not None
                if told == "ok":  # the upstream's own, relayed
                    assert (usage.prompt_tokens, usage.completion_tokens) == (PROMPT_TOKENS, 7)
                else:
                    assert 0 < usage.completion_tokens <= MAX_TOKENS, usage
                    assert 0 < usage.prompt_tokens < 1000, usage
    _messages_show_billed_counts(f, key, "an-1", fault)  # Anthropic's Messages, the same


@pytest.mark.parametrize("fault", ["pastlimit", "pastwindow"])
def test_a_responses_answer_shows_the_counts_it_was_billed_by(
    one_sidecar: tuple[Fleet, str], fault: str
) -> None:
    """The Responses API's answer is re-encoded from the canonical form: its usage showed the
    upstream's counts past what the call could bill (10^7 output tokens of a call sent
    max_output_tokens 20), whole and streamed, on either protocol's upstream; and so did chat
    and Messages translated from the other protocol. Now the counts it was billed by; a usage
    within the limits is shown as the upstream counted it (the control)."""
    f, key = one_sidecar
    hi: Any = [{"role": "user", "content": "hi"}]
    with openai.OpenAI(api_key=key, base_url=f.first.base_url, max_retries=0) as gpt:
        for model in ("oa-1", "an-1"):
            for told in (fault, "ok"):
                f.up.reset(**{model.replace("-", "_"): told})
                whole = gpt.responses.create(model=model, input="hi", max_output_tokens=MAX_TOKENS)
                with gpt.responses.stream(
                    model=model, input="hi", max_output_tokens=MAX_TOKENS
                ) as s:
                    streamed = s.get_final_response()
                shown = [(r.usage.input_tokens, r.usage.output_tokens)
                         for r in (whole, streamed) if r.usage is not None]  # fmt: skip
                if model == "an-1":  # chat translated from an Anthropic upstream
                    chat = gpt.chat.completions.create(
                        model=model, messages=hi, max_tokens=MAX_TOKENS
                    ).usage
                    assert chat is not None
                    shown.append((chat.prompt_tokens, chat.completion_tokens))
                    shown += [(c.usage.prompt_tokens, c.usage.completion_tokens)
                              for c in gpt.chat.completions.create(
                                  model=model, messages=hi, max_tokens=MAX_TOKENS, stream=True,
                                  stream_options={"include_usage": True}) if c.usage]  # fmt: skip
                assert len(shown) == (4 if model == "an-1" else 2), shown
                for counts in shown:
                    if told == "ok":
                        assert counts == (PROMPT_TOKENS, 7), (model, counts)
                    else:
                        assert 0 < counts[1] <= MAX_TOKENS and 0 < counts[0] < 1000, (model, counts)
    _messages_show_billed_counts(f, key, "oa-1", fault)  # translated from an OpenAI upstream


def _messages_show_billed_counts(f: Fleet, key: str, model: str, fault: str) -> None:
    """Messages from `model`, whole and streamed: the counts billed when its upstream says
    `fault`, its own counts when it answers well (the control)."""
    hi: Any = [{"role": "user", "content": "hi"}]
    with anthropic.Anthropic(api_key=key, base_url=f.first.root_url, max_retries=0) as claude:
        for told in (fault, "ok"):
            f.up.reset(**{model.replace("-", "_"): told})
            whole = claude.messages.create(model=model, max_tokens=MAX_TOKENS, messages=hi)
            with claude.messages.stream(model=model, max_tokens=MAX_TOKENS, messages=hi) as st:
                streamed = st.get_final_message()
            for msg in (whole, streamed):
                counts = (msg.usage.input_tokens, msg.usage.output_tokens)
                if told == "ok":
                    assert counts == (PROMPT_TOKENS, 7), counts
                else:
                    assert 0 < counts[1] <= MAX_TOKENS and 0 < counts[0] < 1000, counts
    f.up.reset()
