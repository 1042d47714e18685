"""`arbiter` command line: parses arguments, loads config, and hands off. No logic of its own."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence

from arbiter.errors import ConfigError

DEFAULT_CONFIG = "arbiter.toml"


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # subcommands that own their own argument parsing
    if args_list and args_list[0] == "replay":
        from arbiter import replay

        return replay.main(args_list[1:])
    parser = _parser()
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except ConfigError as err:
        print(f"arbiter: config error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="arbiter", description="Cost-aware LLM routing sidecar.")
    sub = p.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="run the sidecar")
    serve.add_argument(
        "--config", default=DEFAULT_CONFIG, help="TOML config (default arbiter.toml)"
    )
    serve.add_argument("--host", default=None, help="override server.host")
    serve.add_argument("--port", type=int, default=None, help="override server.port (default 8787)")
    serve.set_defaults(func=_serve)

    check = sub.add_parser("check-config", help="validate a config file and say what is wrong")
    check.add_argument("file")
    check.set_defaults(func=_check_config)

    migrate = sub.add_parser("migrate", help="apply the store's schema migrations")
    migrate.add_argument("--config", default=DEFAULT_CONFIG)
    migrate.set_defaults(func=_migrate)

    sim = sub.add_parser("sim", help="run a simulated OpenAI-compatible upstream pool")
    sim.add_argument("--config", default=None, help="sim.toml (default: the built-in pool)")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=9100)
    sim.set_defaults(func=_sim)

    demo = sub.add_parser(
        "demo", help="sim pool + sidecar + a workload that shows the router learn"
    )
    demo.add_argument("--requests", type=int, default=500)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--json", action="store_true", help="print the result as one JSON object")
    demo.add_argument(
        "--keep-running",
        action="store_true",
        help="leave the sim and sidecar up after the workload (Ctrl-C stops)",
    )
    demo.add_argument("--concurrency", type=int, default=8)
    demo.set_defaults(func=_demo)

    sub.add_parser("replay", help="replay an outcome table through the routing core (see --help)")
    return p


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from arbiter import config
    from arbiter.server import build_app

    settings = config.load(args.config)
    host = args.host or settings.server.host
    port = args.port if args.port is not None else settings.server.port
    logging.basicConfig(
        level=settings.server.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    app = build_app(settings)
    gc.freeze()  # start-up objects never need collecting; keeps full collections short
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=settings.server.log_level,
        access_log=False,
        loop="uvloop",
        http="httptools",
        lifespan="on",
    )
    return 0


def _check_config(args: argparse.Namespace) -> int:
    from arbiter import config

    settings = config.load(args.file)
    print(
        f"{args.file}: OK — {len(settings.models)} models, {len(settings.upstreams)} upstreams, "
        f"baseline {settings.routing.baseline}, store {settings.store.url}"
    )
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from arbiter import config
    from arbiter.store import open_store

    settings = config.load(args.config)
    store = open_store(settings.store.url)
    try:
        version = store.migrate()
    finally:
        store.close()
    print(f"{settings.store.url}: schema at version {version}")
    return 0


def _sim(args: argparse.Namespace) -> int:
    from arbiter.sim import run_sim

    run_sim(args.config, args.host, args.port)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from arbiter import demo

    return demo.run(
        requests=args.requests,
        seed=args.seed,
        as_json=args.json,
        keep_running=args.keep_running,
        concurrency=args.concurrency,
    )


if __name__ == "__main__":
    raise SystemExit(main())
