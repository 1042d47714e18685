"""The price formula: what a call costs in USD at per-million-token prices.

Every place that turns token counts into dollars (the registry's models, routing estimates,
budgets' worst cases, replayed outcome tables, the simulator's billing) calls `cost_usd`, so
they cannot drift apart.
"""

from __future__ import annotations


def cost_usd(
    price_in: float,
    price_out: float,
    prompt_tokens: float,
    completion_tokens: float,
    *,
    cache_read: float = 0,
    cache_write: float = 0,
    cache_read_price: float | None = None,
    cache_write_price: float | None = None,
    cache_write_1h: float = 0,
    cache_write_1h_price: float | None = None,
    audio_in: float = 0,
    audio_out: float = 0,
    audio_in_price: float | None = None,
    audio_out_price: float | None = None,
) -> float:
    """USD for `prompt_tokens` (all input, cache parts included) and `completion_tokens` at
    prices per 1M tokens. Tokens read from / written to a prompt cache cost the cache prices
    instead of the input price; an unset cache price is the input price. `cache_write_1h`:
    the part of `cache_write` written to Anthropic's 1-hour cache, at `cache_write_1h_price`
    (the rest at `cache_write_price`, the 5-minute cache's). `audio_in` / `audio_out`: the
    parts of the prompt and the output that are audio (OpenAI's `*_tokens_details.audio_tokens`),
    at the audio prices when set (gpt-4o's audio tokens cost 16x and 8x its text's)."""
    cached = 0.0
    if cache_read_price is not None:
        cached += cache_read * (cache_read_price - price_in)
    hour = min(cache_write_1h, cache_write) if cache_write_1h_price is not None else 0
    if cache_write_price is not None:
        cached += (cache_write - hour) * (cache_write_price - price_in)
    if hour:
        cached += hour * (cache_write_1h_price - price_in)  # type: ignore[operator]
    if audio_in_price is not None:
        cached += min(audio_in, prompt_tokens) * (audio_in_price - price_in)
    if audio_out_price is not None:
        cached += min(audio_out, completion_tokens) * (audio_out_price - price_out)
    return (prompt_tokens * price_in + completion_tokens * price_out + cached) / 1e6


class Priced:
    """Mixin for a model with per-1M-token prices (the subclass declares both fields)."""

    __slots__ = ()
    price_in_per_mtok: float
    price_out_per_mtok: float

    def cost_usd(self, prompt_tokens: float, completion_tokens: float) -> float:
        return cost_usd(
            self.price_in_per_mtok, self.price_out_per_mtok, prompt_tokens, completion_tokens
        )
