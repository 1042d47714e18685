"""The program run INSIDE the sandbox (Python runner): the sidecar never imports or runs this.

It is passed to the sandboxed interpreter as ``-c`` source text (``HARNESS_SOURCE`` in
``python_runner.py``), so it depends on nothing but the standard library of whatever Python the
sandbox runs. It reads one job (``marshal``, written by the sidecar) from stdin: the answer's
code, the tests, doctest examples, the resource limits, a per-run nonce. It lowers its own
rlimits (they cannot be raised again), runs the code and then every check, and writes one JSON
line per check outcome to the result pipe (its file descriptor is the first argument), tagged
with the nonce. The answer's own output goes to stdout/stderr, which the sidecar reads only up
to a cap. Before the answer runs, an audit hook (``_guard``) refuses every way an answer was
found to reach the recorder or the nonce, and becomes the only writer of results: it writes a
pass only from the harness's and the tests' own untouched code (ARCHITECTURE.md lists what it
refuses and what is left).

Unit accounting: every ``assert`` statement of the tests is one unit (rewritten so a failing one
is recorded and execution continues); each top-level ``test_*`` function is one unit (it passes
when it returns); a test file with neither is one unit that passes when it runs through. A unit
that never ran because the tests stopped (an exception outside an assert) fails. Each doctest
example is one unit; the prompt's examples run after the tests (when a job has both), numbered
after the tests' units.
"""

from __future__ import annotations

import _ast
import _collections  # type: ignore[import-not-found]  # deque's C module, no import cost
import _operator
import _thread
import builtins
import gc
import io
import marshal
import os
import resource
import sys

# The answer runs in this process and may patch `builtins` (an `isinstance` that lies about
# bools made a failed check's record read as passed): the harness's functions, all defined
# below, look builtins up in a private copy (a function keeps the builtins its globals had
# when it was defined), and take io.StringIO from here.
__builtins__ = dict(vars(builtins))  # type: ignore[assignment]
_PRISTINE = dict(vars(builtins))  # the tests' builtins are a copy of these
_StringIO = io.StringIO

# Only modules that are cheap to import: ``ast``, ``typing`` and ``json`` (with the ``re`` it
# pulls in) would cost 15-25 ms each of every run, and a run's budget is ~100 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _json(value: Any) -> str:
    """JSON for the harness's own records (str, int, bool, None values). Not the ``json``
    module: importing it (and the ``re`` it pulls in) costs ~18 ms of every run. Run as the
    sealed copy (`_guard`)."""
    if value is None or value is True or value is False:
        return {None: "null", True: "true", False: "false"}[value]
    if type(value) is int:
        return str(value)
    if type(value) is dict:
        return "{" + ", ".join(f"{_json(str(k))}: {_json(v)}" for k, v in value.items()) + "}"
    text = str(value)
    return (
        '"' + "".join(c if c >= " " and c not in '"\\' else f"\\u{ord(c):04x}" for c in text) + '"'
    )


_audit = sys.audit


def _emit(record: dict[str, Any]) -> None:
    """One result line: written by the audit hook, the only holder of the pipe and the nonce."""
    _audit("arbiter.emit", record)


def _limit(job: dict[str, Any]) -> None:
    limits = job.get("rlimits", {})
    for name, value in limits.items():
        # RLIMIT_CPU: SIGXCPU at the soft limit (reported as a timeout), SIGKILL a second later
        hard = value + 1 if name == "RLIMIT_CPU" else value
        resource.setrlimit(getattr(resource, name), (value, hard))


