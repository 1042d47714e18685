"""The strict parser under config.py: a TOML table -> a settings dataclass, every bad key or
value a problem of its own (with its line, the nearest known key for a typo, TOML's type names,
no secret echoed), collected on a Locator so that one run reports them all.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any, Literal

from arbiter import linear
from arbiter.errors import ConfigError

_RESOLVED_ONLY = {"api_key", "admin_key", "dashboard_key", "metrics_key", "name"}


def _table(value: Any, path: list[str], loc: _Locator) -> dict[str, Any]:
    if not isinstance(value, dict):
        loc.fail(f"{loc.where(path)}: {'.'.join(path)} must be a table, not {_toml_kind(value)}")
        return {}
    return value


def _build(cls: type[Any], raw: dict[str, Any], path: list[str], loc: _Locator) -> Any:
    """`cls` from a table; each bad key is a problem of its own (the key keeps its default).
    None when a required key is missing or bad."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    known = [k for k in fields if k not in _RESOLVED_ONLY]
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields or (key in _RESOLVED_ONLY and key != "name"):
            loc.fail(f"{loc.where([*path, key])}: unknown key {clipped(key)}{_suggest(key, known)}")
            continue
        try:
            kwargs[key] = _coerce(hints[key], value, [*path, key], loc)
        except ConfigError as err:
            loc.fail(str(err))
    complete = True
    for name, f in fields.items():
        no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if no_default and name not in kwargs:
            complete = False
            if name not in raw:
                loc.fail(f"{loc.where(path)}: missing required key {'.'.join([*path, name])}")
    return cls(**kwargs) if complete else None


def _suggest(key: str, known: Sequence[str]) -> str:
    """'; did you mean X?' for the nearest known key, else the list of known keys."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f" (known keys: {', '.join(sorted(known))})" if known else ""


def _toml_type(hint: Any) -> str:
    """A Python type hint as a TOML reader would name it: float, integer, array of string..."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_toml_type(a) for a in args if a is not type(None))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is list:
        return f"array of {_toml_type(args[0])}"
    if origin is dict:
        return f"table of {_toml_type(args[1])}"
    if dataclasses.is_dataclass(hint):
        return "table"
    names = {float: "float", int: "integer", str: "string", bool: "boolean"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _toml_kind(value: Any) -> str:
    """What a parsed TOML value is, in TOML's words."""
    if isinstance(value, bool):
        return "a boolean"
    kinds = ((int, "an integer"), (float, "a float"), (str, "a string"), (list, "an array"),
             (dict, "a table"))  # fmt: skip
    for kind, name in kinds:
        if isinstance(value, kind):
            return name
    return "a date/time"


_SECRET_WORDS = ("key", "secret", "token", "password", "passwd", "url")


_CLIP = 80  # characters of a value or key an error message repeats


def clipped(value: Any) -> str:
    """`value`'s repr for an error message, cut at _CLIP characters: a 10 MB string where a
    number belongs was repeated whole, one 10 MB line on the operator's terminal and log."""
    shown = repr(value)
    if len(shown) <= _CLIP:
        return shown
    return f"{shown[:_CLIP]}... ({len(str(value)):,} characters)"


def _shown(path: list[str], value: Any) -> str:
    """The value for an error message: never one of a key that may hold a secret."""
    if any(w in path[-1] for w in _SECRET_WORDS) or isinstance(value, dict | list):
        return _toml_kind(value)
    return f"{clipped(value)} ({_toml_kind(value)})"


def _coerce(hint: Any, value: Any, path: list[str], loc: _Locator) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)

    def bad() -> ConfigError:  # located only when raised: finding the line scans the whole file
        return ConfigError(
            f"{loc.where(path)}: {'.'.join(path)} must be {_article(_toml_type(hint))}, "
            f"not {_shown(path, value)}"
        )

    if origin in (typing.Union, types.UnionType):
        for arg in args:
            try:
                return _coerce(arg, value, path, loc)
            except ConfigError:
                continue
        raise bad()
    if hint is type(None):
        raise bad()  # TOML has no null; optional keys are simply left out
    if origin is Literal:
        if value not in args:
            raise ConfigError(
                f"{loc.where(path)}: {'.'.join(path)} = {_shown(path, value)} is not one of "
                f"{', '.join(repr(a) for a in args)}"
            )
        return value
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _build(hint, _table(value, path, loc), path, loc)
    if origin is list:
        if not isinstance(value, list):
            raise bad()
        items = [_coerce(args[0], v, path, loc) for v in value]
        return [v for v in items if v is not None]  # an incomplete table was reported already
    if origin is dict:
        if not isinstance(value, dict):
            raise bad()
        # as for a list: a table missing a required key was reported already, and leaving its
        # None in (`[latency.priors.X]` without tokens_per_s) crashed the checks after the parse
        pairs = ((k, _coerce(args[1], v, [*path, k], loc)) for k, v in value.items())
        return {k: v for k, v in pairs if v is not None}
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint in (str, bool) and type(value) is hint:
        return value
    raise bad()


def _article(kind: str) -> str:
    if kind.startswith("one of"):
        return kind
    return ("an " if kind[0] in "aeiou" else "a ") + kind


class _Locator:
    """Finds the line where a dotted key is defined, so errors can point at it."""

    # Linear-time patterns (arbiter.linear): with Python's backtracking `re` the header's lazy
    # name and the spaces around it took cubic time on a line of "[" and spaces (a multi-line
    # string's line, valid TOML): 2,000 spaces held check-config 11 s on every problem it named
    _header = linear.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    _key = linear.compile(r"^\s*(\"[^\"]+\"|'[^']+'|[A-Za-z0-9_.-]+)\s*=")

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self._lines = text.splitlines()
        self.problems: list[str] = []
        # (section, key) -> the ARBITER_* variable whose value replaced the file's: a problem
        # with it names the variable, not the file's line, which holds a value never used
        self.from_env: dict[tuple[str, ...], str] = {}

    def fail(self, message: str) -> None:
        """Note a problem and go on checking: every problem is reported in one run."""
        if message not in self.problems:
            self.problems.append(message)

    def raise_problems(self) -> None:
        if self.problems:
            raise ConfigError("\n".join(self.problems), problems=self.problems)

    def where(self, path: list[str]) -> str:
        var = self.from_env.get(tuple(path[:2]))
        if var is not None:
            return f"environment variable {var}"
        line = self._find(path)
        # a key inside an inline table or an array of tables' value (routing.cascade_expected_gain
        # = { chat = [...] }) has no line of its own: the line that defines its nearest enclosing
        # key holds it (only for keys under a section: the section header alone says too little)
        for depth in range(len(path) - 1, 1, -1):
            if line:
                break
            line = self._find(path[:depth])
        return f"{self.source}:{line}" if line else self.source

    def _find(self, path: list[str]) -> int | None:
        table: list[str] = []
        best: int | None = None
        for i, line in enumerate(self._lines, start=1):
            head = self._header.match(line)
            if head:
                table = [p.strip().strip("\"'") for p in head.group(1).split(".")]
                if table == path:
                    best = best or i
                continue
            key = self._key.match(line)
            if key:
                full = table + [p.strip("\"'") for p in key.group(1).split(".")]
                if full == path:
                    return i
        return best
