"""Outside probe (tenth session): JSON bodies that are not plain UTF-8.

- A body sent in the charset its Content-Type names (`application/json; charset=iso-8859-1`,
  what several Java and .NET clients send by default, or UTF-16 with a BOM) was parsed as
  UTF-8 and refused with orjson's "str is not valid UTF-8: surrogates not allowed at byte 0",
  a message that points nowhere near the problem. A body that is not UTF-8 is now read in the
  charset its Content-Type declares (a body that is UTF-8 whatever the header says, as many a
  misdeclared client sends, is read as before); a charset Python does not know is a 415 naming
  it.
- A UTF-8 byte order mark before the JSON (PowerShell's and .NET's files) was a 400 "BOM is not
  supported": RFC 8259 lets a parser ignore it, and it is now ignored.
Both the OpenAI and the Anthropic surface, through the decoder they share (request_body.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from tests.inproc import InProcess, sidecar_in_process

TEXT = "Résumé of a café, in 5 words."
CHAT = {"model": "sim-small", "max_tokens": 5, "messages": [{"role": "user", "content": TEXT}]}
MESSAGES = {"model": "sim-small", "max_tokens": 5, "messages": [{"role": "user", "content": TEXT}]}


async def _post(sc: InProcess, path: str, raw: bytes, content_type: str) -> tuple[int, bytes]:
    headers = {**sc.auth_for(path), "content-type": content_type}
    r = await sc.client.post(path, content=raw, headers=headers)
    return r.status_code, r.content


def test_a_body_in_its_declared_charset_is_read(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            for path, body in (("/v1/chat/completions", CHAT), ("/v1/messages", MESSAGES)):
                text = orjson.dumps(body).decode()
                ascii_text = text.replace("é", "e")  # UTF-16 of ASCII is valid UTF-8 too
                for raw, content_type in (
                    (text.encode("latin-1"), "application/json; charset=iso-8859-1"),
                    (text.encode("cp1252"), "application/json;charset=windows-1252"),
                    (text.encode("utf-16"), 'application/json; charset="UTF-16"'),
                    (text.encode("utf-16-le"), "application/json; charset=utf-16le"),
                    (ascii_text.encode("utf-16-le"), "application/json; charset=utf-16le"),
                    (text.encode(), "application/json; charset=ISO-8859-1"),  # misdeclared
                    (b"\xef\xbb\xbf" + text.encode(), "application/json"),  # a BOM
                ):
                    status, answer = await _post(sc, path, raw, content_type)
                    assert status == 200, (path, content_type, answer)
                count = {k: v for k, v in MESSAGES.items() if k != "max_tokens"}
                latin = orjson.dumps(count).decode().encode("latin-1")
                status, answer = await _post(
                    sc, "/v1/messages/count_tokens", latin, "application/json; charset=latin1"
                )
                utf8 = await _post(sc, "/v1/messages/count_tokens", orjson.dumps(count), "x")
                assert (status, answer) == utf8  # the same text, the same count

    asyncio.run(main())


def test_an_unknown_charset_is_a_415_naming_it(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            raw = orjson.dumps(CHAT).decode().encode("latin-1")
            status, answer = await _post(
                sc, "/v1/chat/completions", raw, "application/json; charset=klingon"
            )
            assert status == 415, answer
            assert "klingon" in orjson.loads(answer)["error"]["message"]
            status, answer = await _post(
                sc, "/v1/messages", raw, "application/json; charset=klingon"
            )
            assert status == 415 and orjson.loads(answer)["type"] == "error", answer

    asyncio.run(main())
