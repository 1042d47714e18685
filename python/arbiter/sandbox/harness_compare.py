"""How the tests compare values, inside the jail: the tests' comparisons rewritten.

Part of the program run in the jail (joined with ``harness_guard.py`` and ``harness.py`` into one
namespace by ``python_runner.py``). Standard library only, and only what is cheap to import.
"""

from __future__ import annotations

import _ast
import _collections  # type: ignore[import-not-found]  # deque's C module, no import cost
import _operator
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


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
# C types that hold other objects (gc-tracked) and compare by what they hold would run the
# answer's comparison on an object inside: read as plain (SimpleNamespace, slice, dict_keys and
# dict_items), or not compared; the rest (functions, types, modules) compare by identity
_GC = 1 << 14
_NAMESPACE = type(sys.implementation)  # types.SimpleNamespace, without importing `types`
# C callables that compare what they are bound to by identity (`len == len`, `x.append`)
_BY_IDENTITY = frozenset({type(len), type((1).__add__)})
_KEYS: Any = type({}.keys())
_ITEMS: Any = type({}.items())
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


def _trust_tests(codes: Any) -> None:
    """Before the guard: the tests' code objects, by identity (`_codes`)."""
    global _TESTS_CODES
    _TESTS_CODES = frozenset(codes)


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
    d = depth + 1
    if base is None:
        if _flags(t) & _HEAPTYPE:
            raise _Untrusted(f"a value of type {t.__name__!r}, not a built-in type")
        if not _flags(t) & _GC or not _compares(t) or t in _BY_IDENTITY:
            return value  # holds no other object, or compares by identity: no answer code
        if t is _NAMESPACE:  # by their C code, the values in it: read them as plain first
            return _NAMESPACE(**{k: _plain(v, d) for k, v in dict.items(value.__dict__)})
        if t is slice:
            return slice(_plain(value.start, d), _plain(value.stop, d), _plain(value.step, d))
        if t is _KEYS or t is _ITEMS:
            try:
                return {_plain(v, d) for v in t.__iter__(value)}  # set-like, as they compare
            except TypeError:  # an unhashable value
                pass
        raise _Untrusted(f"a value of type {t.__name__!r}, compared by what it holds")
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


def _python_class(t: Any) -> bool:
    """A class whose comparisons are Python functions (or object's): not a C heap type's
    (functools.cmp_to_key's KeyWrapper calls the function it wraps: the answer's)."""
    if not _flags(t) & _HEAPTYPE:
        return False
    for cls in _mro(t)[:-1]:
        for name in _CMP_METHODS:
            fn = _type_dict(cls).get(name)
            if fn is not None and type(fn) is not _function:
                return False
    return True


def _compares(t: Any) -> bool:
    """A C type with comparisons of its own (not object's identity)."""
    return any(name in _type_dict(cls) for cls in _mro(t)[:-1] for name in _CMP_METHODS)


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
    if ta is tb and op in ("Eq", "NotEq") and _python_class(ta):
        return fn(a, b)  # one Python class's own comparison, both sides of it
    if op in ("Eq", "NotEq") and a is b:
        return op == "Eq"  # the very same object (a function, a C heap type's value)
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


# Doctests whose expected text is a repr the plain value cannot write (grade25b): an Enum
# member's `<Color.RED: 1>`, a dataclass's (or any class's) `P(x=1, y=2)`, a defaultdict's
# `defaultdict(<class 'int'>, {'a': 1})`. The text is read as what it states (the class's name,
# the member's name and value, the fields' values, the factory) and checked against what the
# value holds, read by C code only (its own `__repr__`, `__getattr__` or properties never run):
# a value that holds what the text states is what the doctest means. grade26: a `__slots__`
# class's fields are read by their member descriptors, a Flag's `<Perm: 0>` names no member,
# and members and fields are read inside lists, tuples and dicts (`[<Perm.R: 4>]`).
_GETSET = type(type.__dict__["__dict__"])
_defaultdict = _collections.defaultdict
_default_factory = _defaultdict.__dict__["default_factory"].__get__


def _instance_dict(value: Any) -> dict[str, Any] | None:
    """The value's own ``__dict__``, read by the C descriptor its class was given (None: none,
    or a ``__dict__`` the class defines itself: a property could say anything)."""
    for cls in _mro(type(value))[:-1]:
        found = _type_dict(cls).get("__dict__")
        if found is None:
            continue
        if type(found) is not _GETSET:
            return None
        space = _GETSET.__get__(found, value)
        return space if type(space) is dict else None
    return None


def _literal(node: Any) -> Any:
    return eval(compile(_ast.Expression(body=node), "<expected>", "eval"), {"__builtins__": {}})


def _held(value: Any, expected: Any) -> bool:
    return _compare("Eq", _plain(value), expected) is True


def _repr_equal(want: str, value: Any) -> bool:
    """`want` (a doctest's expected text) states what `value` holds: see above."""
    try:
        if type(value) is _defaultdict and want[:12] == "defaultdict(" and want[-1:] == ")":
            return _defaultdict_equal(want, value)
        return _fields_hold(_parse(_members_as_calls(want)), value, 0)
    except BaseException:  # not literals, an unhashable key, an untrusted value: no match
        return False


