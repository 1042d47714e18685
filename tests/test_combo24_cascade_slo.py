"""combo24: `routing.cascade_all` x a latency SLO. With cascade_all a cascade task's request is
sent to the baseline (the cascade's strong model) with the first model tried before it; under
an SLO that leaves no room for both calls the cascade is dropped, but the request still went to
the baseline alone: slower and dearer than the model the router picked to fit the SLO, which
its decision's reason (and its predicted-latency header) named. It now keeps the router's
choice; an SLO with room for both still cascades."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.combo24_rig import (
    Cell,
    Rig,
    answer_intact,
    bill_matches,
    call,
    decision_of,
    prompt,
    request,
    rig,
)


@pytest.fixture(scope="module", name="the_rig")
def rig_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """A fresh sidecar that has seen the cheap model answer (named, twice): it fits 600 ms;
    the baseline, unseen, is predicted at its prior, far past it."""
    with rig(tmp_path_factory.mktemp("combo24_slo")) as r:
        for n in range(2):
            warm = Cell(5900 + n, "plain", "chat:oa-1", "none", "none", "sync_whole")
            assert call(r, warm, "plain", request(warm, prompt(warm)), {}).error is None
        yield r


SURFACES = ("chat:auto", "messages:auto", "responses:auto")


def _slo_pick(reason: str) -> str:
    """The model the reason's latency clause chose: 'so the fastest: M', 'so M ... fits',
    or 'M N ms fits'."""
    clause = reason.split("latency p90: ", 1)[1].split(";", 1)[0]
    if "so the fastest: " in clause:
        return clause.split("so the fastest: ", 1)[1].split()[0]
    if ", so " in clause:
        return clause.split(", so ", 1)[1].split()[0]
    return clause.split()[0]


def _ask(r: Rig, cell: Cell, slo_ms: int) -> tuple[dict[str, str], dict[str, object]]:
    out = call(
        r, cell, "plain", request(cell, prompt(cell)), {"x-arbiter-max-latency-ms": str(slo_ms)}
    )
    answer_intact(cell, out)
    record = decision_of(r, out)
    assert record is not None
    bill_matches(r, cell, record, out)
    return out.headers, record


@pytest.mark.parametrize(("surface", "n"), [(s, n) for n in range(2) for s in SURFACES])
def test_an_slo_without_room_for_the_cascade_keeps_the_routers_choice(
    the_rig: Rig, surface: str, n: int
) -> None:
    """600 ms: the baseline's predicted latency alone (unseen: its prior; then a young
    model's spread) leaves no room for the cheap try too. The model called is the reason's
    pick (unless a cascade fits after all)."""
    cell = Cell(6000 + 10 * n + SURFACES.index(surface), "plain", surface, "cascade", "none",
                "sync_whole")  # fmt: skip
    headers, record = _ask(the_rig, cell, 600)
    reason = str(record["reason"])
    pick = _slo_pick(reason)
    called = [a["model"] for a in record["attempts"]]  # type: ignore[attr-defined]
    if "x-arbiter-cascade" in headers:  # room for both after all: the first model, then base
        assert called == ["oa-1", "oa-2"], (called, reason)
    else:
        assert called == [pick], (called, reason)
        assert headers["x-arbiter-model"] == pick, (headers, reason)


def test_an_slo_with_room_for_both_still_cascades(the_rig: Rig) -> None:
    cell = Cell(6100, "plain", "chat:auto", "cascade", "none", "sync_whole")
    headers, record = _ask(the_rig, cell, 60_000)
    called = [a["model"] for a in record["attempts"]]  # type: ignore[attr-defined]
    assert called == ["oa-1", "oa-2"], record  # the first model, then the baseline
    assert headers["x-arbiter-cascade"] == "escalated", headers
