"""Images are priced per model, by the provider's own rule: routing's cost estimate and context
check, and the budget's reservation (each model's ceiling), with the providers' published
figures (OpenAI's, Anthropic's and Google's vision pages)."""

from __future__ import annotations

import base64
import struct
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from arbiter import config, worst_case
from arbiter.errors import ConfigError
from arbiter.image_rules import ImageSpec, default_spec, parse
from arbiter.registry import Registry
from arbiter.routing import PoolModel, Router, RouteRequest, RouterParams
from arbiter.surfaces.openai_chat import parse_chat_request

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"
ENV = {"SIM_API_KEY": "sk-test", "ARBITER_ADMIN_KEY": "adm-test"}


def _png(w: int, h: int) -> str:
    head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", w, h)
    return "data:image/png;base64," + base64.b64encode(head + b"\x08\x06\x00\x00\x00" * 8).decode()


def test_openai_tile_models_match_the_published_examples() -> None:
    gpt4o = parse(default_spec("gpt-4o", "openai"))
    assert gpt4o.tokens(1024, 1024, "high") == 765
    assert gpt4o.tokens(2048, 4096, "high") == 1105  # 768 x 1536: 6 tiles
    assert gpt4o.tokens(4096, 8192, "low") == 85
    mini = parse(default_spec("gpt-4o-mini-2024-07-18", "openai"))
    assert mini.tokens(1024, 1024, "high") == 25_501  # 2,833 + 4 x 5,667
    assert mini.tokens(4096, 8192, "low") == 2_833
    assert parse(default_spec("gpt-5", "openai")).tokens(1024, 1024) == 70 + 4 * 140
    assert parse(default_spec("o3", "openai")).tokens(1024, 1024) == 75 + 4 * 150


def test_openai_patch_models_match_the_published_examples() -> None:
    raw = parse("patches:1")
    assert raw.tokens(1024, 1024) == 1024  # 32 x 32 patches, under the 1,536 cap
    assert raw.tokens(1800, 2400) == 1452  # scaled to 1056 x 1408: 33 x 44 patches
    assert raw.ceiling == 1536
    assert parse(default_spec("gpt-4.1-mini", "openai")).tokens(1024, 1024) == 1659  # x 1.62
    assert parse(default_spec("gpt-5-nano", "openai")).tokens(1024, 1024) == 2520  # x 2.46
    assert parse(default_spec("o4-mini", "openai")).tokens(1800, 2400) == 2498  # 1452 x 1.72


def test_anthropic_and_gemini_match_their_tables() -> None:
    claude = parse(default_spec("claude-sonnet-4-5", "anthropic"))
    assert claude.tokens(200, 200) == 54
    assert claude.tokens(1000, 1000) == 1334
    assert claude.tokens(1092, 1092) == 1590
    assert claude.tokens(8000, 8000) <= claude.ceiling <= 1640  # scaled down: ~1,600 at most
    assert default_spec("any-name", "anthropic") == "anthropic"  # the protocol says it
    gemini = parse(default_spec("gemini-2.5-flash", "openai"))
    assert gemini.tokens(384, 300) == 258
    assert gemini.tokens(1600, 900) == 258 * 3 * 2
    assert gemini.tokens(1024, 1024) == 258 * 4


def test_every_size_costs_at_most_the_ceiling() -> None:
    sizes = [(w, h) for w in (1, 300, 767, 768, 1024, 2048, 5000, 20_000) for h in (1, 768, 9000)]
    for spec in ("tiles:85:170", "tiles:2833:5667", "patches:2.46", "anthropic", "gemini"):
        rule = parse(spec)
        assert max(rule.tokens(w, h, d) for w, h in sizes for d in ("low", "high")) <= (
            rule.ceiling
        ), spec


def test_a_bad_rule_is_a_config_error_naming_the_key() -> None:
    text = EXAMPLE.read_text()
    ok = text.replace("[models.sim-tiny]\n", '[models.sim-tiny]\nimage_tokens = "flat:300"\n')
    assert ok != text
    s = config.loads(ok, env=ENV)
    assert s.models["sim-tiny"].image_rule.tokens(4000, 4000) == 300
    assert s.models["sim-small"].image_tokens == "tiles:85:170"  # the family default
    for bad in ('"tiles:85"', '"pixels"', '"flat:-1"', '"patches:x"'):
        broken = text.replace("[models.sim-tiny]\n", f"[models.sim-tiny]\nimage_tokens = {bad}\n")
        with pytest.raises(ConfigError, match=r"models\.sim-tiny\.image_tokens.*unknown image"):
            config.loads(broken, env=ENV)


def test_the_family_default_follows_the_upstream_model_and_protocol() -> None:
    text = EXAMPLE.read_text().replace(
        "[models.sim-tiny]\n", '[models.sim-tiny]\nupstream_model = "gpt-4o-mini"\n'
    )
    s = config.loads(text, env=ENV)
    assert s.models["sim-tiny"].image_tokens == "tiles:2833:5667"
    pool = {m.name: m for m in Registry(s.models, s.upstreams).pool()}
    assert pool["sim-tiny"].image_rule == parse("tiles:2833:5667")