# What the answer may not do, because it would reach the harness's own objects (the recorder,
# the result pipe's nonce) and write its own verdict: see a frame (sys._getframe, a traceback's
# or generator's frame, a tracer, a signal handler's frame argument), find objects through the
# garbage collector, load ctypes, read its own memory (/proc/PID/mem), or start a program (a
# fresh interpreter has no hook, and reads its parent's memory).
_DENIED_EVENTS = frozenset({
    "sys._current_frames", "sys._current_exceptions", "sys.settrace", "sys.setprofile",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents",
    "os.exec", "os.posix_spawn", "os.spawn", "os.system", "subprocess.Popen",
})  # fmt: skip
_FRAME_ATTRS = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
# _signal and _posixsubprocess: loaded again, whole (their functions below are replaced)
_DENIED_MODULES = frozenset({"ctypes", "_ctypes", "_signal", "_posixsubprocess"})
# _signal.signal (signal.signal calls it): a handler is handed the interrupted frame;
# _posixsubprocess.fork_exec starts a program with no audit event of its own. Defined apart
# from this module's globals (a function's __globals__ would hand the answer this module).
_REFUSED = (
    "def signal(signalnum, handler):\n"
    "    raise ValueError('signal handlers are not allowed in the sandbox')\n"
    "def fork_exec(*args, **kwargs):\n"
    "    raise PermissionError('starting a program is not allowed in the sandbox')\n"
)
_PATH_EVENTS = frozenset({"open", "os.symlink", "os.link"})


def _memory_file(path: Any) -> bool:
    """A path whose last part is "mem" (/proc/self/mem, fd/../mem, a symlink's target)."""
    if isinstance(path, bytes):
        path = path.decode("utf-8", "replace")
    return isinstance(path, str) and path.rstrip("/").rpartition("/")[2] == "mem"


