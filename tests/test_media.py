"""Routing's token counts: text by the o200k tokenizer, images by size and detail, audio by
duration; an audio request needs a model with the "audio" capability (a 400 when none has it)."""

from __future__ import annotations

import base64
import json
import struct

import pytest

from arbiter import media
from arbiter.errors import NoCapableModel
from arbiter.image_rules import DEFAULT_IMAGE_RULE
from arbiter.routing import PoolModel, Router, RouteRequest, RouterParams
from arbiter.surfaces.openai_chat import parse_chat_request
from arbiter.types import count_tokens, estimate_tokens


def _png(w: int, h: int) -> str:
    head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", w, h)
    return "data:image/png;base64," + base64.b64encode(head + b"\x08\x06\x00\x00\x00" * 8).decode()


def _jpeg(w: int, h: int) -> str:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
    sof = b"\xff\xc0" + struct.pack(">HBHH", 17, 8, h, w) + b"\x03" + b"\x00" * 9
    return "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8" + app0 + sof).decode()


def _wav(
    seconds: float, byte_rate: int = 32_000, sample_rate: int = 16_000, declared: int | None = None
) -> str:
    """16-bit mono PCM, `seconds` of sound at 16 kHz; `byte_rate`, `sample_rate` and `declared`
    (the data chunk's size) are what the header says, true unless the test makes them lie."""
    n = int(seconds * 32_000)
    head = (b"RIFF" + struct.pack("<I", 36 + n) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1,
            sample_rate, byte_rate, 2, 16) + b"data" + struct.pack("<I", n if declared is None
            else declared))  # fmt: skip
    return base64.b64encode(head + b"\x00" * n).decode()


def _request(content: object) -> bytes:
    body = {"model": "auto", "messages": [{"role": "user", "content": content}]}
    return json.dumps(body).encode()


def test_openai_tile_formula() -> None:
    # OpenAI's worked examples: 1024 x 1024 high detail 765, 2048 x 4096 1105, low detail 85
    assert media.image_tokens(1024, 1024) == 765
    assert media.image_tokens(2048, 4096) == 1105
    assert media.image_tokens(4096, 8192, "low") == 85
    assert media.image_tokens(300, 200) == 85 + 170


@pytest.mark.parametrize("make", [_png, _jpeg])
def test_image_size_from_data_url_headers(make: object) -> None:
    assert callable(make)
    assert media.image_size(make(1600, 900)) == (1600, 900)
    assert media.image_size("https://example.com/cat.png") is None
    assert media.image_size("data:image/png;base64,!!!!") is None


def test_audio_duration_from_a_wav_header_and_from_size() -> None:
    assert media.audio_seconds(_wav(2.0)) == pytest.approx(2.0, abs=0.01)
    mp3 = base64.b64encode(b"\x00" * 32_000).decode()  # 2 s at 128 kbit/s
    assert media.audio_seconds(mp3) == pytest.approx(2.0, abs=0.01)


@pytest.mark.parametrize(
    "clip",
    [
        _wav(1.0, byte_rate=1),  # read as the rate: 32,000 s (a 1 s clip over any context window)
        _wav(1.0, byte_rate=2**32 - 1),  # read as the rate: 0 s (any clip free)
        _wav(1.0, declared=2**32 - 1),  # a data chunk of 4 GB: 37 hours claimed, 1 s sent
        _wav(1.0, declared=0),
    ],
    ids=["byte-rate-1", "byte-rate-max", "data-size-max", "data-size-0"],
)
def test_a_wav_header_that_lies_counts_the_sound_sent(clip: str) -> None:
    # a decoder plays PCM at sample rate x block align over the bytes it gets: 1 s here
    assert media.audio_seconds(clip) == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("sample_rate", [0, 1, 2**32 - 1])
def test_a_wav_with_an_implausible_sample_rate_counts_by_its_size(sample_rate: int) -> None:
    clip = _wav(1.0, sample_rate=sample_rate)
    size = len(clip) * 3 // 4 - clip[-2:].count("=")
    assert media.audio_seconds(clip) == pytest.approx(size / 16_000, abs=0.01)


def test_audio_is_counted_by_its_bytes_not_its_format_label() -> None:
    # a 3 s WAV labelled mp3 is 30 tokens (10/s), not its 96 kB at 128 kbit/s (6 s: 60)
    text = {"type": "text", "text": "What is said?"}
    plain = parse_chat_request(_request([text])).prompt_tokens
    for fmt in ("wav", "mp3"):
        clip = {"type": "input_audio", "input_audio": {"data": _wav(3.0), "format": fmt}}
        assert parse_chat_request(_request([text, clip])).prompt_tokens - plain == 30, fmt


def test_routing_counts_text_with_the_tokenizer() -> None:
    """chars/4 undercounts CJK and JSON; the routing count is the tokenizer's (within the
    extrapolation's error beyond EXACT_CHARS)."""
    cjk = "路由器根据每个请求的成本和质量选择模型。" * 50  # 1,000 characters: counted exactly
    req = parse_chat_request(_request(cjk))
    assert req.prompt_tokens == count_tokens([cjk]) + 4
    assert req.prompt_tokens > 1.5 * (estimate_tokens(cjk) + 4)
    short = cjk[:400]  # a short text is estimated: far from any context window either way
    assert parse_chat_request(_request(short)).prompt_tokens == estimate_tokens(short) + 4
    long_json = json.dumps([{"id": i, "name": f"item-{i}", "tags": ["a", "b"]} for i in range(400)])
    exact = count_tokens([long_json])
    assert len(long_json) > media.EXACT_CHARS
    assert media.text_tokens(long_json) == pytest.approx(exact, rel=0.1)
    assert exact > 1.3 * estimate_tokens(long_json)


def test_routing_counts_images_and_audio() -> None:
    text = {"type": "text", "text": "What is in this picture?"}
    plain = parse_chat_request(_request([text])).prompt_tokens

    def with_image(url: str, **detail: str) -> int:
        part = {"type": "image_url", "image_url": {"url": url, **detail}}
        req = parse_chat_request(_request([text, part]))
        return req.prompt_tokens_on(DEFAULT_IMAGE_RULE) - plain  # gpt-4o's rule

    big = parse_chat_request(_request([text, {"type": "image_url", "image_url": {"url": "x"}}]))
    assert big.has_images
    assert with_image(_png(1024, 1024)) == 765
    assert with_image(_png(1024, 1024), detail="low") == 85
    assert with_image("https://x/y.png") == 765  # unknown size: counted as 1024 x 1024
    assert with_image(_jpeg(300, 200)) == 255
    clip = {"type": "input_audio", "input_audio": {"data": _wav(3.0), "format": "wav"}}
    heard = parse_chat_request(_request([text, clip]))
    assert heard.has_audio and heard.prompt_tokens - plain == 30


def test_an_audio_request_without_an_audio_model_is_a_400_naming_it() -> None:
    pool = [PoolModel(f"m{i}", 1.0, 2.0, 100_000, frozenset({"vision"}), {}) for i in range(2)]
    req = RouteRequest("t", "chat", 50, 10, needs=frozenset({"audio"}))
    with pytest.raises(NoCapableModel) as info:
        Router(pool, RouterParams(baseline="m0")).decide(req)
    assert info.value.http_status == 400 and "lacks audio" in info.value.message
