"""How deeply a TOML text nests its arrays and inline tables, found without parsing it.

tomllib recurses once per nested array or inline table, so a deep enough file ends in a
RecursionError at the interpreter's limit; anything else that runs at that depth (a finalizer the
collector calls, a logging hook) then fails too, as an unraisable exception of its own (CI saw
one). Config files are checked with this linear scan first and refused long before that.
"""

from __future__ import annotations

# far beyond any real config (arbiter.toml nests 3 deep), far below tomllib's recursion limit
MAX_TOML_NESTING = 64


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
