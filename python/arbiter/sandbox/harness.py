"""The program run INSIDE the sandbox (Python runner): the sidecar never imports or runs this.

It wires two modules of its own: ``harness_guard.py`` (the audit hook: what the answer may do)
and ``harness_compare.py`` (how the tests' comparisons read values). ``python_runner.py`` joins
the three into one ``-c`` source text (``HARNESS_SOURCE``; this module last): the jail mounts
only /usr, so nothing of the sidecar's package is importable there, and one namespace is what
the hook's checks trust. The program depends on nothing but the standard library of whatever
Python the sandbox runs. It reads one job (``marshal``, written by the sidecar) from stdin: the
answer's code, the tests, doctest examples, the resource limits, a per-run nonce. It lowers its
own rlimits (they cannot be raised again), installs the guard, runs the code and then every
check, and writes one JSON line per check outcome to the result pipe (its file descriptor is
the first argument; only the hook holds it), tagged with the nonce. The answer's own output
goes to stdout/stderr, which the sidecar reads only up to a cap.

Unit accounting: every ``assert`` statement of the tests is one unit (rewritten so a failing one
is recorded and execution continues); each top-level ``test_*`` function is one unit (it passes
when it returns); a test file with neither is one unit that passes when it runs through. A unit
that never ran because the tests stopped (an exception outside an assert) fails. Each doctest
example is one unit; the prompt's examples run after the tests (when a job has both), numbered
after the tests' units.
"""

from __future__ import annotations

import _ast
import builtins
import io
import marshal
import resource
import sys

_StringIO = io.StringIO  # taken before the answer runs (it may patch io)
_exc_info = sys.exc_info

# Only modules that are cheap to import: ``ast``, ``typing`` and ``json`` (with the ``re`` it
# pulls in) would cost 15-25 ms each of every run, and a run's budget is ~100 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from arbiter.sandbox.harness_bind import (
        _bind_statements,
        _dynamic_in_functions,
        _import_from,
        _import_module,
        _imports,
        _rebound_by_functions,
        _rewrite_imports,
        _rewrite_walrus,
    )
    from arbiter.sandbox.harness_compare import (
        _chain,
        _compare,
        _load_numbers,
        _not,
        _plain,
        _repr_equal,
        _rewrite_compares,
        _trust_tests,
        _truth,
        _Untrusted,
    )
    from arbiter.sandbox.harness_guard import _PRISTINE, _codes, _guard


_audit = sys.audit


def _bound(names: tuple[str, ...]) -> None:
    """A tests' statement ran: the names it may have bound (`harness_bind.py`)."""
    _audit("arbiter.bound", names)


def _named_bound(names: tuple[str, ...], value: Any) -> Any:
    """A walrus of the tests' module bound a name mid-statement (a record may follow in it)."""
    _audit("arbiter.bound", names)
    return value


def _emit(record: dict[str, Any]) -> None:
    """One result line: written by the audit hook, the only holder of the pipe and the nonce."""
    _audit("arbiter.emit", record)


def _limit(job: dict[str, Any]) -> None:
    limits = job.get("rlimits", {})
    for name, value in limits.items():
        # RLIMIT_CPU: SIGXCPU at the soft limit (reported as a timeout), SIGKILL a second later
        hard = value + 1 if name == "RLIMIT_CPU" else value
        resource.setrlimit(getattr(resource, name), (value, hard))


class _Recorder:
    def __init__(self) -> None:
        self.outcome: dict[int, bool] = {}
        self.units = 0  # units declared so far (the next check's units are numbered after)
        self.tested: set[Any] = set()  # argument lists the tests' asserts call something with

    def record(self, unit: int, ok: bool, kind: str, line: int, detail: str) -> None:
        before = self.outcome.get(unit)
        if before is False or before is ok:
            return  # a unit that failed once stays failed; report each change once
        self.outcome[unit] = ok
        _emit({"unit": unit, "ok": ok, "kind": kind, "line": line, "detail": detail[:200]})


