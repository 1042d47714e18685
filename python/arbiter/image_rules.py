"""How many input tokens one image costs on a given model: the provider's own rule, per model.

Providers bill images by rules that differ by an order of magnitude for the same picture (a
1024 x 1024 high-detail image: gpt-4o 765 tokens, gpt-4o-mini 25,501, gpt-4.1-mini 1,659,
Claude 1,399, Gemini 1,032), so one formula for every model mis-ranked vision requests and let a
budget reserve far less than the bill. A model's rule is its `image_tokens` setting (config, or a
family default picked from its name and protocol: `default_spec`); each rule answers two
questions: `tokens(width, height, detail)`, routing's estimate, and `ceiling`, the most one image
can cost whatever its size (the budget reserves that: an image's header can be forged, the
upstream bills the pixels it decodes).

The rules, from the providers' vision pages (December 2026):
- `tiles:BASE:TILE` (OpenAI's GPT-4o-class models): detail "low" BASE; else the image scaled to
  fit 2048 x 2048, then its short side to 768, BASE + TILE per 512-px tile (gpt-4o/4.1/4.5
  85:170, gpt-4o-mini 2833:5667, gpt-5 70:140, o1/o3 75:150, computer-use-preview 65:129).
- `patches:MULT` (gpt-4.1-mini/nano, gpt-5-mini/nano, o4-mini): 32 x 32 px patches, the image
  scaled down to at most 1,536 of them, times the model's multiplier (1.62, 2.46, 1.72).
- `anthropic`: width x height / 750 after the image is scaled to a long edge of at most 1,568 px
  and at most 1568 x 784 pixels (the largest size Anthropic's table lists unscaled): ~1,600 max.
- `gemini`: 258 tokens when both sides are at most 384 px, else 258 per 768 x 768 tile, after
  the image is scaled to fit 3072 x 3072 (Vertex AI's largest input).
- `flat:N`: N tokens an image, whatever its size (a self-hosted model with a fixed budget).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

Kind = Literal["tiles", "patches", "anthropic", "gemini", "flat"]
SPEC_FORMS = "tiles:BASE:TILE, patches:MULTIPLIER, anthropic, gemini or flat:N"

_PATCH = 32
_MAX_PATCHES = 1536
_ANTHROPIC_LONG_EDGE = 1568
_ANTHROPIC_MAX_PIXELS = 1568 * 784
_ANTHROPIC_PIXELS_PER_TOKEN = 750
_GEMINI_TILE_TOKENS = 258
_GEMINI_SMALL = 384
_GEMINI_TILE = 768
_GEMINI_MAX_SIDE = 3072
_MAX_TOKENS = 1_000_000  # a configured number past this is a typo, not a rule


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """One image of a request as pricing sees it: its size (read from inline data's header; a
    linked image or an unreadable header: 1024 x 1024, an estimate) and its `detail`."""

    width: int
    height: int
    detail: str = "auto"


@dataclass(frozen=True, slots=True)
class ImageRule:
    """One model's image pricing (see the module docstring); `spec` is how the config says it."""

    kind: Kind
    base: float = 0.0  # tiles: BASE; patches: the multiplier; flat: N
    tile: float = 0.0  # tiles: TILE

    @property
    def spec(self) -> str:
        if self.kind == "tiles":
            return f"tiles:{self.base:g}:{self.tile:g}"
        if self.kind in ("patches", "flat"):
            return f"{self.kind}:{self.base:g}"
        return self.kind

    def tokens(self, width: int, height: int, detail: str = "auto") -> int:
        """The tokens one image of this size costs (a size <= 0: unknown, the ceiling)."""
        if width <= 0 or height <= 0:
            return self.ceiling
        if self.kind == "tiles":
            if detail == "low":
                return math.ceil(self.base)
            return math.ceil(self.base + self.tile * _tiles(width, height))
        if self.kind == "patches":
            return math.ceil(_patches(width, height) * self.base)
        if self.kind == "anthropic":
            return _anthropic(width, height)
        if self.kind == "gemini":
            return _gemini(width, height)
        return math.ceil(self.base)

    def total(self, images: tuple[ImageSpec, ...]) -> int:
        """The tokens of a request's images on this rule (routing's estimate)."""
        return sum(self.tokens(i.width, i.height, i.detail) for i in images)

    def bound(self, image: ImageSpec) -> int:
        """The most `image` can bill on this rule, for a budget: OpenAI's low detail (a tiles
        rule) its fixed BASE whatever the pixels; a size unknown (<= 0: a linked image, an
        unreadable header) the ceiling; else its size's count (an inline image's header is the
        size the upstream's decoder reads too), never above the ceiling."""
        if self.kind == "tiles" and image.detail == "low":
            return math.ceil(self.base)
        if image.width <= 0 or image.height <= 0:
            return self.ceiling
        return min(self.tokens(image.width, image.height, image.detail), self.ceiling)

    @property
    def ceiling(self) -> int:
        """The most one image can cost on this rule, whatever its size or detail."""
        if self.kind == "tiles":  # 768 x 2048 (or 2048 x 768): 2 x 4 tiles, the most there are
            return math.ceil(self.base + self.tile * 8)
        if self.kind == "patches":
            return math.ceil(_MAX_PATCHES * self.base)
        if self.kind == "anthropic":
            return math.ceil(_ANTHROPIC_MAX_PIXELS / _ANTHROPIC_PIXELS_PER_TOKEN)
        if self.kind == "gemini":
            side = math.ceil(_GEMINI_MAX_SIDE / _GEMINI_TILE)
            return _GEMINI_TILE_TOKENS * side * side
        return math.ceil(self.base)


