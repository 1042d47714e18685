"""The long-files-first order names files that exist (a renamed file would silently drop back
to collection order) and is what the Makefile's pytest run relies on."""

from __future__ import annotations

from pathlib import Path

from tests.long_files_first import LONGEST

ROOT = Path(__file__).resolve().parents[1]


def test_every_listed_file_exists_once() -> None:
    assert len(set(LONGEST)) == len(LONGEST)
    assert [p for p in LONGEST if not (ROOT / p).is_file()] == []


def test_the_makefile_keeps_xdist_from_reordering() -> None:
    assert "--no-loadscope-reorder" in (ROOT / "Makefile").read_text()
