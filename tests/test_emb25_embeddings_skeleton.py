"""emb25: a large /v1/embeddings answer is relayed as it came, its vectors never parsed.

Before, every answer was parsed whole on the loop (2,048 x 1,536 floats: ~3 M Python floats,
~0.3 s holding the GIL, RSS up ~5x the answer's 60 MB) though Arbiter reads only its `error`,
`data`'s shape and `usage`. Now an answer past embeddings_answer.INLINE_BYTES is read by its
skeleton (embeddings_skeleton.py: the vectors written as placeholders) off the loop; one the
skeleton does not read, or whose vectors must be converted, is parsed whole as before. The
bench is bench/embeddings_loop_stall.py (the loop's stall, peak RSS)."""

from __future__ import annotations

import asyncio
import base64
import math
import random
import struct
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from arbiter import config
from arbiter.config import FailoverSettings, ModelSettings, UpstreamSettings
from arbiter.errors import UpstreamError
from arbiter.upstream.embeddings_answer import INLINE_BYTES, with_usage
from arbiter.upstream.embeddings_skeleton import skeleton
from arbiter.upstream.openai import OpenAIUpstream
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

MODEL = ModelSettings("em", "up", 0.1, 0.0)


def _vectors(n: int, dims: int) -> list[list[float]]:
    rng = random.Random(n * 31 + dims)
    return [[rng.uniform(-1, 1) for _ in range(dims)] for _ in range(n)]


def _answer(vectors: list[Any], **extra: Any) -> dict[str, Any]:
    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    usage = {"prompt_tokens": len(vectors), "total_tokens": len(vectors)}
    return {"object": "list", "data": data, "model": "em", "usage": usage, **extra}


def _b64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _call(raw: bytes, body: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    upstream = OpenAIUpstream(
        UpstreamSettings("up", "http://upstream.test/v1"),
        FailoverSettings(),
        transport=httpx.MockTransport(lambda request: httpx.Response(200, content=raw)),
    )
    data, out, _ = asyncio.run(upstream.call_endpoint("/embeddings", body, MODEL))
    return data, out


def test_the_skeleton_is_the_answer_with_placeholders_for_its_vectors() -> None:
    vectors = _vectors(3, 8)
    answer = _answer(
        [vectors[0], _b64(vectors[1]), vectors[2]],
        note='a "quoted" [bracket] {brace} \\',  # shaping characters inside a string
        embedding=[1.0, 2.0],  # an `embedding` outside `data`: kept
    )
    answer["data"][0]["extra"] = {"embedding": [3.0]}  # nested deeper: kept
    raw = orjson.dumps(answer, option=orjson.OPT_INDENT_2)  # blanks around every token
    shape = skeleton(raw)
    assert shape is not None
    assert shape[1] == 3
    expected = orjson.loads(raw)
    for item, placeholder in zip(expected["data"], ([0], "", [0]), strict=True):
        item["embedding"] = placeholder
    assert orjson.loads(shape[0]) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b'{"data": [{"embedding": [0.1, NaN]}]}',  # lenient_json reads it (and writes null)
        b'{"data": [{"embedding": [[0.1], [0.2]]}]}',  # no flat vector
        b'{"data": [{"embedding": [0.1, 0.2,]}]}',
        b'{"data": [{"embedding": []}]}',
        '{"model": "é", "data": [{"embedding": [0.1]}]}'.encode(),  # not ASCII
        b'{"data": [{"embedding": [0.1]}]]',  # its nesting broken
        b'{"data": [{"embedding": "abc',  # a string never closed
    ],
)
def test_what_the_skeleton_does_not_read_is_left_to_the_whole_parse(raw: bytes) -> None:
    assert skeleton(raw) is None


@pytest.mark.parametrize("fmt", ["float", "base64"])
def test_a_large_answer_is_relayed_as_it_came_its_vectors_never_parsed(fmt: str) -> None:
    """Before: parsed whole (the dict held every float). Now placeholders, the same bytes."""
    vectors = _vectors(40, 512)
    raw = orjson.dumps(_answer([_b64(v) if fmt == "base64" else v for v in vectors]))
    assert len(raw) > INLINE_BYTES
    data, out = _call(raw, {"model": "em", "input": ["x"] * 40, "encoding_format": fmt})
    assert out == raw
    placeholder = "" if fmt == "base64" else [0]
    assert [d["embedding"] for d in data["data"]] == [placeholder] * 40
    assert data["usage"] == {"prompt_tokens": 40, "total_tokens": 40}


