"""The sandbox harness's audit hook: what the answer may do (run inside the jail).

Part of the program ``harness.py`` runs in the jail: ``python_runner.py`` joins this module, the
comparisons' (``harness_compare.py``) and ``harness.py`` into one source and one namespace (the
jail mounts only /usr: nothing of the sidecar's package is importable there, and the hook's
checks trust the harness's own globals, one home for all three). Standard library only.

Before the answer runs, ``_guard`` installs an audit hook (never removable) that refuses every
way an answer was found to reach the recorder or the nonce, and becomes the only writer of
results: it writes a pass only from the harness's and the tests' own untouched code
(ARCHITECTURE.md lists what it refuses and what is left).
"""

from __future__ import annotations

import _thread
import builtins
import gc
import os
import sys

# The answer runs in this process and may patch `builtins` (an `isinstance` that lies about
# bools made a failed check's record read as passed): the harness's functions, all defined
# after this (this module is the program's first part), look builtins up in a private copy (a
# function keeps the builtins its globals had when it was defined).
__builtins__ = dict(vars(builtins))  # type: ignore[assignment]
_PRISTINE = dict(vars(builtins))  # the tests' builtins are a copy of these

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from arbiter.sandbox.harness import _Recorder, _tb_line
    from arbiter.sandbox.harness_bind import _STDLIB_WATCH, _pre_import
    from arbiter.sandbox.harness_compare import _OPS, _Fraction, _fractions, _mro


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