def _sealed(
    write: Any,
    fd: int,
    nonce: str,
    main: int,
    get_ident: Any,
    getframe: Any,
    main_frame: Any,
    trusted: dict[int, Any],
    watched: list[Any],
    tb_code: Any,
    loader_exec: Any,
    tb_path: str,
    collector: tuple[Any, Any, Any],
) -> Any:
    """The audit hook. `_guard` runs a copy of this function whose globals are a private dict
    (rebinding this module's names changes nothing it uses); what it closes over (the result
    pipe, the nonce) no object the answer can reach refers to (the hook is reachable from none).

    A record (``arbiter.emit``) is written only when every frame from its writer up to main's
    own frame runs the harness's or the tests' own code (not a copy: the same code object)
    and the names that code reads (this module's globals and builtins, the tests' helpers and
    builtins) still hold what they held: a test that hands the answer one of its functions
    hands it the tests' globals and, through the checker, this module's. Otherwise a unit's
    record is written as failed and any other record dropped.

    A traceback's frames are read by the harness's `_tb_line`, and by the stdlib's `traceback`
    module formatting one (`traceback.format_exc()`): its own code (the code importlib ran from
    the real file, equal to that file compiled here) reading a frame for its own caller, also
    its code, so the frame never reaches the answer (`traceback.walk_tb` iterated by the answer
    does not qualify). What it hands on (locals' reprs, a frame's globals to linecache) is no
    more than a test's function hands over, which the checks above withstand."""
    # the thread whose hook call is reading frames itself: its nested audit events pass, while
    # the collector is off (so no answer's __del__ runs on that thread meanwhile; if another
    # thread turns it on, the reads are refused and the harness fails closed)
    busy: list[Any] = [None]
    gc_isenabled, gc_disable, gc_enable = collector  # the functions, not the patchable module
    tb_codes: dict[int, Any] = {}  # the stdlib traceback module's code objects, by identity
    homes = [main_frame.f_globals]  # and the tests' namespace, once it exists
    failed: set[Any] = set()  # a unit written as failed is never written as passed

    def authentic(frame: Any) -> bool:
        while frame is not None and frame is not main_frame:
            if trusted.get(id(frame.f_code)) is not frame.f_code:
                return False
            home = frame.f_globals  # the same code run with other globals is not the tests
            if not any(home is h for h in homes):
                return False
            frame = frame.f_back
        if frame is None:
            return False
        for mapping, items, exact in watched:
            if exact and len(mapping) != len(items):
                return False
            for key, value in items:
                if mapping.get(key) is not value:
                    return False
        return True

    def learn(code: Any) -> None:
        """The traceback module's code, if it is the real file's (compiled as importlib does)."""
        try:
            with open(tb_path, "rb") as f:
                real = compile(f.read(), tb_path, "exec", dont_inherit=True)
        except (OSError, SyntaxError, ValueError):
            return
        if real != code:
            return
        todo = [code]
        while todo:
            c = todo.pop()
            tb_codes[id(c)] = c
            todo.extend(k for k in c.co_consts if k.__class__ is code.__class__)

    def reading(fn: Any, depth: int) -> Any:
        collecting = gc_isenabled()
        gc_disable()
        busy[0] = get_ident()
        try:
            return fn(depth + 1)
        finally:
            busy[0] = None
            if collecting:
                gc_enable()

    def caller_is_authentic(depth: int) -> bool:
        return authentic(getframe(depth + 1))

    def caller_reads_for_itself(depth: int) -> bool:
        reader = getframe(depth + 1)
        back = reader.f_back
        return (get_ident() == main and reader.f_code is tb_code) or (
            tb_codes.get(id(reader.f_code)) is reader.f_code
            and back is not None
            and tb_codes.get(id(back.f_code)) is back.f_code
        )

    def caller_is_importlib(depth: int) -> bool:
        return getframe(depth + 1).f_code is loader_exec

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if busy[0] == get_ident() and not gc_isenabled():
            return  # the hook's own frame reads
        if event == "arbiter.emit" or event == "arbiter.watch":
            ok = get_ident() == main and reading(caller_is_authentic, 1)
            record = args[0] if args else None
            if event == "arbiter.watch":
                if ok and type(record) is tuple and len(record) == 3:
                    ns, helpers, own_builtins = record
                    homes.append(ns)
                    watched.append((ns, helpers, False))
                    watched.append((own_builtins, tuple(own_builtins.items()), True))
                return
            if type(record) is not dict:
                return
            unit = record.get("unit")
            if not ok:
                if unit is None:
                    return
                record = {"unit": unit, "ok": False, "kind": "exception", "line": 0,
                          "detail": "the answer reached the harness", "tampered": True}  # fmt: skip
            if unit is not None and record.get("ok") is not True:
                failed.add(unit)
            elif unit is not None and unit in failed:
                return
            data = (_json({**record, "nonce": nonce}) + "\n").encode("utf-8", "replace")
            while data:
                data = data[write(fd, data) :]
            return
        if event == "exec" and args and args[0].__class__ is tb_code.__class__:
            new = args[0].co_filename == tb_path and not tb_codes
            if new and reading(caller_is_importlib, 1):
                learn(args[0])
            return
        if event == "sys._getframe":
            raise ValueError("call stack is not deep enough")  # what stdlib callers expect
        if event in _DENIED_EVENTS:
            raise RuntimeError(f"{event} is not allowed in the sandbox")
        if event == "object.__getattr__" and args[1] in _FRAME_ATTRS:
            # only the harness's own _tb_line, on the main thread, and the traceback module
            if not reading(caller_reads_for_itself, 1):
                raise AttributeError(f"{args[1]} is not allowed in the sandbox")
        elif event == "import" and str(args[0]).partition(".")[0] in _DENIED_MODULES:
            raise ImportError(f"{args[0]} is not allowed in the sandbox")
        elif event in _PATH_EVENTS and args and _memory_file(args[0]):
            raise PermissionError(f"{event} {args[0]!r} is not allowed in the sandbox")

    return hook


def _codes(objects: Any) -> dict[int, Any]:
    """Every code object of these functions, classes and code objects, nested ones included,
    by identity (an equal code compiled by the answer is not one of them)."""
    code_type = type(_codes.__code__)
    todo: list[Any] = []
    for obj in objects:
        if isinstance(obj, type):
            todo.extend(v.__code__ for v in vars(obj).values() if hasattr(v, "__code__"))
        elif isinstance(obj, code_type):
            todo.append(obj)
        elif hasattr(obj, "__code__"):
            todo.append(obj.__code__)
    found: dict[int, Any] = {}
    while todo:
        code = todo.pop()
        if id(code) not in found:
            found[id(code)] = code
            todo.extend(c for c in code.co_consts if isinstance(c, code_type))
    return found


