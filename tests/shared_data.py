"""Where the tests find ../shared (specs, routing tables), and what they do when it is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# ../shared beside the checkout; ARBITER_SHARED_DIR points elsewhere (e.g. from a git worktree)
SHARED = Path(
    os.environ.get("ARBITER_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared"
)
ROUTING = SHARED / "data" / "routing"


def require_shared(path: Path) -> None:
    """Skip when shared data is missing, except in CI (CI=true), where a missing file is a
    failure: a check that silently stops running is worse than one that fails."""
    if path.exists():
        return
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"shared data missing in CI: {path}")
    pytest.skip(f"shared data not found at {path}")
