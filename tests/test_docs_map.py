"""README.md and ARCHITECTURE.md stay a true map of the code (a newcomer reads them first):
- every file path ARCHITECTURE.md names exists, and every module of the package is named there;
- every config key the parser accepts is documented in README.md, and every key README's
  config reference lists is one the parser accepts;
- every `x-arbiter-*` header the code reads or sends is in README.md."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import re
import tomllib
import typing
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path

from arbiter import config
from arbiter.config_parse import _RESOLVED_ONLY

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "python" / "arbiter"
ARCHITECTURE = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")

# a file named in prose: `relay.py`, `sim/sse.py`, `rust/core/src/bandit.rs`, `ui/app.js`
_PATH = re.compile(r"(?<![\w./*-])((?:[\w-]+/)*[\w*-]+\.(?:py|rs|js|css|html|json|npz|toml|sql))\b")
_MODULES = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py"))


def _named_paths(text: str) -> set[str]:
    """File names and globs with a stem (`protocols/openai*.py`; not a bare `*.py`)."""
    return {n for n in _PATH.findall(text) if not n.rsplit("/", 1)[-1].startswith("*")}


def _resolves(name: str) -> bool:
    """A path relative to the repository or the package, or a module's path within the package
    shortened from the left (`sim/outcomes.py` is `offline/sim/outcomes.py`)."""
    if list(ROOT.glob(name)) or list(PACKAGE.glob(name)):
        return True
    return any(fnmatch(m, "*/" + name) for m in _MODULES) or bool(list(ROOT.glob(f"*/**/{name}")))


def test_every_path_architecture_names_exists() -> None:
    named = _named_paths(ARCHITECTURE)
    assert len(named) > 100, "the path pattern no longer finds ARCHITECTURE.md's file names"
    missing = sorted(n for n in named if not _resolves(n))
    assert missing == [], f"ARCHITECTURE.md names files that do not exist: {missing}"


def _module_is_named(module: str, named: set[str]) -> bool:
    """Named by its package-relative path, or by a shorter tail of it that no top-level module
    owns (`outcome_table.py` names `offline/outcome_table.py`; `config.py` names only
    `config.py`, not `offline/sim/config.py`); `protocols/openai*.py` names each module it
    matches. A package is named by its folder (`store/`, `sim/` for `offline/sim/`)."""
    parts = module.split("/")
    if parts[-1] == "__init__.py":
        folders = ["/".join(parts[i:-1]) + "/" for i in range(len(parts) - 1)]
        return len(parts) == 1 or any(f"`{f}" in ARCHITECTURE for f in folders)
    tails = [module] + ["/".join(parts[i:]) for i in range(1, len(parts))]
    return any(
        fnmatch(tail, name) and (tail == module or tail not in _MODULES)
        for tail in tails
        for name in named
    )


def test_every_module_of_the_package_is_named_in_architecture() -> None:
    named = _named_paths(ARCHITECTURE)
    unnamed = [m for m in _MODULES if not _module_is_named(m, named)]
    assert len(_MODULES) > 100
    assert unnamed == [], f"modules ARCHITECTURE.md does not name: {unnamed}"


_DOTTED = re.compile(r"`([a-z_][a-z0-9_]*)\.([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*)*)")


def test_every_module_attribute_architecture_names_exists() -> None:
    """`relay.run_to_end`, `records.GRADER_PRECEDENCE`: where the name before the dot is one
    module of the package (a config key such as `routing.seed` aside), the rest is reached by
    getattr from it; a function that moved leaves a stale name the newcomer cannot grep."""
    by_name: dict[str, list[str]] = {}
    for m in _MODULES:
        parts = m.removesuffix(".py").split("/")
        if parts[-1] != "__init__":
            by_name.setdefault(parts[-1], []).append("arbiter." + ".".join(parts))
    keys = _parser_keys()
    stale, checked = [], 0
    for name, attr, rest in set(_DOTTED.findall(ARCHITECTURE)):
        if len(by_name.get(name, [])) != 1 or f"{name}.{attr}" in keys or attr in _SUFFIXES:
            continue
        obj: object = importlib.import_module(by_name[name][0])
        checked += 1
        for part in (attr, *rest.split(".")[1:]):
            obj = getattr(obj, part, _MISSING)
            if obj is _MISSING:
                stale.append(f"{name}.{attr}{rest}")
                break
    assert checked > 30, "the dotted-name pattern no longer finds ARCHITECTURE.md's references"
    assert sorted(stale) == [], "ARCHITECTURE.md names attributes its modules do not have"


_SUFFIXES = {"py", "rs", "js", "css", "html", "json", "npz", "toml", "sql", "md"}
_MISSING = object()


# -- config keys ------------------------------------------------------------------------------


def _keys(cls: type[typing.Any], prefix: str) -> Iterator[tuple[str, object]]:
    """Every key a settings dataclass accepts, dotted, with its default (`_REQUIRED` when it has
    none); a nested table's keys under `name.*`."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in _RESOLVED_ONLY and (f.name != "name" or cls in config._NAMED.values()):
            continue  # set by the resolver (a secret from its env var, a table's own name)
        if f.default is not dataclasses.MISSING:
            default: object = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = _REQUIRED
        yield f"{prefix}{f.name}", default
        for inner in (hints[f.name], *typing.get_args(hints[f.name])):
            if dataclasses.is_dataclass(inner) and isinstance(inner, type):
                yield from _keys(inner, f"{prefix}{f.name}.*.")