_MEMBER_CALL = "__arbiter_member__"


def _members_as_calls(text: str) -> str:
    """Each Enum member's `<Color.RED: 1>` (`<Perm.R|W: 6>`; `<Perm: 0>`, a Flag's value no
    member names) as `__arbiter_member__('Color', 'RED', 1)`, so `[<Color.RED: 1>]` parses.
    One pass over the text (str.find: linear); a `>` inside the value's text is not read."""
    out: list[str] = []
    at = 0
    while True:
        start = text.find("<", at)
        end = text.find(">", start + 1) if start >= 0 else -1
        if end < 0:
            out.append(text[at:])
            return "".join(out)
        head, colon, literal = text[start + 1 : end].partition(": ")
        owner, dot, name = head.rpartition(".")
        owner = owner if dot else head
        if colon and owner.isidentifier() and (not dot or name):
            out.append(text[at:start])
            out.append(f"{_MEMBER_CALL}({owner!r}, {name if dot else None!r}, {literal})")
        else:
            out.append(text[at : end + 1])
        at = end + 1


def _member_holds(node: Any, value: Any) -> bool:
    """`__arbiter_member__('Color', 'RED', 1)` (`_members_as_calls`): the value's class is
    named so, and its own `_name_` and `_value_` are the member's."""
    if len(node.args) != 3 or node.keywords:
        return False
    owner, name = _literal(node.args[0]), _literal(node.args[1])
    space = _instance_dict(value)
    return (
        space is not None
        and owner == type.__dict__["__name__"].__get__(type(value))
        and type(space.get("_name_")) is type(name)
        and space["_name_"] == name
        and "_value_" in space
        and _fields_hold(node.args[2], space["_value_"], 1)
    )


def _fields_hold(node: Any, value: Any, depth: int) -> bool:
    """`P(x=1, y=2)` (a class's name, its fields' values), also inside a list, tuple or dict
    (`[P(x=1)]`, `{'a': P(x=1)}`): each field the text names holds its value; anything else in
    the text is a literal the plain value must equal."""
    if depth > _DEPTH:
        return False
    if isinstance(node, (_ast.List, _ast.Tuple)):
        kind = list if isinstance(node, _ast.List) else tuple
        return (
            type(value) is kind
            and len(value) == len(node.elts)
            and all(_fields_hold(n, v, depth + 1) for n, v in zip(node.elts, value, strict=True))
        )
    if isinstance(node, _ast.Dict) and None not in node.keys:
        if type(value) is not dict or len(value) != len(node.keys):
            return False
        for key in value:  # iterating runs no code of the answer's
            if type(key) not in _SCALARS:
                return False  # both sides' keys plain: the lookups run no answer's __eq__
        keys = [_literal(k) for k in node.keys]
        return all(
            type(k) in _SCALARS and k in value and _fields_hold(n, value[k], depth + 1)
            for k, n in zip(keys, node.values, strict=True)
        )
    if not isinstance(node, _ast.Call):
        return _held(value, _literal(node))
    if isinstance(node.func, _ast.Name) and node.func.id == _MEMBER_CALL:
        return _member_holds(node, value)
    if not isinstance(node.func, _ast.Name) or node.args or not node.keywords:
        return False
    if node.func.id != type.__dict__["__name__"].__get__(type(value)):
        return False
    for keyword in node.keywords:
        if keyword.arg is None:
            return False
        found, held = _field(value, keyword.arg)
        if not found or not _fields_hold(keyword.value, held, depth + 1):
            return False
    return True


class _Slot:
    __slots__ = ("slot",)


_MEMBER = type(_Slot.__dict__["slot"])


def _field(value: Any, name: str) -> tuple[bool, Any]:
    """A field's value read by C code: a slot's member descriptor, the first its class's MRO
    names (a `__slots__` dataclass), else the instance's own ``__dict__`` (a class attribute
    that is no slot, a field's default, stays under the instance's value)."""
    for cls in _mro(type(value))[:-1]:
        found = _type_dict(cls).get(name)
        if type(found) is _MEMBER:
            return True, _MEMBER.__get__(found, value)
        if found is not None:
            break
    space = _instance_dict(value)
    if space is None or name not in space:
        return False, None
    return True, space[name]


def _defaultdict_equal(want: str, value: Any) -> bool:
    """`defaultdict(<class 'int'>, {'a': 1})`: a built-in factory (or None) and the items."""
    inner = want[len("defaultdict(") : -1]
    factory_text, _, items = inner.partition(", ")
    factory = _default_factory(value)
    if factory_text == "None":
        ok = factory is None
    elif factory_text[:8] == "<class '" and factory_text[-2:] == "'>":
        ok = (
            type(factory) is type
            and not _flags(factory) & _HEAPTYPE
            and factory_text[8:-2] == type.__dict__["__name__"].__get__(factory)
        )
    else:
        return False
    return ok and _held(value, _literal(_parse(items)))


def _parse(text: str) -> Any:
    tree: Any = compile(text, "<expected>", "eval", _ast.PyCF_ONLY_AST)
    return tree.body
