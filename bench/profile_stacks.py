"""Summarise py-spy collapsed stacks (`py-spy record -f raw`) of the sidecar by component.

Each sample is charged to the leaf-most frame that belongs to a known component (httpcore,
starlette, onnxruntime, an arbiter module, ...), so library time called from our code counts for
the library. Usage: python bench/profile_stacks.py FILE [--top N]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterable

# (component, pattern on the frame's file path); first match from the leaf wins
COMPONENTS: tuple[tuple[str, str], ...] = (
    ("onnxruntime (difficulty model)", r"onnxruntime/"),
    ("numpy", r"numpy/"),
    ("logging", r"logging/"),
    ("sqlite3 / store", r"sqlite3/|arbiter/store/"),
    ("httpcore (upstream client)", r"httpcore/"),
    ("h11 (upstream HTTP/1.1)", r"h11/"),
    ("anyio", r"anyio/"),
    ("httpx (upstream client)", r"httpx/"),
    ("starlette", r"starlette/"),
    ("uvicorn/httptools", r"uvicorn/|httptools/"),
    ("asyncio (python parts)", r"asyncio/"),
    ("threading", r"threading\.py"),
    ("arbiter.difficulty", r"arbiter/difficulty\.py"),
    ("arbiter.classify", r"arbiter/classify\.py"),
    ("arbiter.routing (+_native.choose)", r"arbiter/routing\.py|arbiter/policy\.py"),
    ("arbiter.recorder", r"arbiter/recorder\.py|arbiter/records\.py"),
    ("arbiter.grading/learning", r"arbiter/grading\.py|arbiter/learning\.py|arbiter/judge\.py"),
    ("arbiter.surfaces (parse)", r"arbiter/surfaces/"),
    ("arbiter.upstream (+orjson)", r"arbiter/upstream/"),
    ("arbiter.failover", r"arbiter/failover\.py"),
    # the request flow: pipeline.py and the modules split out of it (eighteenth session)
    (
        "arbiter.pipeline (+ its split modules)",
        r"arbiter/(?:pipeline|route_plan|whole_answer|routed_stream|cascade_try|upstream_call"
        r"|call_pricing|response_headers|decision_record|answer_handoff)\.py",
    ),
    ("arbiter.auth/budget", r"arbiter/auth\.py|arbiter/budget\.py|arbiter/principal\.py"),
    ("arbiter.server", r"arbiter/server\.py"),
    ("arbiter (other)", r"arbiter/"),
)
_COMPILED = tuple((name, re.compile(p)) for name, p in COMPONENTS)
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*)(?::\d+)?\)$")


def parse(lines: Iterable[str]) -> list[tuple[list[str], int]]:
    out = []
    for line in lines:
        line = line.rstrip("\n")
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        out.append((stack.split(";"), int(count)))
    return out


def component(frames: list[str]) -> str:
    for frame in reversed(frames):
        m = _FRAME.match(frame)
        path = m.group("file") if m else frame
        for name, rx in _COMPILED:
            if rx.search(path):
                return name
    return "other / unknown"


def summarise(samples: list[tuple[list[str], int]], top: int) -> str:
    total = sum(n for _, n in samples) or 1
    comp: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    for frames, n in samples:
        comp[component(frames)] += n
        leaf[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    rows = [f"samples: {total}", "", "| component (leaf-most match) | samples | % |"]
    rows.append("|---|---|---|")
    rows += [f"| {c} | {n} | {100 * n / total:.1f} |" for c, n in comp.most_common()]
    rows += ["", f"| top {top} self frames | % |", "|---|---|"]
    rows += [f"| `{f[:110]}` | {100 * n / total:.1f} |" for f, n in leaf.most_common(top)]
    rows += ["", f"| top {top} inclusive frames | % |", "|---|---|"]
    rows += [f"| `{f[:110]}` | {100 * n / total:.1f} |" for f, n in incl.most_common(top)]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("file")
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args(argv)
    with open(a.file) as f:
        print(summarise(parse(f), a.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
