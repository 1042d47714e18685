"""An upstream answer's headers (H1Transport's), read through a dict instead of line scans.

Every answer is read for a handful of headers (Content-Length, Content-Encoding, Content-Type
twice, the three cost headers, the forwarded ones), most of them absent. `httpx.Headers` answers
each `get` by lower-casing and encoding the name, working out the headers' encoding (a decode of
every line, once), scanning every line and decoding each match, and an absent one by raising
and catching a KeyError: ~740 bytecode instructions of the pass-through request's 16,700
(bench/results/overhead.profile.md, twentieth session). `AnswerHeaders` is an `httpx.Headers`
(the same lines in `_list`, every method of it still works) whose lookups go through a dict of
each lower-cased name's values, built at the first lookup; a mutation drops the dict.

The values read are the ones httpx gives: the same lines joined with ", ", decoded with the
encoding httpx picks (ASCII, else UTF-8, else Latin-1); an ASCII value decodes the same in all
three, so only a line that is not ASCII asks for the encoding.
"""

from __future__ import annotations

from collections.abc import KeysView
from typing import Any

import httpx


class AnswerHeaders(httpx.Headers):
    """`httpx.Headers` of byte pairs as received, looked up through a dict (module text)."""

    # lower-cased name -> its value, or its values in order when the name came more than once
    _index: dict[bytes, bytes | list[bytes]] | None = None

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        # what httpx.Headers(raw) stores for byte pairs, without its per-line normalising calls
        self._list = [(name, name.lower(), value) for name, value in raw]
        self._encoding = None

    def _lookup(self) -> dict[bytes, bytes | list[bytes]]:
        index: dict[bytes, bytes | list[bytes]] | None = self._index
        if index is None:
            lines = self._list
            index = {name: value for _, name, value in lines}
            if len(index) != len(lines):  # a name came more than once: keep all its values
                index = {}
                for _, name, value in lines:
                    seen = index.get(name)
                    if seen is None:
                        index[name] = value
                    elif isinstance(seen, list):
                        seen.append(value)
                    else:
                        index[name] = [seen, value]
            self._index = index
        return index

    def _name(self, key: str) -> bytes:
        try:  # an ASCII name encodes the same in every encoding httpx may pick
            return key.lower().encode("ascii")
        except UnicodeEncodeError:
            return key.lower().encode(self.encoding)

    def _text(self, value: bytes | list[bytes]) -> str:
        if isinstance(value, bytes):
            return value.decode("ascii") if value.isascii() else value.decode(self.encoding)
        return ", ".join(self._text(v) for v in value)

    def get(self, key: str, default: Any = None) -> Any:
        index = self._index
        value = (self._lookup() if index is None else index).get(self._name(key))
        if value is None:
            return default
        if isinstance(value, bytes) and value.isascii():  # (_text's commonest case, inlined)
            return value.decode("ascii")
        return self._text(value)

    def __getitem__(self, key: str) -> str:
        value = self._lookup().get(self._name(key))
        if value is None:
            raise KeyError(key)
        return self._text(value)

    def __contains__(self, key: Any) -> bool:
        return self._name(key) in self._lookup()

    def keys(self) -> KeysView[str]:
        # the lower-cased names in first-seen order, as httpx's (its dict of the lines' names)
        return {
            name.decode("ascii") if name.isascii() else name.decode(self.encoding): None
            for name in self._lookup()
        }.keys()

    def __setitem__(self, key: str, value: str) -> None:
        self._index = None
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._index = None
        super().__delitem__(key)

    def update(self, headers: Any = None) -> None:  # type: ignore[override]  # (as httpx.Headers)
        super().update(headers)
        self._index = None  # after: httpx's looks names up (building it), then extends _list
