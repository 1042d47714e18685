"""How deeply a JSON text nests its arrays and objects, found without parsing it.

Python's `json` recurses once per nested array or object, and so do the walks over what any
parser read (jsonschema's validation, about four frames a level; the character mending of
upstream/lenient_json.py, two). An answer that nests tens of thousands deep ends in a
RecursionError at the interpreter's limit, and whatever else runs at that depth (a finalizer, a
logging hook) fails too, as an unraisable exception of its own. Text a model or a client wrote is
checked with this linear scan before such a parser reads it, and refused far below that limit
(toml_depth.py does the same for config files)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

# far beyond any real answer or tool call (a few levels), far below the interpreter's limit of
# 1,000 frames even for jsonschema (and below the 255 levels orjson writes back)
MAX_JSON_NESTING = 128

_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPENERS, _CLOSERS = (ord("["), ord("{")), (ord("]"), ord("}"))


def nests_deeper_than(text: str | bytes, limit: int = MAX_JSON_NESTING) -> bool:
    """Whether `text` opens more than `limit` arrays / objects inside one another. Brackets in
    strings do not count (a quote after an odd run of backslashes does not end one; an
    unclosed string runs to the end). Linear, in a few array passes; a text with no more than
    `limit` brackets that open is not scanned at all."""
    if isinstance(text, str):
        if text.count("[") + text.count("{") <= limit:
            return False
        text = text.encode("utf-8", "surrogatepass")  # quotes, brackets: single ASCII bytes
    elif text.count(b"[") + text.count(b"{") <= limit:
        return False
    codes = np.frombuffer(text, np.uint8)
    in_string = np.cumsum(_real_quotes(codes), dtype=np.int32) % 2 == 1
    opens = ((codes == _OPENERS[0]) | (codes == _OPENERS[1])) & ~in_string
    closes = ((codes == _CLOSERS[0]) | (codes == _CLOSERS[1])) & ~in_string
    level = np.cumsum(opens.astype(np.int32) - closes, dtype=np.int32)
    # a closer with nothing open stays at zero (the running minimum lifts the floor)
    floor = np.minimum.accumulate(np.minimum(level, 0))
    return int((level - floor).max()) > limit


def _real_quotes(codes: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """The quotes that open or close a string: not those after an odd run of backslashes."""
    quotes: NDArray[np.bool_] = codes == _QUOTE
    backslashes: NDArray[np.bool_] = codes == _BACKSLASH
    if not backslashes.any():
        return quotes
    at = np.arange(codes.size, dtype=np.int32)
    last_other = np.maximum.accumulate(np.where(backslashes, -1, at))  # before or at each place
    run_before = np.empty_like(at)
    run_before[0] = 0
    run_before[1:] = at[:-1] - last_other[:-1]  # backslashes just before each place
    even: NDArray[np.bool_] = run_before % 2 == 0
    return quotes & even