def _pool(window: int = 200_000) -> list[PoolModel]:
    vision = frozenset({"chat", "vision"})
    return [
        PoolModel("mini", 0.15, 0.60, window, vision, {}, parse("tiles:2833:5667")),
        PoolModel("4o", 2.50, 10.0, 200_000, vision, {}, parse("tiles:85:170")),
    ]


def _image_request() -> RouteRequest:
    text = {"type": "text", "text": "What is in this picture?"}
    image = {"type": "image_url", "image_url": {"url": _png(1024, 1024)}}
    body = {"model": "auto", "messages": [{"role": "user", "content": [text, image]}]}
    req = parse_chat_request(orjson.dumps(body))
    assert req.images == (ImageSpec(1024, 1024, "auto"),)
    return RouteRequest("t", "vision", req.prompt_tokens, 10, images=req.images)


def test_routing_prices_each_models_images_by_its_rule() -> None:
    req = _image_request()
    router = Router(_pool(), RouterParams(baseline="4o"))
    costs = {c.model: c.est_cost_usd for c in router.decide(req).candidates}
    text = req.prompt_tokens
    assert costs["mini"] == pytest.approx(((text + 25_501) * 0.15 + 10 * 0.60) / 1e6)
    assert costs["4o"] == pytest.approx(((text + 765) * 2.50 + 10 * 10.0) / 1e6)
    assert costs["mini"] > 1.8 * costs["4o"] / 2.5 * 0.15 * 10  # not 4o's 765 at mini's price


def test_a_context_window_too_small_for_a_models_image_rules_it_out() -> None:
    req = _image_request()
    small = req.prompt_tokens + 765 + 100  # fits the image at 4o's rule, not at mini's
    decision = Router(_pool(window=small), RouterParams(baseline="4o")).decide(req)
    why = {c.model: c.why_not for c in decision.candidates}
    assert decision.chosen == "4o"
    assert why["mini"] is not None and why["mini"].startswith("context window")


UNREAD = "data:image/png;base64,AAAAAAAA"  # no header to read: its size is unknown
LINKED = "https://example.com/a.png"  # not fetched: its size is unknown


def _reserved(image: dict[str, object], flat: int | None = None) -> dict[str, int]:
    """What one image part adds to the reservation on sim-tiny (gpt-4o-mini's tiles) and
    sim-small (GPT-4o's)."""
    text = EXAMPLE.read_text().replace(
        "[models.sim-tiny]\n", '[models.sim-tiny]\nupstream_model = "gpt-4o-mini"\n'
    )
    s = config.loads(text, env=ENV)
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, image]}]}
    worst = worst_case.CallWorst(s.models.__getitem__, body, 10, flat)
    return {
        m: worst.prompt_on(s.models[m]) - worst.prompt_tokens for m in ("sim-tiny", "sim-small")
    }


def test_the_reservation_is_each_models_ceiling_or_the_operators_flat_figure() -> None:
    """An image whose size cannot be read (a linked one, an unreadable header) reserves the
    model's ceiling; `budgets.image_tokens` is every image's figure."""
    unread = {"type": "image_url", "image_url": {"url": UNREAD}}
    # 2,833 + 8 x 5,667 and 85 + 8 x 170
    assert _reserved(unread) == {"sim-tiny": 48_169, "sim-small": 1_445}
    linked = {"type": "image_url", "image_url": {"url": LINKED}}
    assert _reserved(linked) == {"sim-tiny": 48_169, "sim-small": 1_445}
    assert _reserved(unread, 2000) == {"sim-tiny": 2000, "sim-small": 2000}
    sized = {"type": "image_url", "image_url": {"url": _png(64, 64), "detail": "low"}}
    assert _reserved(sized, 2000) == {"sim-tiny": 2000, "sim-small": 2000}


def test_the_reservation_counts_an_image_by_its_detail_and_size_where_known() -> None:
    """OpenAI's low detail is a fixed count whatever the pixels; an inline image's header is
    the size the upstream decodes: each reserved at its rule's count, not the ceiling (was
    48,169 and 1,445 for every one of these)."""
    low = {"type": "image_url", "image_url": {"url": UNREAD, "detail": "low"}}
    assert _reserved(low) == {"sim-tiny": 2_833, "sim-small": 85}
    small = {"type": "image_url", "image_url": {"url": _png(512, 512)}}  # one tile
    assert _reserved(small) == {"sim-tiny": 2_833 + 5_667, "sim-small": 85 + 170}
    big = {"type": "image_url", "image_url": {"url": _png(1024, 1024), "detail": "high"}}
    assert _reserved(big) == {"sim-tiny": 25_501, "sim-small": 765}
    huge = {"type": "input_image", "image_url": _png(768, 2048)}  # 2 x 4 tiles: the ceiling
    assert _reserved(huge) == {"sim-tiny": 48_169, "sim-small": 1_445}


