"""SSE lines that carry no event (comment lines, and blank lines that end no event), dropped from
each piece of a stream before it is split into lines, and bounded.

An upstream that sends megabytes of blank or `:` lines would otherwise have each one popped and
looked at in Python by the stream's reader (seconds of event-loop time for 16 MB, with no await
between pieces that have come already). Here they go in a few whole-piece byte operations, and
an answer holding more than `MAX_IDLE_BYTES` of them fails (a 502 that names them): a server's
heartbeats (`: ping` every few seconds) stay far below it.

Dropping them changes no event: SSE ignores a comment line, and a blank line after a blank line
(or at the start) dispatches nothing; a blank line after a comment may end the event before it,
so comments go first and blank runs are cut to one after.
"""

from __future__ import annotations

MAX_IDLE_BYTES = 1 << 20  # an answer's bytes of lines that carry no event
# a piece that dropped more lets the loop run before the next (comment lines cost a list entry
# each: ~4 ms for 64 KiB of `:` lines on a loaded host)
YIELD_AFTER = 4096


class IdleLines:
    """One stream's state: whether its last whole line was blank, and what it dropped."""

    __slots__ = ("_blank", "dropped")

    def __init__(self) -> None:
        self._blank = True  # at the start, as after a blank line: no event is open
        self.dropped = 0

    def drop(self, piece: bytes, mid_line: bool) -> bytes:
        """`piece` (line ends already LF) without its idle lines. `mid_line`: the piece goes on
        a line begun in an earlier one (that line's rest is kept whole, as is an unfinished
        last line: the stream's reader passes over a few such lines one by one)."""
        at_start = not mid_line and piece[:1] in (b":", b"\n")
        if not at_start and b"\n:" not in piece and b"\n\n\n" not in piece:
            if mid_line and piece.startswith(b"\n"):
                self._blank = False  # (its first line end ends the earlier piece's line)
            self._note_end(piece)  # (most pieces: nothing idle, nothing copied)
            return piece
        head = b""
        if mid_line:
            cut = piece.find(b"\n") + 1
            head, piece = piece[:cut], piece[cut:]
            self._blank = False  # (that line has the earlier piece's bytes: not blank)
        body = piece
        if piece.startswith(b":") or b"\n:" in piece:
            lines = piece.split(b"\n")
            rest = lines.pop()
            kept = [line for line in lines if not line.startswith(b":")]
            body = b"\n".join(kept) + b"\n" + rest if kept else rest
        if body.startswith(b"\n"):  # a blank line ends the event before it; more end none
            body = body.lstrip(b"\n")
            if not self._blank:
                body = b"\n" + body
        while b"\n\n\n" in body:  # each pass cuts a run by a third: linear in all
            body = body.replace(b"\n\n\n", b"\n\n")
        self.dropped += len(piece) - len(body)
        out = head + body if head else body
        self._note_end(out)
        return out

    def _note_end(self, piece: bytes) -> None:
        end = piece.rfind(b"\n")
        if end >= 0:  # the last whole line is blank: after the one before it, or alone
            self._blank = piece.endswith(b"\n\n", 0, end + 1) or (end == 0 and self._blank)
