"""The program run INSIDE the sandbox (Python runner): the sidecar never imports or runs this.

It is passed to the sandboxed interpreter as ``-c`` source text (``HARNESS_SOURCE`` in
``python_runner.py``), so it depends on nothing but the standard library of whatever Python the
sandbox runs. It reads one JSON job from stdin (the answer's code, the tests, doctest examples,
the resource limits, a per-run nonce), lowers its own rlimits (they cannot be raised again), runs
the code and then every check, and writes one JSON line per check outcome to the result pipe
(its file descriptor is the first argument) tagged with the nonce. The answer's own output goes
to stdout/stderr, which the sidecar reads only up to a cap.

Unit accounting: every ``assert`` statement of the tests is one unit (rewritten so a failing one
is recorded and execution continues); each top-level ``test_*`` function is one unit (it passes
when it returns); a test file with neither is one unit that passes when it runs through. A unit
that never ran because the tests stopped (an exception outside an assert) fails. Each doctest
example is one unit.
"""

from __future__ import annotations

import ast
import io
import json
import os
import resource
import sys
from typing import Any


def _emit(out: Any, nonce: str, record: dict[str, Any]) -> None:
    record["nonce"] = nonce
    out.write(json.dumps(record) + "\n")
    out.flush()


def _limit(job: dict[str, Any]) -> None:
    limits = job.get("rlimits", {})
    for name, value in limits.items():
        kind = getattr(resource, name)
        resource.setrlimit(kind, (value, value))


class _Recorder:
    def __init__(self, out: Any, nonce: str) -> None:
        self.out = out
        self.nonce = nonce
        self.outcome: dict[int, bool] = {}

    def record(self, unit: int, ok: bool, kind: str, line: int, detail: str) -> None:
        before = self.outcome.get(unit)
        if before is False or before is ok:
            return  # a unit that failed once stays failed; report each change once
        self.outcome[unit] = ok
        _emit(
            self.out,
            self.nonce,
            {"unit": unit, "ok": ok, "kind": kind, "line": line, "detail": detail[:200]},
        )


def _kind_of(err: BaseException) -> str:
    if isinstance(err, (MemoryError, RecursionError)):
        return "resource_limit"
    if isinstance(err, BlockingIOError) or (
        isinstance(err, OSError) and err.errno in (11, 24, 27)  # EAGAIN, EMFILE, EFBIG
    ):
        return "resource_limit"
    return "exception"


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


class _RewriteAsserts(ast.NodeTransformer):
    """``assert test, msg`` -> ``__arbiter_assert__(unit, line, lambda: test)``."""

    def __init__(self) -> None:
        self.units: list[int] = []

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        unit = len(self.units)
        self.units.append(node.lineno)
        call = ast.Call(
            func=ast.Name(id="__arbiter_assert__", ctx=ast.Load()),
            args=[
                ast.Constant(value=unit),
                ast.Constant(value=node.lineno),
                ast.Lambda(
                    args=ast.arguments(
                        posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[]
                    ),
                    body=node.test,
                ),
            ],
            keywords=[],
        )
        return ast.copy_location(ast.Expr(value=call), node)


