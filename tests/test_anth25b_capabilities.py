"""anth25b: a Claude model without extended thinking or PDF input (Claude 3 Haiku) was routed
`thinking` and PDF documents under `auto` and sent them when named: Anthropic's 400 after the
reservation. The `thinking` and `pdf` capabilities now keep such requests from a model without
them (`auto`: the model that has them; named: a 400 naming the capability, as vision does), and
discovery reads them from Anthropic's listing (`capabilities.thinking` / `pdf_input`).
An Anthropic-protocol model has both unless marked `no-thinking` / `no-pdf`
(implied_capabilities.py): a config written before they existed keeps serving such requests.
Official anthropic SDK through a real `arbiter serve` (probe22a's upstream): an-1 declares both,
an-2 (the cheapest, `auto`'s pick for plain text) is marked without them, an-3 (named only) says
nothing of them. Controls: thinking off, a text document, an-3."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from arbiter.listing import Listed, parse_page
from tests.probe22a_rig import PRICE_IN, PRICE_OUT, Rig, rig
from tests.probe_rig import model_toml, rig_toml

PDF = base64.b64encode(b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n").decode()
DOCS: dict[str, dict[str, Any]] = {
    "base64": {"type": "base64", "media_type": "application/pdf", "data": PDF},
    "url": {"type": "url", "url": "https://example.com/a.pdf"},
}


def config(port: int, db: Path) -> str:
    base = '"chat", "json", "tools", "vision"'
    models = "".join(
        model_toml(name, up, (PRICE_IN * scale, PRICE_OUT * scale), 2000000, f"[{base}{more}]")
        for name, up, scale, more in (
            ("oa-1", "ro", 1.0, ""),
            ("an-1", "ra", 1.0, ', "thinking", "pdf"'),
            ("oa-2", "ro", 1.0, ""),
            ("an-2", "ra", 0.01, ', "no-thinking", "no-pdf"'),  # the cheapest: auto's pick
            ("an-3", "ra", 1.0, ', "no-route"'),  # a config from before the two capabilities
        )
    )
    failover = {"first_byte_timeout_s": 3.0, "total_timeout_s": 6.0, "deadline_s": 8.0,
                "retries_per_model": 0}  # fmt: skip
    return rig_toml(port, db, models, failover, breaker=100000)


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(Path(tmp_path_factory.mktemp("anth25b_caps")), config) as made:
        yield made


def create(r: Rig, model: str, content: Any, **kw: Any) -> str:
    """The model that answered one anthropic SDK request (x-arbiter-model)."""
    raw = r.an.messages.with_raw_response.create(
        model=model, max_tokens=2048, messages=[{"role": "user", "content": content}], **kw
    )
    assert raw.parse().content[0].type == "text"
    return raw.headers["x-arbiter-model"]


def pdf_content(source: str) -> list[dict[str, Any]]:
    return [{"type": "document", "source": DOCS[source]}, {"type": "text", "text": "sum up"}]


THINK: dict[str, Any] = {"type": "enabled", "budget_tokens": 1024}


@pytest.mark.parametrize("kind", ["enabled", "adaptive"])
def test_auto_with_thinking_goes_to_a_model_with_thinking(r: Rig, kind: str) -> None:
    thinking = THINK if kind == "enabled" else {"type": "adaptive"}
    assert {create(r, "auto", "think", thinking=thinking) for _ in range(3)} == {"an-1"}


def test_auto_without_thinking_takes_the_cheapest(r: Rig) -> None:  # the control
    assert create(r, "auto", "plain") == "an-2"
    assert create(r, "auto", "off", thinking={"type": "disabled"}) == "an-2"


@pytest.mark.parametrize("source", ["base64", "url"])
def test_auto_with_a_pdf_goes_to_a_model_with_pdf(r: Rig, source: str) -> None:
    assert {create(r, "auto", pdf_content(source)) for _ in range(3)} == {"an-1"}


def test_a_text_document_needs_no_pdf(r: Rig) -> None:  # the control
    doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                                          "data": "plain words"}}  # fmt: skip
    assert create(r, "auto", [doc, {"type": "text", "text": "sum up"}]) == "an-2"
    assert create(r, "an-2", [doc, {"type": "text", "text": "sum up"}]) == "an-2"


def test_a_named_model_without_thinking_is_a_400_naming_it(r: Rig) -> None:
    before = len(r.upstream.seen)
    with pytest.raises(anthropic.BadRequestError) as err:
        create(r, "an-2", "think", thinking=THINK)
    assert "lacks thinking" in err.value.message and "an-2" in err.value.message
    assert isinstance(err.value.body, dict)
    assert err.value.body["error"]["type"] == "invalid_request_error"
    assert len(r.upstream.seen) == before  # refused before any call
    assert create(r, "an-1", "think", thinking=THINK) == "an-1"


def test_a_named_model_without_pdf_is_a_400_naming_it(r: Rig) -> None:
    with pytest.raises(anthropic.BadRequestError) as err:
        create(r, "an-2", pdf_content("base64"))
    assert "lacks pdf" in err.value.message and "PDF document" in err.value.message
    assert create(r, "an-1", pdf_content("base64")) == "an-1"


def test_anthropics_listing_capabilities_are_read() -> None:
    def entry(thinking: bool, pdf: bool) -> dict[str, Any]:
        return {
            "type": "model", "id": "claude-x", "max_input_tokens": 200000, "max_tokens": 8192,
            "capabilities": {
                "image_input": {"supported": True}, "pdf_input": {"supported": pdf},
                "thinking": {"supported": thinking, "types": {
                    "enabled": {"supported": thinking}, "adaptive": {"supported": False}}},
            },
        }  # fmt: skip

    both, neither = parse_page({"data": [entry(True, True), entry(False, False)]}).models
    assert {"thinking", "pdf", "vision"} <= both.capabilities
    assert not {"thinking", "pdf"} & neither.capabilities
    assert {"no-thinking", "no-pdf"} <= neither.capabilities  # so nothing implies them back
    stored = Listed.from_json(both.id, both.to_json())  # as the shared store keeps it
    assert {"thinking", "pdf"} <= stored.capabilities


def test_an_anthropic_model_unmarked_takes_them_named(r: Rig) -> None:
    """A Claude model whose entry predates `thinking` / `pdf` is not refused them."""
    assert create(r, "an-3", "think", thinking=THINK) == "an-3"
    assert create(r, "an-3", pdf_content("base64")) == "an-3"


def test_which_models_have_them_after_load(tmp_path: Path) -> None:
    from arbiter import config as arbiter_config
    from arbiter.offline.demo import ADMIN_KEY_ENV, API_KEY_ENV

    env = {API_KEY_ENV: "k", ADMIN_KEY_ENV: "a" * 32}
    models = arbiter_config.loads(config(1, tmp_path / "a.db"), env=env).models
    assert {"thinking", "pdf"} <= set(models["an-1"].capabilities)
    assert {"thinking", "pdf"} <= set(models["an-3"].capabilities)  # implied, not declared
    assert not {"thinking", "pdf"} & set(models["an-2"].capabilities)  # marked without
    assert not {"thinking", "pdf"} & set(models["oa-1"].capabilities)  # OpenAI: declared only
