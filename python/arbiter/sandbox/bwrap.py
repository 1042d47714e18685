"""Bubblewrap (``bwrap``, Debian's ``bubblewrap`` package): the process-level sandbox.

One sandboxed run: a fresh user, PID, network, IPC, UTS and cgroup namespace (``--unshare-all``:
no network at all, not even loopback to the sidecar; no further user namespaces inside), a root
made of read-only binds of only what the interpreter needs plus a size-capped private tmpfs at
/tmp (the only writable place), an empty environment (``--clearenv``, and bwrap itself is
started with a minimal one, so no upstream key is anywhere in the sandbox's /proc), a new
session (no terminal injection), every capability dropped, and ``--die-with-parent``. When the
sidecar runs as root the whole tree runs as an unprivileged uid (65534), so RLIMIT_NPROC binds
(the kernel never limits uid 0's processes) and nothing root-owned outside can be opened even if
it were mounted.

The wall-time limit, the output caps and the final kill live here: bwrap runs in its own process
group; at the end (normal exit, timeout, or a cap exceeded) that group is SIGKILLed, and
``--die-with-parent`` plus the PID namespace take everything inside down with its init.
"""

from __future__ import annotations

import contextlib
import functools
import os
import selectors
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SANDBOX_UID", "Bubblewrap", "Collected"]

SANDBOX_UID = 65534  # "nobody": the uid the tree runs as when the sidecar is root
_TMP_DIR = "/tmp"  # the sandbox's only writable directory (a private tmpfs)


@dataclass(frozen=True, slots=True)
class Collected:
    """What one sandboxed process left: its output (capped), its result pipe, how it ended."""

    output: bytes
    results: bytes
    returncode: int | None
    timed_out: bool
    capped: bool  # an output cap was exceeded (and the tree was killed for it)
    wall_ms: float


class Bubblewrap:
    def __init__(self, binary: str = "bwrap") -> None:
        self.binary = binary
        self.path = shutil.which(binary) if "/" not in binary else binary

    @functools.cached_property
    def _disables_userns(self) -> bool:
        try:
            done = subprocess.run(
                [str(self.path), "--help"], capture_output=True, timeout=10, check=False,
                env={"PATH": "/usr/bin:/bin"},
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return False
        return b"--disable-userns" in done.stdout + done.stderr

    def missing(self) -> str | None:
        """Why bwrap cannot be used here (None when its binary is present and executable)."""
        if self.path is None:
            return f"{self.binary!r} not found on PATH (install Debian's bubblewrap package)"
        if not os.access(self.path, os.X_OK):
            return f"{self.path} is not an executable file"
        return None

    def argv(self, command: list[str], ro_paths: list[str], tmp_bytes: int) -> list[str]:
        """bwrap's command line for `command`, seeing only `ro_paths` (read-only) and /tmp."""
        assert self.path is not None
        args = [
            self.path,
            "--unshare-all",
            # no nested user namespaces: less kernel surface from inside (bwrap >= 0.8.0; it
            # needs an explicit --unshare-user)
            *(("--unshare-user", "--disable-userns") if self._disables_userns else ()),
            "--die-with-parent",
            "--new-session",
            "--cap-drop", "ALL",
            "--clearenv",
            "--setenv", "PATH", "/usr/bin:/bin",
            "--setenv", "HOME", _TMP_DIR,
            "--setenv", "LANG", "C.UTF-8",
            "--hostname", "sandbox",
        ]  # fmt: skip
        for path in _system_paths() + sorted(set(ro_paths)):
            link = Path(path)
            if link.is_symlink():  # /lib -> usr/lib on merged-/usr systems
                args += ["--symlink", os.readlink(link), path]
            else:
                args += ["--ro-bind", path, path]
        args += [
            "--proc", "/proc",
            "--dev", "/dev",
            "--size", str(tmp_bytes), "--tmpfs", _TMP_DIR,
            "--chdir", _TMP_DIR,
            "--remount-ro", "/",
            "--",
            *command,
        ]  # fmt: skip
        return args

    def collect(
        self, argv: list[str], stdin: bytes, *, wall_s: float, output_cap: int, result_cap: int
    ) -> Collected:
        """Run `argv` (a bwrap command line), feed it `stdin`, read its output and result pipe
        (the fd number is appended to argv) within the caps, and kill its tree at the end."""
        started = time.perf_counter()
        uid = SANDBOX_UID if os.geteuid() == 0 else None  # never run the tree as root
        read_end, write_end = os.pipe()
        try:
            proc = subprocess.Popen(
                [*argv, str(write_end)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(write_end,),
                env={"PATH": "/usr/bin:/bin"},  # never the sidecar's environment
                start_new_session=True,
                cwd="/",
                user=uid,
                group=uid,
                extra_groups=[] if uid is not None else None,
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        try:
            return _pump(proc, read_end, stdin, started, wall_s, output_cap, result_cap)
        finally:
            _kill_tree(proc)
            os.close(read_end)


def _system_paths() -> list[str]:
    """What any dynamically linked interpreter needs: /usr and the top-level library links."""
    return [p for p in ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/libx32") if Path(p).exists()]


def _pump(
    proc: subprocess.Popen[bytes],
    results_fd: int,
    stdin: bytes,
    started: float,
    wall_s: float,
    output_cap: int,
    result_cap: int,
) -> Collected:
    assert proc.stdin is not None and proc.stdout is not None
    deadline = started + wall_s
    output = bytearray()
    results = bytearray()
    pending = memoryview(stdin)
    timed_out = capped = False
    os.set_blocking(proc.stdin.fileno(), False)
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout.fileno(), selectors.EVENT_READ, output)
        sel.register(results_fd, selectors.EVENT_READ, results)
        if pending:
            sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE, None)
        else:
            proc.stdin.close()
        readers = 2
        while readers:
            left = deadline - time.perf_counter()
            if left <= 0:
                timed_out = True
                break
            for key, _ in sel.select(left):
                if key.data is None:  # stdin: feed the job, then close it
                    try:
                        sent = os.write(key.fd, pending[:65536])
                    except (BrokenPipeError, BlockingIOError) as err:
                        sent = len(pending) if isinstance(err, BrokenPipeError) else 0
                    pending = pending[sent:]
                    if not pending:
                        sel.unregister(key.fd)
                        proc.stdin.close()
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fd)
                    readers -= 1
                    continue
                buf: bytearray = key.data
                buf += chunk
                if len(output) > output_cap or len(results) > result_cap:
                    capped = True
                    readers = 0
                    break
    if not proc.stdin.closed:
        proc.stdin.close()
    _kill_tree(proc)
    return Collected(
        bytes(output[:output_cap]),
        bytes(results[:result_cap]),
        proc.returncode,
        timed_out,
        capped,
        (time.perf_counter() - started) * 1000,
    )


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL bwrap's process group (its PID namespace dies with its init), then reap it."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - a SIGKILLed bwrap always exits
        proc.kill()
        proc.wait()
    if proc.stdout is not None and not proc.stdout.closed:
        proc.stdout.close()