_REQUIRED = object()


def _parser_defaults() -> dict[str, object]:
    keys: dict[str, object] = {}
    for section, cls in config._SECTIONS.items():
        keys |= dict(_keys(cls, f"{section}."))
    for section, cls in config._NAMED.items():
        keys |= dict(_keys(cls, f"{section}.*."))
    return keys


def _parser_keys() -> set[str]:
    return set(_parser_defaults())


def _section(head: str) -> str:
    """`[models.NAME]` -> `models.*`, `[[budgets.caps]]` -> `budgets.caps.*`."""
    name = head.strip("[]")
    parts = ["*" if part.isupper() else part for part in name.split(".")]
    return ".".join(parts) + (".*" if head.startswith("[[") else "")


def _reference_rows() -> dict[str, str]:
    """README's config reference: key -> its default cell, from each row of its tables (headed
    `| key | default | what |`) under the `` `[section]` `` line above the table."""
    assert "\n## Configuration reference\n" in README, "README has no config reference"
    reference = README.split("\n## Configuration reference\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    section = ""
    in_table = False
    for line in reference.splitlines():
        head = re.match(r"`(\[\[?[\w.]+\]\]?)`", line)
        if head:
            section = _section(head.group(1))
        if line == "| key | default | what |":
            in_table = True
        elif in_table and line.startswith("| `"):
            cells = [c.strip() for c in line.split("|")[1:3]]
            rows[f"{section}.{cells[0].strip('`')}"] = cells[1]
        elif not line.startswith("|"):
            in_table = False
    return rows


def _reference_keys() -> set[str]:
    return set(_reference_rows())


def _default_cell(cell: str) -> object:
    """A default as README writes it: `required`, `unset` or a TOML value in backticks."""
    if cell in ("required", "unset"):
        return _REQUIRED if cell == "required" else None
    assert cell.startswith("`") and cell.endswith("`"), cell
    return tomllib.loads(f"v = {cell.strip('`')}")["v"]


def test_every_parser_key_is_in_readmes_config_reference() -> None:
    accepted = _parser_keys()
    assert len(accepted) > 150, "the key walk no longer finds the settings' fields"
    listed = _reference_keys()
    assert sorted(accepted - listed) == [], "accepted by the parser, not in README's reference"
    assert sorted(listed - accepted) == [], "in README's reference, not accepted by the parser"


def test_readmes_config_reference_gives_the_parsers_defaults() -> None:
    defaults = _parser_defaults()
    wrong = {
        key: (cell, defaults[key])
        for key, cell in _reference_rows().items()
        if key in defaults and _default_cell(cell) != defaults[key]
    }
    assert wrong == {}, "README's default differs from the parser's: (README, parser)"


# -- x-arbiter-* headers ---------------------------------------------------------------------

_HEADER = re.compile(r"x-arbiter-[a-z0-9]+(?:-[a-z0-9]+)*")


def _code_headers() -> set[str]:
    """Every whole `x-arbiter-*` header name in a string or bytes literal of the package."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
                text = node.value.decode("latin-1") if isinstance(node.value, bytes) else node.value
                if _HEADER.fullmatch(text.lower()):
                    found.add(text.lower())
    return found


def test_every_x_arbiter_header_is_in_readme() -> None:
    headers = _code_headers()
    assert {"x-arbiter-model", "x-arbiter-decision-id", "x-arbiter-tests"} <= headers
    documented = set(_HEADER.findall(README.lower()))
    assert sorted(headers - documented) == [], "headers the code reads or sends, not in README"
