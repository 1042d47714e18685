"""`arbiter init [DIR]`: write the example configs a user starts from.

They ship inside the package (`arbiter/examples/`: arbiter.toml, sim.toml, routing/*.toml), so an
installed wheel has them; a checkout's top-level `examples/` is a link to the same folder. A file
already in DIR is never overwritten unless asked (`force`): it may be the user's edited config.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

EXAMPLES = resources.files("arbiter") / "examples"


class WouldOverwrite(Exception):
    """Some files already exist in the target folder (their paths, relative to it)."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__(", ".join(paths))
        self.paths = paths


def shipped() -> dict[str, bytes]:
    """The shipped example configs: path relative to the examples folder -> content."""
    found: dict[str, bytes] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            elif entry.name.endswith(".toml"):
                found[prefix + entry.name] = entry.read_bytes()

    walk(EXAMPLES, "")
    return found


def write(target: Path, *, force: bool = False) -> list[Path]:
    """Write every shipped config under `target` (created if missing); the paths written.
    Raises WouldOverwrite (writing nothing) when some exist and `force` is false."""
    files = shipped()
    if not force:
        existing = [rel for rel in files if (target / rel).exists()]
        if existing:
            raise WouldOverwrite(existing)
    written = []
    for rel, content in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(path)
    return written