def _kind_of(err: BaseException) -> str:
    if isinstance(err, _Untrusted):
        return "wrong_answer"
    if isinstance(err, (MemoryError, RecursionError)):
        return "resource_limit"
    if isinstance(err, BlockingIOError) or (
        isinstance(err, OSError) and err.errno in (11, 24, 27)  # EAGAIN, EMFILE, EFBIG
    ):
        return "resource_limit"
    return "exception"


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def _rewrite_asserts(node: Any, units: list[int]) -> Any:
    """``assert test, msg`` -> ``try: __arbiter_assert__(unit, line, test)`` ``except
    BaseException: __arbiter_raised__(unit, line)``, everywhere in the tree (a NodeTransformer
    without importing ``ast``). The test is evaluated where the tests wrote it, not in a
    lambda: a walrus binds the tests' name, a class body's names are seen (grade25b)."""
    if isinstance(node, _ast.Assert):
        unit = len(units)
        units.append(node.lineno)
        where: dict[str, Any] = {"lineno": node.lineno, "col_offset": node.col_offset,
                 "end_lineno": node.end_lineno, "end_col_offset": node.end_col_offset}  # fmt: skip

        def call(name: str, args: list[Any]) -> Any:
            head = [_ast.Constant(value=unit, **where), _ast.Constant(value=node.lineno, **where)]
            func = _ast.Name(id=name, ctx=_ast.Load(), **where)
            return _ast.Expr(value=_ast.Call(func=func, args=head + args, keywords=[], **where),
                             **where)  # fmt: skip

        anything = _ast.Name(id="BaseException", ctx=_ast.Load(), **where)
        catch = _ast.ExceptHandler(type=anything, name=None,
                                   body=[call("__arbiter_raised__", [])], **where)  # fmt: skip
        return _ast.Try(body=[call("__arbiter_assert__", [node.test])], handlers=[catch],
                        orelse=[], finalbody=[], **where)  # fmt: skip
    for name in node._fields:
        value = getattr(node, name, None)
        if isinstance(value, list):
            setattr(node, name, [
                _rewrite_asserts(v, units) if isinstance(v, _ast.AST) else v for v in value
            ])  # fmt: skip
        elif isinstance(value, _ast.AST):
            setattr(node, name, _rewrite_asserts(value, units))
    return node


def _prepare_tests(source: str, rec: _Recorder) -> Any:
    """The tests compiled (before the answer runs: the hook knows their code objects), with
    their units: (code, asserts, test functions, the names their functions rebind, what they
    import), or why they do not compile."""
    try:
        tree = compile(source, "<tests>", "exec", _ast.PyCF_ONLY_AST)
    except (SyntaxError, ValueError) as err:
        return f"line {getattr(err, 'lineno', 0)}: {err}"
    units_at: list[int] = []
    for node in _walk(tree):
        if isinstance(node, _ast.Assert):
            rec.tested.update(
                _arguments_key(n) for n in _walk(node.test) if isinstance(n, _ast.Call)
            )
    tree = _rewrite_compares(tree, False)
    imports = _imports(tree)
    tree = _rewrite_imports(tree)
    tree.body = _bind_statements(_rewrite_walrus(tree).body, _dynamic_in_functions(tree))
    tree = _rewrite_asserts(tree, units_at)  # after: its `try` is no block of the tests'
    asserts = len(units_at)
    funcs = [
        n.name
        for n in tree.body
        if isinstance(n, (_ast.FunctionDef, _ast.AsyncFunctionDef)) and n.name.startswith("test_")
    ]
    try:
        code = compile(tree, "<tests>", "exec")
    except (SyntaxError, ValueError) as err:
        return f"line {getattr(err, 'lineno', 0)}: {err}"
    return code, asserts, funcs, _rebound_by_functions(tree), imports