def _run_tests(source: str, ns: dict[str, Any], rec: _Recorder) -> None:
    try:
        tree = ast.parse(source, "<tests>")
    except SyntaxError as err:
        _emit(rec.out, rec.nonce, {"event": "bad_tests", "detail": f"line {err.lineno}: {err.msg}"})
        return
    rewrite = _RewriteAsserts()
    tree = ast.fix_missing_locations(rewrite.visit(tree))
    asserts = len(rewrite.units)
    funcs = [
        n.name
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test_")
    ]
    units = asserts + len(funcs)
    whole = units == 0  # neither asserts nor test functions: the file running through is the unit
    total = 1 if whole else units
    _emit(rec.out, rec.nonce, {"event": "units", "total": total})

    def check(unit: int, line: int, thunk: Any) -> None:
        try:
            value = thunk()
        except BaseException as err:  # the answer may raise anything, SystemExit included
            rec.record(unit, False, _kind_of(err), line, _describe(err))
            return
        if value:
            rec.record(unit, True, "", line, "")
        else:
            rec.record(unit, False, "wrong_answer", line, "assertion failed")

    ns["__arbiter_assert__"] = check
    try:
        exec(compile(tree, "<tests>", "exec"), ns)
    except BaseException as err:
        line = _tb_line(err, "<tests>")
        kind = _kind_of(err)
        if whole:
            rec.record(0, False, kind, line, _describe(err))
        _emit(rec.out, rec.nonce, {"event": "tests_stopped", "kind": kind, "line": line,
                                   "detail": _describe(err)[:200]})  # fmt: skip
        return
    if whole:
        rec.record(0, True, "", 0, "")
        return
    for offset, name in enumerate(funcs):
        unit = asserts + offset
        try:
            ns[name]()
        except BaseException as err:
            rec.record(unit, False, _kind_of(err), _tb_line(err, "<tests>"), _describe(err))
        else:
            rec.record(unit, True, "", 0, "")


def _tb_line(err: BaseException, filename: str) -> int:
    tb = err.__traceback__
    line = 0
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _normal(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _run_doctests(examples: list[list[str]], ns: dict[str, Any], rec: _Recorder) -> None:
    _emit(rec.out, rec.nonce, {"event": "units", "total": len(examples)})
    for unit, (source, expected) in enumerate(examples):
        captured = io.StringIO()
        saved = sys.stdout
        sys.stdout = captured
        value: Any = None
        raised: BaseException | None = None
        try:
            try:
                code = compile(source, "<doctest>", "eval")
            except SyntaxError:
                exec(compile(source, "<doctest>", "exec"), ns)
            else:
                value = eval(code, ns)
        except BaseException as err:
            raised = err
        finally:
            sys.stdout = saved
        want = _normal(expected)
        if raised is not None:
            last = want.splitlines()[-1] if want else ""
            if want.startswith("Traceback") and last.split(":")[0].endswith(type(raised).__name__):
                rec.record(unit, True, "", unit, "")
            else:
                rec.record(unit, False, _kind_of(raised), unit, _describe(raised))
            continue
        got = captured.getvalue() + ("" if value is None else repr(value))
        if _normal(got) == want or _literal_equal(want, value):
            rec.record(unit, True, "", unit, "")
        else:
            rec.record(unit, False, "wrong_answer", unit, f"{source} -> {_normal(got)[:80]}")


def _literal_equal(want: str, value: Any) -> bool:
    if value is None:
        return False
    try:
        return bool(ast.literal_eval(want) == value)
    except Exception:
        return False


def main() -> None:
    out = os.fdopen(int(sys.argv[1]), "w", encoding="utf-8")
    job = json.loads(sys.stdin.read())
    sys.stdin.close()
    nonce = str(job.pop("nonce"))
    _limit(job)
    rec = _Recorder(out, nonce)
    try:
        code = compile(job["code"], "<answer>", "exec")
    except (SyntaxError, ValueError) as err:
        line = getattr(err, "lineno", 0) or 0
        _emit(out, nonce, {"event": "syntax", "line": line, "detail": _describe(err)[:200]})
        return
    except (MemoryError, RecursionError) as err:
        _emit(out, nonce, {"event": "syntax", "line": 0, "detail": _describe(err)[:200]})
        return
    ns: dict[str, Any] = {"__name__": "__answer__", "__builtins__": __builtins__}
    try:
        exec(code, ns)
    except BaseException as err:
        kind = _kind_of(err)
        line = _tb_line(err, "<answer>")
        _emit(out, nonce, {"event": "load_failed", "kind": kind, "line": line,
                           "detail": _describe(err)[:200]})  # fmt: skip
        return
    if job.get("tests"):
        _run_tests(job["tests"], ns, rec)
    else:
        _run_doctests(job.get("doctests", []), ns, rec)
    _emit(out, nonce, {"event": "done"})


if __name__ == "__main__":
    main()
