"""A file written whole or not at all: `arbiter export --out PATH` writes beside PATH and renames
over it only once every row is written, so a Ctrl-C, a full disk or a store that fails
mid-export leaves PATH as it was (a previous export intact, or no file) and no partial file
behind, instead of a truncated export that reads as a complete one. A PATH that exists and is
no regular file (/dev/stdout, a FIFO) is written directly: there is nothing to rename over."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import IO


@contextlib.contextmanager
def whole_file(path: str) -> Iterator[IO[str]]:
    """`path` opened for text writing (UTF-8, newlines as written); in place on success."""
    if os.path.exists(path) and not os.path.isfile(path):  # (both follow links)
        with open(path, "w", encoding="utf-8", newline="") as out:
            yield out
        return
    target = os.path.realpath(path)  # a link's target is replaced, not the link
    partial = f"{target}.partial-{os.getpid()}"
    # the mode open() would give (0666 less the umask), refused if the name is taken
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(fd, "w", encoding="utf-8", newline="") as out:
            yield out
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
