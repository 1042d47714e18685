"""Python answers, run by ``harness.py`` in a ``bwrap`` jail (see bwrap.py for the jail)."""

from __future__ import annotations

import marshal
import os
import secrets
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import orjson

from arbiter.sandbox.bwrap import Bubblewrap, Collected
from arbiter.sandbox.runner import FailureKind, Job, Limits, Outcome

__all__ = ["HARNESS_PARTS", "HARNESS_SOURCE", "PythonRunner", "default_interpreter"]

# The program run in the jail: the harness and the modules it wires, in this order (the
# guard's first: it swaps in the private builtins every later function is defined with; the
# harness's last: it calls main). The jail mounts only /usr, so nothing of this package can be
# imported there: the parts travel as one `-c` source, one namespace, the one home the audit
# hook's checks trust (their sibling imports sit under TYPE_CHECKING, for mypy only).
HARNESS_PARTS = ("harness_guard.py", "harness_compare.py", "harness_bind.py", "harness.py")
_FUTURE = "from __future__ import annotations\n"


def _program(parts: tuple[str, ...]) -> str:
    texts = [Path(__file__).with_name(name).read_text(encoding="utf-8") for name in parts]
    for name, text in zip(parts, texts, strict=True):
        if text.count(_FUTURE) != 1:
            raise RuntimeError(f"sandbox/{name}: expected one {_FUTURE.strip()!r}")
    # the future import must open the source; each part's is dropped where it stands
    return _FUTURE + "\n".join(text.replace(_FUTURE, "", 1) for text in texts)


HARNESS_SOURCE = _program(HARNESS_PARTS)
_RESULT_CAP = 1 << 20
_PROBE_WALL_S = 15.0
# The jail runs `-B` (no bytecode written) and the harness is ~75 KB of source: compiling it
# cost 15-45 ms of every run, most of a run (grade26). So the sandbox's own interpreter
# compiles it once, outside the jail (our source only, no answer), and each run reads the
# marshalled code from stdin ahead of the job: marshal's format is that interpreter's own.
_LOADER = "import marshal,sys;exec(marshal.loads(sys.stdin.buffer.read({size})))"
_COMPILER = (
    "import marshal,sys;"
    "sys.stdout.buffer.write(marshal.dumps(compile(sys.stdin.read(),'<string>','exec',"
    "dont_inherit=True)))"
)
_COMPILE_WALL_S = 30.0


def default_interpreter() -> str:
    """The distribution's python3 when there is one (readable by the sandbox's unprivileged
    uid, inside the /usr bind), else the interpreter running the sidecar."""
    system = Path("/usr/bin/python3")
    if system.exists():
        return str(system)
    return os.path.realpath(sys.executable)


