"""`durability = "strict"` and a store that refuses the decision's commit: the client gets the
"not recorded, retry" 503, but the request was answered upstream, its spend settled, and its
decision is written from the recorder's backlog once the store is back. The 503 carried no
`x-arbiter-decision-id` (nor what the request cost), so the caller could not find the charge it
was billed for. It now carries the decision headers a 200 carries, naming the decision that is
later written. A pass-through call (/v1/completions) whose strict commit failed was never
settled at all (its settle came after the commit): its worst case stayed reserved; it is now
settled before the commit, as chat's is. The official openai SDK (chat, /v1/completions) and
anthropic SDK (/v1/messages) as clients, both stores, the fault at the store boundary
(test_recorder's FlakyStore)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from arbiter.store import Store
from tests.adversarial.test_strict_commit_failed_e2e import CAP, _store_url
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks
from tests.store.test_recorder import FlakyStore
from tests.waiting import until_async

pytestmark = pytest.mark.timeout(120)

HI = [{"role": "user", "content": "Say hi."}]


def _decisions(store: Store) -> dict[str, dict[str, Any]]:
    return {d["id"]: d for d in store.iter_decisions(since=0.0, tenant=None)}


async def _chat(claude: anthropic.AsyncAnthropic, gpt: openai.AsyncOpenAI) -> Any:
    return await gpt.chat.completions.create(model="sim-premium", messages=HI)  # type: ignore[arg-type]


async def _completions(claude: anthropic.AsyncAnthropic, gpt: openai.AsyncOpenAI) -> Any:
    return await gpt.completions.create(model="sim-premium", prompt="Say hi.", max_tokens=20)


async def _messages(claude: anthropic.AsyncAnthropic, gpt: openai.AsyncOpenAI) -> Any:
    return await claude.messages.create(model="sim-premium", max_tokens=50, messages=HI)  # type: ignore[arg-type]


Ask = Callable[[anthropic.AsyncAnthropic, openai.AsyncOpenAI], Awaitable[Any]]


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
@pytest.mark.parametrize("ask", [_chat, _completions, _messages], ids=lambda f: f.__name__)
def test_a_strict_503_names_the_decision_it_charged(tmp_path: Path, backend: str, ask: Ask) -> None:
    with _store_url(backend) as url:

        def config(text: str) -> str:
            lines = [
                (f'url = "{url}"\n' if url else line + "\n") + 'durability = "strict"'
                if line.startswith("url = ")
                else line
                for line in text.splitlines()
            ]
            return (
                "\n".join(lines).replace("judge_sample_rate = 1.0", "judge_sample_rate = 0.0") + CAP
            )

        async def main() -> None:
            async with sidecar_in_process(tmp_path, edit_config=config) as sc:
                store = sc.services.store
                flaky = FlakyStore(store)
                sc.services.recorder._store = flaky  # type: ignore[assignment]
                async with sdks(sc) as (claude, gpt):
                    flaky.down = True  # writes fail: the strict commit's and the recorder's
                    with pytest.raises((openai.APIStatusError, anthropic.APIStatusError)) as got:
                        await ask(claude, gpt)
                    flaky.down = False
                err = got.value
                assert err.status_code == 503, err
                headers = err.response.headers
                decision_id = headers.get("x-arbiter-decision-id")
                assert decision_id, dict(headers)  # before: no header on the 503
                await until_async(
                    lambda: decision_id in _decisions(store),
                    "the refused commit's decision was written",
                    timeout_s=20.0,
                )
                row = _decisions(store)[decision_id]
                assert float(headers["x-arbiter-cost-usd"]) == pytest.approx(
                    row["cost_usd"], abs=1e-8
                )
                assert row["cost_usd"] > 0 and headers["x-arbiter-model"] == "sim-premium"
                # and it was charged once, nothing left reserved (pass-through settled nothing)
                budgets = sc.services.budgets
                await until_async(lambda: not budgets.unsettled, "spend settled", 10.0)
                (cap,) = (await sc.client.get("/arbiter/budgets", headers=sc.admin)).json()["data"]
                assert cap["spent_usd"] == pytest.approx(row["cost_usd"], rel=1e-9), cap
                assert cap["reserved_usd"] == pytest.approx(0.0, abs=1e-12), cap

        asyncio.run(main())
