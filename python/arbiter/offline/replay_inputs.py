"""What `arbiter replay` accepts from a user and what it promises back: the row format in
brief (--help), checks on flags before any work, and issue 17's report contract (every key
present, null with a note where the table cannot define it)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from arbiter.offline.outcome_table import Table
from arbiter.offline.replay import AIQ_KEYS, MIN_CURVE_ROWS, PGR_KEYS, parse_priors

ROW_FORMAT = """\
table format: JSON Lines (optionally gzipped), UTF-8, one prompt per line:
  {"id": "q-1", "task": "math", "messages": [{"role": "user", "content": "..."}],
   "outcomes": {"MODEL": {"quality": 1.0, "response": "...", "prompt_tokens": 31,
                          "completion_tokens": 76}, ...}}
  quality is a number in [0, 1] (rescale other scales first); missing token counts are
  estimated as ceil(characters / 4); a multi-turn row is routed on its first user turn and
  charged its recorded tokens (a cascade's check reads its whole response, every turn's
  answers); task may be missing (= chat). --models is a JSON list of
  {"id", "price_in_per_mtok", "price_out_per_mtok"}; models it does not list are ignored.
  Full format and the report's keys: README.md, "Replaying your own tables"."""


# [routing] keys the sidecar reads that a replay cannot model: no clock, no latency, no drift;
# and the routers' seed, which a replay takes from its own --seed (one per run of a sweep)
NOT_REPLAYED = ("latency_quantile", "change_false_alarms_per_100k", "seed")


def ignored_routing_keys(r: Any) -> list[str]:
    """The NOT_REPLAYED keys a [routing] section sets to other than their defaults."""
    from arbiter.config import RoutingSettings

    default = RoutingSettings()
    return [f"routing.{k}" for k in NOT_REPLAYED if getattr(r, k) != getattr(default, k)]


def with_contract_keys(doc: Mapping[str, Any], table: Table) -> dict[str, Any]:
    """The sweep report with every key others read from it (issue 17's contract): a metric the
    table cannot define is null, never absent, NaN or Infinity, and `notes` says why."""
    out = dict(doc)
    notes: list[str] = []
    if len(table.rows) < MIN_CURVE_ROWS:
        notes.append(
            "apgr, cpt*, apgr_cost, cpt*_cost_pct, aiq: null: one row, so each point of any "
            "router's curve is one of the two pure ends and these figures (APGR 0.5, CPT 50%) "
            "are fixed by construction, whatever the router; replay more rows"
        )
    elif len(table.models) != 2:
        notes.append(
            f"apgr, cpt50, cpt80, cpt*_usd, apgr_cost, cpt*_cost_pct, curve_cost: null: PGR "
            f"compares two models and this table has {len(table.models)}; read aiq"
        )
    elif out.get("apgr") is None:
        ends = out.get("baselines", {})
        base = ends.get("always_baseline", {}).get("quality")
        cheap = ends.get("always_cheapest", {}).get("quality")
        why = (
            "the cheapest model has the higher mean quality, so there is no gap for the "
            "baseline to recover (read aiq against aiq_hull)"
            if base is not None and cheap is not None and cheap > base
            else "the baseline and the cheapest model have the same mean quality, so there is "
            "no gap to recover"
        )
        notes.append(f"apgr, cpt*, apgr_cost, cpt*_cost_pct and every pgr: null: {why}")
    elif out.get("apgr_cost") is None:  # a gap on the call axis, none on the dollar axis
        notes.append(
            "apgr_cost, cpt50_cost_pct, cpt80_cost_pct: null: the baseline costs nothing on this "
            "table, so there is no all-baseline cost to take a share of (read the call axis)"
        )
    if out.get("aiq") is None and len(table.rows) >= MIN_CURVE_ROWS:
        notes.append(
            "aiq, aiq_hull, aiq_oracle: null: every model costs the same on this table, so "
            "there is no cost range to integrate quality over"
        )
    if out.get("controls") is None:
        notes.append("controls: null: --no-controls skipped the shuffled-labels and random runs")
    for key in (*PGR_KEYS, "curve_cost", *AIQ_KEYS, "controls"):
        out.setdefault(key, None)
    if notes:
        out["notes"] = [*out.get("notes", ()), *notes]
    return out


def with_left_out_models(
    doc: Mapping[str, Any], priced: Sequence[str], table: Table
) -> dict[str, Any]:
    """The report naming the priced models the replay left out (no outcome on every row): the
    figures are of a smaller pool than the models file lists, and the report says so, not only
    stderr."""
    kept = {m.id for m in table.models}
    left = [m for m in priced if m not in kept]
    if not left:
        return dict(doc)
    note = (
        f"models_left_out: {', '.join(left)}: priced in --models but without an outcome on "
        "every row (stderr says on how many), so not in this replay's pool"
    )
    return {**doc, "models_left_out": left, "notes": [*doc.get("notes", ()), note]}


def parse_knobs(text: str) -> list[float]:
    """--knobs: comma-separated finite numbers."""
    try:
        knobs = [float(k) for k in text.split(",")]
    except ValueError:
        raise ValueError(f"--knobs {text!r}: expected comma-separated numbers") from None
    if not all(math.isfinite(k) for k in knobs):
        raise ValueError(f"--knobs {text!r}: every knob must be a finite number")
    return knobs


def read_priors(path: Path | None) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    if path is None:
        return {}, {}
    try:
        doc = orjson.loads(path.read_bytes())
        if not isinstance(doc, dict):
            raise ValueError("expected a JSON object")
        quality, lengths = parse_priors(doc)
        if not all(0.0 <= v <= 1.0 for per in quality.values() for v in per.values()):
            raise ValueError("every prior is a quality in [0, 1]")
        return quality, lengths
    except (ValueError, KeyError, TypeError, AttributeError) as err:  # JSONDecodeError too
        raise ValueError(f"--priors {path}: not a priors file ({err})") from err


def flag_problem(args: argparse.Namespace) -> str | None:
    """A flag's value the replay cannot run with, said before any work."""
    for flag, value in (("--slope-var", args.slope_var), ("--prior-strength", args.prior_strength)):
        if value is not None and not 0.0 < value < math.inf:
            return f"{flag} must be a number > 0"
    if args.cascade_min_tokens < 0:
        return "--cascade-min-tokens must be >= 0"
    if args.difficulty not in ("default", "none") and not Path(args.difficulty).is_file():
        return f"--difficulty {args.difficulty}: no such file ('default' or 'none' otherwise)"
    if args.sweep_knob != "auto" and args.routing_config is None:
        return "--sweep-knob needs --routing-config (without it --sweep turns --objective's knob)"
    return None


def unwritable_output(*paths: Path | None) -> str | None:
    """Why one of the output paths cannot be written, asked before the replay runs."""
    for path in paths:
        if path is not None and not path.parent.is_dir():
            return f"{path}: the directory {path.parent} does not exist"
        if path is not None and path.is_dir():
            return f"{path}: is a directory"
    return None
