"""Arbiter as a user installs it (a wheel), not as the tests run it (a checkout):
- every file the code loads at run time lies inside the package tree and is not left out of the
  wheel (maturin takes `python-source`'s package minus what git ignores and `[tool.maturin]`
  excludes), and the dashboard serves every asset its pages reference;
- no module finds a file from its own location outside the package (`parents[...]`): installed,
  that is site-packages;
- the entry points run on a copy of exactly what the wheel holds, with the checkout's source dirs
  removed from `sys.path` and the working directory outside the repository; `arbiter init` there
  writes the example configs a user starts from, and the sidecar's commands accept them;
- the project's metadata names its readme and its license, whose text (LICENSE) a real sdist
  holds beside README.md and the example configs.
(Building a real wheel takes minutes: too slow for the suite; this reads the include rules. An
sdist takes a second: that one is built.)"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from arbiter import cascade, dashboard, difficulty, starter_configs
from arbiter.cache import exact_stage, pair_model, verifier
from arbiter.sandbox import python_runner
from arbiter.store import _sql

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SOURCE = ROOT / PYPROJECT["tool"]["maturin"]["python-source"]
PACKAGE = SOURCE / "arbiter"

# module -> the files it loads from the package; a module that finds files by its own location
# must be listed here (test_every_module_that_finds_files_is_listed), so its files are checked
RUNTIME_FILES: dict[str, list[Path]] = {
    "dashboard": [PACKAGE / "ui" / name for name in dashboard._TYPES],
    "difficulty": [difficulty.DEFAULT_MODEL]
    + [difficulty.model_path(name) for name in difficulty.SHIPPED],
    "cascade": list(cascade.SHIPPED_VERIFIERS.values()),
    "priors": [PACKAGE / "models" / "priors.json"],
    "cache.verifier": [verifier.MODEL_PATH],
    "cache.pair_model": [pair_model.PAIR_MODEL_PATH],
    "cache.exact_stage": [exact_stage.EXACT_STAGE_PATH],
    "sandbox.python_runner": [
        Path(python_runner.__file__).with_name(name) for name in python_runner.HARNESS_PARTS
    ],
    "store._sql": sorted((PACKAGE / "store" / "migrations").glob("*/*.sql")),
    # the child's PYTHONPATH: the folder that holds the package (site-packages when installed)
    "writer_process": [],
    # `arbiter init`: the example configs a user starts from
    "starter_configs": sorted((PACKAGE / "examples").rglob("*.toml")),
}


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=60
    )


def _excluded(rel: str) -> bool:
    """Left out of the wheel by `[tool.maturin] exclude` (or not named by a narrowing include)."""
    rules = PYPROJECT["tool"]["maturin"].get("exclude", [])
    return any(fnmatch(rel, r if isinstance(r, str) else r["path"]) for r in rules)


def _wheel_files() -> list[Path]:
    """What the wheel's package holds: the package tree's tracked, non-ignored files."""
    out = _git("ls-files", "--cached", "--others", "--exclude-standard", "--", str(PACKAGE))
    assert out.returncode == 0, out.stderr
    files = [ROOT / line for line in out.stdout.splitlines()]
    return [f for f in files if f.is_file() and not _excluded(str(f.relative_to(SOURCE)))]


def test_maturin_packs_the_package_tree() -> None:
    maturin = PYPROJECT["tool"]["maturin"]
    assert maturin["module-name"] == "arbiter._native"
    assert (SOURCE / "arbiter" / "__init__.py").is_file()
    assert "include" not in maturin  # nothing narrows or widens what the tree gives


@pytest.mark.parametrize("module", sorted(RUNTIME_FILES))
def test_every_runtime_file_is_in_the_wheel(module: str) -> None:
    wheel = set(_wheel_files())
    for path in RUNTIME_FILES[module]:
        path = path.resolve()
        assert path.is_relative_to(PACKAGE), f"{module} loads {path}, outside the package"
        assert path.is_file(), f"{module} loads {path}: missing"
        assert path in wheel, f"{module} loads {path}: ignored by git or excluded from the wheel"


def test_both_stores_ship_their_migrations() -> None:
    for backend in ("sqlite", "postgres"):
        assert _sql.load_migrations(backend), backend
    names = {p.parent.name for p in RUNTIME_FILES["store._sql"]}
    assert names == {"sqlite", "postgres"}


def test_the_dashboard_serves_every_asset_its_pages_reference() -> None:
    served = set(dashboard._TYPES)
    referenced: set[str] = set()
    for name in served:
        text = (PACKAGE / "ui" / name).read_text(encoding="utf-8")
        referenced |= set(re.findall(r"""(?:src|href)="/arbiter/ui/([\w.-]+)\"""", text))
        referenced |= set(re.findall(r"""from\s+"\./([\w.-]+)\"""", text))
    assert referenced, "no asset references found: the patterns no longer match the pages"
    assert referenced <= served, f"referenced, not served: {sorted(referenced - served)}"
    on_disk = {p.name for p in (PACKAGE / "ui").iterdir() if p.is_file()}
    assert on_disk == served, f"in ui/ but not served: {sorted(on_disk - served)}"


