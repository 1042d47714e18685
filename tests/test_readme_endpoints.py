"""README's endpoint table names each endpoint once: a merge had left `GET /arbiter/decisions`
(and `/v1/models`, `/v1/feedback`, `/arbiter/stats`) listed twice, with two different texts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _endpoint_rows() -> list[str]:
    """The first cell of each row of the table headed `| endpoint | what |`, query dropped."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("| endpoint | what |") + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line.split("|")[1].strip().split("?")[0])
    return rows


def test_the_endpoint_table_lists_each_endpoint_once() -> None:
    rows = _endpoint_rows()
    assert "`GET /arbiter/decisions" in rows and len(rows) > 20, rows
    twice = [row for row, n in Counter(rows).items() if n > 1]
    assert twice == [], twice