class PythonRunner:
    language = "python"
    mechanism = "bubblewrap"

    def __init__(self, bwrap: Bubblewrap | None = None, interpreter: str = "") -> None:
        self.bwrap = bwrap or Bubblewrap()
        self.interpreter = interpreter or default_interpreter()
        self._probed: tuple[str | None] | None = None
        self._compiled: tuple[bytes | None] | None = None  # the harness's code, marshalled
        self._lock = threading.Lock()

    def _ro_paths(self) -> list[str]:
        real = Path(os.path.realpath(self.interpreter))
        prefix = real.parent.parent  # <prefix>/bin/python3.x -> <prefix>
        return [] if str(prefix).startswith("/usr") else [str(prefix)]

    def _argv(self, limits: Limits, code: bytes | None) -> list[str]:
        program = HARNESS_SOURCE if code is None else _LOADER.format(size=len(code))
        command = [self.interpreter, "-I", "-S", "-B", "-c", program]
        return self.bwrap.argv(command, self._ro_paths(), limits.file_mb << 20)

    def _harness_code(self) -> bytes | None:
        """The harness compiled by the sandbox's interpreter (once; None: it could not, and
        each run compiles the source as before)."""
        with self._lock:
            if self._compiled is None:
                self._compiled = (_compile_harness(self.interpreter),)
            return self._compiled[0]

    def unavailable(self) -> str | None:
        """None when a trivial program ran in the jail; else why not (probed once, cached)."""
        missing = self.bwrap.missing()
        if missing is not None:
            return missing
        with self._lock:
            if self._probed is None:
                self._probed = (self._probe(),)
            return self._probed[0]

    def _probe(self) -> str | None:
        limits = Limits(wall_s=_PROBE_WALL_S)
        code = _compile_harness(self.interpreter)
        self._compiled = (code,)  # under the lock (`unavailable`)
        try:
            got = self.bwrap.collect(
                self._argv(limits, code),
                (code or b"") + _job_bytes(Job("ok = 1", "assert ok == 1"), limits, "probe"),
                wall_s=limits.wall_s,
                output_cap=4096,
                result_cap=4096,
            )
        except (OSError, subprocess.SubprocessError) as err:
            return f"cannot start {self.bwrap.path}: {err}"
        if b'"event": "done"' not in got.results:
            said = got.output.decode("utf-8", "replace").strip().splitlines()
            return f"the sandbox did not run a probe (exit {got.returncode}): " + (
                said[-1][:200] if said else "no output"
            )
        return None

    def run(self, job: Job, limits: Limits) -> Outcome:
        nonce = secrets.token_hex(8)
        code = self._harness_code()
        got = self.bwrap.collect(
            self._argv(limits, code),
            (code or b"") + _job_bytes(job, limits, nonce),
            wall_s=limits.wall_s,
            output_cap=limits.output_bytes,
            result_cap=_RESULT_CAP,
        )
        return outcome_of(got, nonce)


