"""Outside probe (tenth session): gzip request bodies of several members, or with bytes after
their end.

RFC 1952 (gzip, which RFC 9110's `Content-Encoding: gzip` names) lets a body be several
members one after the other: concatenated .gz files, or what pigz and some streaming encoders
write. Only the first member was inflated and the rest silently dropped: the JSON came out cut
("We could not parse the JSON body"), or, with a member boundary after a complete object,
part of the request was ignored without a word; bytes after a gzip or deflate stream's end
were ignored the same way. Now every member is inflated (within the body limit, all together),
and anything after the data that is not another member is the caller's 400."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from pathlib import Path

import orjson

from tests.inproc import InProcess, sidecar_in_process

CHAT = orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": "Say hello."}]})


async def _post(sc: InProcess, raw: bytes, encoding: str) -> tuple[int, str]:
    headers = {**sc.auth, "content-type": "application/json", "content-encoding": encoding}
    r = await sc.client.post("/v1/chat/completions", content=raw, headers=headers)
    return r.status_code, r.text


def test_every_gzip_member_is_inflated(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            thirds = [CHAT[:20], CHAT[20:40], CHAT[40:]]
            status, text = await _post(sc, b"".join(gzip.compress(p) for p in thirds), "gzip")
            assert status == 200, text
            limit = sc.services.settings.server.max_body_bytes
            half = b" " * (limit // 2 + 1)  # each member within the limit, together past it
            status, text = await _post(sc, gzip.compress(half) + gzip.compress(half), "gzip")
            assert status == 413, text

    asyncio.run(main())


def test_bytes_after_the_compressed_data_are_a_400(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            for raw, encoding in (
                (gzip.compress(CHAT) + b"trailing", "gzip"),
                (zlib.compress(CHAT) + b"trailing", "deflate"),
            ):
                status, text = await _post(sc, raw, encoding)
                assert status == 400 and encoding in text, (encoding, text)

    asyncio.run(main())


def test_content_encoding_on_several_lines_is_one_list(tmp_path: Path) -> None:
    """Repeated header lines are one comma-separated list (RFC 9110 5.3): only the first line
    was read, so `identity` then `gzip` parsed the compressed bytes as JSON (a 400 that blamed
    the JSON), and `gzip` then `br` inflated one coding of two."""

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            for lines, status in ((["identity", "gzip"], 200), (["gzip", "br"], 415)):
                headers = [*sc.auth.items(), ("content-type", "application/json")]
                headers += [("content-encoding", line) for line in lines]
                r = await sc.client.post(
                    "/v1/chat/completions", content=gzip.compress(CHAT), headers=headers
                )
                assert r.status_code == status, (lines, r.text)

    asyncio.run(main())
