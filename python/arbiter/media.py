"""What a request's prompt costs in tokens, for routing: text by a real tokenizer, images by size
and detail, audio by duration; and which modalities it carries.

Routing's context check and cost estimate read `ChatRequest.prompt_tokens`. Characters / 4
undercounts code, JSON and CJK text about 2x and counts an image or an audio clip as nothing, so a
long-context or multimodal request looked cheap and fitting. Here:

- Text: OpenAI's o200k_base BPE (the Rust kernel, `types.count_tokens`) on up to EXACT_CHARS;
  a longer text is counted on its first and last EXACT_CHARS / 2 characters and extrapolated by
  that tokens-per-character ratio, so the cost per request stays bounded: measured on the
  shared, loaded 2-core dev box (best of 7 x 300), ~6 us for a 300-character prompt and ~60 us
  for any prompt of 1,000 characters or more (chars / 4 costs ~0.1 us). Under 1,000 characters
  the estimate stands (see text_tokens); the tokenizer's tables load on the first longer text.
- Images: not counted here but described (`ImageSpec`: size and detail), since each model prices
  them by its own rule (image_rules.py, `ChatRequest.prompt_tokens_on`). The size is read from a
  data URL's PNG / GIF / JPEG / WebP header; a linked image of unknown size is 1024 x 1024.
- Audio: input_audio parts by duration, 10 tokens per second (OpenAI's audio models bill about
  600 tokens per minute of input); a WAV clip's duration from the bytes sent at its header's
  rate (sample rate x block align for PCM, never the byte-rate field a client can set alone;
  the bytes, not the `format` label, say whether it is a WAV), other formats from their size
  at 128 kbit/s.
- PDFs (an OpenAI `file` part, an Anthropic `document`: block_tokens.py): Anthropic's PDF support
  page gives 1,500-3,000 tokens per page (the page's text plus the page as an image, by
  density); PDF_TOKENS_PER_PAGE is the middle of that range (OpenAI also sends each page's text
  and image, and documents no figure). Pages are counted by their `/Type /Page` objects; a PDF
  that hides them in compressed object streams is counted from its size, a page per
  PDF_BYTES_PER_PAGE. A file by id or URL, unseen here, counts as one page.

The budget reservation (worst_case.py) reserves each model's image rule's ceiling per image (or
`budgets.image_tokens`): it must never be below the bill, this must be near it.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Iterable, Mapping
from typing import Any

from arbiter import image_rules, tokenizer_load
from arbiter.data_url import data_url_parts
from arbiter.image_rules import ImageSpec
from arbiter.types import count_tokens, estimate_tokens

EXACT_CHARS = 1024
ESTIMATE_BELOW = 1000  # characters: shorter texts are estimated (text_tokens)
IMAGE_PARTS = frozenset({"image_url", "input_image", "image"})
AUDIO_PARTS = frozenset({"input_audio", "audio"})
LOW_DETAIL_TOKENS = 85
TILE_TOKENS = 170
DEFAULT_IMAGE_SIDE = 1024  # a linked image: its size is unknown without fetching it
AUDIO_TOKENS_PER_S = 10.0
COMPRESSED_AUDIO_BYTES_PER_S = 16_000  # 128 kbit/s
# the budget's ceiling: 8 kbit/s, MPEG audio's lowest bitrate and the floor of a WAV's counted rate
AUDIO_FLOOR_BYTES_PER_S = 1_000
PDF_TOKENS_PER_PAGE = 2_250  # Anthropic: "each page typically uses 1,500-3,000 tokens"
PDF_BYTES_PER_PAGE = 25_000  # a page's share of a PDF whose page objects are compressed
UNSEEN_DOCUMENT_TOKENS = PDF_TOKENS_PER_PAGE  # a file by id or URL: one page
_PAGE_MARKS = (b"/Type /Page", b"/Type/Page")  # also the prefix of /Pages: told apart below
_MARK_SPAN = len(b"/Type /Pages") - 1  # the bytes a mark can straddle a chunk seam by
PDF_CHUNK_CHARS = 1 << 20  # base64 characters decoded at a time (768 KiB of PDF)
_HEADER_B64 = 64  # base64 characters decoded to read an image header (48 bytes)
_JPEG_SCAN_B64 = 64 * 1024  # a JPEG's size sits in its SOF marker, after the metadata
_JPEG_MAX_MARKERS = 64  # markers before the frame: APPn, DQT, DHT, DRI, COM: tens in a real file
# a WAV header's plausible bounds (outside them the clip is counted by its size, as an MP3):
# 1 kHz (below any speech codec) to 768 kHz (the highest rate audio hardware offers), up to 32
# channels; 1,000 B/s (GSM 6.10 is 1,625) to 768 kHz x 32 channels x 4 bytes
_WAV_PCM_TAGS = frozenset({1, 3, 0xFFFE})  # integer PCM, IEEE float, WAVE_FORMAT_EXTENSIBLE
_WAV_MAX_CHANNELS = 32
_WAV_MIN_RATE, _WAV_MAX_RATE = 1_000, 768_000
_WAV_MIN_BYTES_PER_S, _WAV_MAX_BYTES_PER_S = AUDIO_FLOOR_BYTES_PER_S, 768_000 * 32 * 4


def text_tokens(text: str) -> int:
    """o200k_base tokens of `text`, exact up to EXACT_CHARS, extrapolated beyond; a text under
    ESTIMATE_BELOW characters is estimated (characters / 4): even undercounted 2x it is far from
    any context window, and the tokenizer's tables (66 MB resident, ~0.3 s to load) are then
    loaded only by a process that sees long prompts (bench/overhead's RSS goal)."""
    n = len(text)
    if n < ESTIMATE_BELOW:
        return estimate_tokens(text)
    if not tokenizer_load.ready() and tokenizer_load.on_event_loop():
        # the tables load in a thread (tokenizer_load.py); until then the estimate, as for a
        # short text: a count on the loop would be the byte bound (~4x English's tokens), which
        # budgets want but which would rule a long prompt out of context windows it fits
        tokenizer_load.start()
        return estimate_tokens(text)
    if n <= EXACT_CHARS:
        return count_tokens([text])
    half = EXACT_CHARS // 2
    sample = count_tokens([text[:half], text[-half:]])
    return math.ceil(sample * n / EXACT_CHARS)


def image_tokens(width: int, height: int, detail: str = "auto") -> int:
    """GPT-4o's vision pricing for one image of this size (image_rules.DEFAULT_SPEC): a count
    with no model yet. A model's own count is its `image_rule`'s."""
    if detail == "low" or width <= 0 or height <= 0:
        return LOW_DETAIL_TOKENS
    return image_rules.parse(image_rules.DEFAULT_SPEC).tokens(width, height, detail)


def _b64_prefix(data: str, chars: int) -> bytes:
    head = data[: chars - chars % 4]
    try:
        return base64.b64decode(head, validate=False)
    except (binascii.Error, ValueError):
        return b""


def image_type_of(data: str) -> str | None:
    """The media type a base64 image's own bytes show (PNG, GIF, WebP or JPEG magic numbers),
    or None when they show none of these (Anthropic refuses an image whose declared type is
    not its bytes'; OpenAI reads the bytes)."""
    head = _b64_prefix(data, 16)
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    return None


def image_size(url: str) -> tuple[int, int] | None:
    """(width, height) from a base64 data URL's image header, or None when it cannot be read."""
    parts = data_url_parts(url)
    if isinstance(parts, str):
        return None
    data = parts[1]
    head = _b64_prefix(data, _HEADER_B64)
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        w, h = struct.unpack(">II", head[16:24])
        return int(w), int(h)
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        w, h = struct.unpack("<HH", head[6:10])
        return int(w), int(h)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and len(head) >= 30:
        return _webp_size(head)
    if head[:2] == b"\xff\xd8":
        return _jpeg_size(_b64_prefix(data, _JPEG_SCAN_B64))
    return None


def _webp_size(b: bytes) -> tuple[int, int] | None:
    kind = b[12:16]
    if kind == b"VP8X":
        return 1 + int.from_bytes(b[24:27], "little"), 1 + int.from_bytes(b[27:30], "little")
    if kind == b"VP8 ":
        w, h = struct.unpack("<HH", b[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if kind == b"VP8L":
        bits = int.from_bytes(b[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


def _jpeg_size(b: bytes) -> tuple[int, int] | None:
    """Walk the JPEG's markers (each names its length) to the first start-of-frame, at most
    _JPEG_MAX_MARKERS of them (None past that: unknown, the budget's ceiling). A real file has
    a few before its frame; a crafted one of 4-byte markers made this walk a Python step per 4
    bytes of the 48 KiB scanned (60 such images in a 4 MB body: 1 s of CPU)."""
    i = 2
    for _ in range(_JPEG_MAX_MARKERS):
        if i + 9 >= len(b):
            return None
        if b[i] != 0xFF:
            return None
        marker = b[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = int.from_bytes(b[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", b[i + 5 : i + 9])
            return int(w), int(h)
        i += 2 + length
    return None


def audio_seconds(data: str) -> float:
    """A base64 clip's duration: a WAV's from the bytes it holds at its header's rate, else its
    size at 128 kbit/s. The bytes, not the part's `format` label, say whether it is a WAV: they
    are what the upstream decodes, and a label may contradict them."""
    size = len(data) * 3 // 4 - data[-2:].count("=")
    rate = _wav_bytes_per_s(_b64_prefix(data, _HEADER_B64))
    if rate is not None:
        return max(size - 44, 0) / rate
    return size / COMPRESSED_AUDIO_BYTES_PER_S


def _wav_bytes_per_s(head: bytes) -> int | None:
    """A canonical WAV header's bytes per second of sound, or None when `head` is no such
    header or its rate is implausible. A decoder plays PCM at sample rate x block align and
    ignores the header's redundant byte-rate field, so for PCM that field (which a client may
    set to 1, making a 1 s clip count as 9 hours, or to 2^32-1, making any clip free) is not
    read; for a compressed WAV it is the only rate there is. The data chunk's declared size is
    never read either: the duration is of the bytes actually sent."""
    if len(head) < 36 or head[:4] != b"RIFF" or head[8:16] != b"WAVEfmt ":
        return None
    tag, channels, sample_rate, byte_rate, block_align = struct.unpack("<HHIIH", head[20:34])
    if not (1 <= channels <= _WAV_MAX_CHANNELS and _WAV_MIN_RATE <= sample_rate <= _WAV_MAX_RATE):
        return None
    rate = sample_rate * block_align if tag in _WAV_PCM_TAGS else byte_rate
    return rate if _WAV_MIN_BYTES_PER_S <= rate <= _WAV_MAX_BYTES_PER_S else None


def audio_ceiling_tokens(data: str) -> int:
    """The most a base64 clip can bill, for the budget reservation: its bytes at
    AUDIO_FLOOR_BYTES_PER_S (no clip plays longer per byte, a WAV's counted rate included, so
    this is never below `audio_seconds`'s count), at AUDIO_TOKENS_PER_S. O(1): the length only."""
    size = len(data) * 3 // 4
    return math.ceil(size / AUDIO_FLOOR_BYTES_PER_S * AUDIO_TOKENS_PER_S)


def pdf_pages(data: str) -> int:
    """Pages of a base64 PDF: its page objects, else its decoded size at PDF_BYTES_PER_PAGE.
    Decoded a chunk at a time (PDF_CHUNK_CHARS), so a 20 MB PDF holds ~1 MB of decoded bytes at
    a time, not 20 MB beside its 27 MB of base64 (a whole decode's peak): the page marks are
    counted across chunk seams (the previous chunk's last bytes lead the next)."""
    marks = (*_PAGE_MARKS, *(m + b"s" for m in _PAGE_MARKS))
    counts = [0] * len(marks)
    tail = b""
    size = 0
    pending = ""  # base64 characters left over from the last chunk (fewer than 4)
    for start in range(0, len(data), PDF_CHUNK_CHARS):
        text = pending + "".join(data[start : start + PDF_CHUNK_CHARS].split())
        usable = len(text) - len(text) % 4
        pending = text[usable:]
        try:
            raw = base64.b64decode(text[:usable], validate=False)
        except (binascii.Error, ValueError):
            raw = b""
        size += len(raw)
        buf = tail + raw
        for i, mark in enumerate(marks):
            counts[i] += buf.count(mark) - tail.count(mark)  # those inside `tail`: counted
        tail = buf[-_MARK_SPAN:]
    marked = counts[0] + counts[1] - counts[2] - counts[3]
    size = size or len(data) * 3 // 4
    return max(1, marked if marked > 0 else math.ceil(size / PDF_BYTES_PER_PAGE))


def pdf_tokens(data: str) -> int:
    """A base64 PDF's tokens, by its pages."""
    return pdf_pages(data) * PDF_TOKENS_PER_PAGE


def _file_part_tokens(part: Mapping[str, Any]) -> int:
    """An OpenAI `file` part: its inline data (a data URL or bare base64) as a PDF, else (a
    `file_id`) one unseen page."""
    spec = part.get("file")
    data = spec.get("file_data") if isinstance(spec, Mapping) else None
    if not isinstance(data, str) or not data:
        return UNSEEN_DOCUMENT_TOKENS
    if data[:5].lower() == "data:":
        data = data[data.find(",", 0, 1024) + 1 :]
    return pdf_tokens(data)


def _image_part_spec(part: Mapping[str, Any], unknown: int = DEFAULT_IMAGE_SIDE) -> ImageSpec:
    """An image part's size (`unknown` x `unknown` where its header cannot be read: routing
    estimates 1024 x 1024, a budget's bound reads 0 as unknown: the ceiling) and detail."""
    spec = part.get("image_url")
    if part.get("type") == "input_image":  # the Responses API's shape: the URL itself
        url, detail = part.get("image_url"), part.get("detail")
    elif isinstance(spec, Mapping):
        url, detail = spec.get("url"), spec.get("detail")
    else:
        url, detail = spec, None
    detail = detail if isinstance(detail, str) else "auto"
    size = image_size(url) if isinstance(url, str) else None
    w, h = size if size and size[0] > 0 and size[1] > 0 else (unknown, unknown)
    return ImageSpec(w, h, detail)


def image_bound_spec(part: Mapping[str, Any]) -> ImageSpec:
    """An image part as a budget bounds it: its size where its inline header says it, else
    0 x 0 (unknown: the model's ceiling, image_rules.ImageRule.bound)."""
    return _image_part_spec(part, 0)


def _audio_part_tokens(part: Mapping[str, Any]) -> int:
    spec = part.get("input_audio") or part.get("audio")
    if not isinstance(spec, Mapping) or not isinstance(spec.get("data"), str):
        return 0
    secs = audio_seconds(spec["data"])
    return math.ceil(secs * AUDIO_TOKENS_PER_S)


def media_parts(messages: Iterable[Any]) -> tuple[tuple[ImageSpec, ...], int, int]:
    """(the image parts, how many audio parts, audio clips' and PDF files' tokens) over the
    messages' parts. Images are priced per model (`ModelSettings.image_rule.total`)."""
    images: list[ImageSpec] = []
    audio = tokens = 0
    for msg in messages:
        content = msg.get("content") if isinstance(msg, Mapping) else None
        if not isinstance(content, list):
            continue
        for part in content:
            kind = part.get("type") if isinstance(part, Mapping) else None
            if kind in IMAGE_PARTS:
                images.append(_image_part_spec(part))
            elif kind in AUDIO_PARTS:
                audio += 1
                tokens += _audio_part_tokens(part)
            elif kind == "file":
                tokens += _file_part_tokens(part)
    return tuple(images), audio, tokens
