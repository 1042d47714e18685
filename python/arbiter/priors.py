"""Warm-start priors for `arbiter serve`: which quality to expect of a model before any live grade.

`routing.priors_file` names a file in `arbiter replay --write-priors`'s format (`{"quality": {model:
{task: p}}, "output_length": {...}}`, or a bare model -> task -> p map), optionally with `families`:
rules that give every model whose name matches a family that family's priors. "builtin" loads the
shipped `models/priors.json` (public benchmark results per model family; see models/PRIORS.md),
"" loads nothing. A file's own families are tried before the shipped ones.

Task names are the classifier's (`classify.ALL_TASKS`) or the recorded routing tables'
(`knowledge`, `open-ended`); any other is refused by name (a misspelt one was never read).

A model's prior per task, first found wins: its `[models.X.priors]` (and admin patches), the file's
exact entry for its name, the first family (in file order) one of whose globs matches its name.
Names are matched lowercased, without a provider prefix (everything up to the last `/`), with
`listing.glob_match` (no regex). Priors are pseudo-counts (`routing.prior_strength`) on the Beta
posterior, so live grades outweigh them as they arrive (routing.Router.posterior).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from arbiter.classify import ALL_TASKS
from arbiter.errors import ConfigError
from arbiter.listing import glob_match
from arbiter.output_length import LengthPrior

BUILTIN = "builtin"
MAX_FILE_BYTES = 16 * 1024 * 1024
# the recorded routing tables' own tasks (MMLU's, AlpacaEval's: ../shared/data/routing), which
# `arbiter replay` reads priors for and the shipped file carries; serve's classifier gives ALL_TASKS
RECORDED_TASKS = ("knowledge", "open-ended")
KNOWN_TASKS = frozenset((*ALL_TASKS, *RECORDED_TASKS))


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    match: tuple[str, ...]  # lowercase globs over the name without its provider prefix
    quality: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class PriorBook:
    models: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    families: tuple[Family, ...] = ()
    lengths: Mapping[str, LengthPrior] = field(default_factory=dict)

    def family_of(self, name: str) -> Family | None:
        key = match_key(name)
        for fam in self.families:
            if any(glob_match(g, key) for g in fam.match):
                return fam
        return None

    def for_model(self, name: str, upstream_model: str = "") -> dict[str, float]:
        """Task -> prior for a model: the exact entry over its family's (both may be empty)."""
        fam = self.family_of(name) or (self.family_of(upstream_model) if upstream_model else None)
        exact = self.models.get(name) or self.models.get(upstream_model) or {}
        return {**(fam.quality if fam else {}), **exact}


def match_key(name: str) -> str:
    return name.rsplit("/", 1)[-1].lower()


def load(spec: str) -> PriorBook:
    """The priors `routing.priors_file` names; raises ConfigError naming what is wrong."""
    if spec == "":
        return PriorBook()
    builtin = parse(_read_builtin(), "the shipped priors")
    if spec == BUILTIN:
        return builtin
    try:
        raw = Path(spec).read_bytes()
    except OSError as err:
        raise ConfigError(f"routing.priors_file: cannot read {spec}: {err.strerror}") from err
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"routing.priors_file: {spec} is over {MAX_FILE_BYTES} bytes")
    own = parse(raw, spec)
    return PriorBook(own.models, own.families + builtin.families, own.lengths)


def _read_builtin() -> bytes:
    return resources.files("arbiter").joinpath("models/priors.json").read_bytes()


def parse(raw: bytes, where: str) -> PriorBook:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise ConfigError(f"routing.priors_file: {where} is not JSON: {err}") from err
    if not isinstance(doc, dict):
        raise ConfigError(f"routing.priors_file: {where} must be a JSON object")
    shaped = any(k in doc for k in ("quality", "output_length", "families"))
    quality = doc.get("quality", {}) if shaped else doc
    models = {
        str(m): _quality(per, f"{where}: quality.{m}") for m, per in _obj(quality, where).items()
    }
    families = []
    listed = doc.get("families", []) if shaped else []
    if not isinstance(listed, list):  # a number or null crashed serve (TypeError)
        raise ConfigError(f"routing.priors_file: {where}: families must be a list of rules")
    for i, fam in enumerate(listed):
        at = f"{where}: families[{i}]"
        if not isinstance(fam, dict) or not isinstance(fam.get("match"), list):
            raise ConfigError(f"routing.priors_file: {at} needs a `match` list of globs")
        for j, g in enumerate(fam["match"]):  # one skipped silently left its priors unused
            if not isinstance(g, str) or not g:
                raise ConfigError(f"routing.priors_file: {at}.match[{j}] must be a glob string")
        if not fam["match"]:
            raise ConfigError(f"routing.priors_file: {at} needs a `match` list of globs")
        globs = tuple(g.lower() for g in fam["match"])
        families.append(Family(str(fam.get("family", i)), globs, _quality(fam.get("quality"), at)))
    try:
        lengths = {
            str(m): LengthPrior.from_json(p)
            for m, p in _obj(doc.get("output_length", {}) if shaped else {}, where).items()
        }
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"routing.priors_file: {where}: bad output_length: {err}") from err
    return PriorBook(models, tuple(families), lengths)


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"routing.priors_file: {where}: expected an object")
    return value


def _quality(value: Any, where: str) -> dict[str, float]:
    out = {}
    for task, p in _obj(value, where).items():
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
            raise ConfigError(f"routing.priors_file: {where}.{task} must be a number in [0, 1]")
        if task not in KNOWN_TASKS:  # a misspelt task's prior was never read, silently
            raise ConfigError(
                f"routing.priors_file: {where}.{task} is no task: the classifier's are "
                f"{', '.join(ALL_TASKS)}; the recorded tables' {', '.join(RECORDED_TASKS)}"
            )
        out[str(task)] = float(p)
    return out
