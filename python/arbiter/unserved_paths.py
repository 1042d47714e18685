"""What a 404 says for a provider's endpoint Arbiter does not serve. The anthropic SDK calls
Message Batches, Files and (older SDKs) Text Completions at the same base URL as Messages, the
openai SDK its Batch and Files APIs beside chat; a bare "Unknown path" reads as a typo or a
wrong base URL, so these name what is not served and what to do instead. Pure: a prefix match
on the path, no parsing of client text."""

from __future__ import annotations

# (path prefix, the sentence after "<path>: "); the first match wins
_UNSERVED: tuple[tuple[str, str], ...] = (
    (
        "/v1/messages/batches",
        "Message Batches are not served by Arbiter: it routes each request as it comes, so it "
        "keeps no batch. Send each request to POST /v1/messages.",
    ),
    (
        "/v1/files",
        "the Files API is not served by Arbiter: it keeps no files. Upload to the provider "
        "itself, or send the content inline.",
    ),
    (
        "/v1/batches",
        "the Batch API is not served by Arbiter: it routes each request as it comes, so it keeps "
        "no batch. Send each request to its endpoint.",
    ),
    (
        "/v1/complete",
        "the legacy Text Completions API is not served by Arbiter. Use POST /v1/messages.",
    ),
)


def unserved_message(path: str) -> str | None:
    """The message of the 404 for `path` when it is a known endpoint Arbiter does not serve."""
    for prefix, why in _UNSERVED:
        if path == prefix or path.startswith(prefix + "/"):
            return f"{path[:200]}: {why}"
    return None