def _tiles(width: int, height: int) -> int:
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        s = 2048 / max(w, h)
        w, h = w * s, h * s
    if min(w, h) > 768:
        s = 768 / min(w, h)
        w, h = w * s, h * s
    return math.ceil(w / 512) * math.ceil(h / 512)


def _patches(width: int, height: int) -> int:
    """OpenAI's patch count: the 32-px patches covering the image; past 1,536 the image is
    scaled so that its patches fit (the scale then shrunk so a side is a whole number of
    patches), and the count capped at 1,536."""
    raw = math.ceil(width / _PATCH) * math.ceil(height / _PATCH)
    if raw <= _MAX_PATCHES:
        return raw
    r = math.sqrt(_PATCH * _PATCH * _MAX_PATCHES / (width * height))
    fw, fh = width * r / _PATCH, height * r / _PATCH
    r *= min(math.floor(fw) / fw, math.floor(fh) / fh)
    w, h = width * r, height * r
    return min(math.ceil(w / _PATCH) * math.ceil(h / _PATCH), _MAX_PATCHES)


def _anthropic(width: int, height: int) -> int:
    s = min(
        1.0,
        _ANTHROPIC_LONG_EDGE / max(width, height),
        math.sqrt(_ANTHROPIC_MAX_PIXELS / (width * height)),
    )
    w, h = math.floor(width * s), math.floor(height * s)
    return max(1, math.ceil(w * h / _ANTHROPIC_PIXELS_PER_TOKEN))


def _gemini(width: int, height: int) -> int:
    if width <= _GEMINI_SMALL and height <= _GEMINI_SMALL:
        return _GEMINI_TILE_TOKENS
    s = min(1.0, _GEMINI_MAX_SIDE / max(width, height))
    w, h = width * s, height * s
    return _GEMINI_TILE_TOKENS * math.ceil(w / _GEMINI_TILE) * math.ceil(h / _GEMINI_TILE)


@lru_cache(maxsize=256)  # a pure parse of the few specs a pool holds: memoised, never mutated
def parse(spec: str) -> ImageRule:
    """The rule a spec names, or ValueError saying what the forms are."""
    kind, _, rest = spec.strip().partition(":")
    args = rest.split(":") if rest else []
    try:
        numbers = [float(a) for a in args]
    except ValueError:
        numbers = [math.nan]  # not numbers: refused below
    ok = all(math.isfinite(x) and 0 < x <= _MAX_TOKENS for x in numbers)
    if kind == "tiles" and len(args) == 2 and ok:
        return ImageRule("tiles", numbers[0], numbers[1])
    if kind in ("patches", "flat") and len(args) == 1 and ok:
        return ImageRule(kind, numbers[0])  # type: ignore[arg-type]
    if kind in ("anthropic", "gemini") and not args:
        return ImageRule(kind)  # type: ignore[arg-type]
    raise ValueError(f"unknown image token rule {spec[:60]!r} (use {SPEC_FORMS}; numbers > 0)")


# (name prefix, spec), most specific first: a model's upstream name, lower-cased, without any
# "vendor/" prefix, is matched against these in order
_OPENAI_FAMILIES: tuple[tuple[str, str], ...] = (
    ("gpt-4o-mini", "tiles:2833:5667"),
    ("gpt-4.1-mini", "patches:1.62"),
    ("gpt-4.1-nano", "patches:2.46"),
    ("gpt-5-mini", "patches:1.62"),
    ("gpt-5-nano", "patches:2.46"),
    ("o4-mini", "patches:1.72"),
    ("gpt-5", "tiles:70:140"),
    ("o1", "tiles:75:150"),
    ("o3", "tiles:75:150"),
    ("computer-use-preview", "tiles:65:129"),
)
DEFAULT_SPEC = "tiles:85:170"  # gpt-4o, gpt-4.1, gpt-4.5, and any other OpenAI-compatible model


def default_spec(model: str, protocol: str) -> str:
    """The family rule for a model by its upstream name and protocol: Claude (or any model
    spoken to in Anthropic's protocol) `anthropic`, Gemini `gemini`, OpenAI's families by name,
    anything else OpenAI's GPT-4o tiles (what an OpenAI-compatible server most often mimics)."""
    name = model.lower().rsplit("/", 1)[-1]
    if protocol == "anthropic" or name.startswith("claude"):
        return "anthropic"
    if name.startswith("gemini"):
        return "gemini"
    for prefix, spec in _OPENAI_FAMILIES:
        if name == prefix or name.startswith((prefix + "-", prefix + ".")):
            return spec
    return DEFAULT_SPEC


DEFAULT_IMAGE_RULE = parse(DEFAULT_SPEC)
