"""`arbiter serve`: the store checked and migrated, the socket listening (early_listen.py),
then uvicorn started on the app (or a worker set: workers.py)."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import logging
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arbiter.early_listen import EarlyListener
    from arbiter.stopping import Stopping


class _Step:
    """How far `serve` got: what a Ctrl-C interrupted."""

    name = "starting"  # then "migrating", "migrated", and "serving" once uvicorn accepts
    url = ""  # the store's, once the config is read


def serve(args: argparse.Namespace) -> int:
    step = _Step()
    try:
        return _serve(args, step)
    except KeyboardInterrupt:
        if step.name == "serving":  # Ctrl-C stopped a sidecar that served: uvicorn said so
            return 130
        # it exited 130 without a word: where the store was left, read again
        from arbiter.cli_interrupted import schema_state

        if step.name == "starting":
            state = "the store was not changed"
        else:
            state = schema_state(step.url, migrating=step.name == "migrating")
        print(f"arbiter: interrupted during start-up, before serving: {state}", file=sys.stderr)
        return 130


def _serve(args: argparse.Namespace, step: _Step) -> int:
    import signal
    from pathlib import Path

    import uvicorn

    from arbiter import config, gc_tuning, inherited_socket, logs, open_files, workers
    from arbiter.client_timeout import protocol_with_read_timeout
    from arbiter.config_reload import note_early_sighup
    from arbiter.early_listen import EarlyListener
    from arbiter.host_check import bind_warning
    from arbiter.preflight import migrated_problem, store_problem
    from arbiter.server import build_app

    # until the app's loop takes SIGHUP (a reload), one sent during start-up must not kill it,
    # nor be lost once the config is read: noted, and run when the loop is up (config_reload)
    signal.signal(signal.SIGHUP, note_early_sighup)
    text, settings = config.load_with_text(args.config)
    problem = store_problem(settings.store.url)
    if problem:  # one clear line, not a start-up traceback
        print(f"arbiter: {problem}", file=sys.stderr)
        return 1
    host = args.host or settings.server.host
    port = args.port if args.port is not None else settings.server.port
    logs.configure(
        settings.server.log_level,
        settings.server.log_format,
        {m.name: m.upstream for m in settings.models.values()},
    )
    # the schema (and a write) before the app serves: a locked or read-only store is one line
    # (the supervisor's migration leaves its workers' a no-op); after logs, so it logs its steps
    if workers.is_worker():  # what the supervisor warned is not warned again by each worker
        workers.inherit_warnings()
    try:  # a wrong --fd is one clear line before anything starts
        listening = None if args.fd is None else inherited_socket.adopt(args.fd)
    except ValueError as err:
        print(f"arbiter: {err}", file=sys.stderr)
        return 2
    early = None
    # a lone sidecar listens from here: probes and requests get `starting` (early_listen.py);
    # on an address, not a name (uvicorn binds each address a name like localhost has)
    if settings.server.workers <= 1 and not workers.is_worker() and _bindable(listening, host):
        if listening is None:
            try:  # a port in use, an address not of this host: one line, status 3 (uvicorn's)
                listening = inherited_socket.loopback_listener(host, port)
            except OSError as err:
                print(
                    f"arbiter: cannot listen on {host}:{port}: {err.strerror or err}",
                    file=sys.stderr,
                )
                return 3
        early = EarlyListener(listening)
        early.start()
    step.name, step.url = "migrating", settings.store.url
    try:
        problem = migrated_problem(settings.store.url, settings.store.migrate_lock_wait_s)
    except KeyboardInterrupt:  # nothing answers `starting` while it says what it left
        if early is not None:
            early.stop()
        raise
    step.name = "migrated"
    if problem:
        if early is not None:
            early.stop()
        print(f"arbiter: {problem}", file=sys.stderr)
        return 1
    # before workers start: they inherit it (EMFILE at ~1,024 sockets otherwise)
    open_files.raise_to_hard_limit()
    if listening is not None:
        host, port = listening.getsockname()[:2]
    if settings.server.workers > 1 and not workers.is_worker():
        if settings.auth.mode == "open":  # once for the set: its workers do not warn again
            from arbiter.auth import warn_open

            warn_open()
        from arbiter.config_warnings import semantic_bound_warnings

        for line in semantic_bound_warnings(settings):  # likewise
            logging.getLogger("arbiter.cache.semantic").warning("%s", line)
        return workers.serve_set(str(args.config), host, port, args.fd, settings.server)
    # the address served, as the app's Host check knows it (--host, --port, --fd override)
    served = dataclasses.replace(settings.server, host=host, port=port)
    if warning := bind_warning(host, served.allowed_hosts):
        logging.getLogger("arbiter.serve").warning("%s", warning)
    app = build_app(
        dataclasses.replace(settings, server=served),
        config_file=(Path(args.config), settings, text),  # SIGHUP re-reads it (config_reload)
    )
    # background threads (recorder batches, policy sync) hand the GIL back to the event loop
    # after 1 ms instead of 5: bench/scale.py's tail at half load, p99 added 4.8 -> 3.8 ms
    sys.setswitchinterval(0.001)
    gc.freeze()  # start-up objects never need collecting; keeps full collections short
    # rarer young collections, run on the core's spare time; one more freeze once warm
    gc_tuning.tune_for_serving(idle_collector=True)
    config_ = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.server.log_level,
        log_config=None,  # uvicorn's lines go through the root handler: one format
        access_log=False,
        loop="uvloop",
        # httptools, with a timeout on each request's line and headers (uvicorn has none)
        http=protocol_with_read_timeout(
            settings.server.client_read_timeout_s,
            settings.server.client_write_timeout_s,
            app.state.handlers.idle_poll,  # server.idle_poll_us (None: off)
            settings.server.max_connections,
        ),
        lifespan="on",
        # a localhost sidecar: no reverse proxy in front whose X-Forwarded-* could be trusted,
        # and one middleware layer less on every request
        proxy_headers=False,
        timeout_keep_alive=settings.server.keep_alive_s,
        # SIGTERM: in-flight requests get this long, then are cancelled (recorded, budgets
        # settled) and the lifespan's shutdown runs; without it a stuck stream held it forever
        timeout_graceful_shutdown=settings.server.shutdown_grace_s,  # type: ignore[arg-type]
    )
    sockets = None
    if listening is not None:
        sockets = [listening]
    elif workers.is_worker():  # its own socket on the shared port (SO_REUSEPORT)
        try:  # a port in use, an address not of this host: one line, as uvicorn's own bind says
            sockets = [workers.reuseport_socket(host, port)]
        except OSError as err:
            print(
                f"arbiter: cannot listen on {host}:{port}: {err.strerror or err}", file=sys.stderr
            )
            return 3  # uvicorn's start-up failure status, as a single process exits with
    server = _server_telling_streams(uvicorn, config_, app.state.services.stopping, early, step)
    try:
        server.run(sockets=sockets)
    finally:
        if early is not None:  # start-up failed before the hand-over
            early.stop()
    if not server.started:
        return 3  # uvicorn's start-up failure status
    return 0


def _bindable(listening: object, host: str) -> bool:
    """Whether the served socket is one socket: inherited, or bound to an IP address."""
    import ipaddress

    if listening is not None:
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


_FORCED_RECORD_S = 5.0  # a forced stop's wait for the requests it cut to record themselves


def _server_telling_streams(
    uvicorn: Any,
    config_: Any,
    stopping: Stopping,
    early: EarlyListener | None = None,
    step: _Step | None = None,
) -> Any:
    """A uvicorn.Server that marks `stopping` when its graceful shutdown begins, so the streams
    it cancels when `server.shutdown_grace_s` runs out end with an error event (relay.py).
    With `early`, the socket's interim answers stop once the app's start-up is done, just
    before uvicorn accepts on it (early_listen.py)."""
    from arbiter import worker_ready

    class _Server(uvicorn.Server):  # type: ignore[misc]
        async def startup(self, sockets: Any = None) -> None:
            if early is not None:
                import asyncio

                app_startup = self.lifespan.startup

                async def then_hand_over() -> None:
                    try:
                        await app_startup()
                    finally:
                        await asyncio.to_thread(early.stop)

                self.lifespan.startup = then_hand_over
            await super().startup(sockets)
            if self.started:  # accepting: a worker tells /healthz it serves (worker_ready.py)
                worker_ready.mark_ready()
                if step is not None and not self.should_exit:  # no Ctrl-C came during it
                    step.name = "serving"

        def handle_exit(self, sig: int, frame: Any) -> None:
            stopping.draining = True  # /readyz: not ready from the signal on (probes.py)
            super().handle_exit(sig, frame)

        async def shutdown(self, sockets: Any = None) -> None:
            stopping.started = True
            await super().shutdown(sockets)
            if self.force_exit:
                # a second SIGINT (Ctrl-C twice): uvicorn stops waiting for the requests in
                # flight, and skipped the app's shutdown too: their records, and the batch the
                # recorder had not written yet, were lost, their budget holds left for a sweep
                # to charge at worst case. They are cut as at the grace's end, and the app stops.
                import asyncio

                tasks = list(self.server_state.tasks)
                for task in tasks:
                    task.cancel(msg="Task cancelled, forced shutdown")
                if tasks:  # each records how it ended (relay.py), a moment at most
                    await asyncio.wait(tasks, timeout=_FORCED_RECORD_S)
                await self.lifespan.shutdown()

    return _Server(config_)
