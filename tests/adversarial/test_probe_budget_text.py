"""Outside probe: a cap under a millionth of a dollar (1e-9, as a test or a typo sets it) was
described as "the global daily cap of $0." in the 429 every request got."""

from __future__ import annotations

import pytest

from arbiter.budget import usd


@pytest.mark.parametrize(
    ("amount", "text"),
    [(1e-9, "$1e-09"), (-3e-8, "$-3e-08"), (0.0005, "$0.0005"), (0.25, "$0.25"), (12.5, "$12.50"),
     (0.0, "$0.00"), (0.00012345, "$0.000123")],
)  # fmt: skip
def test_every_amount_reads_as_a_number(amount: float, text: str) -> None:
    assert usd(amount) == text
