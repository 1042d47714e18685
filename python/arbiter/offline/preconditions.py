"""What an offline command (`python -m arbiter.offline.train_*`) needs before it starts, checked
first so a user who installed the package gets one line saying what to do, not a traceback after
minutes of work: an optional package (the `train` extra's torch and onnx are not installed with
Arbiter) and the data folder (the project's `../shared`, which is no part of the package)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def require(module: str, extra: str, what: str) -> None:
    """Exit with how to install `module` when it is missing (`pip install 'arbiter[extra]'`)."""
    if importlib.util.find_spec(module) is None:
        raise SystemExit(f"{what} needs {module}: pip install 'arbiter[{extra}]'")


def shared_dir() -> Path:
    """The project's shared data: $ARBITER_SHARED_DIR, else `../shared` from the working
    directory (a checkout's root, where these commands are documented). Never found from this
    file's own place: installed, that is site-packages."""
    return Path(os.environ.get("ARBITER_SHARED_DIR") or "../shared")


def routing_tables() -> Path:
    """The default `--data` of the routing trainers: the shared outcome tables."""
    return shared_dir() / "data" / "routing"


def data_folder(path: Path, *names: str) -> Path:
    """`path` when it holds every file in `names`; else exit naming the first missing one."""
    for name in names:
        if not (path / name).is_file():
            raise SystemExit(
                f"no {name} under {path}: pass --data DIR (the outcome tables of "
                "../shared/data/routing) or set ARBITER_SHARED_DIR"
            )
    return path
