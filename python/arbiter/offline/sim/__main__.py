"""`python -m arbiter.offline.sim --config F --port P` (or `--fd N`, an inherited listening
socket): run the simulator in the foreground."""

from __future__ import annotations

import argparse
import logging
import sys

from arbiter.errors import ConfigError
from arbiter.inherited_socket import adopt
from arbiter.offline.sim.runner import run_sim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m arbiter.offline.sim", description=__doc__)
    parser.add_argument("--config", default=None, help="sim.toml (default: the built-in pool)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--fd", type=int, default=None, help="serve on this listening socket")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        run_sim(args.config, args.host, args.port,
                sock=None if args.fd is None else adopt(args.fd))  # fmt: skip
    except (ConfigError, ValueError) as err:
        print(f"arbiter sim: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
