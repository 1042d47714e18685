"""prov26: a file that may be a PDF needs the `pdf` capability: an Anthropic Files API document
(`source.type: "file"`) and an OpenAI `file` part (Chat Completions' `file`, the Responses API's
`input_file`: both take PDFs). A real `arbiter serve` (probe22a's rig) and the official SDKs.
an-np / oa-np lack `pdf` and are the cheapest of their protocol: `auto` picks them unless the
capability keeps them out."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.probe22a_rig import Rig, rig
from tests.probe_rig import model_toml, rig_toml

_n = itertools.count()
_PDF = "data:application/pdf;base64," + base64.b64encode(b"%PDF-1.4\n%%EOF\n").decode()
_FAILOVER = {"first_byte_timeout_s": 3.0, "total_timeout_s": 6.0, "deadline_s": 8.0,
             "retries_per_model": 0}  # fmt: skip


def _config(port: int, db: Path) -> str:
    caps = '["chat", "json", "tools", "vision"%s]'
    models = "".join(
        model_toml(name, up, prices, 200000, caps % more)
        for name, up, prices, more in (
            ("oa-np", "ro", (10.0, 20.0), ""), ("oa-pdf", "ro", (100.0, 200.0), ', "pdf"'),
            ("an-np", "ra", (10.0, 20.0), ', "no-pdf"'), ("an-1", "ra", (100.0, 200.0), ""),
        )
    )  # fmt: skip
    return rig_toml(port, db, models, _FAILOVER, baseline="oa-pdf", breaker=100000)


def _no_pdf_config(port: int, db: Path) -> str:
    models = model_toml("oa-np", "ro", (10.0, 20.0), 200000, '["chat"]')
    models += model_toml("an-np", "ra", (10.0, 20.0), 200000, '["chat", "no-pdf"]')
    return rig_toml(port, db, models, _FAILOVER, baseline="oa-np", breaker=100000)


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(Path(tmp_path_factory.mktemp("prov26_files")), _config) as made:
        yield made


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(Path(tmp_path_factory.mktemp("prov26_nopdf")), _no_pdf_config) as made:
        yield made


def _mark() -> tuple[str, str]:
    name = f"f{next(_n)}"
    return name, f"[[p:{name}]]"


def _file_doc(m: str) -> list[dict[str, Any]]:
    doc = {"type": "document", "source": {"type": "file", "file_id": "file_011abc"}}
    return [{"role": "user", "content": [doc, {"type": "text", "text": f"Summarize {m}"}]}]


def _file_part(m: str) -> Any:
    part = {"type": "file", "file": {"file_data": _PDF, "filename": "a.pdf"}}
    return [{"role": "user", "content": [part, {"type": "text", "text": f"Summarize {m}"}]}]


def _served_by(r: Rig, name: str) -> list[str]:
    return [b["model"] for _, b in r.upstream.bodies(name)]


def test_auto_sends_a_files_api_document_only_to_a_model_with_pdf(r: Rig) -> None:
    """Before: a Files API document needed nothing, and `auto` sent it to an-np (marked
    `no-pdf`: Claude 3 Haiku's kind), whose upstream refuses a PDF after the reservation."""
    name, m = _mark()
    raw = r.an.messages.with_raw_response.create(
        model="auto", max_tokens=50, messages=_file_doc(m),
        extra_headers={"anthropic-beta": "files-api-2025-04-14"},
    )  # fmt: skip
    raw.parse()
    assert raw.headers["x-arbiter-model"] == "an-1"
    assert _served_by(r, name) == ["an-1"]


def test_a_files_api_document_to_a_model_without_pdf_is_a_400(r: Rig) -> None:
    name, m = _mark()
    with pytest.raises(anthropic.BadRequestError) as refused:
        r.an.messages.create(model="an-np", max_tokens=50, messages=_file_doc(m))
    assert "lacks pdf" in refused.value.message
    assert _served_by(r, name) == []


def test_auto_sends_an_openai_file_part_only_to_a_model_with_pdf(r: Rig) -> None:
    """Before: an OpenAI `file` part needed nothing: `auto` chose oa-np, the cheapest that
    could carry it (Anthropic's cannot), though it was never said to read PDFs."""
    name, m = _mark()
    raw = r.oa.chat.completions.with_raw_response.create(model="auto", messages=_file_part(m))
    raw.parse()
    assert raw.headers["x-arbiter-model"] == "oa-pdf"
    assert _served_by(r, name) == ["oa-pdf"]


def test_the_responses_apis_input_file_needs_pdf_too(r: Rig) -> None:
    name, m = _mark()
    part = {"type": "input_file", "file_data": _PDF, "filename": "a.pdf"}
    text = {"type": "input_text", "text": f"Summarize {m}"}
    raw = r.oa.responses.with_raw_response.create(
        model="auto", input=[{"role": "user", "content": [part, text]}]
    )
    raw.parse()
    assert raw.headers["x-arbiter-model"] == "oa-pdf"
    with pytest.raises(openai.BadRequestError) as refused:
        r.oa.responses.create(model="oa-np", input=[{"role": "user", "content": [part, text]}])
    assert refused.value.param == "input" and "lacks pdf" in refused.value.message
    assert _served_by(r, name) == ["oa-pdf"]


def test_an_openai_file_part_to_a_model_without_pdf_is_a_400_naming_it(r: Rig) -> None:
    name, m = _mark()
    with pytest.raises(openai.BadRequestError) as refused:
        r.oa.chat.completions.create(model="oa-np", messages=_file_part(m))
    assert refused.value.param == "messages" and "lacks pdf" in refused.value.message
    assert _served_by(r, name) == []


def test_a_text_document_and_plain_text_still_go_to_the_cheapest(r: Rig) -> None:
    """The controls: a text document needs no `pdf`; neither does plain text."""
    _, m = _mark()
    doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                                          "data": "some text"}}  # fmt: skip
    raw = r.an.messages.with_raw_response.create(
        model="auto", max_tokens=50,
        messages=[{"role": "user", "content": [doc, {"type": "text", "text": m}]}],
    )  # fmt: skip
    raw.parse()
    assert raw.headers["x-arbiter-model"] == "an-np"
    raw2 = r.oa.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": m}]
    )
    raw2.parse()
    assert raw2.headers["x-arbiter-model"] in ("oa-np", "an-np")


def test_no_model_with_pdf_is_a_400_naming_the_capability(bare: Rig) -> None:
    """Neither protocol's model in this pool has `pdf`: each client's file is a 400 naming it
    (before: the OpenAI part went to oa-np, the Files API document to an-np)."""
    name, m = _mark()
    with pytest.raises(openai.BadRequestError) as refused:
        bare.oa.chat.completions.create(model="auto", messages=_file_part(m))
    assert "pdf" in refused.value.message and refused.value.param == "messages"
    with pytest.raises(anthropic.BadRequestError) as refused2:
        bare.an.messages.create(model="auto", max_tokens=50, messages=_file_doc(m))
    assert "pdf" in refused2.value.message
    assert _served_by(bare, name) == []
