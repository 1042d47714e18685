"""No check on client or upstream text may take super-linear time (issue 11, item 1).

1. Every check that reads untrusted text (bench/redos.py's CHECKS: classifier, graders, math
   check, cascade rules, judge protocol, simulator, workload) runs on every adversarial shape
   (whitespace/newline runs, digit and operator runs, repeated separators, unclosed fences,
   brackets and quotes, nested parentheses, ...) at 16k and 64k characters: the time must grow
   about 4x (linear), far from 16x (quadratic), and stay under an absolute ceiling. The thread's
   CPU time (a loaded machine's preemptions are not counted), min of repeats, re-measured before
   failing: this separates linear from quadratic, it does not time.
   Each check runs in a forked child process under a timeout, so a backtracking pattern fails
   the test instead of hanging the suite.
2. Python's backtracking ``re`` never scans untrusted text: every use of it in python/arbiter is
   in the audited list below, with the reason it is safe. A new one fails until it is audited
   (and almost always it should be ``arbiter.linear.compile`` instead).
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from tests.bench_scripts import load

REPO = Path(__file__).resolve().parents[1]
_SIZES = (1_000, 4_000, 16_000, 64_000)
_MAX_GROWTH = 12.0  # for 4x the text: ~4 when linear (up to ~9 on a busy machine), 16 quadratic
_CEILING_S = 0.3  # one check on 64k characters (the slowest takes ~40 ms)
_CHILD_TIMEOUT_S = 100.0  # all shapes of one check: ~1 s, 21 s seen at load 9 (pytest-timeout: 120)


# One child per module imports the checks once (~0.7 s of CPU, about half of what a check's
# measurement costs) and forks a grandchild per check: each check still starts from the imported
# state alone, and a check that hangs is killed with its child, which the next test restarts.
_SERVER = f"""
import json, os, sys, time, traceback
from tests.bench_scripts import load
redos = load("redos")
cpu = time.thread_time  # not wall time: a preempted repeat's wait is not the check's
for line in sys.stdin:
    check = json.loads(line)
    if os.fork() == 0:
        try:
            for shape in redos.SHAPES:
                g = redos.measure(check, shape, {_SIZES!r}, repeats=3, clock=cpu)
                if g.ratio >= {_MAX_GROWTH} or g.seconds[-1] >= {_CEILING_S}:
                    g = redos.measure(check, shape, {_SIZES!r}, repeats=7, clock=cpu)  # noise
                print(json.dumps([shape, g.seconds]), flush=True)
            print(json.dumps("done"), flush=True)
        except BaseException:
            print(json.dumps({{"error": traceback.format_exc()}}), flush=True)
        os._exit(0)
    os.wait()
"""


class _Measurer:
    """The module's measuring child; started on first use and again after a hang."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        path = os.pathsep.join([str(REPO), str(REPO / "python"), os.environ.get("PYTHONPATH", "")])
        env = dict(os.environ, PYTHONPATH=path)
        argv = [sys.executable, "-c", _SERVER]
        return subprocess.Popen(
            argv, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

    def measure(self, check: str) -> tuple[dict[str, list[float]], str | None]:
        """{shape: seconds per size} for ``check``, and the shape that ran out of time, if any."""
        if self.proc is None:
            self.proc = self._start()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(check).encode() + b"\n")
        self.proc.stdin.flush()
        rows: dict[str, list[float]] = {}
        deadline, fd, buf = time.monotonic() + _CHILD_TIMEOUT_S, self.proc.stdout.fileno(), b""
        while True:
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                row = json.loads(line)
                if row == "done":
                    return rows, None
                assert not isinstance(row, dict), row["error"][-2000:]
                rows[row[0]] = row[1]
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.close()
                hung = next((shape for shape in load("redos").SHAPES if shape not in rows), "?")
                return rows, hung
            chunk = os.read(fd, 1 << 16)
            assert chunk, "the measuring child died"
            buf += chunk

    def close(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # its grandchild too
            self.proc.wait()
            for pipe in (self.proc.stdin, self.proc.stdout):
                if pipe is not None:
                    pipe.close()
            self.proc = None


@pytest.fixture(scope="module")
def measurer() -> Iterator[_Measurer]:
    m = _Measurer()
    yield m
    m.close()


@pytest.mark.parametrize("check", sorted(load("redos").CHECKS))
def test_check_time_grows_linearly_on_adversarial_text(check: str, measurer: _Measurer) -> None:
    rows, hung = measurer.measure(check)
    assert hung is None, f"{check} on {hung!r} ran past {_CHILD_TIMEOUT_S} s"
    for shape, seconds in rows.items():
        ms = [round(s * 1e3, 3) for s in seconds]
        ratio = max(max(b, 2e-5) / max(a, 2e-5) for a, b in pairwise(seconds))
        assert ratio < _MAX_GROWTH, f"{check} on {shape!r}: {ms} ms at {_SIZES} chars"
        assert seconds[-1] < _CEILING_S, f"{check} on {shape!r}: {ms} ms"


# file (relative to python/arbiter) -> `re.<function>` -> how many uses, each audited:
_AUDITED_RE_USES: dict[str, dict[str, int]] = {
    # Builds literal alternations for linear.compile; matches nothing itself.
    "classify.py": {"re.escape": 1},
    # Escapes a template's literal text for linear.compile; matches nothing itself.
    "offline/workload/__init__.py": {"re.escape": 1},
    # The operator's config file and environment, read once at startup: trusted text.
    # ARBITER_* env override names (lower-case ones, one underscore): the environment, not client
    # text; in each pattern [A-Z]+ cannot take the "_" that follows it
    "config.py": {"re.fullmatch": 3},
    "config_resolve.py": {"re.match": 1},  # (split from config.py: an upstream's base_url scheme)
    # An age like "15m" (export/timeseries `since`): fullmatch of `\d+(\.\d+)?[smhd]`, anchored
    # with no adjacent or nested quantifiers over the same characters: linear.
    "store/export.py": {"re.compile": 1},
    # A large embeddings answer's skeleton (upstream text): `_SHAPE` is one character of a set
    # (search finds the next, nothing to backtrack); `_COLON`, `[ \t\r\n]*:[ \t\r\n]*`, is
    # matched (anchored) once after each string: one run of blanks, then a colon: linear.
    "upstream/embeddings_skeleton.py": {"re.compile": 2},
}


def _re_uses(source: str) -> Counter[str]:
    """`re.<name>` attribute uses and `from re import` names in one module."""
    uses: Counter[str] = Counter()
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "re"
            and node.attr not in ("Pattern", "Match")  # type annotations
        ):
            uses[f"re.{node.attr}"] += 1
        elif isinstance(node, ast.ImportFrom) and node.module in ("re", "regex"):
            uses.update(f"re.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            uses.update("import regex" for a in node.names if a.name == "regex")
    return uses


def test_backtracking_re_is_used_only_where_audited() -> None:
    root = Path(__file__).resolve().parents[1] / "python" / "arbiter"
    found = {}
    for path in sorted(root.rglob("*.py")):
        uses = _re_uses(path.read_text())
        if uses:
            found[path.relative_to(root).as_posix()] = dict(uses)
    assert found == _AUDITED_RE_USES, (
        "a use of Python's backtracking `re` changed. Client or upstream text goes through "
        "arbiter.linear.compile (Rust, linear time); audit anything else here with its reason."
    )
