"""`temperature` with `top_p` to a model that refuses the pair (Claude 4.5: the
`temperature-or-top-p` capability, sampling.py). Named, it is the caller's 400 naming the
conflict, in the surface's shape (the official SDKs raise BadRequestError), before any upstream
call or reservation; under `auto` such a model is not eligible (the decision says why) and
another serves it. The sim's Claude model answers that request with Anthropic's own 400, as the
real one does, so before the fix the call reached it and failed there."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import anthropic
import openai
import pytest

from arbiter import sampling
from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import sdks

CLAUDE = "sim-medium"  # served over Anthropic's API, refusing the pair as Claude 4.5 does
ASK = [{"role": "user", "content": "Say hello in one short sentence."}]
BOTH = {"temperature": 0.7, "top_p": 0.9}


def _capabilities(text: str, name: str, caps: str) -> str:
    i = text.index("capabilities = ", text.index(f"[models.{name}]\n"))
    return text[:i] + f"capabilities = {caps}" + text[text.index("\n", i) :]


def one_sampler_claude(text: str) -> str:
    return _capabilities(text, CLAUDE, '["chat", "json", "tools", "temperature-or-top-p"]')


def refusing_sim(text: str) -> str:
    head = f"[models.{CLAUDE}]\n"
    return text.replace(head, head + "one_sampler = true\n", 1)


def run(
    tmp_path: Path,
    body: Callable[[InProcess], Awaitable[None]],
    edit_config: Callable[[str], str] = one_sampler_claude,
) -> None:
    async def main() -> None:
        async with sidecar_in_process(
            tmp_path, anthropic_models=(CLAUDE,), edit_config=edit_config, edit_sim=refusing_sim
        ) as sc:
            await body(sc)

    asyncio.run(main())


def _sim_requests(sc: InProcess, model: str) -> int:
    stats = sc.sim.state.stats[model]
    return stats.requests


def test_naming_such_a_model_with_both_is_a_400_on_both_surfaces(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, gpt):
            with pytest.raises(anthropic.BadRequestError) as refused:
                await claude.messages.create(  # this SDK has no sampling arguments: extra_body
                    model=CLAUDE, max_tokens=50, messages=ASK,  # type: ignore[arg-type]
                    extra_body=BOTH,
                )  # fmt: skip
            error = refused.value.body["error"]  # type: ignore[index]
            assert error["type"] == "invalid_request_error"
            assert "`temperature` and `top_p`" in error["message"]
            assert sampling.ONE_SAMPLER in error["message"]
            with pytest.raises(openai.BadRequestError) as refused_oai:
                await gpt.chat.completions.create(
                    model=CLAUDE, messages=ASK, temperature=0.7, top_p=0.9,  # type: ignore[arg-type]
                )  # fmt: skip
            assert refused_oai.value.param == "top_p"
            assert "`temperature` and `top_p`" in refused_oai.value.message
            # nothing reached the upstream (nor was reserved for it: the plan refused it)
            assert _sim_requests(sc, CLAUDE) == 0
            budgets = (await sc.client.get("/arbiter/budgets", headers=sc.admin)).json()["data"]
            assert all(row["reserved_usd"] == 0 for row in budgets)
            # one of the two is what the model takes: served
            for one in ({"temperature": 0.7}, {"top_p": 0.9}):
                answer = await claude.messages.create(
                    model=CLAUDE, max_tokens=50, messages=ASK,  # type: ignore[arg-type]
                    extra_body=one,
                )  # fmt: skip
                assert answer.content
                chat = await gpt.chat.completions.create(
                    model=CLAUDE, messages=ASK, **one,  # type: ignore[arg-type]
                )  # fmt: skip
                assert chat.choices[0].message.content
            assert _sim_requests(sc, CLAUDE) == 4

    run(tmp_path, body)


def test_auto_routes_both_to_a_model_that_takes_them(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        sent = [
            ("/v1/messages", {"model": "auto", "max_tokens": 50, "messages": ASK, **BOTH}),
            ("/v1/chat/completions", {"model": "auto", "messages": ASK, **BOTH}),
        ]
        for path, req in sent * 3:
            r = await sc.client.post(path, json=req, headers=sc.auth_for(path))
            assert r.status_code == 200, r.text
            assert r.headers["x-arbiter-model"] != CLAUDE
            decision = r.headers["x-arbiter-decision-id"]
            row = (await sc.client.get(f"/arbiter/decisions/{decision}", headers=sc.admin)).json()
            why = {c["model"]: c["why_not"] for c in row["candidates"] if not c["eligible"]}
            assert why.get(CLAUDE) == sampling.WHY
        assert _sim_requests(sc, CLAUDE) == 0
        # one of them only: the Claude model is eligible again
        r = await sc.client.post(
            "/v1/chat/completions",
            json={"model": "auto", "messages": ASK, "temperature": 0.2, "top_p": None},
            headers=sc.auth,
        )
        row = (
            await sc.client.get(
                f"/arbiter/decisions/{r.headers['x-arbiter-decision-id']}", headers=sc.admin
            )
        ).json()
        assert all(c["eligible"] for c in row["candidates"] if c["model"] == CLAUDE)

    run(tmp_path, body)


def test_auto_when_every_model_refuses_the_pair_is_a_400(tmp_path: Path) -> None:
    def every_model(text: str) -> str:
        for name in ("sim-tiny", "sim-small", "sim-medium", "sim-premium"):
            text = _capabilities(text, name, '["chat", "temperature-or-top-p"]')
        return text

    async def body(sc: InProcess) -> None:
        r = await sc.client.post(
            "/v1/messages",
            json={"model": "auto", "max_tokens": 50, "messages": ASK, **BOTH},
            headers=sc.anthropic,
        )
        assert r.status_code == 400, r.text
        assert r.json()["error"]["type"] == "invalid_request_error"
        assert sampling.WHY in r.json()["error"]["message"]
        r = await sc.client.post(
            "/v1/chat/completions", json={"model": "auto", "messages": ASK, **BOTH},
            headers=sc.auth,
        )  # fmt: skip
        assert r.status_code == 400 and r.json()["error"]["code"] == "no_capable_model"

    run(tmp_path, body, every_model)


def test_check_config_warns_of_a_claude_model_without_the_capability(tmp_path: Path) -> None:
    from arbiter.config_warnings import config_warnings
    from tests.budget_harness import settings

    def warned(upstream_model: str, caps: str) -> list[str]:
        extra = (f'[models.claude]\nupstream = "sim"\nprice_in_per_mtok = 3.0\n'
                 f'price_out_per_mtok = 15.0\nupstream_model = "{upstream_model}"\n'
                 f"capabilities = {caps}\n")  # fmt: skip
        found = config_warnings(settings(tmp_path, None, extra))
        return [w for w in found if sampling.ONE_SAMPLER in w]

    for name in ("claude-sonnet-4-5-20250929", "anthropic.claude-haiku-4-5-20251001-v1:0",
                 "anthropic/claude-opus-4.5", "claude-opus-4-1"):  # fmt: skip
        (warning,) = warned(name, '["chat"]')
        assert warning.startswith("models.claude:") and name in warning
        assert warned(name, '["chat", "temperature-or-top-p"]') == []
    for name in ("claude-3-7-sonnet-20250219", "claude-sonnet-4-20250514", "gpt-4.5-preview"):
        assert warned(name, '["chat"]') == []


def test_a_shadow_call_is_not_sent_with_a_pair_its_challenger_refuses(tmp_path: Path) -> None:
    """The challenger refuses temperature with top_p: a shadow call of a request setting both
    was sent anyway, a guaranteed 400 (billed as a failed call, counted as `failed`). It is now
    skipped, and the skip counted as `temperature_or_top_p`; a request with one of them is
    still shadowed to it."""

    def edit(text: str) -> str:
        return one_sampler_claude(text) + (
            f'\n[shadow]\nchallengers = ["{CLAUDE}"]\nsample_rate = 1.0\nbudget_usd = 10.0\n'
            "auto_promote = false\n"
        )

    async def body(sc: InProcess) -> None:
        shadow = sc.services.shadow
        for extra in (BOTH, {"temperature": 0.7}):
            r = await sc.client.post(
                "/v1/chat/completions",
                json={"model": "auto", "messages": ASK, "max_tokens": 50, **extra},
                headers=sc.auth,
            )
            assert r.status_code == 200, r.text
            assert r.headers["x-arbiter-model"] != CLAUDE
            await shadow.drain()
            if extra is BOTH:
                assert _sim_requests(sc, CLAUDE) == 0, "the refused pair was sent to it"
                assert shadow.skipped.get("temperature_or_top_p") == 1, shadow.skipped
        assert _sim_requests(sc, CLAUDE) == 1  # the second request's shadow call
        assert "failed" not in shadow.skipped, shadow.skipped

    run(tmp_path, body, edit_config=edit)
