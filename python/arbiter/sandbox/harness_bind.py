"""The tests' names and the stdlib they import, bound before the answer runs (inside the jail).

Part of the program run in the jail (joined with ``harness_guard.py``, ``harness_compare.py``
and ``harness.py`` into one namespace by ``python_runner.py``). Standard library only.

grade25: the answer shares the interpreter, so it could patch a stdlib module the tests then
import (``math.isclose = lambda *a, **k: True``; ``sys.modules['math']`` swapped; patched, then
restored once the tests had imported it), and an answer handed one of the tests' functions could
rebind the tests' names through its ``__globals__`` (``want = 0`` before ``assert add(...) ==
want`` read it). So: every module the tests import is imported before the answer runs and the
tests' ``import`` statements bind those very objects (``__arbiter_import__``,
``__arbiter_from__``); the guard watches those modules' names and their classes' dicts; and
after each of the tests' own top-level statements (and at each block's start) the guard is told
which names that statement may have bound (``__arbiter_bound__``): any other change to the
tests' namespace, found when a result is written, writes it failed.
"""

from __future__ import annotations

import _ast
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from arbiter.sandbox.harness_compare import _HEAPTYPE, _at, _flags, _mro, _type_dict

_STDLIB: dict[str, Any] = {}  # module name -> the module, imported before the answer ran
_FROM: dict[tuple[str, str], Any] = {}  # (module, name) -> what `from module import name` gave
_STDLIB_WATCH: list[tuple[Any, bool]] = []  # (mapping, exact) for the guard to watch


def _imports(tree: Any) -> list[tuple[str, tuple[str, ...]]]:
    """(module, names imported from it) for every absolute import in the tests."""
    found: list[tuple[str, tuple[str, ...]]] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, _ast.Import):
            found.extend((a.name, ()) for a in node.names)
        elif isinstance(node, _ast.ImportFrom) and node.level == 0 and node.module:
            names = tuple(a.name for a in node.names if a.name != "*")
            found.append((node.module, names))
        todo.extend(_children(node))
    return found


def _pre_import(wanted: list[tuple[str, tuple[str, ...]]]) -> None:
    """Import what the tests import, before the answer runs, and list what the guard watches:
    each module's names, and the dicts of the Python classes it defines (their MROs)."""
    for module, names in wanted:
        try:
            __import__(module, fromlist=names)
        except BaseException:  # the tests' own statement will fail the same way
            continue
        parts = module.split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            if name in sys.modules:
                _STDLIB[name] = sys.modules[name]
        space = vars(_STDLIB[module]) if module in _STDLIB else {}
        for name in names:
            if name in space:
                _FROM[(module, name)] = space[name]
    seen: set[int] = set()
    for mod in _STDLIB.values():
        if id(mod) in seen:
            continue
        seen.add(id(mod))
        space = vars(mod)
        _STDLIB_WATCH.append((space, False))
        for value in list(space.values()):
            if not isinstance(value, type) or not _flags(value) & _HEAPTYPE:
                continue
            for cls in _mro(value)[:-1]:
                if _flags(cls) & _HEAPTYPE and id(cls) not in seen:
                    seen.add(id(cls))
                    _STDLIB_WATCH.append((_type_dict(cls), True))


def _import_module(name: str, whole: bool) -> Any:
    """``import a.b`` (binds ``a``), or ``import a.b as x`` (whole: binds ``a.b``), as
    imported before the answer ran; a module that was not is imported now, as before."""
    top = name.partition(".")[0]
    if name in _STDLIB and top in _STDLIB:
        return _STDLIB[name] if whole else _STDLIB[top]
    module = __import__(name)
    return sys.modules[name] if whole else module


def _import_from(module: str, names: tuple[str, ...]) -> tuple[Any, ...]:
    """``from module import names``: the values it gave before the answer ran."""
    values: list[Any] = []
    for name in names:
        if (module, name) in _FROM:
            values.append(_FROM[(module, name)])
            continue
        loaded = __import__(module, fromlist=(name,))
        try:
            values.append(getattr(loaded, name))
        except AttributeError:
            raise ImportError(f"cannot import name {name!r} from {module!r}") from None
    return tuple(values)


def _children(node: Any) -> list[Any]:
    out: list[Any] = []
    for name in node._fields:
        value = getattr(node, name, None)
        if isinstance(value, list):
            out.extend(v for v in value if isinstance(v, _ast.AST))
        elif isinstance(value, _ast.AST):
            out.append(value)
    return out


def _named(name: str, node: Any, store: bool) -> Any:
    return _ast.Name(id=name, ctx=_ast.Store() if store else _ast.Load(), **_at(node))


