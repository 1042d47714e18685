"""combo24's matrix: request kinds x surfaces x features x faults x SDK modes, a pairwise cover
(tests/combo24_rig.py `pairwise`), each cell one request (two where the cache is on: the
repeat) through a real `arbiter serve` and the official SDKs, held to what a user expects
(combo24_rig's checks)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.combo24_rig import (
    SLO_MS,
    TIGHT_CAP_USD,
    TOOL_KINDS,
    Cell,
    Outcome,
    Rig,
    answer_intact,
    bill_matches,
    books_settle,
    call,
    decision_of,
    error_in_shape,
    pairwise,
    prompt,
    request,
    rig,
)

CELLS = pairwise()
SLO_SLACK_S = 1.0  # a loaded host's scheduling; the slow fault's first byte is 1.5 s away


@pytest.fixture(scope="module", name="the_rig")
def rig_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("combo24")) as r:
        yield r


def _tenant(cell: Cell) -> str:
    return {"budget": "tight", "cache": "cached"}.get(cell.feature, "plain")


def _headers(cell: Cell) -> dict[str, str]:
    if cell.feature != "slo":
        return {}
    h = {"x-arbiter-max-latency-ms": str(SLO_MS)}
    if cell.stream:
        h["x-arbiter-max-ttft-ms"] = str(SLO_MS)
    return h


def test_matrix_is_a_pairwise_cover() -> None:
    assert 60 <= len(CELLS) <= 90, len(CELLS)  # bounded: tens of seconds


def test_n2_to_an_anthropic_model_is_a_clear_400(the_rig: Rig) -> None:
    """The cell the cover leaves out: n = 2 named to an Anthropic-protocol model, which cannot
    carry it: a 400 in OpenAI's shape naming n, no upstream call, nothing charged."""
    cell = Cell(1000, "n2", "chat:an-1", "none", "none", "sync_whole")
    spent, _ = the_rig.global_books()
    out = call(the_rig, cell, "plain", request(cell, prompt(cell)), {})
    assert out.status == 400, out
    error_in_shape(cell, out)
    assert "n > 1" in out.error["message"], out.error
    assert the_rig.billed_usd(cell) == 0
    books_settle(the_rig, spent, 0.0)


@pytest.mark.parametrize("cell", CELLS, ids=str)
def test_cell(the_rig: Rig, cell: Cell) -> None:
    r = the_rig
    text = prompt(cell)
    kw = request(cell, text)
    spent, _ = r.global_books()
    out = call(r, cell, _tenant(cell), kw, _headers(cell))
    if out.error is None and not out.left:
        answer_intact(cell, out)
    elif not out.left:
        error_in_shape(cell, out)
    if cell.feature == "slo":
        assert out.elapsed_s <= SLO_MS / 1000 + SLO_SLACK_S, out
    record = decision_of(r, out)
    if record is None:  # refused before any call: nothing billed, nothing charged
        assert out.error is not None and r.billed_usd(cell) == 0, out
        books_settle(r, spent, 0.0)
    else:
        feed = r.admin_get("/arbiter/decisions?limit=50")["data"]
        assert [d["id"] for d in feed].count(record["id"]) == 1
        bill_matches(r, cell, record, out)
        books_settle(r, spent, float(record["cost_usd"] or 0.0))
        assert record["mode"] == ("routed" if cell.model == "auto" else "passthrough"), record
        answered = [a["model"] for a in record["attempts"] if a["ok"]]
        if out.error is None:  # the model that answered is the one named, twice
            assert record["chosen_model"] == answered[-1] == out.headers["x-arbiter-model"]
    if cell.feature == "budget":
        assert r.tenant_spent("tight") <= TIGHT_CAP_USD + 1e-9, "past the cap"
        if out.error is not None and record is None:
            assert out.status == 429, out
    if cell.feature == "cache":
        _repeat(r, cell, out, kw)


def _repeat(r: Rig, cell: Cell, first: Outcome, kw: dict[str, Any]) -> None:
    """The same request again: a hit where the first was a whole, cacheable answer (no n > 1,
    not cut, not left, not a streamed tool call: cache/answer.of_stream keeps text alone),
    answered intact at no cost without an upstream call; else a miss."""
    streamed_calls = cell.stream and cell.kind in TOOL_KINDS
    cacheable = first.error is None and not first.left and cell.kind != "n2" and not streamed_calls
    calls = len(r.up.calls)
    spent, _ = r.global_books()
    again = call(r, cell, "cached", kw, {})
    state = again.headers.get("x-arbiter-cache")
    if cacheable:
        assert state in ("hit", "semantic-hit"), (state, first, again)
        answer_intact(cell, again)
        assert len(r.up.calls) == calls, r.up.calls[calls:]
        record = decision_of(r, again)
        assert record is not None and record["mode"] == "cache", record
        assert float(record["cost_usd"] or 0) == 0.0, record
        books_settle(r, spent, 0.0)
    else:
        assert state not in ("hit", "semantic-hit"), (state, first, again)
