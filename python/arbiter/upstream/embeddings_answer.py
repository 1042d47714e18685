"""A whole /v1/embeddings answer, checked and put in the encoding the client asked.

One embedding object per input (OpenAI's CreateEmbeddingResponse): a `data` that is no list of
them, or one short or long of the inputs, is an upstream failure (502), as chat's malformed
answer is; relayed as a 200, a client pairing its inputs with `data` read one vector fewer, or
shifted, without a word. Each vector in the client's `encoding_format` (float when unset, as
OpenAI's default): base64 is the float32 little-endian bytes of the vector, as OpenAI encodes
it. Servers that ignore the parameter (they answer floats whatever is asked, or base64 by
default) are converted, so a client decoding base64 never gets a list, nor a float reader a
string. Pure: no I/O; a large answer's conversion runs off the event loop (`mended`: 2,048
vectors of 1,536 floats are a fifth of a second of CPU here)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import struct
from typing import Any

import orjson

from arbiter.errors import UpstreamError

INLINE_BYTES = 64 * 1024  # an answer up to this size is converted on the loop (~0.5 ms)


async def mended(
    data: dict[str, Any], raw: bytes, body: dict[str, Any], model: str
) -> tuple[dict[str, Any], bytes]:
    """The answer and its bytes as the client gets them (`as_asked`), or as they came."""
    if len(raw) <= INLINE_BYTES:
        return _mended(data, raw, body, model)
    return await asyncio.to_thread(_mended, data, raw, body, model)


def _mended(
    data: dict[str, Any], raw: bytes, body: dict[str, Any], model: str
) -> tuple[dict[str, Any], bytes]:
    out = as_asked(data, body, model)
    return (data, raw) if out is None else (out, orjson.dumps(out))


def as_asked(data: dict[str, Any], body: dict[str, Any], model: str) -> dict[str, Any] | None:
    """`data` (the upstream's answer to `body`) with every embedding in the asked encoding, or
    None when it already is; UpstreamError when it is no list of one embedding per input."""
    items = data.get("data")
    inputs = body.get("input")
    one = isinstance(inputs, str) or (isinstance(inputs, list) and isinstance(inputs[0], int))
    want = 1 if one or not isinstance(inputs, list) else len(inputs)
    if not isinstance(items, list) or not all(
        isinstance(it, dict) and isinstance(it.get("embedding"), list | str) for it in items
    ):
        raise UpstreamError(f"{model}: malformed embeddings answer (no list of embeddings)")
    if len(items) != want:
        raise UpstreamError(
            f"{model}: the embeddings answer holds {len(items)} embeddings for {want} inputs"
        )
    b64 = body.get("encoding_format") == "base64"
    if all(isinstance(it["embedding"], str) == b64 for it in items):
        return None
    try:
        out = [{**it, "embedding": _encoded(it["embedding"], b64)} for it in items]
    except (struct.error, binascii.Error, ValueError) as err:
        raise UpstreamError(f"{model}: malformed embedding in the answer ({err})") from err
    return {**data, "data": out}


def _encoded(vector: list[Any] | str, b64: bool) -> list[Any] | str:
    if b64 and isinstance(vector, list):
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    if not b64 and isinstance(vector, str):
        raw = base64.b64decode(vector, validate=True)
        if len(raw) % 4:
            raise ValueError(f"{len(raw)} bytes are no float32 vector")
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return vector