def _compile_harness(interpreter: str) -> bytes | None:
    """`HARNESS_SOURCE` compiled and marshalled by `interpreter` (run outside the jail: the
    input is our own source), or None when that fails."""
    try:
        done = subprocess.run(
            [interpreter, "-I", "-S", "-B", "-c", _COMPILER],
            input=HARNESS_SOURCE.encode("utf-8"),
            capture_output=True,
            timeout=_COMPILE_WALL_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 and done.stdout else None


def _job_bytes(job: Job, limits: Limits, nonce: str) -> bytes:
    mb = 1 << 20
    rlimits = {
        "RLIMIT_CPU": limits.cpu_s,
        "RLIMIT_AS": limits.memory_mb * mb,
        "RLIMIT_NPROC": limits.processes,
        "RLIMIT_FSIZE": limits.file_mb * mb,
        "RLIMIT_NOFILE": limits.open_files,
        "RLIMIT_CORE": 0,
    }
    # marshal: the harness reads it without importing anything (json alone costs ~18 ms there);
    # it only ever goes from the sidecar to the sandbox, never back
    return marshal.dumps(
        {
            "code": job.code,
            "tests": job.tests,
            "doctests": [list(d) for d in job.doctests],
            "rlimits": rlimits,
            "nonce": nonce,
        }
    )


TAMPERED = "tampering with the harness detected: the answer reached its checks or records"
LOST_COUNT = "the harness's count of checks never arrived: the answer wrote into its result pipe"


def outcome_of(got: Collected, nonce: str) -> Outcome:
    """The harness's result lines (those carrying this run's nonce) -> units passed of total."""
    total = 0
    outcome: dict[int, tuple[bool, str, str]] = {}
    stopped: tuple[FailureKind, str] | None = None
    done = started = tampered = counted = False
    for line in got.results.splitlines():
        try:
            record: Any = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(record, dict) or record.get("nonce") != nonce:
            continue  # not the harness's (the answer can write to inherited descriptors)
        event = record.get("event")
        detail = str(record.get("detail", ""))
        if event == "started":
            started = True
        elif event == "units" and _count(record.get("total")):
            total += record["total"]
            counted = True
        elif event == "syntax":
            return Outcome(0, max(total, 1), "syntax", detail, got.wall_ms)
        elif event == "load_failed":
            return Outcome(0, max(total, 1), _kind(record.get("kind")), detail, got.wall_ms)
        elif event == "bad_tests":
            return Outcome(0, 0, None, f"tests do not parse: {detail}", got.wall_ms, "bad_tests")
        elif event == "tests_stopped":
            stopped = (_kind(record.get("kind")), f"line {record.get('line')}: {detail}")
        elif event == "done":
            done = True
        elif _count(record.get("unit")):
            tampered = tampered or record.get("tampered") is True  # only the audit hook's mark
            before = outcome.get(record["unit"])
            outcome[record["unit"]] = (
                # only the harness's own `true` passes a unit; one failed stays failed (a
                # second writer of the pipe, a forked harness, wrote after: grade26)
                record.get("ok") is True and (before is None or before[0]),
                str(record.get("kind") or ""),
                f"line {record.get('line')}: {detail}",
            )
    if not started:  # bwrap refused, the interpreter is missing, the machine too busy to start
        said = got.output.decode("utf-8", "replace").strip().splitlines()
        why = said[-1][:200] if said else f"exit {got.returncode}, timed out: {got.timed_out}"
        return Outcome(0, 0, None, f"the sandbox did not start: {why}", got.wall_ms,
                       "sandbox_error")  # fmt: skip
    if outcome and not counted:  # the answer wrote a partial line into the pipe ahead of the
        # units record (grade26: it then hid the records of the checks it would fail)
        return Outcome(0, len(outcome), "exception", LOST_COUNT, got.wall_ms)
    passed = sum(1 for ok, _, _ in outcome.values() if ok)
    total = max(total, len(outcome))
    failures = [(kind, detail) for ok, kind, detail in outcome.values() if not ok]
    if tampered:  # the hook wrote a unit failed and dropped the rest ("done" too)
        return Outcome(passed, max(total, 1), "exception", TAMPERED, got.wall_ms)
    if not done:
        kind, why = _abnormal_end(got)
        return Outcome(passed, max(total, 1), kind, why, got.wall_ms)
    if stopped is not None:
        failures.insert(0, stopped)
    if not failures and passed == total:
        return Outcome(passed, total, None, f"{passed}/{total} passed", got.wall_ms)
    first_kind, detail = failures[0] if failures else ("exception", "a check never ran")
    return Outcome(passed, total, _kind(first_kind), detail, got.wall_ms)


def _count(value: object) -> bool:
    """A unit number or count as the harness writes it: a JSON integer (not "0", 1.5, true)."""
    return type(value) is int and 0 <= value < 1 << 31


def _kind(value: object) -> FailureKind:
    known: tuple[FailureKind, ...] = (
        "syntax", "exception", "wrong_answer", "timeout", "resource_limit",
    )  # fmt: skip
    for kind in known:
        if value == kind:
            return kind
    return "exception"


def _abnormal_end(got: Collected) -> tuple[FailureKind, str]:
    """Why the harness never said "done": wall time, a cap, or a signal (bwrap reports a killed
    child as 128 + signal number)."""
    if got.timed_out:
        return "timeout", f"wall-time limit ({got.wall_ms:.0f} ms)"
    if got.capped:
        return "resource_limit", "output limit exceeded"
    rc = got.returncode
    signo = rc - 128 if rc is not None and rc > 128 else (-rc if rc is not None and rc < 0 else 0)
    if signo == 24:  # SIGXCPU
        return "timeout", "CPU-time limit"
    if signo == 9:  # SIGKILL after RLIMIT_CPU's hard limit, or out of memory
        return "resource_limit", "killed (CPU or memory limit)"
    if signo:
        return "exception", f"killed by signal {signo}"
    tail = got.output.decode("utf-8", "replace").strip().splitlines()
    return "exception", (tail[-1][:200] if tail else f"exited {rc} before finishing")
