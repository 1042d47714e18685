"""Audio tokens in a call's worst case (budget26): an `input_audio` clip and spoken output are
held, and a stream we cut is charged, at the model's audio prices when they are dearer than
its text's (gpt-4o-audio-preview: $40 / $80 per 1M against $2.50 / $10); and a model's fast
mode multiple by its upstream's protocol."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from arbiter import config
from arbiter.config import ModelSettings
from arbiter.config_limits import default_fast_factor
from arbiter.offline.demo import demo_settings
from arbiter.toml_text import to_toml
from arbiter.worst_case import CallWorst
from tests.conftest import ENV

VOICE = ModelSettings(
    "voice", "u", 2.5, 10.0, price_audio_in_per_mtok=40.0, price_audio_out_per_mtok=80.0
)
TEXT = ModelSettings("text", "u", 2.5, 10.0)
MODELS = {"voice": VOICE, "text": TEXT}
CLIP = base64.b64encode(b"\xff\xfb" + b"\0" * 9998).decode()  # 10 kB of mp3: ~10 s


def _body(spoken: bool) -> dict[str, object]:
    content = [{"type": "input_audio", "input_audio": {"data": CLIP, "format": "mp3"}}]
    body: dict[str, object] = {"messages": [{"role": "user", "content": content}]}
    if spoken:
        body["modalities"] = ["text", "audio"]
    return body


def test_clip_and_spoken_output_held_at_audio_prices() -> None:
    worst = CallWorst(MODELS.__getitem__, _body(True), 200, None, prompt=1000)
    clip = worst.audio()[0]
    assert 100 <= clip <= 101  # 10 tokens a second, at 8 kbit/s (rounded up)
    text_worst = worst("text")
    assert text_worst == pytest.approx((1000 * 2.5 + 200 * 10) / 1e6)
    assert worst("voice") == pytest.approx(((1000 - clip) * 2.5 + clip * 40 + 200 * 80) / 1e6)
    # written text only: the output at the text price
    unspoken = CallWorst(MODELS.__getitem__, _body(False), 200, None, prompt=1000)
    assert unspoken("voice") == pytest.approx(((1000 - clip) * 2.5 + clip * 40 + 200 * 10) / 1e6)


def test_cut_stream_of_speech_charged_at_audio_price() -> None:
    """A spoken answer we cut after 50 tokens: its 50 at the audio output price (was the
    text's, 8x under), never above the worst case."""
    worst = CallWorst(MODELS.__getitem__, _body(True), 200, None, prompt=1000)
    clip = worst.audio()[0]
    want = ((1000 - clip) * 2.5 + clip * 40 + 50 * 80) / 1e6
    assert worst.capped("voice", 50) == pytest.approx(want)
    assert worst.capped("voice", 10_000) == pytest.approx(worst("voice"))


def test_fast_factor_defaults_by_protocol(tmp_path: Path) -> None:
    """Unset, a model's fast mode multiple is its upstream protocol's: 2 on OpenAI's
    (priority processing), 6 on Anthropic's (fast mode); a configured one stands."""
    doc = demo_settings("http://127.0.0.1:9/v1", tmp_path / "a.db", anthropic_models=["sim-medium"])
    doc["models"]["sim-small"]["price_fast_factor"] = 3.5
    models = config.loads(to_toml(doc), env=ENV).models
    assert models["sim-tiny"].fast_factor == 2.0
    assert models["sim-medium"].fast_factor == 6.0
    assert models["sim-small"].fast_factor == 3.5
    assert default_fast_factor("anthropic") == 6.0


def test_long_prompt_held_at_long_prices() -> None:
    """A worst-case prompt past `long_context_tokens` is held at the long prices, a shorter
    one at the standard ones (the threshold is the upstream's: the whole call's price)."""
    long = ModelSettings(
        "long", "u", 3.0, 15.0, long_context_tokens=200_000,
        price_long_in_per_mtok=6.0, price_long_out_per_mtok=22.5,
    )  # fmt: skip
    models = {"long": long}
    body: dict[str, object] = {"messages": [{"role": "user", "content": "x"}]}
    past = CallWorst(models.__getitem__, body, 1000, None, prompt=200_001)
    assert past("long") == pytest.approx((200_001 * 6.0 + 1000 * 22.5) / 1e6)
    within = CallWorst(models.__getitem__, body, 1000, None, prompt=200_000)
    assert within("long") == pytest.approx((200_000 * 3.0 + 1000 * 15.0) / 1e6)
