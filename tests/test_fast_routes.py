"""fast_routes.FastRoutesApp: a POST to a model-calling path skips Starlette's routing layers and
answers exactly as Starlette would, errors included (what is sent, and what is raised to the
server), for every case of a toy app served both ways; and the sidecar's own routes take it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from arbiter.fast_routes import FastRoutesApp


async def ok(request: Request) -> Response:
    return JSONResponse(
        {
            "body": (await request.body()).decode(),
            "route": request.scope["route"].path,
            "endpoint": request.scope["endpoint"].__name__,
            "params": request.path_params,
            "app": type(request.app).__name__ in ("Starlette", "FastRoutesApp"),
            "router": request.scope["router"] is request.app.router,
        },
        headers={"x-one": "1"},
    )


async def http_error(request: Request) -> Response:
    raise HTTPException(418, "short and stout", headers={"x-teapot": "yes"})


async def bug(request: Request) -> Response:
    raise RuntimeError("a bug before the answer")


async def late_bug(request: Request) -> Response:
    async def pieces() -> AsyncIterator[bytes]:
        yield b"first"
        raise RuntimeError("a bug after the answer began")

    return StreamingResponse(pieces())


async def late_http_error(request: Request) -> Response:
    async def pieces() -> AsyncIterator[bytes]:
        yield b"first"
        raise HTTPException(409)

    return StreamingResponse(pieces())


async def shadow(request: Request) -> Response:
    return PlainTextResponse("the parameter route")


async def on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"handled": exc.detail}, exc.status_code, headers=exc.headers)


async def on_500(request: Request, exc: Exception) -> Response:
    return JSONResponse({"unhandled": str(exc)}, 500)


PATHS = ("/ok", "/http", "/bug", "/late", "/late-http", "/x/taken")


def _apps() -> tuple[Starlette, FastRoutesApp]:
    def routes() -> list[Route]:
        return [
            Route("/ok", ok, methods=["POST"]),
            Route("/http", http_error, methods=["POST"]),
            Route("/bug", bug, methods=["POST"]),
            Route("/late", late_bug, methods=["POST"]),
            Route("/late-http", late_http_error, methods=["POST"]),
            Route("/x/{name}", shadow, methods=["POST"]),  # takes /x/taken first
            Route("/x/taken", ok, methods=["POST"]),
        ]

    handlers: Any = {HTTPException: on_http, Exception: on_500}
    plain = Starlette(routes=routes(), exception_handlers=handlers)
    fast = FastRoutesApp(routes=routes(), exception_handlers=handlers)
    fast.fast_posts(
        r for r in fast.router.routes if isinstance(r, Route) and not r.param_convertors
    )
    return plain, fast


async def _call(app: Any, path: str, method: str = "POST") -> tuple[list[Any], str | None]:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "headers": [(b"host", b"127.0.0.1")], "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 5000),
    }  # fmt: skip
    sent: list[Any] = []
    fed = False

    async def receive() -> dict[str, Any]:
        nonlocal fed
        if not fed:
            fed = True
            return {"type": "http.request", "body": b"hello", "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    raised = None
    try:
        await app(scope, receive, send)
    except Exception as exc:  # what the server would log
        raised = f"{type(exc).__name__}: {exc}"
    return sent, raised


@pytest.mark.parametrize("path", [*PATHS, "/absent"])
def test_each_case_is_answered_and_raised_as_starlette_does(path: str) -> None:
    plain, fast = _apps()
    want = asyncio.run(_call(plain, path))
    got = asyncio.run(_call(fast, path))
    assert got == want
    assert want[0], "something was sent"


def test_other_methods_and_root_paths_go_through_starlette() -> None:
    plain, fast = _apps()
    for path, method in (("/ok", "GET"), ("/ok", "PUT")):
        assert asyncio.run(_call(fast, path, method)) == asyncio.run(_call(plain, path, method))


def test_only_the_first_route_for_a_path_is_fast() -> None:
    _, fast = _apps()
    assert fast._fast is not None
    assert set(fast._fast) == {"/ok", "/http", "/bug", "/late", "/late-http"}  # not /x/taken


def test_the_sidecars_model_routes_skip_starlettes_router(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard: a routed chat request is answered without the Router (which the base ran
    for every request); a GET still goes through it."""
    from tests.inproc import sidecar_in_process

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            app = sc.app
            assert isinstance(app, FastRoutesApp) and app._fast is not None
            assert {"/v1/chat/completions", "/v1/messages", "/v1/responses"} <= set(app._fast)
            routed: list[str] = []
            original = app.router.middleware_stack  # what Router.__call__ runs

            async def counting(scope: Any, receive: Any, send: Any) -> None:
                routed.append(scope["path"])
                await original(scope, receive, send)

            monkeypatch.setattr(app.router, "middleware_stack", counting)
            body = {"model": "auto", "messages": [{"role": "user", "content": "Say hi."}]}
            r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
            assert r.status_code == 200 and r.json()["choices"], r.text
            assert routed == []
            assert (await sc.client.get("/healthz")).status_code == 200
            assert routed == ["/healthz"]

    asyncio.run(main())
