"""The AzureOpenAI SDK's paths, so a team on it switches by changing only its endpoint:
`{azure_endpoint}/openai/deployments/{name}/...` or `{base_url}/deployments/{name}/...`. They
serve the same surfaces as /v1/...: the model is the body's (the SDK always sends it, the
deployment name too), and the `api-version` query parameter is ignored. Its `api-key` header is
read as a key by auth.key_header."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.routing import Route

PREFIXES = ("/openai/deployments/{deployment}", "/v1/deployments/{deployment}")


def azure_routes(handlers: Any, guard: Callable[..., Any]) -> list[Route]:
    surfaces = (
        ("chat/completions", handlers.chat_completions, "chat"),
        ("embeddings", handlers.embeddings, "embeddings"),
        ("completions", handlers.completions, "completions"),
    )
    return [
        Route(f"{prefix}/{path}", guard(handler, surface=surface), methods=["POST"])
        for prefix in PREFIXES
        for path, handler, surface in surfaces
    ]