def _guard(fd: int, nonce: str, tests: Any) -> None:
    """Install the audit hook (it can never be removed) before the answer runs; from here on
    only the hook holds the result pipe and the nonce. `tests`: the tests' compiled code."""
    main = _thread.get_ident()
    import _posixsubprocess
    import types  # (its import reads a traceback's frame: before the hook)

    apart: dict[str, Any] = {
        "__builtins__": {"ValueError": ValueError, "PermissionError": PermissionError}
    }
    exec(_REFUSED, apart)
    setattr(sys.modules["_signal"], "signal", apart["signal"])  # noqa: B010
    setattr(_posixsubprocess, "fork_exec", apart["fork_exec"])  # noqa: B010
    for name in ("ctypes", "_ctypes"):
        sys.modules.pop(name, None)  # imported again, they pass through the hook

    own = globals()
    trusted = _codes([*own.values(), *([tests[0]] if tests is not None else [])])
    numbers = () if _fractions is None else (vars(_fractions), *map(vars, _mro(_Fraction)[:-1]))
    watched = [
        (m, tuple(m.items()), True)
        for m in (own, __builtins__, _PRISTINE, _OPS, vars(_Recorder), *numbers)
    ]
    used = ("str", "type", "len", "id", "ord", "int", "dict", "tuple", "bytes", "isinstance",
            "any", "set", "open", "compile", "ValueError", "RuntimeError", "AttributeError",
            "ImportError", "PermissionError", "OSError", "SyntaxError")  # fmt: skip
    sealed: dict[str, Any] = {"__builtins__": {n: getattr(builtins, n) for n in used}}
    for name in ("_DENIED_EVENTS", "_FRAME_ATTRS", "_DENIED_MODULES", "_PATH_EVENTS"):
        sealed[name] = own[name]
    for name in ("_json", "_memory_file", "_sealed"):
        sealed[name] = types.FunctionType(own[name].__code__, sealed, name)
    loader_exec = sys.modules["_frozen_importlib"]._call_with_frames_removed.__code__
    tb_path = os.path.join(os.path.dirname(os.__file__), "traceback.py")
    hook = sealed["_sealed"](os.write, fd, nonce, main, _thread.get_ident, sys._getframe,
                             sys._getframe(1), trusted, watched, _tb_line.__code__, loader_exec,
                             tb_path, (gc.isenabled, gc.disable, gc.enable))  # fmt: skip
    sys.addaudithook(hook)
    # `import __main__` in the answer would hand it this module (the recorder's class)
    sys.modules["__main__"] = type(sys)("__main__")


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
    """``assert test, msg`` -> ``__arbiter_assert__(unit, line, lambda: test)``, everywhere in
    the tree (a NodeTransformer without importing ``ast``)."""
    if isinstance(node, _ast.Assert):
        unit = len(units)
        units.append(node.lineno)
        where: dict[str, Any] = {"lineno": node.lineno, "col_offset": node.col_offset,
                 "end_lineno": node.end_lineno, "end_col_offset": node.end_col_offset}  # fmt: skip
        lam = _ast.Lambda(
            args=_ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[],
                                defaults=[]),
            body=node.test, **where,
        )  # fmt: skip
        call = _ast.Call(
            func=_ast.Name(id="__arbiter_assert__", ctx=_ast.Load(), **where),
            args=[_ast.Constant(value=unit, **where), _ast.Constant(value=node.lineno, **where),
                  lam],
            keywords=[], **where,
        )  # fmt: skip
        return _ast.Expr(value=call, **where)
    for name in node._fields:
        value = getattr(node, name, None)
        if isinstance(value, list):
            setattr(node, name, [
                _rewrite_asserts(v, units) if isinstance(v, _ast.AST) else v for v in value
            ])  # fmt: skip
        elif isinstance(value, _ast.AST):
            setattr(node, name, _rewrite_asserts(value, units))
    return node