def _rewrite_imports(node: Any) -> Any:
    """Every absolute ``import``/``from .. import`` (not ``*``) -> an assignment from the
    modules imported before the answer ran (a statement may become several)."""
    for field in ("body", "orelse", "finalbody", "handlers", "cases"):
        block = getattr(node, field, None)
        if isinstance(block, list):
            setattr(node, field, [new for old in block for new in _one_import(old)])
    for child in _children(node):
        _rewrite_imports(child)
    return node


def _one_import(stmt: Any) -> list[Any]:
    if isinstance(stmt, _ast.Import):
        where = _at(stmt)
        out = []
        for a in stmt.names:
            target = a.asname or a.name.partition(".")[0]
            args: list[Any] = [_ast.Constant(value=a.name, **where),
                    _ast.Constant(value=a.asname is not None, **where)]  # fmt: skip
            call = _ast.Call(func=_named("__arbiter_import__", stmt, False), args=args,
                             keywords=[], **where)  # fmt: skip
            out.append(_ast.Assign(targets=[_named(target, stmt, True)], value=call, **where))
        return out
    if isinstance(stmt, _ast.ImportFrom) and stmt.level == 0 and stmt.module:
        if any(a.name == "*" for a in stmt.names):
            return [stmt]
        where = _at(stmt)
        names: Any = tuple(a.name for a in stmt.names)
        targets = [_named(a.asname or a.name, stmt, True) for a in stmt.names]
        pair: list[Any] = [
            _ast.Constant(value=stmt.module, **where),
            _ast.Constant(value=names, **where),
        ]
        call = _ast.Call(func=_named("__arbiter_from__", stmt, False), args=pair, keywords=[],
                         **where)  # fmt: skip
        tup = _ast.Tuple(elts=targets, ctx=_ast.Store(), **where)
        return [_ast.Assign(targets=[tup], value=call, **where)]
    return [stmt]


_SCOPES = (_ast.FunctionDef, _ast.AsyncFunctionDef, _ast.ClassDef)
_NAMESPACE_CALLS = ("globals", "vars", "locals")
# a tests' statement that writes its namespace by a key it computes (`globals()[name] = v`,
# `exec(src)`) may change any name; a tests' function that does may add names (grade25b)
ANY_NAME = "*"
NEW_NAMES = "+"


def _namespace_call(node: Any) -> bool:
    """``globals()``, ``vars()``, ``locals()``: the tests' own namespace (at module level)."""
    return (
        isinstance(node, _ast.Call)
        and isinstance(node.func, _ast.Name)
        and node.func.id in _NAMESPACE_CALLS
        and not node.args
        and not node.keywords
    )


def _namespace_writes(node: Any) -> tuple[set[str], bool]:
    """(the names a ``globals()['x'] = v`` / ``globals().update(x=v)`` / ``vars()``'s,
    ``locals()``'s alike write, and whether `node` may write others: a computed key, the
    namespace handed on, ``exec``/``eval``). Reads (``globals()['x']``, ``.get``) write none."""
    names: set[str] = set()
    dynamic = False
    handled: set[int] = set()  # ids of the namespace calls read or written by a known key
    todo = [node]
    while todo:
        n = todo.pop()
        if isinstance(n, _ast.Subscript) and _namespace_call(n.value):
            handled.add(id(n.value))
            if not isinstance(n.ctx, _ast.Load):
                key = n.slice
                if isinstance(key, _ast.Constant) and type(key.value) is str:
                    names.add(key.value)
                else:
                    dynamic = True
        elif isinstance(n, _ast.Attribute) and _namespace_call(n.value):
            handled.add(id(n.value))
            if n.attr not in ("get", "keys", "items", "values", "copy", "__contains__"):
                dynamic = True  # `.update(**d)`, `.setdefault(k, v)`, ...
        elif _named_update(n):  # `globals().update(x=v)`: the keys named
            names.update(str(k.arg) for k in n.keywords)
            todo.extend(k.value for k in n.keywords)
            continue
        elif isinstance(n, _ast.Call) and isinstance(n.func, _ast.Name):
            dynamic = dynamic or n.func.id in ("exec", "eval")
        if _namespace_call(n) and id(n) not in handled:
            dynamic = True  # handed on (`f(globals())`, `ns = globals()`)
        todo.extend(_children(n))
    return names, dynamic


def _named_update(n: Any) -> bool:
    return (
        isinstance(n, _ast.Call)
        and isinstance(n.func, _ast.Attribute)
        and _namespace_call(n.func.value)
        and n.func.attr == "update"
        and not n.args
        and all(k.arg for k in n.keywords)
    )


