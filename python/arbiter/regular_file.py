"""Read a file the config names (the config itself, a key file) only if it is a regular file.
`open()` on a FIFO blocks until a writer comes (forever, if none does), and so would a reload's
read: the reload lock held for good, every later reload waiting behind it. Opened without
blocking, then checked: a FIFO, a device or a directory is an error naming what it is."""

from __future__ import annotations

import os
import stat


def read_regular(path: str | os.PathLike[str], limit: int = -1) -> bytes:
    """The file's bytes (at most `limit`: -1, all); OSError when it is not a regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(0, "not a regular file (a directory, FIFO or device)")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as f:
            fd = -1  # the file object owns it now
            return f.read(limit)
    finally:
        if fd >= 0:
            os.close(fd)