# Comparisons in the tests. The answer's value could be an object whose `__eq__` says True to
# everything (or `__ne__` False, `__bool__` True, a str/int subclass overriding comparison): it
# would pass every `assert f(x) == y`. So the tests' comparisons (and an assert's truth, and
# `not` inside an assert) read values as plain built-in values first: exact built-in types as
# they are, a subclass of one (int, str, list, dict, ...) copied into its base type by the base
# type's own C code (no method of the answer's runs), containers element by element. A value
# that is none of these (a class written in Python) compares only with a value of its very own
# class (the tests' own classes, or the answer's on both sides); with anything else it is unequal,
# and ordered or tested for truth not at all.
_HEAPTYPE = 1 << 9
_flags = type.__dict__["__flags__"].__get__  # not `t.__flags__`: a metaclass could lie
_deque = _collections.deque
_SCALARS = frozenset({type(None), bool, int, float, complex, str, bytes, range, type(...)})
_BASES: tuple[Any, ...] = (
    int,
    float,
    complex,
    str,
    bytes,
    list,
    tuple,
    dict,
    set,
    frozenset,
    _deque,
)
_OPS: dict[str, Any] = {
    "Eq": _operator.eq, "NotEq": _operator.ne, "Lt": _operator.lt, "LtE": _operator.le,
    "Gt": _operator.gt, "GtE": _operator.ge, "Is": _operator.is_, "IsNot": _operator.is_not,
    "In": lambda a, b: _operator.contains(b, a), "NotIn": lambda a, b: not _operator.contains(b, a),
}  # fmt: skip
_DEPTH = 200
# The stdlib's numbers (numbers.Number) compare with each other by their own stdlib code:
# `Fraction(2) == 2`. Exact types only: an answer's subclass is copied into its base type.
# Fraction is a Python class the answer could patch: the guard watches it and its module.
# Imported (~13 ms: `re` and `decimal` with it) only for a job whose text names them; else a
# Fraction the answer makes anyway is a Python class's value (unequal to others: no pass).
_NUMBER_WORDS = ("fraction", "decimal", "statistics")
_fractions: Any = None
_Fraction: Any = None
_Decimal: Any = None
_NUMBERS: frozenset[Any] = frozenset()
_slot: dict[str, Any] = {}


def _load_numbers(text: str) -> None:
    """Before the guard (it watches these globals and the fractions module from then on)."""
    global _fractions, _Fraction, _Decimal, _NUMBERS, _slot
    if not any(word in text for word in _NUMBER_WORDS):
        return
    import decimal
    import fractions

    _fractions, _Fraction, _Decimal = fractions, fractions.Fraction, decimal.Decimal
    _NUMBERS = frozenset({_Fraction, _Decimal})
    _slot = {n: _Fraction.__dict__[n].__get__ for n in ("_numerator", "_denominator")}


# Set once before the guard (which then watches it): the ids of the tests' code objects, so a
# class whose comparison methods are all the tests' own compares as the tests wrote it.
_TESTS_CODES: frozenset[int] = frozenset()
_CMP_METHODS = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__contains__")
_mro = type.__dict__["__mro__"].__get__  # not `t.__mro__`: a metaclass could lie
_type_dict = type.__dict__["__dict__"].__get__
_function = type(lambda: None)


class _Untrusted(Exception):
    pass


