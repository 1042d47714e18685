"""An upstream's JSON text that orjson refuses only for its characters: invalid UTF-8 bytes, or a
UTF-16 surrogate escape without its pair ("\\ud800"), which some servers emit when a model cuts
a character in two. Python's own parser takes both; orjson refused the whole answer as
malformed, so one bad character was retried (each try billed), failed over and counted against
the model's circuit. The text is read with such characters as U+FFFD; anything else orjson
refuses (broken syntax, nesting past its limit) stays refused, and so does such text nested past
json_depth's bound.

A number that is no finite number (`NaN`, `Infinity`, `-Infinity`, `1e999`; Python's parser and
so the openai SDK take them) is read too, as a float that is not finite: an upstream that says
`"usage": {"cost": NaN}` sent an answer, and its cost report is judged where every report is
(cost_report.py drops it, with an alert). Refused as malformed, the answer was retried and each
try charged its worst case. Such text is never relayed as it came (a client's parser may refuse
it): written anew, orjson writes such a number as null."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from arbiter.json_depth import nests_deeper_than

_CHARACTER_ERRORS = ("UTF-8", "surrogate")  # in orjson's messages for these, and only these


def loads(raw: bytes | str) -> Any:
    """orjson.loads(raw); text refused only for its characters is read with U+FFFD for them.
    Raises orjson.JSONDecodeError as orjson does."""
    return read(raw)[0]


def read(raw: bytes | str) -> tuple[Any, bool]:
    """(the value, whether `raw` was read as it came): when not, `raw` is no text to relay as
    it is (a client's parser may refuse it too); write the value instead."""
    try:
        return orjson.loads(raw), True
    except orjson.JSONDecodeError as err:
        if any(word in err.msg for word in _CHARACTER_ERRORS):
            try:
                return whole_characters(read_keeping_surrogates(raw, err)), False
            except orjson.JSONDecodeError:
                pass  # odd characters and a non-finite number, or broken
        return _with_non_finite_numbers(raw, err), False


def _with_non_finite_numbers(raw: bytes | str, err: orjson.JSONDecodeError) -> Any:
    """`raw` read by Python's parser when what orjson refused in it is a number that is no finite
    number (its characters then read as `read` reads them: U+FFFD for what is none); raises
    `err` when Python's parser refuses it too, or reads no such number in it."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if nests_deeper_than(text):
        raise err
    try:
        value = json.loads(text, parse_int=_int_as_orjson_reads)
    except ValueError:
        raise err from None
    if not _holds_non_finite(value):
        raise err
    return whole_characters(value)


def _int_as_orjson_reads(digits: str) -> int | float:
    """An integer past 64 bits is a float to orjson (and so nothing it cannot write again)."""
    value = int(digits)
    return value if -(2**63) <= value < 2**64 else float(value)


def _holds_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list):
        return any(_holds_non_finite(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_non_finite(v) for v in value.values())
    return False


def read_keeping_surrogates(
    raw: bytes | str, err: orjson.JSONDecodeError, bad_bytes: str = "replace"
) -> Any:
    """`raw` read by Python's parser, unpaired surrogates kept as they came (a stream's half
    character, to join with the next event's: stream_characters.py); invalid UTF-8 as U+FFFD,
    or with `bad_bytes="surrogateescape"` as U+DC80-U+DCFF (bytes a stream's next event may
    complete). Raises `err` (orjson's refusal) when Python's parser refuses it too."""
    text = raw.decode("utf-8", bad_bytes) if isinstance(raw, bytes) else raw
    if nests_deeper_than(text):  # json and whole_characters recurse per level
        raise err from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except ValueError:
        raise err from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: refused as orjson refuses them


def whole_characters(value: Any) -> Any:
    """`value` with every unpaired surrogate in its strings (keys too) as U+FFFD."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [whole_characters(v) for v in value]
    if isinstance(value, dict):
        return {whole_characters(k): whole_characters(v) for k, v in value.items()}
    return value
