"""A whole /v1/embeddings answer, checked and put in the encoding the client asked.

One embedding object per input (OpenAI's CreateEmbeddingResponse): a `data` that is no list of
them, or one short or long of the inputs, is an upstream failure (502), as chat's malformed
answer is; relayed as a 200, a client pairing its inputs with `data` read one vector fewer, or
shifted, without a word. Each vector in the client's `encoding_format` (float when unset, as
OpenAI's default): base64 is the float32 little-endian bytes of the vector, as OpenAI encodes
it. Servers that ignore the parameter (they answer floats whatever is asked, or base64 by
default) are converted, so a client decoding base64 never gets a list, nor a float reader a
string.

A large answer (2,048 vectors of 1,536 floats are ~60 MB) is read by its skeleton, off the loop
(embeddings_skeleton.py): its vectors are never parsed, and its bytes are relayed as they came.
Only an answer the skeleton does not read, or one whose vectors must be converted, is parsed
whole: off the loop, at most WHOLE_AT_ONCE at a time (each is ~0.3 s of CPU that holds the GIL
and ~5x the answer's size in Python objects while it lasts)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import struct
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson

from arbiter.errors import UpstreamError
from arbiter.upstream.embeddings_skeleton import skeleton
from arbiter.upstream.http import answer_and_bytes

INLINE_BYTES = 64 * 1024  # an answer up to this size is read whole on the loop (~0.5 ms)
WHOLE_AT_ONCE = 2  # large answers parsed whole at one time, per process
_WHOLE = ThreadPoolExecutor(WHOLE_AT_ONCE, thread_name_prefix="embeddings-whole")
# skeletons are read one at a time: the walk holds the GIL between its short steps, and more
# threads contending for it only starve the loop (6 at once: 140-340 ms of stall with a thread
# each, 29-36 ms in one; the same CPU either way)
_SKELETONS = ThreadPoolExecutor(1, thread_name_prefix="embeddings-skeleton")


async def read(raw: bytes, body: dict[str, Any], model: str) -> tuple[dict[str, Any], bytes]:
    """The answer as Arbiter reads it and the bytes the client gets (in the encoding asked).
    An error object is returned for the caller to raise; an answer that is no list of one
    embedding per input raises UpstreamError. The dict of a large answer read by its skeleton
    holds placeholders for its vectors (`[0]`, `""`): everything but the vectors is as sent."""
    if len(raw) <= INLINE_BYTES:
        return _whole(raw, body, model)
    loop = asyncio.get_running_loop()
    data = await loop.run_in_executor(_SKELETONS, _by_skeleton, raw, body, model)
    if data is not None:
        return data, raw
    return await loop.run_in_executor(_WHOLE, _whole, raw, body, model)


async def with_usage(raw: bytes, usage: dict[str, Any], model: str) -> bytes:
    """`raw` (an answer `read` gave) with its `usage` replaced: parsed whole, as above (only an
    upstream that sends no well-formed usage pays it). A vector whose numbers the skeleton let
    through unread (`1.2.3`) is a malformed answer here (502), never a 500."""

    def written() -> bytes:
        try:
            return orjson.dumps({**orjson.loads(raw), "usage": usage})
        except orjson.JSONDecodeError as err:
            raise UpstreamError(f"{model}: malformed answer from upstream") from err

    if len(raw) <= INLINE_BYTES:
        return written()
    return await asyncio.get_running_loop().run_in_executor(_WHOLE, written)


def _by_skeleton(raw: bytes, body: dict[str, Any], model: str) -> dict[str, Any] | None:
    """The answer's skeleton read, when it is an error object or needs no conversion; else
    None (parse it whole)."""
    shape = skeleton(raw)
    if shape is None:
        return None
    try:
        data = orjson.loads(shape[0])
    except orjson.JSONDecodeError:
        return None  # lenient_json may read it, or name it malformed
    if not isinstance(data, dict):
        return None
    if "error" in data or as_asked(data, body, model) is None:
        return data
    return None


def _whole(raw: bytes, body: dict[str, Any], model: str) -> tuple[dict[str, Any], bytes]:
    data, raw = answer_and_bytes(raw, model)
    if "error" in data:
        return data, raw
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