def _plain(value: Any, depth: int = 0) -> Any:
    """`value` as exact built-in types, or _Untrusted. Static (C-defined) types other than the
    containers are kept: the answer cannot define one nor patch its methods."""
    t = type(value)
    if t in _SCALARS:
        return value
    if depth > _DEPTH:
        raise _Untrusted("a value nested too deep to compare")
    if t in _NUMBERS:
        return value
    if _Fraction is not None and issubclass(
        t, _Fraction
    ):  # the slots read by Fraction's own descriptors, then checked
        num, den = _plain(_slot["_numerator"](value)), _plain(_slot["_denominator"](value))
        if type(num) is not int or type(den) is not int:
            raise _Untrusted(f"a value of type {t.__name__!r}, not a plain Fraction")
        return _Fraction(num, den)
    if _Decimal is not None and issubclass(t, _Decimal):
        return _Decimal(value)  # C code copies the digits: no method of the answer's runs
    base = next((b for b in _BASES if t is b or issubclass(t, b)), None)
    if base is None:
        if _flags(t) & _HEAPTYPE:
            raise _Untrusted(f"a value of type {t.__name__!r}, not a built-in type")
        return value
    d = depth + 1
    if base is int or base is float or base is complex:
        return base.__pos__(value)  # a subclass's value as its base type, by the base's code
    if base is str:
        return str.__str__(value)
    if base is bytes:
        return bytes.__getitem__(value, slice(None))
    if base is dict:
        return {_plain(k, d): _plain(v, d) for k, v in dict.items(value)}
    items = [_plain(v, d) for v in base.__iter__(value)]
    return items if base is list else base(items)


def _the_tests_class(t: Any) -> bool:
    """Every comparison method of `t` (its whole MRO) is absent or a function the tests wrote,
    and at least one is: its comparisons run only the tests' code."""
    found = False
    for cls in _mro(t)[:-1]:
        for name in _CMP_METHODS:
            fn = _type_dict(cls).get(name)
            if fn is None:
                continue
            if type(fn) is not _function or id(fn.__code__) not in _TESTS_CODES:
                return False
            found = True
    return found


def _compare(op: str, a: Any, b: Any) -> Any:
    fn = _OPS[op]
    ta, tb = type(a), type(b)
    if op in ("Is", "IsNot") or (ta in _SCALARS and tb in _SCALARS):
        return fn(a, b)
    try:
        return fn(_plain(a), _plain(b))
    except _Untrusted:
        pass
    # the tests' own object against a plain value (either side): the tests' comparison decides
    if op not in ("In", "NotIn"):
        try:
            if _the_tests_class(ta):
                return fn(a, _plain(b))
            if _the_tests_class(tb):
                return fn(_plain(a), b)
        except _Untrusted:
            pass
    if ta is tb and op in ("Eq", "NotEq") and _flags(ta) & _HEAPTYPE:
        return fn(a, b)  # one Python class's own comparison, both sides of it
    if op == "Eq":
        return False
    if op == "NotEq":
        return True
    if op in ("In", "NotIn"):
        return (op == "NotIn") is not (tb in (list, tuple, set, frozenset) and any(
            v is a for v in b
        ))  # fmt: skip
    raise TypeError(f"cannot order a value of type {ta.__name__!r} and {tb.__name__!r}")


def _chain(ops: tuple[str, ...], left: Any, *rest: Any) -> Any:
    """`a < b < c`: each right side evaluated once, only while the chain holds."""
    result: Any = True
    for op, thunk in zip(ops, rest, strict=True):
        right = thunk()
        result = _compare(op, left, right)
        if not _truth(result):
            return result
        left = right
    return result


def _truth(value: Any) -> bool:
    return bool(_plain(value))


def _not(value: Any) -> bool:
    return not _truth(value)


def _at(node: Any) -> dict[str, Any]:
    return {"lineno": node.lineno, "col_offset": node.col_offset,
            "end_lineno": node.end_lineno, "end_col_offset": node.end_col_offset}  # fmt: skip


def _call(name: str, args: list[Any], node: Any) -> Any:
    where = _at(node)
    return _ast.Call(func=_ast.Name(id=name, ctx=_ast.Load(), **where), args=args, keywords=[],
                     **where)  # fmt: skip


