"""Recorded outcome tables (shared/data/routing/README.md): the format, read and split.

One row per prompt: its messages, a coarse task and, per model, the recorded answer, its quality
in [0, 1] and token counts; a models file gives each model's prices. `arbiter replay` and the
routing bench read tables through this module.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from arbiter.difficulty import prompt_stats, split_of
from arbiter.price import Priced

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ModelSpec(Priced):
    id: str
    price_in_per_mtok: float
    price_out_per_mtok: float


@dataclass(frozen=True, slots=True)
class Outcome:
    quality: float
    cost_usd: float
    response: str | None
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    task: str
    prompt: str
    prompt_tokens: int
    outcomes: Mapping[str, Outcome]
    stats: bytes | None = None  # difficulty.prompt_stats(prompt), set by load_table


@dataclass(frozen=True, slots=True)
class Table:
    rows: tuple[Row, ...]
    models: tuple[ModelSpec, ...]  # the models present in every row, in the models file's order

    def model_cost(self, model: str) -> float:
        return sum(r.outcomes[model].cost_usd for r in self.rows)

    def model_quality(self, model: str) -> float:
        return sum(r.outcomes[model].quality for r in self.rows) / len(self.rows)


@dataclass(frozen=True, slots=True)
class RecordedOutcome:
    """One model's recorded answer to one prompt, as the table states it."""

    quality: float
    response: str | None
    prompt_tokens: int  # 0 where the table does not say
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class RecordedRow:
    """One line of a table: its prompt (OpenAI chat messages, as recorded) and outcomes."""

    id: str
    task: str
    messages: Any
    outcomes: Mapping[str, RecordedOutcome]


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def load_models(path: Path) -> list[ModelSpec]:
    """A models file (`{"models": [...]}` or a bare list): id and prices per model. Raises
    OSError when unreadable and ValueError when it is not a models file."""
    try:
        doc = orjson.loads(_read_bytes(Path(path)))
    except orjson.JSONDecodeError as err:
        raise ValueError(f"{path}: not JSON ({err})") from err
    items = doc.get("models") if isinstance(doc, dict) else doc
    if not isinstance(items, list) or not items:
        raise ValueError(f"{path}: expected a non-empty 'models' list")
    models = []
    for i, m in enumerate(items):
        try:
            models.append(
                ModelSpec(
                    str(m["id"]), float(m["price_in_per_mtok"]), float(m["price_out_per_mtok"])
                )
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}: models[{i}] needs id and prices ({err!r})") from err
    return models


def read_rows(path: Path) -> list[RecordedRow]:
    """Every row of a JSONL(.gz) outcome table, in file order. Raises OSError / EOFError when
    the file is unreadable and ValueError (naming the line) when a row is not in the format."""
    rows = []
    for n, line in enumerate(_read_bytes(Path(path)).splitlines(), start=1):
        if line.strip():
            try:
                rows.append(_row(orjson.loads(line)))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as err:
                raise ValueError(f"{path}:{n}: {err}") from err
    return rows


def _row(raw: Any) -> RecordedRow:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("outcomes"), Mapping):
        raise ValueError("a row needs messages and outcomes")
    outcomes = {}
    for model, o in raw["outcomes"].items():
        if not isinstance(o, Mapping):
            raise ValueError(f"outcome of {model!r} is not an object")
        response = o.get("response")
        outcomes[str(model)] = RecordedOutcome(
            float(o["quality"]),
            response if isinstance(response, str) else None,
            int(o.get("prompt_tokens") or 0),
            int(o.get("completion_tokens") or 0),
        )
    task = str(raw.get("task") or "chat")
    return RecordedRow(str(raw.get("id", "")), task, raw.get("messages"), outcomes)


def prompt_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text the router sees: every message's string content, joined by blank lines."""
    parts = [m.get("content") for m in messages]
    return "\n\n".join(p for p in parts if isinstance(p, str))


def load_table(path: Path, models: Sequence[ModelSpec]) -> Table:
    """Parse a JSONL(.gz) outcome table; keeps the models that have an outcome in every row."""
    specs = {m.id: m for m in models}
    raw = read_rows(path)
    if not raw:
        raise ValueError(f"{path}: the table is empty")
    present = [m.id for m in models if all(m.id in r.outcomes for r in raw)]
    missing = sorted({k for r in raw for k in r.outcomes} - set(specs))
    if missing:
        log.warning("models without prices are ignored: %s", ", ".join(missing))
    if not present:
        raise ValueError(f"{path}: no priced model has an outcome on every row")
    rows = []
    for r in raw:
        text = prompt_text(r.messages)
        estimate = -(-len(text) // 4)  # the table's own rule: ceil(characters / 4)
        outs: dict[str, Outcome] = {}
        for name in present:
            o = r.outcomes[name]
            p_tok = o.prompt_tokens or estimate
            cost = specs[name].cost_usd(p_tok, o.completion_tokens)
            outs[name] = Outcome(o.quality, cost, o.response, o.completion_tokens)
        p_tokens = r.outcomes[present[0]].prompt_tokens or estimate
        rows.append(Row(r.id, r.task, text, p_tokens, outs, prompt_stats(text)))
    return Table(tuple(rows), tuple(specs[n] for n in present))


def default_baseline(table: Table) -> str:
    return max(table.models, key=lambda m: (table.model_cost(m.id), m.id)).id


def cheapest_model(table: Table) -> str:
    return min(table.models, key=lambda m: (table.model_cost(m.id), m.id)).id


def select_split(table: Table, split: str) -> Table:
    """The rows of one split of `difficulty.split_of`: "all", "train" (every row the difficulty
    model was fitted on: train and validation buckets) or "heldout"."""
    if split == "all":
        return table
    want_heldout = split == "heldout"  # "train" = every row the model was fitted on
    rows = tuple(r for r in table.rows if (split_of(r.id) == "heldout") == want_heldout)
    if not rows:
        raise ValueError(f"no rows in split {split!r}")
    return Table(rows, table.models)


def shuffled_labels(table: Table, seed: int) -> Table:
    """The control: each row keeps its prompt, answers and costs, but takes the quality labels
    of another row (all models' labels move together, a seeded permutation). A router's gain
    that survives this is not quality prediction: it comes from cost (which prompt is cheap
    where), or from luck the random baseline also has."""
    import random
    from dataclasses import replace

    order = list(range(len(table.rows)))
    random.Random(seed).shuffle(order)
    rows = []
    for r, j in zip(table.rows, order, strict=True):
        donor = table.rows[j].outcomes
        outs = {m: replace(o, quality=donor[m].quality) for m, o in r.outcomes.items()}
        rows.append(replace(r, outcomes=outs))
    return Table(tuple(rows), table.models)
