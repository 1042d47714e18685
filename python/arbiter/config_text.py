"""A config file's text, read strictly, and where in it a TOML error is: shared by the sidecar's
config (config.py) and a routing file (routing_file.py)."""

from __future__ import annotations

from pathlib import Path

from arbiter.errors import ConfigError
from arbiter.regular_file import read_regular


def toml_error_line(err: Exception, text: str) -> str:
    """`:N`, the line tomllib's error is at, like the parser's other messages (file:line).
    "At end of document" (a file cut short mid-statement, an editor's half-written save):
    its last line, which tomllib's message does not give."""
    msg = str(err)
    if msg.endswith("(at end of document)"):
        return f":{text.count(chr(10)) + (0 if text.endswith(chr(10)) else 1)}"
    _, sep, tail = msg.rpartition("(at line ")
    number = tail.partition(",")[0]
    return f":{number}" if sep and number.isdigit() else ""


def read_config_text(path: Path) -> str:
    """A config file's text, or a ConfigError saying why not (unreadable, not UTF-8, a BOM:
    tomllib reads a leading byte order mark, which Windows editors write, as a bad statement)."""
    try:
        text = read_regular(path).decode("utf-8")  # a FIFO would block a reload for good
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start}): TOML is UTF-8") from err
    if text.startswith("\ufeff"):
        raise ConfigError(
            f"{path}: starts with a byte order mark (BOM): save it as UTF-8 without one"
        )
    return text
