"""probe23b: a stream the upstream resets after each of its frames in turn (OpenAI with its
usage chunk, Anthropic), through the official SDKs: each request is one decision, charged once,
never under what the upstream billed for it and never over its calls' worst cases; once the
usage has come (the last frames) the charge is that bill exactly, though the stream failed."""

from __future__ import annotations

import time
from pathlib import Path

import anthropic
import openai
import pytest

from tests.probe22b_rig import Fleet, fleet

FRAMES = 14  # past the longest stream's last frame: the later cuts are whole answers
HI = [{"role": "user", "content": "hi"}]
WORST_USD = 0.05  # one call's: 20 output tokens at $2,000/M and the prompt's ~$0.009


def _stream(f: Fleet, key: str, model: str) -> None:
    try:
        if model == "an-1":
            with (
                anthropic.Anthropic(api_key=key, base_url=f.first.root_url, max_retries=0) as c,
                c.messages.stream(model=model, max_tokens=20, messages=HI) as s,  # type: ignore[arg-type]
            ):
                for _ in s:
                    pass
            return
        with openai.OpenAI(api_key=key, base_url=f.first.base_url, max_retries=0) as c:
            chunks = c.chat.completions.create(
                model=model, messages=HI, max_tokens=20, stream=True,  # type: ignore[arg-type]
                stream_options={"include_usage": True},
            )  # fmt: skip
            for _ in chunks:
                pass
    except (openai.APIError, anthropic.APIError):
        pass  # the cut, as the client sees it


@pytest.mark.parametrize("model", ["oa-1", "an-1"])
def test_a_stream_cut_after_each_frame_is_billed_once(tmp_path: Path, model: str) -> None:
    caps = [{"scope": "tenant", "limit_usd": 100.0, "window": "total"}]
    with fleet(tmp_path, "sqlite", caps) as f:
        key = str(f.first.create_key("t")["key"])
        # WORST_USD is the prompt counted by the tokenizer: on a loaded host its tables may not
        # be built yet at the first request, which then counts the prompt's bytes, $0.053 a
        # call (tokenizer_load.py); count_tokens answers once they are
        with anthropic.Anthropic(api_key=key, base_url=f.first.root_url, max_retries=0) as c:
            c.messages.count_tokens(model="an-1", messages=HI)  # type: ignore[arg-type]
        spent, billed = 0.0, 0.0
        for at in range(FRAMES):
            f.up.script[model] = f"reset@{at}"
            calls = len(f.up.calls)
            _stream(f, key, model)
            deadline = time.monotonic() + 10
            while len(decisions := f.decisions()) == at:  # written behind the answer
                assert time.monotonic() < deadline, at
                time.sleep(0.05)
            assert len(decisions) == at + 1, at  # one decision a request
            now = f.settled()["tenant:t"][0]
            charge, bill = now - spent, f.billed_usd() - billed
            spent, billed = now, f.billed_usd()
            assert charge == pytest.approx(float(decisions[0]["cost_usd"]), abs=1e-9), at
            assert charge >= bill - 1e-9, (at, charge, bill)
            # an early cut is retried: each call's worst case at most
            assert charge <= WORST_USD * (len(f.up.calls) - calls) + 1e-9, (at, charge)
            if at >= FRAMES - 3:  # whole: the upstream's usage is the charge
                assert decisions[0]["status"] == "ok", at
                assert charge == pytest.approx(bill, abs=1e-9), at
