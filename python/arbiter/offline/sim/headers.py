"""What the simulated providers send besides the answer: a request id and rate-limit headers."""

from __future__ import annotations

from starlette.requests import Request


def provider_headers(request: Request, bits: int, protocol: str) -> dict[str, str]:
    """A provider's request id and rate-limit headers, as OpenAI (`x-request-id`,
    `x-ratelimit-*`) or Anthropic (`request-id`, `anthropic-ratelimit-*`) send them. The id
    embeds the caller's own `x-request-id` when it sent one, so a test can see it arrived."""
    received = request.headers.get("x-request-id")
    rid = f"simreq_{received}" if received else f"simreq_{bits:016x}"
    if protocol == "anthropic":
        return {
            "request-id": rid,
            "anthropic-ratelimit-requests-limit": "10000",
            "anthropic-ratelimit-requests-remaining": "9999",
        }
    return {
        "x-request-id": rid,
        "x-ratelimit-limit-requests": "10000",
        "x-ratelimit-remaining-requests": "9999",
    }
