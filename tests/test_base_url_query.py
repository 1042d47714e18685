"""An upstream `base_url` with a query string (Azure OpenAI's `?api-version=...`, a gateway's
`?tenant=`): every path Arbiter appends goes before the query, which stays at the end. Before,
string concatenation sent `/v1?api-version=2024-06-01/models` (and `/chat/completions` alike):
the upstream saw neither the endpoint nor the version (url_paths.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from arbiter.config import FailoverSettings, UpstreamSettings, loads
from arbiter.discovery import fetch_listing, models_url
from arbiter.preflight import probe
from arbiter.upstream.anthropic import AnthropicUpstream, messages_url
from arbiter.upstream.openai import OpenAIUpstream
from tests.scripted_upstream import ScriptedHandler, ok_chat_answer, serving

QUERY = "api-version=2024-06-01"
_seen: list[str] = []


class _Azure(ScriptedHandler):
    """Answers only at the right path with the version in the query; records every target."""

    def _ok(self) -> bool:
        _seen.append(self.path)
        query = self.path.partition("?")[2]
        if QUERY not in query.split("&"):
            self.answer(b'{"error": {"message": "api-version missing"}}', status=400)
            return False
        return True

    def do_GET(self) -> None:
        if not self._ok():
            return
        if self.path.startswith("/v1/models?"):
            self.answer(orjson.dumps({"object": "list", "data": [{"id": "gpt-x"}]}))
        else:
            self.answer(b"{}", status=404)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if not self._ok():
            return
        if self.path.startswith("/v1/chat/completions?"):
            body, kind = ok_chat_answer(
                "gpt-x", False, {"prompt_tokens": 1, "completion_tokens": 1}
            )
            self.answer(body, kind)
        elif self.path.startswith("/v1/embeddings?"):
            self.answer(
                orjson.dumps({"object": "list", "data": [{"index": 0, "embedding": [0.5]}]})
            )
        else:
            self.answer(b"{}", status=404)


def _settings(base_url: str) -> Any:
    doc = (
        f'[auth]\nmode = "open"\n[upstreams.u]\nbase_url = "{base_url}"\napi_key_env = "K"\n'
        '[models.m]\nupstream = "u"\nupstream_model = "gpt-x"\n'
        "price_in_per_mtok = 1.0\nprice_out_per_mtok = 1.0\n"
    )
    return loads(doc, env={"K": "sk-base-url-query-0001"})


def test_the_listing_and_the_probe_keep_the_query_at_the_end() -> None:
    """Fails before: GET /v1?api-version=2024-06-01/models (a 400 here, the probe's problem)."""
    _seen.clear()
    with serving(_Azure) as url:
        settings = _settings(f"{url}?{QUERY}")
        assert probe(settings, timeout_s=5.0) == []
        pages = asyncio.run(fetch_listing(settings.upstreams["u"]))
    assert [m.id for m in pages[0].models] == ["gpt-x"]
    assert _seen == [f"/v1/models?{QUERY}"] * 2


def test_calls_keep_the_query_at_the_end() -> None:
    """Fails before: POST /v1?api-version=2024-06-01/chat/completions."""
    _seen.clear()

    async def calls(base: str) -> None:
        up = OpenAIUpstream(UpstreamSettings("u", base, api_key="sk-x"), FailoverSettings())
        try:
            model = _settings(base).models["m"]
            result = await up.complete({"messages": [{"role": "user", "content": "hi"}]}, model)
            assert result.content == "ok"
            await up.call_endpoint("/embeddings", {"input": "hi"}, model)
        finally:
            await up.aclose()

    with serving(_Azure) as url:
        asyncio.run(calls(f"{url}?{QUERY}"))
    assert _seen == [f"/v1/chat/completions?{QUERY}", f"/v1/embeddings?{QUERY}"]


def test_anthropic_and_listing_urls_put_the_path_before_the_query() -> None:
    """Fails before: `.../v1?tenant=t/messages`, `...?tenant=t/v1/models`."""
    for base, want in [
        ("https://gw.example/v1?tenant=t", "https://gw.example/v1/messages?tenant=t"),
        ("https://gw.example?tenant=t", "https://gw.example/v1/messages?tenant=t"),
        ("https://gw.example/", "https://gw.example/v1/messages"),
    ]:
        assert messages_url(base) == want
        up = UpstreamSettings("u", base, protocol="anthropic")
        assert models_url(up) == want.replace("/messages", "/models")
        assert str(AnthropicUpstream(up, FailoverSettings())._url) == want
    plain = UpstreamSettings("u", "https://api.example/v1/")
    assert models_url(plain) == "https://api.example/v1/models"
