"""Upstream model listings (listing.py): the common shapes parsed, bad entries skipped and counted,
include/exclude globs, and the registry's merge of discovered models under config and overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter.config import ModelSettings, UpstreamSettings
from arbiter.listing import Listed, glob_match, parse_page, selected
from arbiter.priors import PriorBook, parse
from arbiter.registry import Registry
from arbiter.store.discovered import DiscoveredRow


def _one(entry: dict[str, object]) -> Listed:
    page = parse_page({"data": [entry]})
    assert page.skipped == 0 and len(page.models) == 1, page
    return page.models[0]


def test_openai_listing_gives_ids_only() -> None:
    m = _one({"id": "gpt-4o-mini", "object": "model", "created": 1, "owned_by": "openai"})
    assert m == Listed("gpt-4o-mini", capabilities=frozenset({"chat"}))
    assert not m.priced


def test_openrouter_listing_per_token_price_strings_context_and_modalities() -> None:
    m = _one({
        "id": "openai/gpt-4o", "context_length": 128000,
        "pricing": {"prompt": "0.0000025", "completion": "0.00001", "image": "0.003613"},
        "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["text"]},
        "top_provider": {"context_length": 128000, "max_completion_tokens": 16384},
        "supported_parameters": ["tools", "response_format", "temperature"],
    })  # fmt: skip
    assert (m.price_in_per_mtok, m.price_out_per_mtok) == (2.5, 10.0)
    assert (m.context_window, m.max_output_tokens) == (128000, 16384)
    # gpt-4o takes logprobs, not reasoning; a listing that leaves a parameter out marks it so
    assert m.capabilities == {"chat", "vision", "tools", "json", "no-logprobs",
                              "no-reasoning-effort"}  # fmt: skip


def test_a_parameter_openrouter_leaves_out_is_marked_and_kept_when_stored() -> None:
    """prov26: OpenRouter's `supported_parameters` without `logprobs` / `reasoning` mark the
    model `no-logprobs` / `no-reasoning-effort` (model_params.py: `auto` then sends such a
    request elsewhere), and the stored form keeps a marker: `to_json` wrote it, `from_json`
    dropped every one (Anthropic's `no-thinking` too), so a discovered Claude 3 Haiku was
    routed extended thinking once its listing came back from the store."""
    m = _one({"id": "o3", "supported_parameters": ["tools", "reasoning", "include_reasoning"]})
    assert m.capabilities == {"chat", "tools", "no-logprobs"}
    m = _one({"id": "g", "supported_parameters": ["logprobs", "top_logprobs", "reasoning"]})
    assert m.capabilities == {"chat"}
    haiku = _one({"id": "h", "capabilities": {"thinking": {"supported": False}}})
    for listed in (m, haiku, _one({"id": "o3", "supported_parameters": ["tools"]})):
        assert Listed.from_json(listed.id, listed.to_json()) == listed


def test_schema_constrained_decoding_is_the_json_schema_capability() -> None:
    """OpenRouter's `structured_outputs`, LiteLLM's `supports_response_schema` and Anthropic's
    `structured_outputs` capability: strict schemas (`json-schema`); `response_format` alone is
    JSON mode (`json`)."""
    schema = {"chat", "json", "json-schema"}
    markers = {"no-logprobs", "no-reasoning-effort"}  # OpenRouter's list names neither
    params = {"id": "a", "supported_parameters": ["structured_outputs"]}
    assert _one(params).capabilities == schema | markers
    assert _one({"id": "b", "supports_response_schema": True}).capabilities == schema
    anthropic_caps = {"structured_outputs": {"supported": True}}
    assert _one({"id": "c", "capabilities": anthropic_caps}).capabilities == schema
    assert _one(
        {"id": "d", "capabilities": {"structured_outputs": {"supported": False}}}
    ) == Listed("d", capabilities=frozenset({"chat"}))


def test_per_million_fields_and_together_pricing() -> None:
    m = _one({"id": "a", "input_cost_per_million": 0.15, "output_cost_per_million": "0.6"})
    assert (m.price_in_per_mtok, m.price_out_per_mtok) == (0.15, 0.6)
    m = _one({"id": "b", "input_price_per_mtok": 3, "output_price_per_mtok": 15})
    assert (m.price_in_per_mtok, m.price_out_per_mtok) == (3.0, 15.0)
    m = _one({"id": "c", "context_length": 32768, "pricing": {"input": 0.2, "output": 0.2}})
    assert (m.price_in_per_mtok, m.price_out_per_mtok, m.context_window) == (0.2, 0.2, 32768)


def test_litellm_model_info_shape() -> None:
    m = _one({
        "model_name": "claude-3-5-haiku",
        "model_info": {"input_cost_per_token": 8e-7, "output_cost_per_token": 4e-6,
                       "max_input_tokens": 200000, "max_output_tokens": 8192,
                       "supports_vision": True, "supports_function_calling": True},
    })  # fmt: skip
    assert m.id == "claude-3-5-haiku"
    assert (m.price_in_per_mtok, m.price_out_per_mtok) == (0.8, 4.0)
    assert (m.context_window, m.max_output_tokens) == (200000, 8192)
    assert m.capabilities == {"chat", "vision", "tools"}


def test_anthropic_page_with_paging_and_capabilities() -> None:
    page = parse_page({
        "data": [
            {"type": "model", "id": "claude-sonnet-4-20250514", "display_name": "Claude Sonnet 4",
             "created_at": "2025-05-22T00:00:00Z", "max_input_tokens": 200000, "max_tokens": 64000,
             "capabilities": {"image_input": {"supported": True}, "tool_use": {"supported": True},
                              "citations": {"supported": False}}},
            {"type": "model", "id": "claude-3-haiku-20240307", "capabilities": ["vision"]},
        ],
        "has_more": True, "first_id": "claude-sonnet-4-20250514",
        "last_id": "claude-3-haiku-20240307",
    })  # fmt: skip
    assert page.has_more and page.last_id == "claude-3-haiku-20240307"
    sonnet, haiku = page.models
    assert (sonnet.context_window, sonnet.max_output_tokens) == (200000, 64000)
    assert sonnet.capabilities == {"chat", "vision", "tools"}
    assert haiku.capabilities == {"chat", "vision"} and not haiku.priced


def test_vllm_max_model_len() -> None:
    m = _one({"id": "meta-llama/Llama-3.1-8B-Instruct", "object": "model", "owned_by": "vllm",
              "root": "meta-llama/Llama-3.1-8B-Instruct", "max_model_len": 32768})  # fmt: skip
    assert m.context_window == 32768


@pytest.mark.parametrize(
    "entry",
    [
        {"id": ""},
        {"id": "a b"},
        {"id": "x" * 300},
        {"id": 7},
        {"id": "nul\x00"},
        {"object": "model"},
    ],
)
def test_bad_entries_are_skipped_and_counted(entry: dict[str, object]) -> None:
    page = parse_page({"data": [entry, {"id": "ok"}, "not an object", None, [1]]})
    assert [m.id for m in page.models] == ["ok"]
    assert page.skipped == 4


@pytest.mark.parametrize(
    "value", [-1, "nan", "inf", "1e999", True, "x" * 100, {"a": 1}, [1], 1e30, "0x10"]
)
def test_bad_numbers_are_ignored_not_trusted(value: object) -> None:
    m = _one(
        {"id": "m", "context_length": value, "pricing": {"prompt": value, "completion": value}}
    )
    assert m.context_window is None and m.price_in_per_mtok is None


def test_not_a_listing_is_invalid() -> None:
    for doc in ({"data": "x"}, {"models": []}, "text", 3, None):
        assert parse_page(doc).valid is False


def test_globs() -> None:
    assert glob_match("gpt-4o*", "gpt-4o-mini")
    assert glob_match("*mini*", "gpt-4o-mini-2024")
    assert glob_match("claude-?-haiku*", "claude-3-haiku-20240307")
    assert not glob_match("gpt-4o", "gpt-4o-mini")
    assert not glob_match("*-preview", "gpt-4-1106-preview-x")
    assert glob_match("a*b*c*d", "a" + "b" * 100 + "c" + "d")
    assert not glob_match("*a*a*a*a*a*b", "a" * 256)  # bounded work, no blow-up
    assert selected("gpt-4o", [], [])
    assert selected("gpt-4o", ["gpt-*"], ["*-preview"])
    assert not selected("gpt-4-preview", ["gpt-*"], ["*-preview"])
    assert not selected("llama", ["gpt-*"], [])


UP = UpstreamSettings("up", "http://127.0.0.1:1/v1", discover=True, exclude=["*-embed*"])
CONFIGURED = {
    "cfg": ModelSettings("cfg", "up", 1.0, 2.0, upstream_model="cfg"),
    "dear": ModelSettings("dear", "up", 10.0, 30.0, upstream_model="dear"),
}


def _row(model: str, present: bool = True, **listing: object) -> DiscoveredRow:
    return DiscoveredRow("up", model, dict(listing), present, 1.0)


def test_registry_merges_discovered_models() -> None:
    reg = Registry(CONFIGURED, {"up": UP})
    rows = [
        _row("new", price_in_per_mtok=0.1, price_out_per_mtok=0.2, context_window=64000),
        _row("free"),  # no price
        _row("gone", False, price_in_per_mtok=0.1, price_out_per_mtok=0.2),
        _row("text-embed-3"),  # excluded by the upstream's globs
        _row("cfg", price_in_per_mtok=99.0, price_out_per_mtok=99.0),  # the config's wins
    ]
    assert reg.apply({}, rows)
    assert {m.name for m in reg.pool()} == {"cfg", "dear", "new"}
    assert reg["new"].context_window == 64000 and reg["new"].upstream_model == "new"
    assert reg["cfg"].price_in_per_mtok == 1.0
    # unpriced: callable by name, not routed, costed at the dearest configured prices
    assert reg.get("free") is not None and not reg.routable("free") and not reg.priced("free")
    assert (reg["free"].price_in_per_mtok, reg["free"].price_out_per_mtok) == (10.0, 30.0)
    assert reg.unpriced() == ["free"]
    # gone: unknown to new requests, still resolvable for one already routed to it
    assert reg.get("gone") is None and reg["gone"].name == "gone"
    assert not reg.known("text-embed-3")
    # an operator's price wins over the listing, and prices an unpriced model
    assert reg.apply(
        {"new": {"price_out_per_mtok": 5.0}, "free": {"price_in_per_mtok": 0.0,
                                                      "price_out_per_mtok": 0.0}}, rows
    )  # fmt: skip
    assert reg["new"].price_out_per_mtok == 5.0 and reg["new"].price_in_per_mtok == 0.1
    assert reg.routable("free") and reg["free"].price_out_per_mtok == 0.0
    assert not reg.apply({"new": {"price_out_per_mtok": 5.0}, "free": {"price_in_per_mtok": 0.0,
                          "price_out_per_mtok": 0.0}}, rows)  # fmt: skip


def test_discovered_model_gets_its_family_prior() -> None:
    book = parse(
        b'{"families": [{"family": "mini", "match": ["gpt-4o-mini*"], "quality": {"math": 0.8}},'
        b' {"family": "4o", "match": ["gpt-4o*"], "quality": {"math": 0.9, "code": 0.9}}],'
        b' "quality": {"cfg": {"code": 0.3}}}',
        "test",
    )
    reg = Registry(CONFIGURED, {"up": UP}, book)
    reg.apply({}, [_row("openai/gpt-4o-mini-2024-07-18"), _row("gpt-4o")])
    assert reg["openai/gpt-4o-mini-2024-07-18"].priors == {"math": 0.8}
    assert reg["gpt-4o"].priors == {"math": 0.9, "code": 0.9}
    assert reg["cfg"].priors == {"code": 0.3}  # the file's exact entry
    assert PriorBook().for_model("gpt-4o") == {}


# -- config: the discovery and priors keys -------------------------------------------------
def test_discovery_and_priors_config(tmp_path: Path) -> None:
    from arbiter import config
    from arbiter.errors import ConfigError

    example = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"
    env = {"SIM_API_KEY": "sk-test", "ARBITER_ADMIN_KEY": "adm-test"}
    text = example.read_text()
    on = text.replace(
        "[upstreams.sim]\n",
        '[upstreams.sim]\ndiscover = true\ninclude = ["gpt-*"]\nexclude = ["*-preview"]\n',
    )
    s = config.loads(on, env=env)
    up = s.upstreams["sim"]
    assert (up.discover, up.discover_interval_s, up.include, up.exclude) == (
        True, 300.0, ["gpt-*"], ["*-preview"],
    )  # fmt: skip
    assert s.routing.priors_file == "builtin"
    with pytest.raises(ConfigError, match="discover_interval_s"):
        config.loads(on.replace("discover = true\n", "discover = true\ndiscover_interval_s = 0\n"),
                     env=env)  # fmt: skip
    with pytest.raises(ConfigError, match="priors_file"):
        config.loads(
            text.replace("[routing]\n", '[routing]\npriors_file = "/nope.json"\n'), env=env
        )
    # a tenant may allow a model an upstream will list, only when some upstream discovers
    tenant = '\n[tenants.t]\nallowed_models = ["gpt-4o-mini"]\n'
    assert config.loads(on + tenant, env=env).tenants["t"].allowed_models == ["gpt-4o-mini"]
    with pytest.raises(ConfigError, match="unknown model 'gpt-4o-mini'"):
        config.loads(text + tenant, env=env)


def test_glob_forms_agree_with_fnmatch_on_samples() -> None:
    import fnmatch  # the reference (backtracking regex), on small trusted samples only

    patterns = ["*", "a*", "*a", "a*b", "*a*b*", "a?c", "*?*", "ab", "a**b", "*ab*ab*", "?"]
    names = ["", "a", "ab", "abc", "aab", "abab", "acb", "ba", "abcab", "xabyab"]
    for pat in patterns:
        for name in names:
            assert glob_match(pat, name) == fnmatch.fnmatchcase(name, pat), (pat, name)