def test_an_unseen_files_api_image_counts_at_anthropics_rule() -> None:
    from arbiter.block_tokens import of_block

    image = {"type": "image", "source": {"type": "file", "file_id": "file_011"}}
    assert of_block("image file", image).tokens == 1399  # 1024 x 1024 / 750, not gpt-4o's 765


def test_a_pool_pricing_images_alike_keeps_the_native_pass_and_agrees_with_the_reference() -> None:
    req = _image_request()
    vision = frozenset({"chat", "vision"})
    pool = [
        PoolModel(f"m{i}", 0.5 * (i + 1), 2.0 * (i + 1), 200_000, vision, {}, parse("anthropic"))
        for i in range(4)
    ]
    fast = Router(pool, RouterParams(baseline="m3"), seed=3).decide(req)
    reference = Router(pool, RouterParams(baseline="m3"), seed=3).decide_reference(req)
    assert fast.chosen == reference.chosen
    costs = {c.model: c.est_cost_usd for c in fast.candidates}
    assert costs == pytest.approx({c.model: c.est_cost_usd for c in reference.candidates})
    assert costs["m0"] == pytest.approx(((req.prompt_tokens + 1399) * 0.5 + 10 * 2.0) / 1e6)


MINI = """
[models.vision-mini]
upstream = "sim"
upstream_model = "gpt-4o-mini"
price_in_per_mtok = 0.15
price_out_per_mtok = 0.60
context_window = 128000
capabilities = ["chat", "vision"]
"""


def _capped_call(tmp_path: Path, image: dict[str, Any]) -> tuple[httpx.Response, list[Any]]:
    """One chat call of vision-mini with `image` (up to 10 tokens out) under a $0.002 cap: the
    answer, and the bodies the upstream received."""
    import asyncio

    from tests.budget_harness import HEADERS, Harness, Scripted, settings

    content = [{"type": "text", "text": "What is this?"}, image]
    body = {"model": "vision-mini", "messages": [{"role": "user", "content": content}],
            "max_tokens": 10}  # fmt: skip

    async def main() -> tuple[httpx.Response, list[Any]]:
        up = Scripted()
        async with Harness(settings(tmp_path, 0.002, MINI), up) as h:
            r = await h.client.post("/v1/chat/completions", json=body, headers=HEADERS)
            return r, up.bodies

    return asyncio.run(main())


def test_a_capped_request_reserves_the_models_image_ceiling(tmp_path: Path) -> None:
    """gpt-4o-mini bills up to 48,169 tokens an image: a cap its old flat 2,000 fit under
    ($0.0003) but the image's ceiling does not ($0.0072) refuses before any call."""
    r, sent = _capped_call(tmp_path, {"type": "image_url", "image_url": {"url": LINKED}})
    assert r.status_code == 429, r.text  # the image's size unknown
    assert r.json()["error"]["code"] == "budget_exceeded"
    assert sent == []


@pytest.mark.parametrize(("url", "detail"), [(LINKED, "low"), (_png(512, 512), "auto")])
def test_a_capped_request_reserves_a_known_images_count(
    tmp_path: Path, url: str, detail: str
) -> None:
    """The same cap and model, the image low detail (2,833 tokens whatever its size) or a
    512 x 512 inline one (8,500): reserved at that ($0.0013 or less), the call is made; it was
    refused (429) at the ceiling's $0.0072."""
    image = {"type": "image_url", "image_url": {"url": url, "detail": detail}}
    r, sent = _capped_call(tmp_path, image)
    assert r.status_code == 200, r.text
    assert len(sent) == 1


def test_a_pool_pricing_images_apart_keeps_the_native_pass_and_agrees_with_the_reference() -> None:
    req = _image_request()
    vision = frozenset({"chat", "vision"})
    rules = [parse("tiles:85:170"), parse("tiles:2833:5667"), parse("anthropic"), parse("gemini")]
    pool = [
        PoolModel(f"m{i}", 0.1 + 0.3 * i, 0.4 + i, 200_000 if i != 5 else 20_000, vision, {},
                  rules[i % 4])
        for i in range(90)
    ]  # fmt: skip
    pool[5] = PoolModel("m5", 0.01, 0.02, req.prompt_tokens + 2_000, vision, {}, rules[1])
    for seed in range(5):
        fast = Router(pool, RouterParams(baseline="m89"), seed=seed).decide(req)
        reference = Router(pool, RouterParams(baseline="m89"), seed=seed).decide_reference(req)
        assert (fast.chosen, fast.fallbacks) == (reference.chosen, reference.fallbacks)
        ref = {c.model: (c.est_cost_usd, c.why_not) for c in reference.candidates}
        assert {
            c.model: (c.est_cost_usd, c.why_not) for c in fast.candidates if c.model in ref
        } == {m: ref[m] for m in ref if m in {c.model for c in fast.candidates}}
    why = {c.model: c.why_not for c in fast.candidates}
    assert (why.get("m5") or "").startswith("context window")  # 25,501 image tokens on its rule
