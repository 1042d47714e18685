"""Escape attempts against the code sandbox: shared by tests/test_sandbox_escapes.py and
bench/graders.py (which runs them all and reports `escapes`).

Each attempt is an answer program that tries to get out; what it finds is judged from OUTSIDE
(`Escape.escaped`): a file created where it must not be, a connection accepted by a socket the
test holds, a secret seen in anything that came back, a parent process gone. The tests in the
answer (`assert ...`) only make the sandbox's own verdict visible; the outside check decides.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from arbiter.sandbox.bwrap import Bubblewrap, Collected
from arbiter.sandbox.python_runner import PythonRunner
from arbiter.sandbox.runner import Job, Limits, Outcome

SECRET = "sk-upstream-" + os.urandom(8).hex()
ENV_NAME = "ARBITER_TEST_UPSTREAM_KEY"
# set inside the sandbox to the World's own token: a process that outlives a run is recognised
# as that run's (not another test run's, which has its own token) by its /proc/PID/environ
RUN_MARK_ENV = "ARBITER_TEST_SANDBOX_RUN"
# when a forked, setsid'ed child of a run writes its file: the run ends at once, so a second is
# long after the sandbox's end (the test waits ORPHAN_WAKES_S + 0.5 for the file; it was 3 + 3.5)
ORPHAN_WAKES_S = 1.0
LIMITS = Limits(wall_s=4.0, cpu_s=2, memory_mb=256, processes=16, file_mb=4, output_bytes=64 * 1024)


@dataclass(slots=True)
class World:
    """What lives outside the sandbox during one attempt."""

    tmp: Path  # the test's own directory (outside the sandbox)
    listener: socket.socket  # a real listening socket on 127.0.0.1
    store: Path  # a sqlite file holding SECRET
    other_port: int  # another port on 127.0.0.1 (the sidecar's or its upstream's)
    run_mark: str  # this world's token, in the environment of every process its runs start

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def accepted(self) -> bool:
        self.listener.setblocking(False)
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return False
        conn.close()
        return True


@contextmanager
def world(tmp: Path, other_port: int) -> Iterator[World]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    store = tmp / "arbiter.db"
    with sqlite3.connect(store) as db:
        db.execute("CREATE TABLE IF NOT EXISTS keys (secret TEXT)")
        db.execute("INSERT INTO keys VALUES (?)", (SECRET,))
    previous = os.environ.get(ENV_NAME)
    os.environ[ENV_NAME] = SECRET  # as an upstream key would be in the sidecar's environment
    try:
        yield World(tmp, listener, store, other_port, os.urandom(8).hex())
    finally:
        listener.close()
        if previous is None:
            os.environ.pop(ENV_NAME, None)
        else:
            os.environ[ENV_NAME] = previous


@dataclass(frozen=True, slots=True)
class Escape:
    name: str
    program: Callable[[World], str]  # the answer's code
    escaped: Callable[[World, Collected], bool]  # judged outside, after the run
    # how the run must end (None: it ran to completion): proves the attempt really ran, so a
    # sandbox that fails to start cannot pass as one that holds
    expect: str | None = None
    # other endings that also prove it ran (a fork bomb that exhausts its process limit before
    # the wall time ends in an exception, not a timeout, on a fast or busy machine)
    also: tuple[str, ...] = ()

    def ended_as_expected(self, kind: str | None) -> bool:
        return kind == self.expect or kind in self.also


def _leaked(_w: World, got: Collected) -> bool:
    return SECRET.encode() in got.output or SECRET.encode() in got.results


def _parent_gone(_w: World, _got: Collected) -> bool:
    return False  # the test itself checks it is still alive after the run


ESCAPES: tuple[Escape, ...] = (
    Escape(
        "read_own_environ",
        lambda w: (
            "import os\n"
            "data = open('/proc/self/environ', 'rb').read().decode()\n"
            "print(data)\n"
            f"assert {ENV_NAME!r} not in data\n"
        ),
        _leaked,
    ),
    Escape(
        "read_parent_environ",
        lambda w: (
            "import os\n"
            "seen = ''\n"
            "for pid in [os.getppid(), 1, " + str(os.getpid()) + "] + os.listdir('/proc'):\n"
            "    try:\n"
            "        seen += open(f'/proc/{pid}/environ', 'rb').read().decode()\n"
            "    except (OSError, ValueError):\n"
            "        pass\n"
            "print(seen)\n"
        ),
        _leaked,
    ),
    Escape(
        "socket_to_listener",
        lambda w: (
            "import socket\n"
            "for port in (" + f"{w.port}, {w.other_port}" + "):\n"
            "    try:\n"
            "        socket.create_connection(('127.0.0.1', port), timeout=1).sendall(b'x')\n"
            "        print('CONNECTED', port)\n"
            "    except OSError as err:\n"
            "        print('blocked', err)\n"
        ),
        lambda w, got: w.accepted() or b"CONNECTED" in got.output,
    ),
    Escape(
        "write_outside_tmp",
        lambda w: (
            "import os\n"
            f"for path in ({str(w.tmp / 'pwned')!r}, '/pwned', '/usr/pwned', '/proc/pwned'):\n"
            "    try:\n"
            "        open(path, 'w').write('x')\n"
            "        print('WROTE', path)\n"
            "    except OSError as err:\n"
            "        print('blocked', err)\n"
        ),
        lambda w, got: (w.tmp / "pwned").exists() or Path("/pwned").exists(),
    ),
    Escape(
        "read_store_file",
        lambda w: (
            f"for path in ({str(w.store)!r}, '/etc/passwd', '/root/.bash_history'):\n"
            "    try:\n"
            "        print(open(path, 'rb').read())\n"
            "    except OSError as err:\n"
            "        print('blocked', err)\n"
        ),
        _leaked,
    ),
    # unbounded: a bounded loop of failing forks (EAGAIN at the process limit) could finish
    # inside the wall limit on a fast core and end as a pass, not as a run the sandbox stopped
    Escape(
        "fork_bomb",
        lambda w: (
            "import os\n"
            "while True:\n"
            "    try:\n"
            "        os.fork()\n"
            "    except OSError:\n"
            "        pass\n"
        ),
        lambda w, got: False,
        "timeout",
        also=("exception",),
    ),
    Escape(
        "memory_bomb",
        lambda w: "blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 1024 * 1024))\n",
        lambda w, got: False,
        "resource_limit",
    ),
    Escape(
        "infinite_output",
        lambda w: "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
        lambda w, got: len(got.output) > LIMITS.output_bytes,
        "resource_limit",
    ),
    Escape(
        # the program's own timer at 10x the wall limit must not fire before the limit ends
        # it: an ordering of two timers a loaded host delays alike (it was `wall_ms > limit +
        # 3 s`, which a loaded host could pass with the limit holding)
        "sleep_past_limit",
        lambda w: f"import time\ntime.sleep({10 * LIMITS.wall_s})\nprint('WOKE', flush=True)\n",
        lambda w, got: b"WOKE" in got.output,
        "timeout",
    ),
    Escape(
        "orphan_outlives_run",
        lambda w: (
            "import os, time\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            f"    time.sleep({ORPHAN_WAKES_S})\n"
            f"    open({str(w.tmp / 'orphan')!r}, 'w').write('alive')\n"
            "    os._exit(0)\n"
        ),
        lambda w, got: False,  # the test checks no process of the run survives it
    ),
    Escape(
        "kill_parent",
        lambda w: (
            "import os, signal\n"
            f"for pid in (os.getppid(), 1, {os.getpid()}, -1):\n"
            "    try:\n"
            "        os.kill(pid, signal.SIGKILL)\n"
            "    except OSError as err:\n"
            "        print('blocked', pid, err)\n"
        ),
        _parent_gone,
    ),
    Escape(
        "nested_user_namespace",
        lambda w: (
            "import ctypes\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "if libc.unshare(0x10000000) == 0:  # CLONE_NEWUSER: a way to regain capabilities\n"
            "    print('NESTED')\n"
            "else:\n"
            "    print('blocked', ctypes.get_errno())\n"
        ),
        lambda w, got: b"NESTED" in got.output,
        also=("exception",),  # the harness's audit hook refuses ctypes before the jail must
    ),
    Escape(
        "write_big_file_in_tmp",
        lambda w: "open('/tmp/big', 'wb').write(b'x' * (64 * 1024 * 1024))\n",
        lambda w, got: False,  # bounded by RLIMIT_FSIZE and the tmpfs size
        "resource_limit",
    ),
)


class Spy(Bubblewrap):
    """The real bwrap, keeping what each run returned (so the checks see the raw output) and
    marking every process it starts with `run_mark` (see `run_pids`)."""

    def __init__(self, run_mark: str, binary: str = "bwrap") -> None:
        super().__init__(binary)
        self.run_mark = run_mark
        self.last: Collected | None = None

    def argv(self, command: list[str], ro_paths: list[str], tmp_bytes: int) -> list[str]:
        args = super().argv(command, ro_paths, tmp_bytes)
        at = args.index("--clearenv") + 1  # after it, or it would clear the mark too
        return [*args[:at], "--setenv", RUN_MARK_ENV, self.run_mark, *args[at:]]

    def collect(
        self, argv: list[str], stdin: bytes, *, wall_s: float, output_cap: int, result_cap: int
    ) -> Collected:
        self.last = super().collect(
            argv, stdin, wall_s=wall_s, output_cap=output_cap, result_cap=result_cap
        )
        return self.last


def attempt(escape: Escape, w: World) -> tuple[bool, Outcome, Collected]:
    """Run one attempt in the sandbox; (escaped?, the grade's outcome, the raw output)."""
    spy = Spy(w.run_mark)
    runner = PythonRunner(spy)
    outcome = runner.run(Job(escape.program(w), "assert True\n"), LIMITS)
    assert spy.last is not None
    time.sleep(0.05)
    return escape.escaped(w, spy.last) or not _alive(os.getpid()), outcome, spy.last


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def run_pids(run_mark: str) -> set[int]:
    """The live processes started by the runs marked `run_mark` (a World's), wherever they are:
    only those, so sandbox runs of other tests (or other test processes) never count. A run's
    processes cannot shed the mark: /proc/PID/environ is the environment each was started
    with, inherited through fork, and the sandbox has no exec of a new environment that matters
    here (every escape forks or runs in place)."""
    needle = f"{RUN_MARK_ENV}={run_mark}".encode()
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()  # empty once it is a zombie
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            pids.add(int(entry))
    return pids