# What the answer may not do, because it would reach the harness's own objects (the recorder,
# the result pipe's nonce) and write its own verdict: see a frame (sys._getframe, a traceback's
# or generator's frame, a tracer, a signal handler's frame argument), find objects through the
# garbage collector, load ctypes, read its own memory (/proc/PID/mem), or start a program (a
# fresh interpreter has no hook, and reads its parent's memory), or add an audit hook of its
# own (handed every event's arguments: the tests' namespace, their code: grade26; refused with a
# RuntimeError, the hook is not added and the call returns). A forked child may run (the jail
# ends it with the run) but writes no record: it was a second harness holding the pipe and the
# nonce, whose records came after the parent's (grade26).
_DENIED_EVENTS = frozenset({
    "sys._current_frames", "sys._current_exceptions", "sys.settrace", "sys.setprofile",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys.addaudithook",
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
# a function's code and defaults: the tests' hold their expected values (audited reads; what
# 3.11 audits no read of is guarded by `_hold`)
_CODE_ATTRS = frozenset({"__code__", "__defaults__", "__kwdefaults__"})


def _memory_file(path: Any) -> bool:
    """A path whose last part is "mem" (/proc/self/mem, fd/../mem, a symlink's target)."""
    if isinstance(path, bytes):
        path = path.decode("utf-8", "replace")
    return isinstance(path, str) and path.rstrip("/").rpartition("/")[2] == "mem"


# What a function or generator holds that 3.11 audits no read of: a handed tests' function's
# __globals__ (the tests' module data: `want`), its __closure__ (a cell's value), a tests'
# generator's or coroutine's code (its constants). `_hold` swaps each in its type's dict for a
# property whose getter (a sealed copy of `_held_by_function` / `_held_code`) asks the hook
# first (grade26: an answer read `f.__globals__['want']` and returned it).
_HELD_BY_FUNCTION = ("__globals__", "__closure__")
_HELD_CODE = (("generator", "gi_code"), ("coroutine", "cr_code"), ("async_generator", "ag_code"))
_HELD_BY_METHOD = ("__self__", "__reduce__")


def _held_by_function(obj: Any) -> Any:
    """The getter of a function's `__globals__`/`__closure__`; its globals are a sealed dict
    (`_hold`): `_real`, the type's own descriptor, never reachable from the answer."""
    value = _real.__get__(obj)  # type: ignore[name-defined]  # noqa: F821  (TypeError first)
    _audit("arbiter.held", _code.__get__(obj))  # type: ignore[name-defined]  # noqa: F821
    return value


def _held_code(obj: Any) -> Any:
    """The getter of a generator's, coroutine's or async generator's code (as above)."""
    value = _real.__get__(obj)  # type: ignore[name-defined]  # noqa: F821
    _audit("arbiter.held", value)  # type: ignore[name-defined]  # noqa: F821
    return value


def _held_by_method(obj: Any) -> Any:
    """The getter of a bound method's `__self__` and `__reduce__` (grade27: a tests' bound
    method handed as a callback handed its object, and the expected value that object held):
    read only by the tests' own code when its function is theirs."""
    value = _real.__get__(obj)  # type: ignore[name-defined]  # noqa: F821  (TypeError first)
    try:
        code = _code.__get__(_func.__get__(obj))  # type: ignore[name-defined]  # noqa: F821
    except TypeError:  # a method of a function no Python code made: no tests' code
        return value
    _audit("arbiter.held", code)  # type: ignore[name-defined]  # noqa: F821
    return value


def _hold(types: Any) -> None:
    """Swap the held attributes' descriptors for the guarded properties (before the answer
    runs; `types` imported first: it reads `FunctionType.__globals__`'s type at import). A
    built-in type's dict is read-only from Python but for its own dict object (what the
    mappingproxy wraps); the type cache is cleared after."""
    owners = [(types.FunctionType, name, _held_by_function) for name in _HELD_BY_FUNCTION]
    kinds = {"generator": types.GeneratorType, "coroutine": types.CoroutineType,
             "async_generator": types.AsyncGeneratorType}  # fmt: skip
    owners += [(kinds[kind], name, _held_code) for kind, name in _HELD_CODE]
    owners += [(types.MethodType, name, _held_by_method) for name in _HELD_BY_METHOD]
    code = vars(types.FunctionType)["__code__"]
    func = vars(types.MethodType)["__func__"]
    for owner, name, getter in owners:
        real = gc.get_referents(vars(owner))[0]
        sealed = {"__builtins__": {}, "_real": real[name], "_code": code, "_audit": sys.audit,
                  "_func": func, "TypeError": TypeError}  # fmt: skip
        real[name] = property(types.FunctionType(getter.__code__, sealed, name))
    sys._clear_type_cache()


# A `functools.partial` the tests make holds its arguments where C code reads them: the answer
# handed one read the expected value from `p.args`, `p.keywords`, `p.__reduce__()` or its repr
# (grade27). `_hold_partials` makes `functools.partial` a subclass (its `__new__` tells the hook
# who made each; its `__repr__` asks the hook before the C repr runs) and swaps the base type's
# own `args`, `keywords`, `__reduce__`, `__repr__` for properties whose sealed getters ask the
# hook: what a partial made by the harness's or the tests' code holds is read only by their
# own code. A partial the answer makes is its own to read.
_HELD_BY_PARTIAL = ("args", "keywords", "__reduce__", "__repr__")


def _held_by_partial(obj: Any) -> Any:
    """The getter of a partial's guarded attributes (`_hold_partials`: a sealed copy)."""
    value = _real.__get__(obj)  # type: ignore[name-defined]  # noqa: F821  (TypeError first)
    _audit("arbiter.held_partial", obj)  # type: ignore[name-defined]  # noqa: F821
    return value


def _partial_type(base: Any, base_repr: Any, audit: Any) -> Any:
    """`functools.partial` as the tests and the answer see it (`_hold_partials`)."""

    class partial(base):  # type: ignore[misc]
        __slots__ = ()

        def __new__(cls, func: Any, /, *args: Any, **keywords: Any) -> Any:
            self = base.__new__(cls, func, *args, **keywords)
            audit("arbiter.made", self)  # the hook learns whether the tests made it
            return self

        def __repr__(self) -> str:
            audit("arbiter.held_partial", self)
            return base_repr(self)  # type: ignore[no-any-return]

    partial.__module__ = base.__module__
    partial.__qualname__ = base.__qualname__  # pickle finds it as functools.partial
    return partial


def _hold_partials(functools: Any, types: Any) -> None:
    """Guard the partials the tests make (see above): before the answer and the tests run,
    when the tests import `functools` (without it they make none)."""
    base = functools.partial
    real = gc.get_referents(vars(base))[0]
    subclass = _partial_type(base, real["__repr__"], sys.audit)
    for name in _HELD_BY_PARTIAL:
        sealed = {"__builtins__": {}, "_real": real[name], "_audit": sys.audit}
        real[name] = property(types.FunctionType(_held_by_partial.__code__, sealed, name))
    sys._clear_type_cache()
    functools.partial = subclass


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
    owner: tuple[Any, int],
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
    getpid, pid = owner  # the harness's process: a forked child's records are dropped
    tb_codes: dict[int, Any] = {}  # the stdlib traceback module's code objects, by identity
    homes = [main_frame.f_globals]  # and the tests' namespace, once it exists
    failed: set[Any] = set()  # a unit written as failed is never written as passed
    made: dict[int, Any] = {}  # the partials the harness's or the tests' code made (grade27)
    # the tests' namespace, the names their functions rebind (`global`), and its snapshot as
    # the tests' own statements left it (grade25: a handed function's __globals__ let the
    # answer rebind the tests' names: `want = 0` before `assert add(...) == want` was read)
    bound: list[Any] = [None, (), (), {}]  # + the tests' builtins

    def plain_keys(mapping: Any) -> bool:
        """Only exact str keys: a lookup then runs no answer's __eq__ or __hash__."""
        for key in mapping:  # noqa: SIM110  (the sealed builtins hold no `all`)
            if type(key) is not str:  # iterating a dict runs no code of the answer's
                return False
        return True

    def unchanged(allowed: Any) -> bool:
        """The tests' namespace holds what their statements left, but for `allowed` names
        ("*" in them: any name, a statement writing its namespace by a computed key; "+": new
        names that shadow no builtin, a tests' function writing so)."""
        ns, skip, snap, names = bound
        if ns is None:
            return True
        if not plain_keys(ns):
            return False
        if "*" in allowed:
            return True
        kept = 0
        for key, value in snap:
            if key in allowed:
                continue
            kept += 1
            if ns.get(key, bound) is not value:
                return False
        others = 0
        old = {key for key, _ in snap} if "+" in allowed else ()
        for key in ns:
            if key in skip or key in allowed:
                others += 1
            elif "+" in allowed and key not in old and key not in names and key[:2] != "__":
                others += 1  # a new name of the tests' (shadowing no builtin: `len`)
        return len(ns) - others == kept

    def snapshot() -> None:
        ns, skip = bound[0], bound[1]
        bound[2] = tuple((k, v) for k, v in ns.items() if k not in skip)

    def code_read(obj: Any, depth: int) -> bool:
        """A harness's or tests' function's code (its constants: the expected values) is
        read only by the harness's or the tests' own code."""
        code = obj.__code__ if type(obj) is type(code_read) else None
        if code is None or trusted.get(id(code)) is not code:
            return True
        reader = getframe(depth + 1)
        return trusted.get(id(reader.f_code)) is reader.f_code

    def held_read(code: Any, depth: int) -> bool:
        """What a harness's or tests' function or generator holds (its globals, its cells,
        its code) is read only by their own code: the frame above the getter's."""
        if trusted.get(id(code)) is not code:
            return True
        reader = getframe(depth + 1).f_back
        return reader is not None and trusted.get(id(reader.f_code)) is reader.f_code

    def authentic(frame: Any, allowed: Any = None) -> bool:
        """`allowed` given (a statement's bound names): the frames and the tests' namespace
        only; the watched mappings are checked when a record is written."""
        while frame is not None and frame is not main_frame:
            if trusted.get(id(frame.f_code)) is not frame.f_code:
                return False
            home = frame.f_globals  # the same code run with other globals is not the tests
            if not any(home is h for h in homes):
                return False
            frame = frame.f_back
        if frame is None:
            return False
        if allowed is not None:
            return unchanged(allowed)
        for mapping, items, exact in watched:
            if exact and len(mapping) != len(items):
                return False
            if type(mapping) is dict and not plain_keys(mapping):
                return False
            for key, value in items:
                if mapping.get(key) is not value:
                    return False
        return unchanged(())

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

    def trusted_caller(depth: int) -> bool:
        """The frame above the audit's caller (a partial's maker, or its reader) runs the
        harness's or the tests' own code."""
        caller = getframe(depth + 1).f_back
        return caller is not None and trusted.get(id(caller.f_code)) is caller.f_code

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
                if ok and type(record) is tuple and len(record) == 4:
                    ns, helpers, own_builtins, skip = record
                    homes.append(ns)
                    watched.append((ns, helpers, False))
                    watched.append((own_builtins, tuple(own_builtins.items()), True))
                    bound[0], bound[1], bound[3] = ns, skip, own_builtins
                    if plain_keys(ns):
                        snapshot()
                    else:
                        bound[2] = ((None, bound),)  # never matches: no pass is written
                return
            if type(record) is not dict or getpid() != pid:
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
            # a line of its own: a partial line the answer wrote into the pipe (its number is
            # in sys.argv) ends before it and is dropped, not this record (grade26)
            data = ("\n" + _json({**record, "nonce": nonce}) + "\n").encode("utf-8", "replace")
            while data:
                data = data[write(fd, data) :]
            return
        if event == "arbiter.bound":  # a tests' statement ran: the names it may have bound
            names = args[0] if args else None
            if type(names) is not tuple or bound[0] is None or get_ident() != main:
                return
            for name in names:
                if type(name) is not str:
                    return
            if reading(lambda d: authentic(getframe(d + 1), names), 1):
                reading(lambda d: snapshot(), 1)
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
        elif event == "arbiter.held":  # a guarded getter (`_hold`) on the way to its value
            if not reading(lambda d: held_read(args[0] if args else None, d + 1), 1):
                raise AttributeError("what the tests' functions hold is not the answer's to read")
        elif event == "arbiter.made":  # a partial was made: by the tests' or harness's code?
            if args and get_ident() == main and reading(lambda d: trusted_caller(d + 1), 1):
                made[id(args[0])] = args[0]  # held: its id is never another object's
        elif event == "arbiter.held_partial":  # what a partial holds, on the way to a reader
            obj = args[0] if args else None
            if made.get(id(obj)) is obj and not reading(lambda d: trusted_caller(d + 1), 1):
                raise AttributeError("what the tests' partial holds is not the answer's to read")
        elif event == "object.__getattr__" and args[1] in _CODE_ATTRS:
            if not reading(lambda d: code_read(args[0], d + 1), 1):
                raise AttributeError(f"{args[1]} of the tests is not the answer's to read")
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
    for name in (
        "_DENIED_EVENTS",
        "_FRAME_ATTRS",
        "_DENIED_MODULES",
        "_PATH_EVENTS",
        "_CODE_ATTRS",
    ):
        sealed[name] = own[name]
    for name in ("_json", "_memory_file", "_sealed"):
        sealed[name] = types.FunctionType(own[name].__code__, sealed, name)
    loader_exec = sys.modules["_frozen_importlib"]._call_with_frames_removed.__code__
    tb_path = os.path.join(os.path.dirname(os.__file__), "traceback.py")
    hook = sealed["_sealed"](os.write, fd, nonce, main, _thread.get_ident, sys._getframe,
                             sys._getframe(1), trusted, watched, _tb_line.__code__, loader_exec,
                             tb_path, (gc.isenabled, gc.disable, gc.enable),
                             (os.getpid, os.getpid()))  # fmt: skip
    _hold(types)
    # a partial the tests make needs their `functools` (importing it costs ~10 ms a run)
    if tests is not None and any(m.partition(".")[0] == "functools" for m, _ in tests[4]):
        import functools

        _hold_partials(functools, types)
    sys.addaudithook(hook)
    # the stdlib the tests import, imported now (under the hook: it learns the traceback
    # module's code as importlib runs it) and before the answer (`harness_bind.py`): each
    # module's names watched (new ones allowed: a submodule imported later), its classes' dicts
    # exactly
    if tests is not None:
        _pre_import(tests[4])
        watched.extend((m, tuple(m.items()), exact) for m, exact in _STDLIB_WATCH)
    # `import __main__` in the answer would hand it this module (the recorder's class)
    sys.modules["__main__"] = type(sys)("__main__")
