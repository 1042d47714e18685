"""What masking the config's secrets (log_secrets.py) adds to the per-request log line: the
request path's work of bench/request_log.py (the RequestLog, the decision copied in, the line
formatted and written to /dev/null), with no secret to mask (the baseline, as before the change)
and with 8 (four upstream keys, the three operator keys, a store password), rounds alternated so
both arms see the same host. Prints each round, then the ratio's range and one JSON line.
Bounded: a fixed number of calls per round. Usage: python bench/log_secrets_cost.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os

from bench.request_log import one_request, per_call_us

from arbiter import log_secrets, logs

SECRETS = [f"sk-proj-{i}-" + "x" * 40 for i in range(4)] + [
    "adm-" + "a" * 30, "dash-" + "d" * 30, "met-" + "m" * 30, "pg-password-123",
]  # fmt: skip


def _mask(values: list[str]) -> None:
    # the module's masking state set directly: use() only ever adds (a reload keeps old keys)
    log_secrets._secrets = log_secrets._forms(values)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    calls, repeats, rounds = (2_000, 3, 4) if args.quick else (20_000, 5, 6)
    ratios: dict[str, list[float]] = {}
    with open(os.devnull, "w") as sink:
        for fmt in ("text", "json"):
            handler = logs.configure("info", fmt, {"sim-small": "sim"})
            handler.setStream(sink)
            for r in range(rounds):
                arms = {}
                for arm, values in (("none", []), ("eight", SECRETS))[:: 1 if r % 2 else -1]:
                    _mask(values)
                    arms[arm] = per_call_us(one_request, calls, repeats)
                ratio = arms["eight"] / arms["none"]
                ratios.setdefault(fmt, []).append(ratio)
                print(f"{fmt} round {r}: none {arms['none']:.2f} us, eight {arms['eight']:.2f} us,"
                      f" ratio {ratio:.3f}")  # fmt: skip
    _mask([])
    for fmt, rs in ratios.items():
        print(f"{fmt}: eight secrets / none = {min(rs):.3f} .. {max(rs):.3f}")
    print(json.dumps({"bench": "log_secrets_cost", "ratio_range": {
        k: [round(min(v), 3), round(max(v), 3)] for k, v in ratios.items()}}))  # fmt: skip


if __name__ == "__main__":
    main()
