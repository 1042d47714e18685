"""The budget-threshold webhook's delivery: one JSON POST, retried on a 5xx or a failed
connection, and bounded in what it reads and how long it takes.

Only the answer's status is read: the endpoint is the operator's, but a hostile or broken one
sent a body of any size (gigabytes, read whole into memory) or dripped it (httpx's timeout is
per read, so a byte every few seconds held the task for good). Each attempt now ends within
`deadline_s`, headers included, and no body is read at all (the response is closed unread).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

import httpx
import orjson

log = logging.getLogger(__name__)

DEADLINE_S: Final = 10.0  # one attempt, from connect to the status line and headers
_READ_S: Final = 5.0  # any one socket operation (httpx's per-operation timeout)


async def post(
    url: str, payload: dict[str, object], *, attempts: int = 5, deadline_s: float | None = None
) -> bool:
    """POST `payload` to `url` until an attempt gets a status under 500 (True), at most
    `attempts` times with a growing pause between them; False when none did (logged).
    `deadline_s`: one attempt's bound (default DEADLINE_S)."""
    deadline_s = DEADLINE_S if deadline_s is None else deadline_s
    async with httpx.AsyncClient(timeout=_READ_S, trust_env=False) as client:
        for i in range(attempts):
            try:
                async with asyncio.timeout(deadline_s):
                    status = await _status(client, url, payload)
                if status < 500:
                    return True
            except (httpx.HTTPError, TimeoutError):
                pass
            if i + 1 < attempts:
                await asyncio.sleep(min(0.2 * 2**i, 5.0))
    log.warning("budget webhook failed after %d attempts", attempts)
    return False


async def _status(client: httpx.AsyncClient, url: str, payload: dict[str, object]) -> int:
    """The answer's status; its body is never read (closed with the response)."""
    request = client.build_request(
        "POST", url, content=orjson.dumps(payload), headers={"content-type": "application/json"}
    )
    response = await client.send(request, stream=True)
    await response.aclose()
    return response.status_code
