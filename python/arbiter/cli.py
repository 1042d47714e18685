"""`arbiter` command line: parses arguments, loads config, and hands off. No logic of its own."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from arbiter.errors import ConfigError

if TYPE_CHECKING:
    from arbiter.early_listen import EarlyListener
    from arbiter.stopping import Stopping
    from arbiter.store import Store

DEFAULT_CONFIG = "arbiter.toml"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _dispatch(argv)
        finally:  # a reader gone before the last buffered line fails here, not at exit
            sys.stdout.flush()
    except BrokenPipeError:
        return _stdout_closed()


def _stdout_closed() -> int:
    """`arbiter export ... | head`: the reader closed the pipe before we were done writing.
    Nothing is wrong with the command; say nothing (no traceback), point stdout at /dev/null so
    the interpreter's final flush does not raise again, and exit as a process killed by SIGPIPE
    reports to its shell (128 + 13), as `cat` or `grep` would."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141


def _dispatch(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # subcommands that own their own argument parsing
    if args_list and args_list[0] == "replay":
        from arbiter.offline import replay_cli

        try:
            return replay_cli.main(args_list[1:])
        except KeyboardInterrupt:  # Ctrl-C mid-table: one line, not the reader's traceback
            print("arbiter replay: interrupted", file=sys.stderr)
            return 130
    parser = _parser()
    args = parser.parse_args(_glue_dash_values(args_list))
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except ConfigError as err:
        for problem in err.problems:
            print(f"arbiter: config error: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _port(text: str) -> int:
    """--port as server.port is checked: 0 .. 65535. Past it, the event loop's bind took the
    number modulo 65536 (99999 listened on 34463) while the log said it ran on 99999."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is outside 0 .. 65535")
    return port


# a parent that starts the server hands it a socket already listening (inherited_socket.py)
_FD_HELP = "serve on this inherited listening socket instead of binding --host/--port"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="arbiter", description="Cost-aware LLM routing sidecar.")
    p.add_argument("--version", action="version", version=f"arbiter {_version()}")
    sub = p.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="run the sidecar")
    serve.add_argument(
        "--config", default=DEFAULT_CONFIG, help="TOML config (default arbiter.toml)"
    )
    serve.add_argument("--host", default=None, help="override server.host")
    serve.add_argument(
        "--port", type=_port, default=None, help="override server.port (default 8787)"
    )
    serve.add_argument("--fd", type=int, default=None, help=_FD_HELP)
    serve.set_defaults(func=_serve)

    check = sub.add_parser(
        "check-config", help="validate a config file and say everything that is wrong"
    )
    check.add_argument("file")
    check.add_argument(
        "--probe",
        action="store_true",
        help="also ask each upstream's /v1/models for the configured models, and open the store",
    )
    check.set_defaults(func=_check_config)

    migrate = sub.add_parser("migrate", help="apply the store's schema migrations")
    migrate.add_argument("--config", default=DEFAULT_CONFIG)
    migrate.set_defaults(func=_migrate)

    export = sub.add_parser("export", help="export decisions (with grades) as CSV or JSON Lines")
    export.add_argument("--config", default=DEFAULT_CONFIG)
    export.add_argument(
        "--since", required=True, help="ISO date/time (naive = UTC), unix seconds, or an age: 7d"
    )
    export.add_argument("--format", choices=("csv", "jsonl"), default="jsonl")
    export.add_argument("--tenant", default=None, help="only this tenant (default: all)")
    export.add_argument("--out", default=None, help="file to write (default: stdout)")
    export.set_defaults(func=_export)

    init = sub.add_parser(
        "init", help="write the example configs (arbiter.toml, sim.toml, routing/) to start from"
    )
    init.add_argument("dir", nargs="?", default=".", help="where to write them (default: here)")
    init.add_argument("--force", action="store_true", help="overwrite files already there")
    init.set_defaults(func=_init)

    sim = sub.add_parser("sim", help="run a simulated OpenAI-compatible upstream pool")
    sim.add_argument("--config", default=None, help="sim.toml (default: the built-in pool)")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=_port, default=9100)
    sim.add_argument("--fd", type=int, default=None, help=_FD_HELP)
    sim.add_argument(
        "--log-level", default="warning", choices=["debug", "info", "warning", "error"]
    )
    sim.add_argument(
        "--latency-scale", type=float, default=None,
        help="multiply every latency-profile time (0: instant; default: the config's)",
    )  # fmt: skip
    sim.set_defaults(func=_sim)

    demo = sub.add_parser(
        "demo", help="sim pool + sidecar + a workload that shows the router learn"
    )
    demo.add_argument("--requests", type=int, default=500)
    demo.add_argument(
        "--seed",
        type=int,
        default=7,
        help="the workload, its repeats and calibration, and the sidecar's routers' draws",
    )
    demo.add_argument("--json", action="store_true", help="print the result as one JSON object")
    demo.add_argument(
        "--keep-running",
        action="store_true",
        help="leave the sim and sidecar up after the workload (Ctrl-C stops)",
    )
    demo.add_argument("--concurrency", type=int, default=8)
    demo.add_argument(
        "--openai-only",
        action="store_true",
        help="serve every simulated model over OpenAI's API (default: some over Anthropic's)",
    )
    demo.set_defaults(func=_demo)

    keys = sub.add_parser("keys", help="manage client API keys (create shows the key once)")
    keys.add_argument("--config", default=DEFAULT_CONFIG)
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    kc = ksub.add_parser("create", help="create a key for a tenant")
    kc.add_argument("--tenant", default="default")
    kc.add_argument("--name", default="")
    kc.add_argument("--expires-in", default=None, help="e.g. 3600s, 90m, 12h, 30d")
    kl = ksub.add_parser("list", help="list keys (ids and prefixes, never secrets)")
    kl.add_argument("--tenant", default=None)
    kr = ksub.add_parser(
        "revoke", help="revoke a key by id (running sidecars: within auth.key_cache_ttl_s)"
    )
    kr.add_argument("key_id")
    # `arbiter keys create --config X` (after the subcommand, as every other command takes it)
    # was "unrecognized arguments"; retried without it, the key went to ./arbiter.toml's store
    for sub_parser in (kc, kl, kr):
        sub_parser.add_argument("--config", default=argparse.SUPPRESS)
    keys.set_defaults(func=_keys)

    sub.add_parser("replay", help="replay an outcome table through the routing core (see --help)")
    return p


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("arbiter")
    except PackageNotFoundError:  # run from a source tree without an install
        return "0+unknown"


# options whose value may start with a dash (`--expires-in -5d`): argparse reads `-5d` as an
# option and answers "expected one argument"; glued (`--expires-in=-5d`) the value reaches the
# check that names the flag
_DASH_VALUE_OPTIONS = ("--expires-in",)


def _glue_dash_values(args: list[str]) -> list[str]:
    out: list[str] = []
    it = iter(args)
    for arg in it:
        if arg in _DASH_VALUE_OPTIONS:
            value = next(it, None)
            if value is not None and value.startswith("-") and not value.startswith("--"):
                out.append(f"{arg}={value}")
                continue
            out.append(arg)
            if value is not None:
                out.append(value)
            continue
        out.append(arg)
    return out


def _key_lifetime_s(text: str) -> float | None:
    """`--expires-in` in seconds, or None when it is no positive duration of at most 100 years
    (`-5d`, `0`, `nan`, `inf`, `1e308d`: the create must stop with the flag's name)."""
    from arbiter.auth import MAX_KEY_LIFETIME_S

    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        seconds = float(text[:-1]) * units[text[-1]] if text[-1:] in units else float(text)
    except (ValueError, IndexError):
        return None
    # not `<= 0`: NaN passes that, and a NaN (or infinite) expiry is never reached
    return seconds if 0 < seconds <= MAX_KEY_LIFETIME_S else None


def _new_tenant_problem(tenant: str) -> str | None:
    from arbiter.records import SYSTEM_TENANT
    from arbiter.tenant_names import tenant_name_problem

    if tenant == SYSTEM_TENANT:
        return "reserved for the operator's alerts"
    return tenant_name_problem(tenant)


def _keys(args: argparse.Namespace) -> int:
    import time

    from arbiter import auth, config
    from arbiter.errors import ArbiterError
    from arbiter.logs import visible
    from arbiter.store import open_store

    expires: float | None = None
    if args.keys_command == "create" and args.expires_in is not None:
        expires = _key_lifetime_s(args.expires_in)
        if expires is None:  # before the store is opened: a refused create makes no store
            print(
                f"arbiter: --expires-in must be a positive duration of at most 100 years "
                f"(e.g. 3600s, 90m, 12h, 30d); got {args.expires_in!r}",
                file=sys.stderr,
            )
            return 2
    # a name no key can take: refused as --expires-in is, before a store is made for it
    if args.keys_command == "create" and (problem := _new_tenant_problem(args.tenant)):
        print(f"arbiter: --tenant {args.tenant!r}: {problem}", file=sys.stderr)
        return 2
    settings = config.load(args.config, secrets=False)  # the store only: no upstream keys
    if args.keys_command != "create" and (absent := _absent(settings.store.url)) is not None:
        print(f"arbiter: {absent}", file=sys.stderr)  # a read creates no store file either
        return 2
    if (down := _unreachable(settings.store.url)) is not None:
        print(f"arbiter: {down}", file=sys.stderr)
        return 1
    store = open_store(settings.store.url, migrate_lock_wait_s=settings.store.migrate_lock_wait_s)
    try:
        # only `create` writes a key where none could be yet: a read (`list`), or a revoke of a
        # key that cannot exist in a store never migrated, must leave the schema as it is
        if args.keys_command == "create":
            store.migrate()
        elif (unmigrated := _unmigrated(store, settings.store.url)) is not None:
            print(f"arbiter: {unmigrated}", file=sys.stderr)
            return 2
        if args.keys_command == "create":
            new = auth.create_key(store, args.tenant, name=args.name, expires_in_s=expires)
            print(f"id:     {new.id}\ntenant: {new.tenant}\nkey:    {new.key}")
            print("(the key is shown only this once; only its hash is stored)", file=sys.stderr)
        elif args.keys_command == "list":
            for row in store.list_keys(args.tenant):
                v = auth.public_view(row)
                # a name is any string the admin API took (a tenant, one stored before its
                # rule): escapes, line ends and bidi controls must not reach the terminal
                print(
                    f"{v['id']}  {v['status']:<8} tenant={visible(v['tenant']):<12} "
                    f"{v['prefix']}  {visible(v['name'])}"
                )
        else:
            if not store.revoke_key(args.key_id, time.time()):
                print(f"arbiter: no active key with id {args.key_id!r}", file=sys.stderr)
                return 1
            print(f"revoked {args.key_id}")
    except ArbiterError as err:
        print(f"arbiter: {err.message}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0


def _serve(args: argparse.Namespace) -> int:
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
    if problem := migrated_problem(settings.store.url, settings.store.migrate_lock_wait_s):
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
    server = _server_telling_streams(uvicorn, config_, app.state.services.stopping, early)
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
    uvicorn: Any, config_: Any, stopping: Stopping, early: EarlyListener | None = None
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


def _check_config(args: argparse.Namespace) -> int:
    from arbiter import config, preflight
    from arbiter.config_warnings import config_warnings
    from arbiter.url_redaction import redact_url

    try:
        settings = config.load(args.file)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        n = len(err.problems)
        print(f"{args.file}: {n} problem{'s' if n != 1 else ''}", file=sys.stderr)
        return 2
    print(
        f"{args.file}: OK — {len(settings.models)} models, {len(settings.upstreams)} upstreams, "
        f"baseline {settings.routing.baseline}, store {redact_url(settings.store.url)}"
    )
    for warning in config_warnings(settings):
        print(f"warning: {warning}", file=sys.stderr)
    if not args.probe:
        return 0
    problems = preflight.probe(settings)
    store = preflight.store_problem(settings.store.url)
    problems += [f"store: {store}"] if store else []
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{args.file}: the probe found {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"probe: every upstream answered and serves its {len(settings.models)} models")
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from arbiter import config
    from arbiter.errors import ArbiterError
    from arbiter.preflight import store_problem
    from arbiter.store import open_store
    from arbiter.url_redaction import redact_url

    settings = config.load(args.config, secrets=False)
    # as `serve` does: a store that cannot be opened (a folder, a file that is no database, a
    # server that refuses) is one line, not a traceback
    if problem := store_problem(settings.store.url):
        print(f"arbiter: {problem}", file=sys.stderr)
        return 1
    store = open_store(settings.store.url, migrate_lock_wait_s=settings.store.migrate_lock_wait_s)
    try:
        version = store.migrate()
    except ArbiterError as err:  # it failed between the check and the migration
        print(f"arbiter: {err.message}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"{redact_url(settings.store.url)}: schema at version {version}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from arbiter import config
    from arbiter.errors import ArbiterError
    from arbiter.store import open_store
    from arbiter.store.export import export, parse_time
    from arbiter.whole_file import whole_file

    try:
        since = parse_time(args.since)
    except ValueError:
        print(f"arbiter: bad --since {args.since!r} (use 2026-11-01, unix seconds or 7d)",
              file=sys.stderr)  # fmt: skip
        return 2
    # the API's rule (http_json.time_range: `until` defaults to a minute after now): a `since`
    # past it exports nothing, which must not read as "no traffic"
    if since > (now := time.time()) + 60:
        print(f"arbiter: --since {args.since!r} is in the future ({since:.0f}, now {now:.0f}): "
              "give a time at or before now", file=sys.stderr)  # fmt: skip
        return 2
    settings = config.load(args.config, secrets=False)
    if (absent := _absent(settings.store.url)) is not None:
        print(f"arbiter: {absent}", file=sys.stderr)
        return 2
    if (down := _unreachable(settings.store.url)) is not None:
        print(f"arbiter: {down}", file=sys.stderr)
        return 1
    store = open_store(settings.store.url)
    try:
        if (unmigrated := _unmigrated(store, settings.store.url)) is not None:
            print(f"arbiter: {unmigrated}", file=sys.stderr)
            return 2
        if args.out is None:
            n = export(store, since, args.format, sys.stdout, tenant=args.tenant)
        else:
            try:
                with whole_file(args.out) as out:
                    n = export(store, since, args.format, out, tenant=args.tenant)
            except OSError as err:  # no such folder, a folder, no permission, a full disk
                print(
                    f"arbiter: cannot write --out {args.out!r}: {err.strerror or err}",
                    file=sys.stderr,
                )
                return 1
            except KeyboardInterrupt:  # Ctrl-C: no half export left where a whole one was
                print(
                    f"arbiter: interrupted; --out {args.out!r} not written (left as it was)",
                    file=sys.stderr,
                )
                return 130
    except ArbiterError as err:
        print(f"arbiter: {err.message}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"exported {n} decisions", file=sys.stderr)
    return 0


def _absent(url: str) -> str | None:
    """Why a read-only command cannot read a SQLite store that does not exist: opening it would
    create the file (and its directories), an empty store where the operator named none. None
    when it exists, or is not a SQLite file."""
    from arbiter.store.sqlite import parse_sqlite_url
    from arbiter.url_redaction import redact_url

    path = parse_sqlite_url(url) if url.startswith("sqlite:") else None
    if path is None or path.exists():
        return None
    return (
        f"the store at {redact_url(url)} has no Arbiter tables (there is no file {path}: it was "
        "never migrated; nothing was created): run `arbiter migrate` (with the same --config) "
        "first, or point store.url at the sidecar's"
    )


def _unreachable(url: str) -> str | None:
    """Why the store cannot be opened, in one line naming it (as `migrate` and `serve` say it),
    before the command opens it: a PostgreSQL server that refuses was the pool's retry lines on
    stderr, 5 s of waiting and `PoolTimeout: couldn't get a connection`; a SQLite file that is
    no database, `sqlite open failed: file is not a database` without saying which file. None
    when it opens (a SQLite file not there yet: `_absent` for the reads; `create` makes it)."""
    from arbiter.preflight import store_problem

    return store_problem(url)


def _unmigrated(store: Store, url: str) -> str | None:
    """Why a read-only command cannot read `store`: it has no Arbiter tables (never migrated;
    a read-only command does not create them). None when it has."""
    from arbiter.url_redaction import redact_url

    if store.schema_version() > 0:
        return None
    return (
        f"the store at {redact_url(url)} has no Arbiter tables (it was never migrated): run "
        "`arbiter migrate` (with the same --config) first, or point store.url at the sidecar's"
    )


def _init(args: argparse.Namespace) -> int:
    from pathlib import Path

    from arbiter import starter_configs

    target = Path(args.dir)
    try:
        written = starter_configs.write(target, force=args.force)
    except starter_configs.WouldOverwrite as err:
        print(f"arbiter init: already in {target}: {err} (--force overwrites)", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"arbiter init: cannot write to {target}: {err}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print(
        f"next: arbiter sim --config {target / 'sim.toml'} &  then  "
        f"arbiter serve --config {target / 'arbiter.toml'}",
        file=sys.stderr,
    )
    return 0


def _sim(args: argparse.Namespace) -> int:
    from arbiter.offline.sim import run_sim

    if args.latency_scale is not None and not args.latency_scale >= 0:
        print("arbiter sim: --latency-scale must be >= 0", file=sys.stderr)
        return 2
    from arbiter.inherited_socket import adopt

    try:
        listening = None if args.fd is None else adopt(args.fd)
    except ValueError as err:
        print(f"arbiter sim: {err}", file=sys.stderr)
        return 2
    run_sim(args.config, args.host, args.port, args.log_level, latency_scale=args.latency_scale,
            sock=listening)  # fmt: skip
    return 0


def _demo(args: argparse.Namespace) -> int:
    from arbiter.offline import demo

    return demo.run(
        requests=args.requests,
        seed=args.seed,
        as_json=args.json,
        keep_running=args.keep_running,
        concurrency=args.concurrency,
        anthropic_models=() if args.openai_only else demo.ANTHROPIC_TIERS,
    )


if __name__ == "__main__":
    raise SystemExit(main())
