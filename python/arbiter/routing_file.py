"""A `[routing]` section read on its own (`arbiter replay --routing-config`): parsed and checked
exactly as the sidecar's config.load does, from a whole sidecar config or a file with only it."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path

from arbiter.config import RoutingSettings
from arbiter.config_checks import check_routing
from arbiter.config_parse import _build, _Locator, _table
from arbiter.config_paths import anchor_routing_files
from arbiter.config_text import read_config_text, toml_error_line
from arbiter.errors import ConfigError
from arbiter.toml_depth import NestedTooDeeply, load_toml


def load_routing(path: str | Path, models: Sequence[str]) -> RoutingSettings:
    """Only the `[routing]` section of a TOML file (a whole sidecar config or just that section),
    parsed and checked exactly as the sidecar does; `models` stands in for the [models] the
    routing keys name (`arbiter replay --routing-config`: the table's models). Other sections
    are not read. Raises ConfigError with key and line."""
    return read_routing(path, models)[0]


def read_routing(path: str | Path, models: Sequence[str]) -> tuple[RoutingSettings, list[str]]:
    """`load_routing`, and the names of the file's other sections (not read: a caller that
    replays only [routing] says so)."""
    path = Path(path)
    text = read_config_text(path)
    try:
        raw = load_toml(text)
    except (tomllib.TOMLDecodeError, NestedTooDeeply) as err:
        # file:line, as the sidecar's config says it (its editor jumps there)
        raise ConfigError(f"{path}{toml_error_line(err, text)}: invalid TOML: {err}") from err
    loc = _Locator(text, str(path))
    if "routing" not in raw:
        raise ConfigError(f"{path}: no [routing] section")
    built: RoutingSettings | None = _build(
        RoutingSettings, _table(raw["routing"], ["routing"], loc), ["routing"], loc
    )
    loc.raise_problems()
    assert built is not None  # RoutingSettings has no required key: None only with problems
    r = anchor_routing_files(built, path.resolve().parent)
    known = dict.fromkeys(models)
    if r.baseline and r.baseline not in known:
        raise ConfigError(f"{loc.where(['routing', 'baseline'])}: unknown model {r.baseline!r}")
    if r.judge_model is not None and r.judge_model not in known:
        raise ConfigError(
            f"{loc.where(['routing', 'judge_model'])}: unknown model {r.judge_model!r}"
        )
    check_routing(loc, r, known)
    loc.raise_problems()  # every problem at once, as the sidecar's own loads does
    return r, sorted(k for k in raw if k != "routing")
