"""The learnt prompt count is a line, `fixed + ratio x o200k` (prompt_ratio.py). It was a ratio:
an Anthropic model called with tools bills its tool-use system prompt (346 tokens on Claude) on
top of every prompt, so a 30-token prompt billed 376 read as a 12x ratio (held at the 4x
ceiling) and every later prompt was reserved at 4x its count: a 3,000-token prompt held as
12,000, over-cautious holds and extra 429s near a cap. Fitted as a line over the window, the
fixed part is the tool prompt and the ratio the tokenizer's; the line still lies above every
call it saw (never under-reserving those)."""

from __future__ import annotations

import asyncio
import math
import random
from pathlib import Path
from typing import ClassVar

import orjson

from arbiter.config import ModelSettings
from arbiter.offline.demo import API_KEY_ENV
from arbiter.prompt_ratio import CEILING, ONE, PromptRatios, fit_line
from arbiter.worst_case import CallWorst
from tests.inproc import sidecar_in_process
from tests.scripted_upstream import ScriptedHandler, serving

TOOL_PROMPT = 346  # Anthropic's tool-use system prompt (auto tool_choice), billed as input
CLAUDE = "claude-tools"
CAP = '\n[[budgets.caps]]\nscope = "tenant"\nlimit_usd = 50\nwindow = "total"\n'
CITY = {"type": "object", "properties": {"city": {"type": "string"}}}
TOOLS = [{"name": "get_weather", "description": "The weather in a city.", "input_schema": CITY}]


def test_a_fixed_overhead_is_a_fixed_part_not_a_ratio() -> None:
    r = PromptRatios()
    rng = random.Random(7)
    seen = []
    for _ in range(40):
        counted = rng.randint(20, 400)
        billed = TOOL_PROMPT + math.ceil(counted * 1.1)
        r.observe("m", counted, billed)
        seen.append((counted, billed))
    fit = r.fit("m")
    assert 300 <= fit.fixed <= 400 and 1.0 <= fit.ratio <= 1.2, fit
    assert all(r.tokens("m", c) >= y for c, y in seen)  # never under what it saw
    assert r.tokens("m", 3000) < 3700  # was 4 x 3000: the ratio of the shortest call


def test_a_pure_ratio_stays_a_ratio_and_nothing_learnt_is_o200k() -> None:
    r = PromptRatios()
    assert r.fit("m") == ONE and r.tokens("m", 500) == 500
    for counted in (100, 400, 900, 2000):
        r.observe("m", counted, math.ceil(counted * 1.3))
    fit = r.fit("m")
    assert fit.ratio >= 1.29 and fit.fixed <= 2, fit
    r.observe("n", 100, 80)  # the upstream counted shorter: ours already covers it
    assert r.tokens("n", 100) == 100


def test_the_line_covers_every_point_of_noisy_windows() -> None:
    rng = random.Random(11)
    for _ in range(200):
        fixed, ratio = rng.uniform(0, 2000), rng.uniform(1.0, 2.5)
        pts = [(c := rng.randint(1, 5000), max(1, int(fixed + ratio * c * rng.uniform(0.8, 1.2))))
               for _ in range(rng.randint(1, 64))]  # fmt: skip
        fit = fit_line([(c, max(c, y)) for c, y in pts])
        assert 1.0 <= fit.ratio <= CEILING and fit.fixed >= 0
        assert all(fit.at(c) >= max(c, y) for c, y in pts), (fit, pts)


def test_call_worst_reserves_the_line() -> None:
    m = ModelSettings(name="m", upstream="u", price_in_per_mtok=1e6, price_out_per_mtok=0.0)
    body = {"messages": [{"role": "user", "content": "hello there " * 50}]}
    plain = CallWorst(lambda _: m, body, 10, None)
    r = PromptRatios()
    worst = CallWorst(lambda _: m, body, 10, None, learnt=r.tokens)
    assert worst("m") == plain("m")
    r.observe("m", 10, 10 + TOOL_PROMPT)
    r.observe("m", 1000, 1000 + TOOL_PROMPT)
    assert worst("m") == plain("m") + TOOL_PROMPT  # $1 a token


class _Claude(ScriptedHandler):
    """An Anthropic upstream that bills its tool prompt with each request that sends tools, and
    the prompt's text at about a token per 4 characters."""

    billed: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        body = self.read_json()
        chars = sum(len(orjson.dumps(m["content"])) for m in body["messages"])
        billed = math.ceil(chars / 4) + (TOOL_PROMPT if body.get("tools") else 0)
        _Claude.billed.append(billed)
        self.answer(orjson.dumps({
            "id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
            "content": [{"type": "text", "text": "Sunny."}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": billed, "output_tokens": 2},
        }))  # fmt: skip


def test_a_tool_using_anthropic_upstream_teaches_its_fixed_part(tmp_path: Path) -> None:
    with serving(_Claude) as url:

        def edit(text: str) -> str:
            return (
                text
                + CAP
                + (
                    f'\n[upstreams.claude]\nbase_url = "{url.removesuffix("/v1")}"\n'
                    f'protocol = "anthropic"\napi_key_env = "{API_KEY_ENV}"\n\n'
                    f'[models.{CLAUDE}]\nupstream = "claude"\nupstream_model = "claude-x"\n'
                    "price_in_per_mtok = 3.0\nprice_out_per_mtok = 15.0\ncontext_window = 200000\n"
                    'capabilities = ["chat", "tools"]\n'
                )
            )

        async def main() -> None:
            async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
                rng = random.Random(3)
                for i in range(12):
                    words = " ".join(f"city{i}x{j}" for j in range(rng.randint(3, 120)))
                    r = await sc.client.post(
                        "/v1/messages",
                        json={"model": CLAUDE, "max_tokens": 50, "tools": TOOLS,
                              "messages": [{"role": "user", "content": f"Weather? {words}"}]},
                        headers=sc.anthropic,
                    )  # fmt: skip
                    assert r.status_code == 200, r.text
                ratios = sc.services.prompt_ratios
                for _ in range(100):  # learnt as the answer is priced: at most 5 s
                    if len(ratios._seen.get(CLAUDE, ())) >= 12:
                        break
                    await asyncio.sleep(0.05)
                fit = ratios.fit(CLAUDE)
                assert fit.fixed >= 250 and fit.ratio < 2.0, fit
                seen = list(ratios._seen[CLAUDE])
                assert [y for _, y in seen] == _Claude.billed[-12:]
                assert all(ratios.tokens(CLAUDE, c) >= y for c, y in seen)
                assert ratios.tokens(CLAUDE, 3000) < 2 * 3000 + 400  # a ratio's: 12,000

        asyncio.run(main())