def _rewrite_compares(node: Any, inside: bool) -> Any:
    """Every comparison in the tests -> ``__arbiter_compare__(op, a, b)`` (a chain: lazily, by
    ``__arbiter_chain__``); `not x` inside an assert -> ``__arbiter_not__(x)``."""
    inside = inside or isinstance(node, _ast.Assert)
    for name in node._fields:
        value = getattr(node, name, None)
        if isinstance(value, list):
            setattr(node, name, [
                _rewrite_compares(v, inside) if isinstance(v, _ast.AST) else v for v in value
            ])  # fmt: skip
        elif isinstance(value, _ast.AST):
            setattr(node, name, _rewrite_compares(value, inside))
    if isinstance(node, _ast.Compare):
        ops = [type(op).__name__ for op in node.ops]
        if len(ops) == 1:
            const = _ast.Constant(value=ops[0], **_at(node))
            return _call("__arbiter_compare__", [const, node.left, node.comparators[0]], node)
        lazy = [
            _ast.Lambda(args=_ast.arguments(posonlyargs=[], args=[], kwonlyargs=[],
                                            kw_defaults=[], defaults=[]), body=c, **_at(c))
            for c in node.comparators
        ]  # fmt: skip
        chain: Any = tuple(ops)  # a tuple constant (typeshed's Constant does not list it)
        const = _ast.Constant(value=chain, **_at(node))
        return _call("__arbiter_chain__", [const, node.left, *lazy], node)
    if inside and isinstance(node, _ast.UnaryOp) and isinstance(node.op, _ast.Not):
        return _call("__arbiter_not__", [node.operand], node)
    return node


def _prepare_tests(source: str, rec: _Recorder) -> Any:
    """The tests compiled (before the answer runs: the hook knows their code objects), with
    their units: (code, asserts, test functions), or why they do not compile."""
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
    tree = _rewrite_asserts(_rewrite_compares(tree, False), units_at)
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
    return code, asserts, funcs


def _run_tests(prepared: Any, ns: dict[str, Any], rec: _Recorder) -> None:
    if isinstance(prepared, str):
        _emit({"event": "bad_tests", "detail": prepared})
        return
    code, asserts, funcs = prepared
    units = asserts + len(funcs)
    whole = units == 0  # neither asserts nor test functions: the file running through is the unit
    total = 1 if whole else units
    rec.units += total
    _emit({"event": "units", "total": total})

    def check(unit: int, line: int, thunk: Any) -> None:
        try:
            value = thunk()
        except BaseException as err:  # the answer may raise anything, SystemExit included
            rec.record(unit, False, _kind_of(err), line, _describe(err))
            return
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
    helpers = {"__arbiter_assert__": check, "__arbiter_compare__": _compare,
               "__arbiter_chain__": _chain, "__arbiter_not__": _not,
               "__builtins__": own_builtins}  # fmt: skip
    ns = {**ns, **helpers}
    _audit("arbiter.watch", (ns, tuple(helpers.items()), own_builtins))
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
    """The expected output read as a Python literal equals the value (1.0 vs 1, dict order)."""
    if value is None:
        return False
    try:
        expected = eval(compile(want, "<expected>", "eval"), {"__builtins__": {}})
        return _compare("Eq", value, expected) is True
    except BaseException:  # not a literal: the text comparison stands
        return False


def main() -> None:
    job = marshal.loads(sys.stdin.buffer.read())  # written by the sidecar (python_runner.py)
    sys.stdin.close()
    _limit(job)
    rec = _Recorder()
    tests = _prepare_tests(job["tests"], rec) if job.get("tests") else None
    _load_numbers(f"{job.get('code')}{job.get('tests')}{job.get('doctests')}".lower())
    if tests is not None and not isinstance(tests, str):
        global _TESTS_CODES
        _TESTS_CODES = frozenset(_codes([tests[0]]))
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
    ns: dict[str, Any] = {"__name__": "__answer__", "__builtins__": builtins}  # not our copy
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
