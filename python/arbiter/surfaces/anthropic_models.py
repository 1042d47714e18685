"""GET /v1/models in Anthropic's shape, paged as Anthropic pages it: `limit` (1-1000, default 20)
and one cursor, `after_id` or `before_id`; the page says `has_more`, `first_id` and `last_id`.

Query parsing only: the listing is the registry's, the model objects anthropic_messages'.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from arbiter.errors import InvalidRequest
from arbiter.http_json import int_param
from arbiter.surfaces.anthropic_messages import models_body

if TYPE_CHECKING:
    from arbiter.registry import ListedModel

DEFAULT_LIMIT = 20  # Anthropic's
MAX_LIMIT = 1000
# each once, as http_json.only_params asks of /arbiter/*; other names are let by in both forms, as
# Anthropic's SDKs may add their own (the beta list's `beta=true`) and OpenAI ignores them
PARAMS = ("limit", "after_id", "before_id")


def models_page(request: Request, models: Sequence[ListedModel], created: float) -> dict[str, Any]:
    """The page of `models` the request's `limit` / `after_id` / `before_id` ask for (400 when
    one is malformed or given twice, both cursors are given, or a cursor names no listed model)."""
    q = request.query_params
    for name in PARAMS:  # read last-wins, `?limit=5000&limit=1` passed the range check
        if len(q.getlist(name)) > 1:
            raise InvalidRequest(
                f"The query gives '{name}' twice: give each parameter once.", param=name
            )
    limit = int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    after, before = q.get("after_id"), q.get("before_id")
    if after is not None and before is not None:
        raise InvalidRequest("Give 'after_id' or 'before_id', not both.", param="before_id")
    data: list[dict[str, Any]] = models_body(models, created)["data"]
    if before is not None:
        end = _position(data, before, "before_id")
        start = max(end - limit, 0)
        page, has_more = data[start:end], start > 0
    else:
        start = 0 if after is None else _position(data, after, "after_id") + 1
        page, has_more = data[start : start + limit], start + limit < len(data)
    return {
        "data": page,
        "has_more": has_more,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }


def refuse_paging(request: Request) -> None:
    """The OpenAI-shaped list is one page: a paging parameter there (a client that forgot
    `anthropic-version`) is a 400 saying how to page, not the whole list read as a page. Other
    names are ignored in both forms, as both providers ignore names they do not define."""
    given = next((n for n, _ in request.query_params.multi_items() if n in PARAMS), None)
    if given is not None:
        raise InvalidRequest(
            f"'{given}' pages Anthropic's model list (send the `anthropic-version` header); "
            "OpenAI's list has no paging: leave it out to list every model.",
            param=given,
        )


def _position(data: list[dict[str, Any]], model_id: str, param: str) -> int:
    for i, item in enumerate(data):
        if item["id"] == model_id:
            return i
    raise InvalidRequest(f"'{param}' names no listed model: {model_id[:128]!r}.", param=param)
