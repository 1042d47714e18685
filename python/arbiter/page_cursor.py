"""The opaque `after` cursor of a paged admin read (`budget_view.py`, `policy_view.py`): the last
row's key as a JSON list, base64url without padding. Decoded back only when it has this
endpoint's shape; anything else is the caller's 400 naming `after`, never a 500."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

import orjson

from arbiter.errors import InvalidRequest

MAX_CHARS = 1024  # a key of a few names of at most a few hundred characters, base64'd


def encode(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(key)).rstrip(b"=").decode()


def decode(text: str, fits: Callable[[list[Any]], bool]) -> list[Any]:
    """`text` back to its key, when `fits` says it is one of this endpoint's; else the 400."""
    try:
        if len(text) > MAX_CHARS or not text.isascii():
            raise ValueError(text)
        key = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not (isinstance(key, list) and fits(key)):
            raise ValueError(text)
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        raise InvalidRequest(
            "'after' is not a cursor of this endpoint: send the previous page's 'last_id'.",
            param="after",
        ) from None
    return key
