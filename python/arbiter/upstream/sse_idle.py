"""SSE lines that carry no event (comment lines, and blank lines that end no event), dropped from
a stream's piece before it is split into lines, and bounded.

An upstream that sends megabytes of blank or `:` lines would otherwise have each one popped and
looked at in Python by the stream's reader (seconds of event-loop time for 16 MB, with no await
between pieces that have come already). A piece of short lines (`SHORT_LINE` bytes on average:
an event's lines are longer) has them taken out in a few whole-piece byte operations, and an
answer holding more than `MAX_IDLE_BYTES` of them fails (a 502 that names them): a server's
heartbeats (`: ping` every few seconds) stay far below it. Idle lines in a piece of long lines
are left to the reader: they cost it no more a byte than an event's lines do, and its comment
lines count against the same bound once whole (upstream/http.py: a stream of 100-byte comments
was bounded by the 64 MiB response cap alone).

Dropping them changes no event: SSE ignores a comment line, and a blank line after a blank line
dispatches nothing; a blank line after a comment may end the event before it, so comments go
first and blank runs are cut to one after. Each piece keeps its first blank line (the line
before it, in the piece before, may be an event's), so no state is carried between pieces.
"""

from __future__ import annotations

MAX_IDLE_BYTES = 1 << 20  # an answer's bytes of lines that carry no event
SHORT_LINE = 32  # a piece whose lines average fewer bytes is searched for idle lines
# a piece that dropped more lets the loop run before the next (comment lines cost a list entry
# each: ~4 ms for 64 KiB of `:` lines on a loaded host)
YIELD_AFTER = 4096


def without_idle(piece: bytes, mid_line: bool) -> bytes:
    """`piece` (line ends already LF) without its idle lines. `mid_line`: the piece goes on a
    line begun in an earlier one (that line's rest is kept whole, as is an unfinished last line:
    the stream's reader passes over a few such lines one by one)."""
    head = b""
    if mid_line:
        cut = piece.find(b"\n") + 1
        head, piece = piece[:cut], piece[cut:]
    if piece.startswith(b":") or b"\n:" in piece:
        lines = piece.split(b"\n")
        rest = lines.pop()
        kept = [line for line in lines if not line.startswith(b":")]
        piece = b"\n".join(kept) + b"\n" + rest if kept else rest
    if piece.startswith(b"\n\n"):  # a blank line may end the event before it; more end none
        piece = b"\n" + piece.lstrip(b"\n")
    while b"\n\n\n" in piece:  # each pass cuts a run by a third: linear in all
        piece = piece.replace(b"\n\n\n", b"\n\n")
    return head + piece if head else piece
