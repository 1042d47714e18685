"""`arbiter check-config`, `init`, `sim` and `demo`: a config checked or written, and the local
simulated pool and its demo."""

from __future__ import annotations

import argparse
import sys

from arbiter.errors import ConfigError


def check_config(args: argparse.Namespace) -> int:
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


def init(args: argparse.Namespace) -> int:
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


def sim(args: argparse.Namespace) -> int:
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


def demo(args: argparse.Namespace) -> int:
    from arbiter.offline import demo

    return demo.run(
        requests=args.requests,
        seed=args.seed,
        as_json=args.json,
        keep_running=args.keep_running,
        concurrency=args.concurrency,
        anthropic_models=() if args.openai_only else demo.ANTHROPIC_TIERS,
    )
