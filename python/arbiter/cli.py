"""`arbiter` command line: parses arguments, loads config, and hands off. No logic of its own."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from arbiter import cli_keys, cli_serve, cli_store, cli_tools
from arbiter.errors import ConfigError

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
    except KeyboardInterrupt:  # a command with a state to tell has said it (cli_interrupted.py)
        print(f"arbiter {args.command}: interrupted", file=sys.stderr)
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
    serve.set_defaults(func=cli_serve.serve)

    check = sub.add_parser(
        "check-config", help="validate a config file and say everything that is wrong"
    )
    check.add_argument("file")
    check.add_argument(
        "--probe",
        action="store_true",
        help="also ask each upstream's /v1/models for the configured models, and open the store",
    )
    check.set_defaults(func=cli_tools.check_config)

    migrate = sub.add_parser("migrate", help="apply the store's schema migrations")
    migrate.add_argument("--config", default=DEFAULT_CONFIG)
    migrate.set_defaults(func=cli_store.migrate)

    export = sub.add_parser("export", help="export decisions (with grades) as CSV or JSON Lines")
    export.add_argument("--config", default=DEFAULT_CONFIG)
    export.add_argument(
        "--since", required=True, help="ISO date/time (naive = UTC), unix seconds, or an age: 7d"
    )
    export.add_argument("--format", choices=("csv", "jsonl"), default="jsonl")
    export.add_argument("--tenant", default=None, help="only this tenant (default: all)")
    export.add_argument("--out", default=None, help="file to write (default: stdout)")
    export.set_defaults(func=cli_store.export)

    init = sub.add_parser(
        "init", help="write the example configs (arbiter.toml, sim.toml, routing/) to start from"
    )
    init.add_argument("dir", nargs="?", default=".", help="where to write them (default: here)")
    init.add_argument("--force", action="store_true", help="overwrite files already there")
    init.set_defaults(func=cli_tools.init)

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
    sim.set_defaults(func=cli_tools.sim)

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
    demo.set_defaults(func=cli_tools.demo)

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
    keys.set_defaults(func=cli_keys.keys)

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


if __name__ == "__main__":
    raise SystemExit(main())
