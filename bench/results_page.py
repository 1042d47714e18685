"""Write one bench's section of a shared results page (e.g. bench/results/routing.md).

Each section starts with its own marker line (``<!-- round three -->``) and runs to the next
marker or the end of the page. Writing a section replaces only its own span, so re-running one
round's bench keeps every other round's section where it was; a new section is appended.
"""

from __future__ import annotations

from pathlib import Path

MARK_PREFIX = "<!-- "


def write_section(page: Path, mark: str, body: str) -> None:
    """Replace the section that starts at ``mark`` with ``body`` (which starts with ``mark``)."""
    text = page.read_text() if page.exists() else ""
    if mark not in text:
        page.write_text(text.rstrip() + "\n\n" + body.rstrip() + "\n")
        return
    head, rest = text.split(mark, 1)
    nxt = rest.find("\n" + MARK_PREFIX)
    tail = rest[nxt + 1 :] if nxt >= 0 else ""
    out = head.rstrip() + "\n\n" + body.rstrip() + "\n"
    page.write_text(out + ("\n" + tail if tail else ""))
