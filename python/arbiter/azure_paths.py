"""The AzureOpenAI SDK's paths, so a team on it switches by changing only its endpoint:
`{azure_endpoint}/openai/deployments/{name}/...` or `{base_url}/deployments/{name}/...`. They
serve the same surfaces as /v1/...: the model is the body's (the SDK always sends it, the
deployment name too), and the `api-version` query parameter is ignored. Its `api-key` header is
read as a key by auth.key_header. The Responses API and the model list have no deployment in
their path (the SDK's `_deployments_endpoints` leave them out): it asks them under
`{azure_endpoint}/openai/` (`/openai/responses`, `/openai/models/{id}`), served as /v1's.
Azure's v1 API (`{endpoint}/openai/v1/`, the plain OpenAI SDK's base URL there) is /v1 too:
every OpenAI surface under /openai/v1/... (it was a 404, "Unknown path")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.routing import Route

PREFIXES = ("/openai/deployments/{deployment}", "/v1/deployments/{deployment}")
_UNSCOPED = ("/v1/responses", "/v1/models")  # with what follows them: /v1/responses/{id}...
_NOT_OPENAI = ("/v1/messages", "/v1/deployments/")  # Anthropic's, and the deployments' own


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


def unscoped_routes(routes: list[Route]) -> list[Route]:
    """The routes of /v1/responses... and /v1/models... again under /openai/, in their order
    (/openai/responses/input_tokens before /openai/responses/{id}); and every OpenAI surface's
    /v1/... route under /openai/v1/... (Azure's v1 API)."""
    unscoped = [
        Route("/openai" + r.path.removeprefix("/v1"), r.endpoint, methods=sorted(r.methods or ()))
        for r in routes
        if r.path.startswith(_UNSCOPED)
    ]
    v1 = [
        Route("/openai" + r.path, r.endpoint, methods=sorted(r.methods or ()))
        for r in routes
        if r.path.startswith("/v1/") and not r.path.startswith(_NOT_OPENAI)
    ]
    return unscoped + v1
