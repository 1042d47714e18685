"""Outside probe (seventeenth session): a page on another site posting to an open sidecar that
its browser reaches by a LAN address or a Compose name (`http://10.0.0.5:8787`).

The tenth session refused what a browser marks `Sec-Fetch-Site: cross-site`, but a browser sends
that header only to a potentially trustworthy URL (https, localhost, 127.0.0.1), and browsers
older than Fetch Metadata (Safari before 16.4) never do. To `http://10.0.0.5:8787` a page's
no-cors `fetch` (text/plain, no preflight) arrived with `Origin: https://pages.example` and no
`Sec-Fetch-*`: routed, billed and learned from, and `/v1/feedback` steered the router. Every
browser sends `Origin` on such a POST; a request that names another origin there, or `null`,
is now a 403 alike, when `Sec-Fetch-Site` is absent. (With keys on, such a page holds no key: a
401 either way; the admin API takes only a Bearer key, so no page can call it.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from arbiter.cross_site import same_origin
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sim_requests

CHAT = orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": "Say hi."}]})
FEEDBACK = orjson.dumps({"decision_id": "dec_x", "thumbs": "up"})


def _open(text: str) -> str:
    return text.replace('mode = "keys"', 'mode = "open"')


def _from_page(origin: str) -> dict[str, str]:
    """What a browser sends with a no-cors fetch to a URL that is not potentially trustworthy:
    no Sec-Fetch-* headers, the page's origin."""
    return {"content-type": "text/plain;charset=UTF-8", "origin": origin}


def test_a_page_elsewhere_cannot_post_where_its_browser_sends_no_fetch_metadata(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_open) as sc:
            before = await sim_requests(sc)
            for origin in ("https://pages.example", "null", "http://127.0.0.1:9"):
                for path, body in (("/v1/chat/completions", CHAT), ("/v1/feedback", FEEDBACK)):
                    r = await sc.client.post(path, content=body, headers=_from_page(origin))
                    assert r.status_code == 403, (origin, path, r.text)
                    assert r.json()["error"]["code"] == "cross_site_request", r.text
                    assert origin[:20] in r.json()["error"]["message"]
            assert await sim_requests(sc) == before  # nothing was called, nothing billed
            # the sidecar's own origin (its dashboard), and clients that send no Origin, pass
            for headers in (_from_page("http://127.0.0.1"), {}):
                r = await sc.client.post("/v1/chat/completions", content=CHAT, headers=headers)
                assert r.status_code == 200, r.text
            # a link or a read from another site still works
            r = await sc.client.get("/arbiter/ui", headers={"origin": "https://pages.example"})
            assert r.status_code == 200, r.text

    asyncio.run(main())


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("http://127.0.0.1:8787", "127.0.0.1:8787", True),
        ("https://Arbiter.Example", "arbiter.example", True),
        ("https://arbiter.example", "arbiter.example:443", True),
        ("http://arbiter:80", "arbiter", True),
        ("http://127.0.0.1:8788", "127.0.0.1:8787", False),
        ("https://arbiter.example", "arbiter.example:80", False),
        ("https://pages.example", "127.0.0.1:8787", False),
        ("null", "127.0.0.1:8787", False),
        ("http://127.0.0.1:8787", None, False),
        ("127.0.0.1:8787", "127.0.0.1:8787", False),  # no scheme: no origin a browser sends
    ],
)
def test_same_origin_compares_the_origin_with_the_host(
    origin: str, host: str | None, same: bool
) -> None:
    assert same_origin(origin, host) is same
