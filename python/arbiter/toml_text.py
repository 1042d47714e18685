"""Settings as TOML text: `to_toml` writes a config file (arbiter.toml, the sim's) from a dict.

Tests, benches and the offline tools that start a sidecar or a simulator describe its config as
a dict and write it with this one function, so no caller formats TOML by hand.
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Mapping, Sequence
from typing import Any

_BARE_KEY_CHARS = frozenset(string.ascii_letters + string.digits + "_-")


def to_toml(doc: Mapping[str, Any]) -> str:
    """`doc` as TOML: nested mappings become [tables], lists of mappings [[arrays of tables]],
    everything else a `key = value` line. `tomllib.loads(to_toml(d)) == d` for such a dict."""
    lines: list[str] = []
    _table(doc, (), lines)
    return "\n".join(lines) + "\n"


def _table(doc: Mapping[str, Any], path: tuple[str, ...], lines: list[str]) -> None:
    # a table's own keys come before its sub-tables (TOML would put them in the sub-table)
    subtables = []
    for key, value in doc.items():
        if isinstance(value, Mapping) or _is_table_array(value):
            subtables.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in subtables:
        sub = (*path, _key(key))
        if isinstance(value, Mapping):
            lines.append(f"[{'.'.join(sub)}]")
            _table(value, sub, lines)
        else:
            for item in value:
                lines.append(f"[[{'.'.join(sub)}]]")
                _table(item, sub, lines)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _key(key: str) -> str:
    return key if key and set(key) <= _BARE_KEY_CHARS else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, Sequence):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")