def _stored_names(stmt: Any) -> tuple[str, ...]:
    """The names a module-level statement may bind or delete (not inside the functions,
    classes and lambdas it defines: their own scopes), ``*`` when it may write any."""
    names: set[str] = set()
    todo = [stmt]
    while todo:
        node = todo.pop()
        if isinstance(node, _SCOPES):
            names.add(node.name)
            todo.extend(node.decorator_list)  # run in the statement's scope
            continue
        if isinstance(node, _ast.Lambda):
            continue
        if isinstance(node, _ast.Name) and not isinstance(node.ctx, _ast.Load):
            names.add(node.id)
        elif isinstance(node, _ast.NamedExpr):
            names.add(node.target.id)
        elif isinstance(node, (_ast.ExceptHandler, _ast.MatchAs, _ast.MatchStar)) and node.name:
            names.add(node.name)
        elif isinstance(node, _ast.MatchMapping) and node.rest:
            names.add(node.rest)
        todo.extend(_children(node))
    written, dynamic = _namespace_writes_outside_scopes(stmt)
    names.update(written)
    if dynamic:
        names.add(ANY_NAME)
    return tuple(sorted(names))


def _namespace_writes_outside_scopes(stmt: Any) -> tuple[set[str], bool]:
    if isinstance(stmt, (_ast.FunctionDef, _ast.AsyncFunctionDef)):
        return set(), False
    if isinstance(stmt, _ast.ClassDef):
        names: set[str] = set()
        dynamic = False
        for part in (*stmt.decorator_list, *stmt.bases, *stmt.body):
            w, d = _namespace_writes_outside_scopes(part)
            names |= w
            dynamic = dynamic or d
        return names, dynamic
    return _namespace_writes(stmt)


def _bound_call(names: tuple[str, ...], stmt: Any) -> Any:
    where = _at(stmt)
    value: Any = names  # a tuple constant (typeshed's Constant does not list it)
    call = _ast.Call(func=_named("__arbiter_bound__", stmt, False),
                     args=[_ast.Constant(value=value, **where)], keywords=[], **where)  # fmt: skip
    return _ast.Expr(value=call, **where)


def _bind_statements(body: list[Any], adds: bool = False) -> list[Any]:
    """After each module-level statement, and at the start of each block of one (a loop's
    target, an ``except .. as``), the names it may have bound, told to the guard (`adds`: the
    tests' functions write their namespace by computed keys: new names are theirs too)."""
    out: list[Any] = []
    for stmt in body:
        names = _stored_names(stmt)
        if adds:
            names = (*names, NEW_NAMES)
        if not isinstance(stmt, _SCOPES):
            for field in ("body", "orelse", "finalbody"):
                block = getattr(stmt, field, None)
                if isinstance(block, list) and block and isinstance(block[0], _ast.stmt):
                    setattr(stmt, field, [_bound_call(names, stmt),
                                          *_bind_statements(block, adds)])  # fmt: skip
            for part in (*getattr(stmt, "handlers", ()), *getattr(stmt, "cases", ())):
                part.body = [_bound_call(names, stmt), *_bind_statements(part.body, adds)]
        out.extend((stmt, _bound_call(names, stmt)))
    return out


def _module_scope(tree: Any) -> Any:
    """Every node run in the tests' module scope (comprehensions included: a walrus in one
    binds there; functions, classes and lambdas are scopes of their own)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, _SCOPES):
            todo.extend(node.decorator_list)
            if isinstance(node, _ast.ClassDef):
                todo.extend(node.bases)
            continue
        if isinstance(node, _ast.Lambda):
            continue
        todo.extend(_children(node))


def _rewrite_walrus(tree: Any) -> Any:
    """``(x := v)`` in the module scope -> ``__arbiter_named__(('x',), (x := v))``: the guard
    hears of the name as it is bound, so a record the same statement writes after it (``assert
    (x := f()) == 3``) finds the namespace as the tests left it (grade25b)."""
    for node in list(_module_scope(tree)):
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, list):
                setattr(node, name, [_named_walrus(v) for v in value])
            else:
                setattr(node, name, _named_walrus(value))
    return tree


def _named_walrus(node: Any) -> Any:
    if not isinstance(node, _ast.NamedExpr):
        return node
    names: Any = (node.target.id,)
    call = _ast.Call(func=_named("__arbiter_named__", node, False),
                     args=[_ast.Constant(value=names, **_at(node)), node], keywords=[],
                     **_at(node))  # fmt: skip
    return call


def _dynamic_in_functions(tree: Any) -> bool:
    """A tests' function (or class body) writes the namespace by a computed key."""
    return any(_namespace_writes(node)[1] for node in _walk_scopes(tree))


def _walk_scopes(tree: Any) -> list[Any]:
    """The bodies' statements of every function and class of the tests."""
    found: list[Any] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, _SCOPES):
            found.extend(node.body)
        todo.extend(_children(node))
    return found


def _rebound_by_functions(tree: Any) -> tuple[str, ...]:
    """Names the tests' functions declare ``global`` or write by ``globals()['name']``:
    theirs to rebind, so not watched."""
    names: set[str] = set()
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, _ast.Global):
            names.update(node.names)
        todo.extend(_children(node))
    for stmt in _walk_scopes(tree):
        names.update(_namespace_writes(stmt)[0])
    return tuple(sorted(names))
