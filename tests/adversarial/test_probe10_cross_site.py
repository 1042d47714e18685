"""Outside probe (tenth session): a web page on another site posting to the sidecar.

The sidecar read any body as JSON whatever its Content-Type, so a page anywhere on the web
could make the browser of someone running an open sidecar (`[auth] mode = "open"`) send it
`fetch("http://127.0.0.1:8787/v1/chat/completions", {method: "POST", mode: "no-cors",
body: JSON.stringify({...})})`: a "simple" request (text/plain, no custom header), which the
browser sends without a CORS preflight. The page cannot read the answer, but the call was
routed, billed to the operator's upstream account and budget, recorded and learned from, and
`/v1/feedback` steered the router the same way. (With keys on, such a request carries no key:
a 401.) No client of the sidecar is a cross-site page (it sends no CORS headers, so a page
could never read an answer), so a request the browser marks as coming from another site
(`Sec-Fetch-Site: cross-site` or `same-site`) is now a 403 in the surface's shape on every
method but GET and HEAD (a link to the dashboard from another site still opens it); SDKs,
curl and the dashboard's own calls (`same-origin`) are unaffected."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sim_requests

CHAT = orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": "Say hi."}]})
MESSAGES = orjson.dumps(
    {"model": "sim-small", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
)
FEEDBACK = orjson.dumps({"decision_id": "dec_x", "thumbs": "up"})


def _open(text: str) -> str:
    return text.replace('mode = "keys"', 'mode = "open"')


def _from_page(site: str) -> dict[str, str]:
    """What a browser sends with a no-cors fetch from another page."""
    return {
        "content-type": "text/plain;charset=UTF-8",
        "origin": "https://pages.example" if site != "same-origin" else "http://127.0.0.1",
        "sec-fetch-site": site,
        "sec-fetch-mode": "no-cors" if site != "same-origin" else "cors",
        "sec-fetch-dest": "empty",
    }


def test_a_cross_site_page_cannot_call_an_open_sidecar(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_open) as sc:
            before = await sim_requests(sc)
            for site in ("cross-site", "same-site"):
                for path, body in (
                    ("/v1/chat/completions", CHAT),
                    ("/v1/messages", MESSAGES),
                    ("/v1/feedback", FEEDBACK),
                ):
                    r = await sc.client.post(path, content=body, headers=_from_page(site))
                    assert r.status_code == 403, (site, path, r.text)
                    if path == "/v1/messages":
                        assert r.json()["error"]["type"] == "permission_error", r.text
                    else:
                        assert r.json()["error"]["code"] == "cross_site_request", r.text
            assert await sim_requests(sc) == before  # nothing was called, nothing billed
            # the dashboard's own calls, and clients that are no browser, still pass
            r = await sc.client.post(
                "/v1/chat/completions", content=CHAT, headers=_from_page("same-origin")
            )
            assert r.status_code == 200, r.text
            r = await sc.client.post("/v1/chat/completions", content=CHAT)
            assert r.status_code == 200, r.text
            # a link from another site still opens the dashboard
            r = await sc.client.get("/arbiter/ui", headers={"sec-fetch-site": "cross-site"})
            assert r.status_code == 200, r.text

    asyncio.run(main())