def _run_tests(prepared: Any, ns: dict[str, Any], rec: _Recorder) -> None:
    if isinstance(prepared, str):
        _emit({"event": "bad_tests", "detail": prepared})
        return
    code, asserts, funcs, rebound, _ = prepared
    units = asserts + len(funcs)
    whole = units == 0  # neither asserts nor test functions: the file running through is the unit
    total = 1 if whole else units
    rec.units += total
    _emit({"event": "units", "total": total})

    def raised(unit: int, line: int) -> None:  # the answer may raise anything, SystemExit too
        err: Any = _exc_info()[1]  # called only from the `except` the assert became
        rec.record(unit, False, _kind_of(err), line, _describe(err))

    def check(unit: int, line: int, value: Any) -> None:
        try:
            truth = _truth(value)
        except _Untrusted as err:
            rec.record(unit, False, "wrong_answer", line, str(err))
            return
        if truth:
            rec.record(unit, True, "", line, "")
        else:
            rec.record(unit, False, "wrong_answer", line, "assertion failed")

    # the tests' own namespace: the answer's functions (their globals are the answer's) never
    # find the checker; the builtins as they were before the answer ran (it may patch `all`).
    # A test that hands the answer one of its functions hands it this namespace: the hook
    # writes no pass once the helpers or these builtins are not what they were.
    own_builtins = dict(_PRISTINE)
    helpers = {"__arbiter_assert__": check, "__arbiter_raised__": raised,
               "__arbiter_compare__": _compare, "__arbiter_named__": _named_bound,
               "__arbiter_chain__": _chain, "__arbiter_not__": _not,
               "__arbiter_import__": _import_module, "__arbiter_from__": _import_from,
               "__arbiter_bound__": _bound, "__builtins__": own_builtins}  # fmt: skip
    ns = {**ns, **helpers}
    _audit("arbiter.watch", (ns, tuple(helpers.items()), own_builtins, rebound))
    try:
        exec(code, ns)
    except BaseException as err:
        line = _tb_line(err, "<tests>")
        kind = _kind_of(err)
        if whole:
            rec.record(0, False, kind, line, _describe(err))
        _emit({"event": "tests_stopped", "kind": kind, "line": line,
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


def _walk(node: Any) -> Any:
    """Every node under `node` (``ast.walk`` without importing ``ast``)."""
    todo = [node]
    while todo:
        node = todo.pop()
        yield node
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, list):
                todo.extend(v for v in value if isinstance(v, _ast.AST))
            elif isinstance(value, _ast.AST):
                todo.append(value)


def _key(node: Any) -> Any:
    """A comparable form of a syntax tree (``ast.dump`` without ``ast``; no positions)."""
    if isinstance(node, list):
        return tuple(_key(v) for v in node)
    if not isinstance(node, _ast.AST):
        return (type(node).__name__, node)
    return (type(node).__name__, *(_key(getattr(node, f, None)) for f in node._fields))


def _arguments_key(call: Any) -> Any:
    return (_key(call.args), _key(call.keywords))


def _tested(source: str, tested: set[Any]) -> bool:
    """The example (``f(x)`` or ``f(x) == y``) calls with arguments the tests also use."""
    if not tested:
        return False
    try:
        tree: Any = compile(source, "<doctest>", "eval", _ast.PyCF_ONLY_AST)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    tree = tree.body
    call = tree.left if isinstance(tree, _ast.Compare) else tree
    return isinstance(call, _ast.Call) and _arguments_key(call) in tested


def _tb_line(err: BaseException, filename: str) -> int:
    tb = err.__traceback__
    line = 0
    while tb is not None:  # the hook lets this function's own code read tb_frame
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _normal(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _run_doctests(
    examples: list[list[str]], ns: dict[str, Any], rec: _Recorder, first: int = 0
) -> None:
    """Each example is one unit, numbered from `first` (after the tests' units). An example
    whose call has the same arguments as a call in the tests' asserts is not run: where both
    state the result for one input, the tests are the authority (a prompt's example can be
    wrong: HumanEval/47's docstring says 15.0 where its tests and solution say 8.0)."""
    examples = [e for e in examples if not _tested(e[0], rec.tested)]
    rec.units += len(examples)
    _emit({"event": "units", "total": len(examples)})
    for number, (source, expected) in enumerate(examples):
        unit = first + number
        captured = _StringIO()
        saved = sys.stdout
        sys.stdout = captured
        value: Any = None
        raised: BaseException | None = None
        expression = False
        try:
            try:
                code = compile(source, "<doctest>", "eval")
            except SyntaxError:
                exec(compile(source, "<doctest>", "exec"), ns)
            else:
                expression = True
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
        try:  # the value's text as its plain value writes it: an answer's `__repr__` (or a
            # str or int subclass's) could write the expected text for any value (game24)
            shown = "" if value is None else repr(_plain(value))
        except _Untrusted as err:
            if _repr_equal(want, value):  # what an Enum's, a dataclass's repr states, it holds
                rec.record(unit, True, "", unit, "")
            else:
                rec.record(unit, False, "wrong_answer", unit, f"{source} -> {err}")
            continue
        got = captured.getvalue() + shown
        if value is None and expression and got.strip() and _printed_for_a_value(source, want):
            rec.record(unit, False, "wrong_answer", unit, f"{source} -> printed, returned None")
            continue
        if (
            _normal(got) == want
            or _literal_equal(want, value)
            or _wrapped_equal(want, value)
            or _repr_equal(want, value)
        ):
            rec.record(unit, True, "", unit, "")
        else:
            rec.record(unit, False, "wrong_answer", unit, f"{source} -> {_normal(got)[:80]}")


_LITERAL_NODES = (_ast.Constant, _ast.List, _ast.Tuple, _ast.Dict, _ast.Set, _ast.UnaryOp,
                  _ast.USub, _ast.UAdd, _ast.Load)  # fmt: skip


def _printed_for_a_value(source: str, want: str) -> bool:
    """Whether an expression's example shows a value its call returns (`5`, `'abc'`, `[1, 2]`,
    `P(x=1)`, `<Perm.R: 4>`) that the answer printed instead, returning None (grade27): the
    strict reading of a doctest, whose expected text is the call's displayed value. CPython's
    doctest compares printed text and the shown value as one output, so printing the expected
    text passed it, and here; a return that is also shown fails there. An example that prints
    (`print(f(x))`) and an expected text that is no value's repr ("Hello, Bob") keep reading
    the printed text."""
    try:
        tree: Any = compile(source, "<doctest>", "eval", _ast.PyCF_ONLY_AST)
        if any(isinstance(n, _ast.Name) and n.id == "print" for n in _walk(tree)):
            return False
        text = want.strip()
        if text[:1] == "<" and text[-1:] == ">" and "\n" not in text:
            return True  # an Enum member's, an object's repr
        parsed: Any = compile(text, "<expected>", "eval", _ast.PyCF_ONLY_AST)
        shown = parsed.body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    if isinstance(shown, _ast.Call):  # `P(x=1, y=2)`, `Counter({'a': 2})`: a repr's shape
        return isinstance(shown.func, (_ast.Name, _ast.Attribute))
    return all(isinstance(n, _LITERAL_NODES) for n in _walk(shown))


def _literal_equal(want: str, value: Any) -> bool:
    """The expected output read as a Python literal equals the value (1.0 vs 1, dict order)."""
    if value is None:
        return False
    try:
        expected = eval(compile(want, "<expected>", "eval"), {"__builtins__": {}})
        return _compare("Eq", value, expected) is True
    except BaseException:  # not a literal: the text comparison stands
        return False


_type_name = type.__dict__["__name__"].__get__  # not `t.__name__`: a metaclass could lie


def _wrapped_equal(want: str, value: Any) -> bool:
    """`Counter({'a': 2})`, `P(x=1, y=2)`: the repr of a built-in type's subclass (the stdlib
    writes them so) read as the value's type's name around literals, which must equal the
    value read as plain values (its own `__repr__` is not trusted: grade25)."""
    try:
        tree: Any = compile(want, "<expected>", "eval", _ast.PyCF_ONLY_AST)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    call = tree.body
    if not isinstance(call, _ast.Call) or not isinstance(call.func, _ast.Name):
        return False
    if call.func.id != _type_name(type(value)):
        return False
    if len(call.args) == 1 and not call.keywords:
        parts = [call.args[0]]
    elif call.keywords and not call.args and all(k.arg for k in call.keywords):
        parts = [k.value for k in call.keywords]
    else:
        return False
    try:
        literals = [
            eval(compile(_ast.Expression(body=part), "<expected>", "eval"), {"__builtins__": {}})
            for part in parts
        ]
        plain = _plain(value)
        expected = tuple(literals) if call.keywords else literals[0]
        if type(plain) is dict and type(expected) is list:  # OrderedDict([('a', 1)])
            expected = dict(expected)
        return _compare("Eq", plain, expected) is True
    except BaseException:  # not literals: no match
        return False


def main() -> None:
    job = marshal.loads(sys.stdin.buffer.read())  # written by the sidecar (python_runner.py)
    sys.stdin.close()
    _limit(job)
    rec = _Recorder()
    tests = _prepare_tests(job["tests"], rec) if job.get("tests") else None
    _load_numbers(f"{job.get('code')}{job.get('tests')}{job.get('doctests')}".lower())
    if tests is not None and not isinstance(tests, str):
        _trust_tests(_codes([tests[0]]))
    _guard(int(sys.argv[1]), str(job.pop("nonce")), None if isinstance(tests, str) else tests)
    _emit({"event": "started"})  # the jail and the harness work: now grade
    try:
        code = compile(job["code"], "<answer>", "exec")
    except (SyntaxError, ValueError) as err:
        line = getattr(err, "lineno", 0) or 0
        _emit({"event": "syntax", "line": line, "detail": _describe(err)[:200]})
        return
    except (MemoryError, RecursionError) as err:
        _emit({"event": "syntax", "line": 0, "detail": _describe(err)[:200]})
        return
    # the answer's namespace is a module's, in sys.modules: `dataclasses` looks its class's
    # module up there (`@dataclass` failed to load: grade25b)
    module = type(sys)("__answer__")
    sys.modules["__answer__"] = module
    ns: dict[str, Any] = vars(module)
    ns["__builtins__"] = builtins  # not our copy
    try:
        exec(code, ns)
    except BaseException as err:
        kind = _kind_of(err)
        line = _tb_line(err, "<answer>")
        _emit({"event": "load_failed", "kind": kind, "line": line,
                           "detail": _describe(err)[:200]})  # fmt: skip
        return
    if tests is not None:
        _run_tests(tests, ns, rec)
    if job.get("doctests") or not job.get("tests"):  # the prompt's examples, after the tests
        _run_doctests(job.get("doctests", []), ns, rec, first=rec.units)
    _emit({"event": "done"})


if __name__ == "__main__":
    main()
