"""combo24: a cascade x a tiny max_tokens. A first answer cut at the output limit the client set
(finish `length`) was escalated ("grader truncated: answer cut off", or the math rule's "no
complete answer"), and the strong model, sent the same limit, was cut at the same place: the
request paid both calls (4x the cheap one here) for the same truncated answer. Such an answer is
kept; a cut at a limit Arbiter set, or a short answer under a roomy limit, still escalates."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.combo24_rig import (
    TINY,
    Cell,
    Outcome,
    Rig,
    answer_intact,
    bill_matches,
    books_settle,
    call,
    decision_of,
    prompt,
    request,
    rig,
)


@pytest.fixture(scope="module", name="the_rig")
def rig_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("combo24_limits")) as r:
        yield r


CUT = [
    Cell(n, kind, surface, feature, "none", mode)
    for n, (kind, surface, feature, mode) in enumerate(
        [
            ("tiny", "chat:auto", "cascade", "sync_whole"),
            ("tiny", "messages:auto", "cascade", "async_whole"),
            ("tiny", "chat:auto", "cascade_math", "async_whole"),
            ("tiny", "messages:auto", "cascade_math", "sync_whole"),
        ],
        start=2000,
    )
]


def _ask(r: Rig, cell: Cell) -> tuple[Outcome, list[tuple[str, bool, str | None]], str]:
    """The cell's request, its answer intact and billed as the upstream billed; its
    attempts (model, ok, error) and its decision's reason."""
    spent, _ = r.global_books()
    out = call(r, cell, "plain", request(cell, prompt(cell)), {})
    assert out.error is None, out
    answer_intact(cell, out)
    record = decision_of(r, out)
    assert record is not None
    bill_matches(r, cell, record, out)
    books_settle(r, spent, float(record["cost_usd"]))
    return out, [(a["model"], a["ok"], a["error"]) for a in record["attempts"]], record["reason"]


@pytest.mark.parametrize("cell", CUT, ids=str)
def test_an_answer_cut_at_the_clients_limit_is_kept(the_rig: Rig, cell: Cell) -> None:
    out, attempts, reason = _ask(the_rig, cell)
    assert all(c["finish"] in ("length", "max_tokens") for c in out.choices.values()), out
    assert attempts == [("oa-1", True, None)], (attempts, reason)  # one call: the cheap one
    assert f"max_tokens {TINY}" in reason, reason


@pytest.mark.parametrize("cell", CUT, ids=str)
def test_under_a_roomy_limit_the_same_answer_escalates(the_rig: Rig, cell: Cell) -> None:
    """The control: the cascade is live; the first answer, whole under max_tokens 64, is still
    short of 100 tokens (or fails the math verifier) and escalates."""
    roomy = Cell(cell.n + 100, "plain", cell.surface, cell.feature, cell.fault, cell.mode)
    _, attempts, reason = _ask(the_rig, roomy)
    assert [(m, ok) for m, ok, _ in attempts] == [("oa-1", True), ("oa-2", True)], reason
    assert str(attempts[0][2]).startswith("escalated"), attempts