def _finds_files(tree: ast.AST) -> list[str]:
    """How a module reaches files by its own location: `__file__` or `importlib.resources`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "__file__":
            found.append("__file__")
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "files"
            and isinstance(node.value, ast.Name)
            and node.value.id == "resources"
        ):
            found.append("resources.files")
    return found


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def test_every_module_that_finds_files_is_listed() -> None:
    finders = {
        _module_name(p)
        for p in PACKAGE.rglob("*.py")
        if _finds_files(ast.parse(p.read_text(encoding="utf-8")))
    }
    assert finders == set(RUNTIME_FILES), (
        "a module finds files by its own location: list what it loads in RUNTIME_FILES"
    )


def test_no_module_reaches_outside_the_package_by_its_location() -> None:
    """`Path(__file__).parents[4] / "shared"` is the checkout's neighbour; installed it is
    nothing. One level up (the folder holding the package) is the only one allowed."""
    for p in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Subscript)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "parents"
            ):
                index = node.slice
                assert isinstance(index, ast.Constant) and index.value <= 1, (
                    f"{p.relative_to(ROOT)}:{node.lineno}: parents[...] beyond the package"
                )


# -- the entry points on what the wheel holds -----------------------------------------------

_CHILD = """
import sys
site = sys.argv[1]
# the checkout's source dirs (the editable install's .pth, PYTHONPATH) are gone
sys.path[:] = [site] + [p for p in sys.path[1:] if not __import__("os").path.isdir(p + "/arbiter")]
import arbiter
assert arbiter.__file__.startswith(site), arbiter.__file__
from arbiter.cli import main
from arbiter import dashboard, difficulty, priors, cascade
from arbiter.cache.verifier import Verifier
from arbiter.sandbox import python_runner
assert len(dashboard._load_assets()) == len(dashboard._TYPES)
for name in ("", *difficulty.SHIPPED[:1]):
    difficulty.load(name) if name else difficulty.load_default()
priors.load("builtin")
for spec in cascade.SHIPPED_VERIFIERS:
    cascade.configured_verifier(spec)
Verifier.load()
assert python_runner.HARNESS_SOURCE
commands = ["serve", "check-config", "migrate", "export", "sim", "demo", "keys", "replay", "init"]
for argv in [[c, "--help"] for c in commands] + [["--help"], ["keys", "create", "--help"]]:
    try:
        main(argv)
    except SystemExit as e:
        assert e.code in (0, None), (argv, e.code)
assert main(["init", "examples"]) == 0  # what the wheel ships, written where the user is
assert main(["init", "examples"]) == 1  # a second time: nothing overwritten
assert main(["check-config", "examples/arbiter.toml"]) == 0
assert main(["migrate", "--config", "examples/arbiter.toml"]) == 0
print("ok from", arbiter.__file__)
"""


def test_entry_points_run_from_what_the_wheel_holds(tmp_path: Path) -> None:
    site = tmp_path / "site"
    for f in _wheel_files():
        dest = site / f.relative_to(SOURCE)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
    natives = list(PACKAGE.glob("_native*.so"))
    assert natives, "the Rust extension is not built into python/arbiter"
    shutil.copy2(natives[0], site / "arbiter" / natives[0].name)
    user = tmp_path / "user"  # a user's directory: `arbiter init` writes the configs there
    user.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"SIM_API_KEY": "sk-sim", "ARBITER_ADMIN_KEY": "adm"}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(site)], cwd=user, env=env, capture_output=True,
        text=True, timeout=110, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"ok from {site}" in done.stdout
    assert (user / "examples" / "arbiter.db").is_file()  # migrated beside the config


# -- the project's metadata and its sdist ----------------------------------------------------

_APACHE_2 = ("Apache License", "Version 2.0, January 2004", "END OF TERMS AND CONDITIONS")


def test_metadata_names_the_readme_and_the_license_text() -> None:
    project = PYPROJECT["project"]
    assert project["readme"] == "README.md"
    assert project["license"] == "Apache-2.0"  # an SPDX expression (PEP 639)
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert all(part in text for part in _APACHE_2), "LICENSE is not the Apache-2.0 text"
    assert (ROOT / "README.md").is_file()


def test_the_sdist_holds_license_readme_and_example_configs(tmp_path: Path) -> None:
    maturin = shutil.which("maturin", path=str(Path(sys.executable).parent)) or shutil.which(
        "maturin"
    )
    assert maturin, "maturin (the build backend) is not installed next to this interpreter"
    built = subprocess.run(
        [maturin, "sdist", "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (archive,) = tmp_path.glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
        pkg_info = tar.extractfile(next(n for n in tar.getnames() if n.endswith("/PKG-INFO")))
        assert pkg_info is not None
        metadata = pkg_info.read().decode()
    examples = {str(p.relative_to(ROOT)) for p in RUNTIME_FILES["starter_configs"]}
    assert {"LICENSE", "README.md"} | examples <= names, sorted(
        ({"LICENSE", "README.md"} | examples) - names
    )
    assert "License-Expression: Apache-2.0" in metadata
    assert "License-File: LICENSE" in metadata
    assert "Description-Content-Type: text/markdown" in metadata
    assert "## Running the sidecar" in metadata  # the README is the long description


def test_init_writes_the_shipped_configs_and_never_overwrites(tmp_path: Path) -> None:
    from arbiter.cli import main

    target = tmp_path / "mine"
    assert main(["init", str(target)]) == 0
    written = {str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()}
    assert written == {str(p.relative_to(PACKAGE / "examples"))
                       for p in RUNTIME_FILES["starter_configs"]}  # fmt: skip
    assert {"arbiter.toml", "sim.toml"} <= written
    edited = target / "arbiter.toml"
    edited.write_text("# mine\n")
    assert main(["init", str(target)]) == 1  # the user's edit survives
    assert edited.read_text() == "# mine\n"
    assert main(["init", "--force", str(target)]) == 0
    assert edited.read_bytes() == starter_configs.shipped()["arbiter.toml"]


def test_the_checkouts_examples_are_the_shipped_ones() -> None:
    """`examples/` in a checkout (README, benches, tests name it) is the package's folder."""
    assert (ROOT / "examples").resolve() == (PACKAGE / "examples").resolve()
