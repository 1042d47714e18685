"""How deeply a TOML text nests its arrays and inline tables, found without parsing it.

tomllib recurses once per nested array or inline table, so a deep enough file ends in a
RecursionError at the interpreter's limit; anything else that runs at that depth (a finalizer the
collector calls, a logging hook) then fails too, as an unraisable exception of its own (CI saw
one). Every TOML the package reads (arbiter.toml, a routing file, an env override's value, the
sim's sim.toml) goes through `load_toml`: this linear scan first, refused long before that.
"""

from __future__ import annotations

import tomllib
from typing import Any

# far beyond any real config (arbiter.toml nests 3 deep), far below tomllib's recursion limit
MAX_TOML_NESTING = 64


class NestedTooDeeply(ValueError):
    """A TOML text nests arrays or inline tables more than MAX_TOML_NESTING deep."""


def load_toml(text: str) -> dict[str, Any]:
    """tomllib.loads(text) after the scan: NestedTooDeeply for a text nested too deeply (never a
    RecursionError), tomllib.TOMLDecodeError for any other bad TOML."""
    if nests_deeper_than(text):
        raise NestedTooDeeply("arrays or tables nested too deeply")
    try:
        return tomllib.loads(text)
    except RecursionError:  # the scan refuses far earlier; kept should tomllib recurse more
        # `from None`: a chained RecursionError carries ~1,000 frames, and formatting them can
        # itself run out of stack when the caller is already deep (seen under pytest)
        raise NestedTooDeeply("arrays or tables nested too deeply") from None


def nests_deeper_than(text: str, limit: int = MAX_TOML_NESTING) -> bool:
    """Whether `text` opens more than `limit` arrays / inline tables inside one another.
    Brackets inside strings and comments do not count; one pass, no backtracking."""
    depth, i, n = 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif c == '"' or c == "'":
            i = _string_end(text, i, c)
        elif c == "[" or c == "{":
            depth += 1
            if depth > limit:
                return True
        elif c == "]" or c == "}":
            depth = max(depth - 1, 0)
        i += 1
    return False


def _string_end(text: str, i: int, quote: str) -> int:
    """Index of the last character of the string opening at `i` (basic strings take backslash
    escapes, literal ones do not; single-line ones end at a newline if unclosed)."""
    triple = text.startswith(quote * 3, i)
    i += 3 if triple else 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and quote == '"':
            i += 2
            continue
        if c == "\n" and not triple:
            return i
        if c == quote and (not triple or text.startswith(quote * 3, i)):
            return i + 2 if triple else i
        i += 1
    return n
