"""The HTTP app: build_app(settings) -> Starlette. Routes only translate HTTP <-> pipeline calls.

A request flows: chat_completions -> surfaces.openai.parse_chat_request -> Pipeline.plan ->
Pipeline.complete | Pipeline.stream -> response with x-arbiter-* headers; grading runs after.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import operator
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from arbiter import (
    admin_routes,
    answer_bytes,
    dashboard,
    image_links,
    latency_slo,
    passthrough,
    passthrough_stream,
    request_log,
    telemetry,
    tokenizer_load,
    worst_case,
)
from arbiter.after_answer import AfterAnswer
from arbiter.auth import authorization, client_address, key_header
from arbiter.azure_paths import azure_routes, unscoped_routes
from arbiter.budget_view import budget_view, page_params
from arbiter.cache.keys import check_directives, from_pragma
from arbiter.call_pricing import shown_limits
from arbiter.config import ModelSettings, Settings
from arbiter.config_reload import ConfigFile, ConfigReloader, on_sighup
from arbiter.cross_site import refuse_cross_site
from arbiter.disconnect import CancelOnDisconnect
from arbiter.errors import (
    AdminRequired,
    ArbiterError,
    InvalidRequest,
    NotFound,
    RateLimited,
    ReadOnlyKey,
    UnknownModel,
    UpstreamRejected,
)
from arbiter.event_stream import EventStreamResponse
from arbiter.fast_routes import FastRoutesApp
from arbiter.host_check import HostCheck
from arbiter.http_errors import Render, anthropic_render, error_response, http_exception, unhandled
from arbiter.http_json import (
    API_HEADERS,
    JsonAnswer,
    check_params,
    json_object,
    json_response,
    no_nul,
    only_params,
    quick_headers,
    read_scope,
)
from arbiter.idle_poll import IdlePoll
from arbiter.image_rules import DEFAULT_IMAGE_RULE
from arbiter.loop_lag import LoopLag
from arbiter.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from arbiter.metrics_worker import labelled, this_worker
from arbiter.operator_reads import OperatorReads
from arbiter.pipeline import Pipeline
from arbiter.principal import Principal
from arbiter.probes import readiness
from arbiter.registry import tenant_model, tenant_models
from arbiter.request_body import read_body
from arbiter.request_log import finish_headers
from arbiter.request_plan import Completed, Streamed
from arbiter.route_slashes import with_slash_twins
from arbiter.routing_fast import KEEPS_THINKING
from arbiter.sandbox.request_tests import attach_request_tests
from arbiter.services import Services
from arbiter.stopping import ServerStopping
from arbiter.store import STORE_DOWN_MESSAGE, StoreError
from arbiter.surfaces import anthropic_messages as anthropic_surface
from arbiter.surfaces import openai_chat as openai_surface
from arbiter.surfaces import openai_responses as responses_surface
from arbiter.surfaces.anthropic_models import models_page, refuse_paging
from arbiter.surfaces.anthropic_version import HEADER as VERSION_HEADER
from arbiter.surfaces.anthropic_version import check_version
from arbiter.surfaces.decode import decode
from arbiter.surfaces.openai_chat import models_body, parse_chat_request
from arbiter.types import ChatRequest
from arbiter.upstream_body import wants_strict_schema
from arbiter.worker_ready import workers_ready

log = logging.getLogger("arbiter.server")
_NO_SPAN = contextlib.nullcontext()  # reusable: the request path when traces are off
_NAME = operator.itemgetter(0)  # a raw header line's name


def _for_clients(err: ArbiterError) -> ArbiterError:
    """`err` as a client may read it: a store error's own text (the store's URL with its user,
    host, port and database; the driver's words) goes to the log, the client reads that the
    store is unavailable."""
    if not isinstance(err, StoreError) or err.for_clients:
        return err
    log.warning("store error answered as unavailable: %s", err.message)
    return StoreError(STORE_DOWN_MESSAGE, transient=err.transient, for_clients=True)


def _event_stream(streamed: Streamed) -> EventStreamResponse:
    ctx = request_log.CURRENT.get()

    async def close() -> None:
        await streamed.aclose()
        if ctx is not None:  # a stream's log line (and span): once its last event went out
            ctx.finish(200, streamed.headers.get("x-arbiter-cache"))

    return EventStreamResponse(
        streamed.events,
        headers={**streamed.headers, "cache-control": "no-cache"},
        # runs even when the client left before the body was iterated: closes the upstream and
        # records the decision
        background=BackgroundTask(close),
        deadline=streamed.deadline,
        on_expired=streamed.events.expire,
        within=request_log.serving(ctx),
    )


def _passthrough_stream(streamed: passthrough_stream.Streaming) -> EventStreamResponse:
    ctx = request_log.CURRENT.get()

    async def close() -> None:
        await streamed.aclose()  # records a client that left before the first byte
        if ctx is not None:
            ctx.finish(200, None)

    return EventStreamResponse(
        streamed.events,
        headers={**streamed.headers, "cache-control": "no-cache"},
        background=BackgroundTask(close),
        within=request_log.serving(ctx),
    )


class Handlers(OperatorReads):
    def __init__(self, services: Services) -> None:
        self.s = services
        self.pipeline = Pipeline(services)
        self.passthrough = passthrough.PassThrough(services)
        self.loop_lag = LoopLag()  # how late the event loop runs timers (on /metrics)
        # opt-in (server.idle_poll_us): the loop polls after its work instead of sleeping at
        # once; `arbiter serve` gives it to the protocol, /metrics reports its time
        us = services.settings.server.idle_poll_us
        self.idle_poll = IdlePoll(us / 1e6) if us else None
        self.image_hosts = image_links.parse_hosts(services.settings.media.image_url_hosts)

    @property
    def _max_messages(self) -> int:
        return self.s.settings.server.max_messages

    async def principal(self, request: Request) -> Principal:
        """The caller, who may call models (the dashboard's read-only key may not)."""
        h = request.headers
        principal = await self.s.auth.authenticate(
            authorization(h), key_header(h), client_address(request)
        )
        # the log line names who was refused too (a 429 or 404 before any decision), as the
        # operator reads' lines do: without it a tenant's refusals read as anonymous
        if (ctx := request_log.CURRENT.get()) is not None:
            ctx.tenant = principal.tenant
        if principal.read_only:
            raise ReadOnlyKey("The dashboard key is read-only: it cannot call models.")
        return principal

    async def admin(self, request: Request) -> Principal:
        """The caller of an admin-only endpoint: any other key (a tenant's, the dashboard's) is
        told the admin key is needed (`admin_key_required`), not that a model was refused."""
        h = request.headers
        principal = await self.s.auth.authenticate(
            authorization(h), key_header(h), client_address(request)
        )
        if not principal.is_admin:
            raise AdminRequired("This endpoint needs the admin key.")
        return principal

    async def _handle(
        self, request: Request, req: ChatRequest, principal: Principal
    ) -> Completed | Streamed:
        """A surface's decoded request through the pipeline, once its linked images' hosts are
        checked, its tests attached and the client's cache directives read."""
        image_links.check(req.linked_media, self.image_hosts)
        attach_request_tests(req, request.headers)
        directives = _cache_control(request)  # a bad x-arbiter-cache-control: 400, cache on or off
        if self.s.cache.active:
            req.cache_control = directives
        return await self.pipeline.handle(
            req, principal, lambda: CancelOnDisconnect(request.receive),
            latency_slo.from_headers(request.headers),
        )  # fmt: skip

    async def chat_completions(self, request: Request) -> Response:
        """OpenAI's Chat Completions surface."""
        principal = await self.principal(request)  # before reading the body: no key, no work
        raw = await read_body(request, self.s.settings.server.max_body_bytes)
        req = await decode(parse_chat_request, raw, request.headers, self._max_messages)
        outcome = await self._handle(request, req, principal)
        if isinstance(outcome, Streamed):
            return _event_stream(outcome)
        body = openai_surface.render_result(
            outcome.result, outcome.protocol, int(time.time()),
            outcome.headers.get("x-arbiter-decision-id", ""), req.prompt_tokens,
            shown_limits(self.s.registry.get(outcome.result.model), req),
            json_only=wants_strict_schema(req),
        )  # fmt: skip
        return JsonAnswer(body, headers=outcome.headers)

    async def responses(self, request: Request) -> Response:
        """OpenAI's Responses API: routed like chat, answered as a Response object."""
        principal = await self.principal(request)
        raw = await read_body(request, self.s.settings.server.max_body_bytes)
        req = await decode(
            responses_surface.parse_responses_request, raw, request.headers, self._max_messages
        )
        try:
            outcome = await self._handle(request, req, principal)
        except UpstreamRejected as err:  # its param names the view's field: name the caller's
            err.param = responses_surface.caller_param(err.param)
            raise
        if isinstance(outcome, Streamed):
            return _event_stream(outcome)
        decision_id = outcome.headers["x-arbiter-decision-id"]
        body = responses_surface.render_result(
            outcome.result,
            outcome.protocol,
            req,
            decision_id,
            int(time.time()),
            outcome.hit,
            shown_limits(self.s.registry.get(outcome.result.model), req),
        )
        return JsonAnswer(body, headers=outcome.headers)

    async def stored_response(self, request: Request) -> Response:
        """/v1/responses/{id} (GET, DELETE), its `input_items` and `cancel`: Arbiter keeps no
        responses (`store: true` is refused), so no id names one: OpenAI's 404, after the key."""
        await self.principal(request)
        name = request.path_params["id"]
        raise NotFound(
            f"No response with id '{name[:128]}': Arbiter stores no responses (every response "
            "is created with 'store': false), so none can be retrieved, listed or deleted."
        )

    async def no_such_endpoint(self, request: Request) -> Response:
        """POST /v1/responses/compact...: paths Arbiter lacks."""
        await self.principal(request)
        raise NotFound(f"Unknown path {request.url.path}.")

    async def embeddings(self, request: Request) -> Response:
        return await self._passthrough("embeddings", request)

    async def completions(self, request: Request) -> Response:
        return await self._passthrough("completions", request)

    async def _passthrough(self, kind: passthrough.Kind, request: Request) -> Response:
        """/v1/embeddings, /v1/completions: to the named model, recorded, priced, budgeted."""
        principal = await self.principal(request)
        raw = await read_body(request, self.s.settings.server.max_body_bytes)
        parsed = await decode(functools.partial(passthrough.parse, kind), raw)
        answered = await self.passthrough.handle(kind, parsed, principal, request.receive)
        if isinstance(answered, passthrough_stream.Streaming):  # /v1/completions with stream: true
            return _passthrough_stream(answered)
        return JsonAnswer(answered.body, headers=answered.headers)

    async def model(self, request: Request) -> Response:
        """GET /v1/models/{id}: one model in OpenAI's shape, or Anthropic's with the
        `anthropic-version` header; 404 in that shape when unknown or not allowed for the key."""
        anthropic = "anthropic-version" in request.headers
        render = anthropic_render if anthropic else openai_surface.render_error
        try:
            principal = await self.principal(request)
            name = request.path_params["id"]
            if name == "auto":  # its window is the routed models' widest: the whole list's
                listed = await asyncio.to_thread(
                    tenant_models, self.s.registry, principal, self._unrouted()
                )
                mine = listed[:1]
            else:
                one = tenant_model(self.s.registry, principal, name, self._unrouted())
                mine = [] if one is None else [one]
            if not mine:  # the same view as GET /v1/models: the tenant's models and `auto`
                raise UnknownModel(
                    f"The model `{name[:128]}` does not exist or you do not have access to it.",
                    param="model",
                )
        except ArbiterError as err:
            return error_response(err, render)
        if anthropic:
            return json_response(anthropic_surface.models_body(mine, self.s.started_at)["data"][0])
        return json_response(models_body(mine, int(self.s.started_at))["data"][0])

    def _unrouted(self) -> frozenset[str]:
        sh = self.s.shadow
        return sh.challengers.unrouted() if sh.active else frozenset()

    async def messages(self, request: Request) -> Response:
        """Anthropic's Messages surface: the same pipeline, Anthropic's format at this edge."""
        principal = await self.principal(request)
        check_version(request.headers.getlist(VERSION_HEADER))
        raw = await read_body(request, self.s.settings.server.max_body_bytes)
        req = await decode(
            anthropic_surface.parse_messages_request, raw, request.headers, self._max_messages
        )
        outcome = await self._handle(request, req, principal)
        if isinstance(outcome, Streamed):
            return _event_stream(outcome)
        body = anthropic_surface.render_result(
            outcome.result, outcome.protocol, req.canonical,
            outcome.headers.get("x-arbiter-decision-id", ""), req.prompt_tokens,
            shown_limits(self.s.registry.get(outcome.result.model), req),
        )  # fmt: skip
        return JsonAnswer(body, headers=outcome.headers)

    async def count_tokens(self, request: Request) -> Response:
        """Anthropic's /v1/messages/count_tokens, answered here (no upstream is asked): the
        request's prompt counted with the budget tokenizer (o200k; images at their budgeted
        worst case)."""
        principal = await self.principal(request)
        check_version(request.headers.getlist(VERSION_HEADER))
        raw = await read_body(request, self.s.settings.server.max_body_bytes)
        view, unviewed, kept = await decode(
            anthropic_surface.parse_count_tokens_request, raw, self._max_messages
        )
        self._check_model_name(view["model"], principal)
        await tokenizer_load.wait_ready()  # the count is the answer: the real one, off the loop
        named = self.s.registry.get(view["model"])  # `auto`: no model yet, so the common rule
        tokens = await self._view_tokens(view, named) + unviewed
        if named is not None and KEEPS_THINKING in named.capabilities:
            tokens += kept
        return json_response({"input_tokens": tokens})

    async def input_tokens(self, request: Request) -> Response:
        """The Responses API's /v1/responses/input_tokens (the openai SDK's
        `responses.input_tokens.count`), answered as count_tokens is: the request's prompt
        counted with the budget tokenizer, no upstream asked; OpenAI's shape."""
        principal = await self.principal(request)
        raw = await read_body(request, self.s.settings.server.max_body_bytes)
        view = await decode(responses_surface.parse_input_tokens_request, raw)
        self._check_model_name(view["model"], principal)
        await tokenizer_load.wait_ready()  # the count is the answer: the real one, off the loop
        tokens = await self._view_tokens(view, self.s.registry.get(view["model"]))
        return json_response({"object": "response.input_tokens", "input_tokens": tokens})

    async def _view_tokens(self, view: dict[str, Any], named: ModelSettings | None) -> int:
        """A count answered here: the prompt as the budget counts it, each image as the budget
        reserves it (the operator's `budgets.image_tokens`, else the named model's rule's bound
        for its detail and size, else (`auto`) the highest of the callable models' bounds)."""
        images = await worst_case.image_parts_off_loop(view)
        if images is None:
            images = worst_case.image_parts(view)
        if named is not None:
            rules = [named.image_rule]
        else:
            rules = [m.image_rule for m in self.s.registry.callable_models()] or [
                DEFAULT_IMAGE_RULE
            ]
        flat = self.s.settings.budgets.image_tokens
        text = await worst_case.prompt_tokens_async(view, 0)
        return text + worst_case.images_bound(images, rules, flat)

    def _check_model_name(self, name: str, principal: Principal) -> None:
        """/v1/messages's model error for `name`: 404, unknown or not allowed for the key."""
        if name == "auto":
            return
        # a model the key may not use is answered as an unknown one (OpenAI's 404): a 403 would
        # tell the tenant that the model exists
        hidden = principal.allowed_models is not None and name not in principal.allowed_models
        if hidden or self.s.registry.get(name) is None:
            raise UnknownModel(
                f"The model `{name[:128]}` does not exist or you do not have access to it.",
                param="model",
            )

    async def models(self, request: Request) -> Response:
        """The models the caller's tenant may use (plus `auto`) with their prices, in OpenAI's
        list shape (one page), or Anthropic's, paged, for the anthropic SDK (which asks the same
        path with its `anthropic-version` header)."""
        anthropic = "anthropic-version" in request.headers
        try:
            principal = await self.principal(request)
            if not anthropic and request.scope["query_string"]:
                refuse_paging(request)
            # in a thread: a discovered pool of thousands of models took ~100 ms of the loop
            # (every request in flight waited); the registry is safe to read there (view)
            unrouted = self._unrouted()
            listed = await asyncio.to_thread(tenant_models, self.s.registry, principal, unrouted)
            if anthropic:  # paged as Anthropic pages it (limit, after_id, before_id)
                page = await asyncio.to_thread(models_page, request, listed, self.s.started_at)
                return json_response(page)
        except ArbiterError as err:
            if anthropic:
                return error_response(err, anthropic_render)
            raise
        created = int(self.s.started_at)
        return await asyncio.to_thread(lambda: json_response(models_body(listed, created)))

    async def feedback(self, request: Request) -> Response:
        principal = await self.principal(request)
        wait = self.s.feedback_rate.take(principal.key_id or f"tenant:{principal.tenant}")
        if wait is not None:  # before the body is read: a flood costs no parse, no write
            raise RateLimited(
                "Too many feedback grades from this key "
                f"(auth.feedback_per_minute = {self.s.settings.auth.feedback_per_minute}): "
                f"retry after {wait:.1f} s.",
                retry_after_s=wait,
            )
        body = json_object(await read_body(request, 64 * 1024))
        if not isinstance(body.get("decision_id"), str):
            raise InvalidRequest("'decision_id' (string) is required.", param="decision_id")
        no_nul(body["decision_id"], "decision_id")
        body["decision_id"] = responses_surface.decision_of(body["decision_id"])
        score = _feedback_score(body)
        tenant = None if principal.sees_all else principal.tenant
        if self.s.cache.active:  # a hit's feedback is about the cache entry, not routing
            hit = await self.s.cache.feedback(
                body["decision_id"], score, tenant,
                functools.partial(self.s._lookup_decision, tenant=tenant),
            )  # fmt: skip
            if hit is not None:
                return json_response({"ok": True, **hit})
        result = await self.s.learner.feedback(body["decision_id"], score, tenant)
        return json_response({"ok": True, **result})

    async def metrics(self, request: Request) -> Response:
        """Prometheus text from in-memory counters (no store query). Spans every tenant, so it
        needs the metrics key (`auth.metrics_key_env`) or the admin key unless auth is open;
        a tenant's key gets 403."""
        h = request.headers
        if not self.s.auth.open and not self.s.auth.is_metrics_key(authorization(h), key_header(h)):
            await self.admin(request)
        text = self.s.metrics.render(self.s.gauges())
        if self.s.cache.active:
            text += self.s.cache.metrics_text()
        text += self.loop_lag.metrics_text()
        if self.s.reloader is not None:
            text += self.s.reloader.metrics_text()
        if self.idle_poll is not None:
            text += self.idle_poll.metrics_text()
        if (worker := this_worker()) is not None:  # one of several on the port: say which
            text = labelled(text, worker)
        return Response(text, media_type=METRICS_CONTENT_TYPE, headers=API_HEADERS)

    async def budgets(self, request: Request) -> Response:
        """Spend and reservations per cap window open now (budget_view.py)."""
        principal = await self.reader(request)
        only_params(request, "limit", "after")
        tenant = read_scope(request, principal)
        after, limit = page_params(request)
        view = await asyncio.to_thread(
            functools.partial(budget_view, self.s.store, principal, tenant,
                              self.s.budgets.now(), after=after, limit=limit)
        )  # fmt: skip
        return json_response(view)

    async def livez(self, request: Request) -> Response:
        """Liveness: answering is the whole check (a wedged loop answers nothing)."""
        return json_response({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        """Readiness from the state the sidecar keeps (probes.py): no store round trip."""
        status, body = readiness(self.s)
        return json_response(body, status=status)

    async def healthz(self, request: Request) -> Response:
        body = {
            "status": "ok",
            "uptime_s": round(time.time() - self.s.started_at, 1),
            "store_healthy": self.s.store_healthy,
            "models": len(self.s.pool),
            # which config serves (a reload changes it): compare across workers and hosts
            "config": None if self.s.reloader is None else self.s.reloader.view(),
        }
        if (workers := workers_ready()) is None:
            return json_response(body)
        body["workers"] = {"ready": workers[0], "of": workers[1]}
        if workers[0] < workers[1]:  # the rest's share of connections waits in their backlogs
            return json_response({**body, "status": "starting"}, status=503)
        return json_response(body)


def _cache_control(request: Request) -> str | None:
    """Arbiter's own header, checked (an unknown directive is the caller's 400), else the
    standard `cache-control` (whose other directives belong to HTTP caches and are ignored),
    else HTTP/1.0's `pragma: no-cache` (cache/keys.py from_pragma)."""
    h = request.headers
    ours = h.get("x-arbiter-cache-control")
    if ours:
        return check_directives(ours, "x-arbiter-cache-control")
    return h.get("cache-control") or from_pragma(h.get("pragma"))


_FEEDBACK_FIELDS = ("decision_id", "score", "thumbs", "rating")


def _feedback_score(body: dict[str, Any]) -> float:
    """The grade a feedback body gives: `score`, or `thumbs` (`rating`, its older name). A
    field it does not read (a `comment`, a misspelt `scroe`) or two signals at once (`thumbs:
    "up"` beside `score: 0`) is a 400 naming it: either was dropped in silence, the grade
    taken from whichever this code read first."""
    for name in body:
        if name not in _FEEDBACK_FIELDS:
            raise InvalidRequest(
                f"Unknown field '{name}': feedback takes decision_id and one of score, thumbs.",
                param=name,
            )
    given = [name for name in _FEEDBACK_FIELDS[1:] if name in body]
    if len(given) > 1:
        raise InvalidRequest(
            f"Give one of score, thumbs: the body gives {' and '.join(given)}.", param=given[-1]
        )
    if "score" in body:
        score = body["score"]
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
            raise InvalidRequest("'score' must be a number in [0, 1].", param="score")
        return float(score)
    thumbs = body.get("thumbs", body.get("rating"))
    if thumbs in ("up", "down"):
        return 1.0 if thumbs == "up" else 0.0
    raise InvalidRequest("Give 'score' in [0, 1] or 'thumbs': 'up' | 'down'.", param="score")


def build_app(
    settings: Settings,
    *,
    services: Services | None = None,
    config_file: ConfigFile | None = None,
) -> Starlette:
    """`config_file`: the file `settings` came from, as read (what SIGHUP and the reload
    endpoint re-read); None: no reload."""
    svc = services or Services(settings)
    h = Handlers(svc)
    if config_file is not None:
        svc.reloader = ConfigReloader(svc, *config_file)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        traced = telemetry.configure(settings.telemetry)  # off unless an endpoint is set
        await svc.start()
        h.loop_lag.start()
        hup = svc.reloader is not None and on_sighup(svc.reloader.on_signal)
        try:
            yield
        finally:
            if hup:  # ignored, not SIGHUP's default (an exit) while the shutdown runs
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
            await h.loop_lag.stop()
            await svc.stop()
            if traced:
                await asyncio.to_thread(telemetry.shutdown)  # flushes the last spans

    hosts = HostCheck(settings.server.host, settings.server.port, settings.server.allowed_hosts)
    guard = functools.partial(_guard, hosts=hosts, after=svc.after_answer)
    # the routes that call models: served past Starlette's routing layers (fast_routes.py)
    calls = [
        Route("/v1/chat/completions", guard(h.chat_completions, surface="chat"), methods=["POST"]),
        Route("/chat/completions", guard(h.chat_completions, surface="chat"), methods=["POST"]),
        Route("/v1/responses", guard(h.responses, surface="responses"), methods=["POST"]),
        Route("/v1/messages", guard(h.messages, anthropic_render, "messages"), methods=["POST"]),
        Route("/v1/embeddings", guard(h.embeddings, surface="embeddings"), methods=["POST"]),
        Route("/v1/completions", guard(h.completions, surface="completions"), methods=["POST"]),
    ]
    routes = [
        *calls[:3],
        *_stored_response_routes(h, guard),
        calls[3],
        Route(
            "/v1/messages/count_tokens", guard(h.count_tokens, anthropic_render), methods=["POST"]
        ),
        Route("/v1/models", guard(h.models, surface="models"), methods=["GET"]),
        Route("/v1/models/{id:path}", guard(h.model, surface="models"), methods=["GET"]),
        *calls[4:],
        *azure_routes(h, guard),  # the AzureOpenAI SDK's paths
        Route("/v1/feedback", guard(h.feedback, surface="feedback"), methods=["POST"]),
        Route("/arbiter/decisions", guard(h.decisions), methods=["GET"]),
        Route("/arbiter/decisions/{id}", guard(h.decision), methods=["GET"]),
        Route("/arbiter/stats", guard(h.stats), methods=["GET"]),
        Route("/arbiter/alerts", guard(h.alerts), methods=["GET"]),
        Route("/arbiter/policy", guard(h.policy), methods=["GET"]),
        Route("/arbiter/budgets", guard(h.budgets), methods=["GET"]),
        Route("/arbiter/timeseries", guard(h.timeseries), methods=["GET"]),
        Route("/metrics", guard(h.metrics), methods=["GET"]),
        *admin_routes.routes(admin_routes.AdminHandlers(svc, h.admin), guard),
        Route("/healthz", guard(h.healthz), methods=["GET"]),
        Route("/livez", guard(h.livez), methods=["GET"]),
        Route("/readyz", guard(h.readyz), methods=["GET"]),
        *dashboard.routes(h, guard),
    ]
    # the AzureOpenAI SDK's /openai/responses, /openai/models; Azure's v1 API's /openai/v1/...
    routes += unscoped_routes(routes)
    app = FastRoutesApp(
        routes=with_slash_twins(routes),
        lifespan=lifespan,
        exception_handlers={HTTPException: http_exception, Exception: unhandled},
    )
    app.router.redirect_slashes = False  # a 307 for a POST is an error to the SDKs (route_slashes)
    app.fast_posts(calls)
    app.after = svc.after_answer  # every request's learning after its answer (after_answer.py)
    app.state.services = svc
    app.state.client_read_timeout_s = settings.server.client_read_timeout_s  # read_body
    app.state.handlers = h
    app.state.hosts = hosts  # http_errors.http_exception's check
    return app


def _stored_response_routes(h: Handlers, guard: Any) -> list[Route]:
    """The Responses API's paths for stored responses, each an OpenAI-shaped 404 (or 405)."""
    endpoint = guard(h.stored_response, surface="responses")
    return [
        # before `{id}`: this one name is no stored response's id
        Route(
            "/v1/responses/input_tokens",
            guard(h.input_tokens, surface="responses"),
            methods=["POST"],
        ),
        Route("/v1/responses/{id}", endpoint, methods=["GET", "DELETE"]),
        Route("/v1/responses/{id}", guard(h.no_such_endpoint), methods=["POST"]),
        Route("/v1/responses/{id}/input_items", endpoint, methods=["GET"]),
        Route("/v1/responses/{id}/cancel", endpoint, methods=["POST"]),
    ]


# the surfaces whose requests call models: the only ones whose `anthropic-beta` header is read
# (request_log.RequestLog.anthropic_beta, sent on to Anthropic upstreams)
_CALLS_MODELS = frozenset({"chat", "responses", "messages", "embeddings", "completions"})


def _guard(
    handler: Any,
    render: Render = openai_surface.render_error,
    surface: str | None = None,
    *,
    hosts: HostCheck,
    after: AfterAnswer,
) -> Any:
    """Every ArbiterError becomes an error response in the surface's shape (OpenAI's unless
    `render` says otherwise); never a stack trace. Each request gets its id and its one log
    line (request_log.py; `surface` None: an operator endpoint, logged at debug). A request to
    a Host the sidecar does not answer to (`hosts`) or from another site's page is refused."""

    calls_models = surface in _CALLS_MODELS

    async def endpoint(request: Request) -> Response | answer_bytes.Releasing:
        quick_headers(request)
        ctx = request_log.RequestLog(
            request_log.request_id(request.headers.get("x-request-id")), surface
        )
        token = request_log.CURRENT.set(ctx)
        error = None
        if telemetry.TRACER is not None:
            ctx.span = telemetry.start_request(
                request.method, request.url.path, surface, request.headers
            )
        try:
            scope = request.scope
            hosts.check_scope(scope["headers"], scope.get("http_version", "1.1"))
            refuse_cross_site(request)
            check_params(request)
            if calls_models:  # only calls to an Anthropic upstream send it on (upstream/http.py)
                ctx.anthropic_beta = request_log.anthropic_beta_lines(scope["headers"])
            with telemetry.current(ctx.span) if ctx.span is not None else _NO_SPAN:
                response: Response = await handler(request)
        except ArbiterError as caught:
            err = _for_clients(caught)
            response = error_response(err, render)
            error = err.code
            response.headers.update(ctx.decision_headers())  # a failed request's decision
        except asyncio.CancelledError:
            if not _stopping(request):
                answer_bytes.release_all(ctx)
                raise  # the client left (disconnect.py): nobody to answer
            # `server.shutdown_grace_s` ran out and uvicorn cancelled the request before its
            # answer began: a 503 the SDKs retry (elsewhere), not a cut connection (nor
            # uvicorn's plain-text 500). The request's own code has settled it as it unwound;
            # the task goes on only to write this.
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            stopped = ServerStopping("The server is shutting down; retry the request.")
            response = error_response(stopped, render)
            response.headers["connection"] = "close"
            response.headers.update(ctx.decision_headers())
            error = stopped.code
        except HTTPException:
            raise  # Starlette's own (http_errors.http_exception answers it)
        except Exception as caught:
            # a bug: answered in the surface's shape as a 500 (not Starlette's error middleware,
            # after which nothing ended the span nor wrote the request line), its traceback
            # and request line at error, both naming the request id (CURRENT is still set)
            log.exception("unhandled error on %s", request.url.path, exc_info=caught)
            failed = ArbiterError("The server had an error while processing your request.")
            response = error_response(failed, render)
            error, ctx.level = failed.code, logging.ERROR
            response.headers.update(ctx.decision_headers())
        finally:
            request_log.CURRENT.reset(token)
        finish_headers(response, ctx.id)
        if not isinstance(response, EventStreamResponse):  # a stream logs when it ends
            # the log line once the answer has left (after_answer.py)
            status, cache = response.status_code, _cache_status(response)
            after.defer(ctx.finish, status, cache, error, time.perf_counter())
        if ctx.answer_bytes > 0:  # large whole answers: their bytes held until it is written
            return answer_bytes.Releasing(response, ctx)
        ctx.answer_bytes = -1  # (a call after this, a judge's, gives its share back itself)
        return response

    endpoint.__name__ = handler.__name__
    return endpoint


def _stopping(request: Request) -> bool:
    """Whether the server's graceful shutdown has begun (cli_serve.py marks it)."""
    services = getattr(request.app.state, "services", None)
    return services is not None and services.stopping.started


def _cache_status(response: Response) -> str | None:
    """The response's x-arbiter-cache header (a scan: MutableHeaders.get raises and catches a
    KeyError when it is absent, as it mostly is)."""
    raw = response.raw_headers
    names = list(map(_NAME, raw))  # (the scan in C: the loop was ~100 bytecodes a request)
    if b"x-arbiter-cache" not in names:
        return None
    return raw[names.index(b"x-arbiter-cache")][1].decode("latin-1")
