"""Bounds on what a config (and an admin patch, and an upstream's listing) may say of a model,
and the server's body limit: one place, read by config.py, config_resolve.py, registry.py and
listing.py.
"""

from __future__ import annotations

MAX_BODY_LIMIT = 32 * 1024 * 1024
# Bounds on a model's numbers (config and admin patches): far above any real model, low enough
# that costs stay finite and token counts fit a 64-bit store column and the routing kernel.
MAX_PRICE_PER_MTOK = 1e6
MAX_MODEL_TOKENS = 1_000_000_000
MAX_MODEL_NAME_CHARS = 256
MAX_SEARCH_USES = 10_000  # web searches budgets reserve for a tool without max_uses
MAX_CODE_MINUTES = 24 * 60  # a code execution container's minutes held and billed per call


def model_name_ok(value: object) -> bool:
    """A model name we can store, route by and name in a header (`x-arbiter-model`, Latin-1 on
    the wire): 1..256 printable ASCII characters, no spaces. For configured and listed models."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_MODEL_NAME_CHARS
        and value.isascii()
        and value.isprintable()
        and " " not in value
    )


def default_fast_factor(protocol: str) -> float:
    """A model's fast mode price multiple unless configured, by its upstream's protocol:
    OpenAI's priority processing 2x at most (gpt-5), Anthropic's fast mode 6x (Opus 4.6)."""
    return 6.0 if protocol == "anthropic" else 2.0
