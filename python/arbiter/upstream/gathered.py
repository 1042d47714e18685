"""A whole answer's body gathered from its pieces, held once.

Joining a list of pieces holds the body twice at the join (the pieces and the joined copy), and
the freed pieces stay in the process's heap: six 62 MB answers read at once took ~1.7x their
bytes (bench/results/mem26.md). Past `SPILL_BYTES` the pieces go into an `io.BytesIO` instead:
each is copied in and dropped as it comes, the buffer grows in place (realloc, which moves a
large block's pages rather than its bytes) and `getvalue()` hands over that buffer without a
copy. A body under `SPILL_BYTES` (every chat answer) is joined as before: one piece is
returned as it came.
"""

from __future__ import annotations

import io

SPILL_BYTES = 1 << 20


class Gathered:
    __slots__ = ("_pieces", "_size", "_spilled")

    def __init__(self) -> None:
        self._pieces: list[bytes] = []
        self._size = 0
        self._spilled: io.BytesIO | None = None

    @property
    def size(self) -> int:
        return self._size

    def add(self, piece: bytes) -> None:
        self._size += len(piece)
        spilled = self._spilled
        if spilled is not None:
            spilled.write(piece)
            return
        self._pieces.append(piece)
        if self._size > SPILL_BYTES:
            spilled = self._spilled = io.BytesIO()
            for held in self._pieces:
                spilled.write(held)
            self._pieces = []

    def value(self) -> bytes:
        spilled = self._spilled
        if spilled is None:
            return b"".join(self._pieces)
        self._spilled = None  # (BytesIO shares its buffer with the value: nothing more written)
        return spilled.getvalue()