def test_a_large_answer_the_skeleton_does_not_read_is_parsed_whole() -> None:
    """The control: a NaN in a vector (lenient_json reads it, writes null), and floats sent to
    a client that asked base64 (converted), go the old way, vectors and all."""
    vectors = _vectors(40, 96)
    raw = orjson.dumps(_answer(vectors)).replace(b'"embedding":[', b'"embedding":[NaN,', 1)
    data, out = _call(raw, {"model": "em", "input": ["x"] * 40})
    first = orjson.loads(out)["data"][0]["embedding"]
    assert first[0] is None and first[1:] == vectors[0]
    assert math.isnan(data["data"][0]["embedding"][0])
    raw = orjson.dumps(_answer(vectors))
    data, out = _call(raw, {"model": "em", "input": ["x"] * 40, "encoding_format": "base64"})
    got = [struct.unpack("<96f", base64.b64decode(d["embedding"])) for d in data["data"]]
    assert got == [struct.unpack("<96f", struct.pack("<96f", *v)) for v in vectors]
    assert orjson.loads(out) == data


def test_a_large_answer_short_of_the_inputs_is_still_a_502() -> None:
    raw = orjson.dumps(_answer(_vectors(40, 96)))
    with pytest.raises(UpstreamError, match="40 embeddings for 41 inputs"):
        _call(raw, {"model": "em", "input": ["x"] * 41})


def test_a_large_answer_without_usage_gets_arbiters_with_its_vectors(tmp_path: Path) -> None:
    """Through the sidecar and the official SDK: the usage Arbiter writes into an answer that
    had none is spliced into the answer's own bytes, not into its skeleton (placeholders)."""
    vectors = _vectors(40, 96)
    answer = _answer(vectors)
    del answer["usage"]
    raw = orjson.dumps(answer)
    assert len(raw) > INLINE_BYTES

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            upstream = sc.services.upstream_for("sim-small")
            assert isinstance(upstream, OpenAIUpstream)
            upstream._transport = httpx.MockTransport(lambda r: httpx.Response(200, content=raw))
            out = await gpt.embeddings.create(
                model="sim-small", input=["hello"] * 40, encoding_format="float"
            )
            assert [d.embedding for d in out.data] == vectors
            assert out.usage.prompt_tokens == out.usage.total_tokens > 0

    asyncio.run(main())


def test_an_embeddings_answer_has_its_own_bound() -> None:
    """Before: `max_response_bytes` (64 MiB) bounded it, under a full batch of
    text-embedding-3-large (2,048 x 3,072 floats: ~130 MB of JSON), a 502. Now its own key,
    192 MiB by default; chat's answers keep theirs."""
    assert UpstreamSettings("up", "u").max_embeddings_response_bytes >= 2048 * 3072 * 21
    raw = orjson.dumps(_answer(_vectors(40, 96)))  # ~80 KB

    def call(embeddings_cap: int) -> dict[str, Any]:
        upstream = OpenAIUpstream(
            UpstreamSettings(
                "up", "http://upstream.test/v1", max_event_bytes=1024,
                max_response_bytes=2048, max_embeddings_response_bytes=embeddings_cap,
            ),
            FailoverSettings(),
            transport=httpx.MockTransport(lambda request: httpx.Response(200, content=raw)),
        )  # fmt: skip
        body = {"model": "em", "input": ["x"] * 40}
        return asyncio.run(upstream.call_endpoint("/embeddings", body, MODEL))[0]

    assert len(call(len(raw))["data"]) == 40
    with pytest.raises(UpstreamError, match=f"larger than {len(raw) - 1} bytes"):
        call(len(raw) - 1)


def test_the_embeddings_bound_is_read_from_the_config() -> None:
    base = '[upstreams.up]\nbase_url = "http://127.0.0.1:1/v1"\n'
    model = '[models.em]\nupstream = "up"\nprice_in_per_mtok = 0.1\nprice_out_per_mtok = 0.0\n'
    settings = config.loads(base + "max_embeddings_response_bytes = 4096\n" + model, env={})
    assert settings.upstreams["up"].max_embeddings_response_bytes == 4096
    for bad in ("512", '"big"', str(2 * 1024**3)):
        with pytest.raises(config.ConfigError, match="max_embeddings_response_bytes"):
            config.loads(base + f"max_embeddings_response_bytes = {bad}\n" + model, env={})


def test_a_usage_written_into_an_answer_whose_numbers_are_broken_is_a_502() -> None:
    """The skeleton reads a vector's characters, not each number: `1.2.3` passes it, and the
    whole parse that writes Arbiter's usage in names the answer malformed (not a 500)."""
    raw = orjson.dumps(_answer(_vectors(40, 512))).replace(b"0.", b"0.1.", 1)
    assert skeleton(raw) is not None
    with pytest.raises(UpstreamError, match="malformed answer"):
        asyncio.run(with_usage(raw, {"prompt_tokens": 1, "total_tokens": 1}, "em"))
