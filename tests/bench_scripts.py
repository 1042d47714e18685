"""Tests that run a benchmark's scenario load the script from bench/ once, by file name."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"


def load(script: str) -> ModuleType:
    """bench/<script>.py as a module (cached in sys.modules: dataclasses look it up there)."""
    name = f"bench_{script}"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, BENCH_DIR / f"{script}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module
