"""Recorded outcome tables (shared/data/routing/README.md): the format, read and split.

One row per prompt: its messages, a coarse task and, per model, the recorded answer, its quality
in [0, 1] and token counts; a models file gives each model's prices. `arbiter replay` and the
routing bench read tables through this module.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

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
    # what a judge reading this answer's text finds: its own label, kept when a control moves
    # `quality` to another row (shuffled_labels), since a live judge reads the text, not the label
    text_quality: float | None = None

    def judged(self) -> float:
        return self.quality if self.text_quality is None else self.text_quality


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
    prompt_tokens: int  # where the table does not say: estimated from the messages
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class RecordedRow:
    """One line of a table: its prompt (OpenAI chat messages, as recorded) and outcomes."""

    id: str
    task: str
    messages: Any
    outcomes: Mapping[str, RecordedOutcome]


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when gzip's magic says so, without a leading UTF-8 BOM (Windows
    editors write one). A damaged gzip stream is a ValueError naming the file."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as err:
            raise ValueError(f"{path}: not a complete gzip file (truncated?): {err}") from err
    return data.removeprefix(b"\xef\xbb\xbf")


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
    models: list[ModelSpec] = []
    for i, m in enumerate(items):
        try:
            prices = (m["price_in_per_mtok"], m["price_out_per_mtok"])
            spec = ModelSpec(str(m["id"]), *(float(p) for p in prices))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}: models[{i}] needs id and prices ({err!r})") from err
        # JSON numbers only, as the sidecar's config takes prices: a string ("10") or a boolean
        # (true, which float() reads as $1) is a mistake in the file, not a price to guess at
        numbers = all(isinstance(p, int | float) and not isinstance(p, bool) for p in prices)
        if not numbers or not all(
            0.0 <= p < float("inf") for p in (spec.price_in_per_mtok, spec.price_out_per_mtok)
        ):
            raise ValueError(
                f"{path}: models[{i}] ({spec.id!r}): prices must be numbers >= 0, not "
                f"{prices[0]!r} and {prices[1]!r}"
            )
        if any(s.id == spec.id for s in models):
            raise ValueError(f"{path}: models[{i}]: {spec.id!r} is listed twice")
        models.append(spec)
    return models


def _lines(path: Path) -> Iterator[bytes]:
    """The file's lines, read as a stream (a 200,000-row table is never held whole, nor a second
    time as a list of lines): gunzipped when gzip's magic says so, a leading UTF-8 BOM dropped,
    "\r\n" and a lone "\r" ending a line as bytes.splitlines() has them (a raw CR cannot occur
    inside a JSON line). A damaged gzip stream is a ValueError naming the file."""
    with Path(path).open("rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if gz else raw  # type: ignore[assignment]
        first = True
        try:
            for line in stream:
                if first:
                    line, first = line.removeprefix(b"\xef\xbb\xbf"), False
                line = line.removesuffix(b"\n").removesuffix(b"\r")
                yield from line.split(b"\r") if b"\r" in line else (line,)
        except (EOFError, OSError, zlib.error) as err:
            if not gz:  # a plain file's read error is the disk's, said as such by the caller
                raise
            raise ValueError(f"{path}: not a complete gzip file (truncated?): {err}") from err


def iter_rows(path: Path) -> Iterator[RecordedRow]:
    """The rows of a JSONL(.gz) outcome table, in file order, one at a time. Raises OSError when
    the file is unreadable and ValueError (naming the line) when the file or a row is not in the
    format."""
    first_line: dict[str, int] = {}
    estimated = 0
    for n, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        try:
            row, guessed = _row(_json_line(line))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}:{n}: {err}") from err
        if row.id in first_line:
            raise ValueError(
                f"{path}:{n}: id {row.id!r} is also on line {first_line[row.id]}: "
                "ids must be unique within a table"
            )
        first_line[row.id] = n
        estimated += guessed
        yield row
    if estimated:
        log.warning(
            "%s: %d token counts (prompt_tokens, completion_tokens) missing: estimated as "
            "ceil(characters / 4), the format's rule",
            path,
            estimated,
        )


def read_rows(path: Path) -> list[RecordedRow]:
    """Every row of a JSONL(.gz) outcome table, in file order (`iter_rows`, kept)."""
    return list(iter_rows(path))


# a whole table saved as one JSON array (pretty-printed or not) is the likeliest wrong shape
_NOT_AN_ARRAY = (
    "; this is a JSON array, and tables are JSON Lines: one row object per line "
    "(jq -c '.[]' table.json > table.jsonl)"
)


def _json_line(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as err:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise ValueError(
                f"not UTF-8 (byte {bad.start} of the line): tables are UTF-8 JSON Lines"
            ) from None
        if b"NaN" in line or b"Infinity" in line:
            raise ValueError(
                f"not JSON ({err}): NaN and Infinity are not JSON numbers, and every "
                "quality must be a number in [0, 1]"
            ) from None
        if line.lstrip().startswith(b"["):
            raise ValueError(f"not a JSON object: {err}{_NOT_AN_ARRAY}") from None
        raise ValueError(f"not a JSON object: {err} (tables are JSON Lines)") from None


def _row(raw: Any) -> tuple[RecordedRow, int]:
    """One parsed line -> (the row, how many of its token counts were estimated)."""
    if not isinstance(raw, Mapping):
        array = _NOT_AN_ARRAY if isinstance(raw, list) else ""
        raise ValueError(f"a row must be a JSON object with id, messages and outcomes{array}")
    outcomes_raw = raw.get("outcomes")
    if not isinstance(outcomes_raw, Mapping) or not outcomes_raw:
        raise ValueError("`outcomes` must be an object with one entry per model")
    row_id = raw.get("id")
    if isinstance(row_id, bool) or not isinstance(row_id, str | int) or row_id == "":
        raise ValueError(f"`id` must be a non-empty string, not {row_id!r}")
    messages = _messages(raw.get("messages"))
    task = raw.get("task")
    if task is not None and (not isinstance(task, str) or not task.strip()):
        raise ValueError(f"`task` must be a string or null, not {task!r}")
    prompt_estimate = sum(_estimate(message_text(m)) for m in messages)
    outcomes = {}
    estimated = 0
    for model, o in outcomes_raw.items():
        if not isinstance(o, Mapping):
            raise ValueError(f"outcome of {model!r} is not an object")
        at = f"outcomes[{model!r}]"
        response = o.get("response")
        if response is not None and not isinstance(response, str):
            raise ValueError(f"{at}.response must be a string or null")
        p_tok = _count(o.get("prompt_tokens"), f"{at}.prompt_tokens")
        c_tok = _count(o.get("completion_tokens"), f"{at}.completion_tokens")
        estimated += (p_tok is None) + (c_tok is None)
        outcomes[str(model)] = RecordedOutcome(
            _quality(o.get("quality"), f"{at}.quality"),
            response,
            prompt_estimate if p_tok is None else p_tok,
            _estimate(response or "") if c_tok is None else c_tok,
        )
    row = RecordedRow(str(row_id), task.strip() if task else "chat", messages, outcomes)
    return row, estimated


def _messages(value: Any) -> list[Mapping[str, Any]]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(m, Mapping) and isinstance(m.get("role"), str) for m in value)
    ):
        raise ValueError(
            '`messages` must be a non-empty list of chat messages ({"role": ..., "content": ...})'
        )
    if not any(m["role"] == "user" for m in value):
        raise ValueError("`messages` has no user message to route")
    return value


def _quality(value: Any, at: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(
            f"{at} is {value!r}: every outcome needs a quality, a number in [0, 1] (leave out a "
            "row whose answers were not all graded)"
        )
    if not 0.0 <= value <= 1.0:  # also catches an orjson-parsed 1e999 (inf)
        raise ValueError(
            f"{at} is {value!r}: quality must be in [0, 1]; rescale scores on another scale "
            "first (a 1-10 judge score s, as MT Bench's: (s - 1) / 9)"
        )
    return float(value)


def _count(value: Any, at: str) -> int | None:
    """A token count: a whole number >= 0, or None when the table does not say."""
    if value is None:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not 0 <= value < 2**53 or value != int(value):
        raise ValueError(f"{at} is {value!r}: a token count is a whole number >= 0")
    return int(value)


def _estimate(text: str) -> int:
    return -(-len(text) // 4)  # the format's rule: ceil(characters / 4)


def message_text(message: Mapping[str, Any]) -> str:
    """A message's text: its string content, or the text of its content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, Mapping)]
        return "\n".join(t for t in texts if isinstance(t, str))
    return ""


def first_turn(messages: Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
    """The messages up to and including the first user message: what the first request of a
    multi-turn row (MT Bench's two turns) sends, and so what the replay routes on, as RouteLLM
    does. The row's quality and token counts cover every turn, as the table records them."""
    for i, m in enumerate(messages):
        if m.get("role") == "user":
            return messages[: i + 1]
    return messages


def prompt_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text the router sees: every message's text, joined by blank lines."""
    return "\n\n".join(t for t in map(message_text, messages) if t)


def load_table(path: Path, models: Sequence[ModelSpec]) -> Table:
    """Parse a JSONL(.gz) outcome table; keeps the models that have an outcome in every row.

    Each row is routed on its first turn (`first_turn`) and charged its recorded tokens (all
    turns). A priced model missing from some rows, or from all, is left out with a warning.
    The file is read as a stream and each line becomes its row at once (no parsed copy of the
    whole table beside the rows): memory is the rows' own, whatever the file's size.
    """
    specs = {m.id: m for m in models}
    rows: list[Row] = []
    lacking: dict[str, list[str]] = {m.id: [] for m in models}  # first ids, for the warning
    lacking_n = dict.fromkeys(specs, 0)
    unpriced: set[str] = set()
    # one-turn rows whose priced models recorded different prompt_tokens: which count the row
    # takes depends on the first model kept, known only at the end (rare: one prompt, one count)
    disputed: dict[int, dict[str, int]] = {}
    for r in iter_rows(path):
        for name in specs:
            if name not in r.outcomes:
                lacking_n[name] += 1
                if len(lacking[name]) < 4:
                    lacking[name].append(r.id)
        unpriced.update(k for k in r.outcomes if k not in specs)
        turn = first_turn(r.messages)
        text = prompt_text(turn)
        outs: dict[str, Outcome] = {}
        for name, spec in specs.items():
            o = r.outcomes.get(name)
            if o is not None:
                cost = spec.cost_usd(o.prompt_tokens, o.completion_tokens)
                outs[name] = Outcome(o.quality, cost, o.response, o.completion_tokens)
        # what the router counts before the first call: the recorded count of a one-turn row,
        # the first turn's estimate of a longer one (its recorded count covers every turn)
        if len(turn) == len(r.messages):
            counts = {n: r.outcomes[n].prompt_tokens for n in specs if n in r.outcomes}
            p_tokens = next(iter(counts.values()), 0)
            if len(set(counts.values())) > 1:
                disputed[len(rows)] = counts
        else:
            p_tokens = sum(_estimate(message_text(m)) for m in turn)
        rows.append(Row(r.id, r.task, text, p_tokens, outs, prompt_stats(text)))
    if not rows:
        raise ValueError(f"{path}: the table is empty")
    present = [m.id for m in models if lacking_n[m.id] == 0]
    for m in models:
        if lacking_n[
            m.id
        ]:  # name a few rows: the outsider's fix is to grade them or leave them out
            ids = lacking[m.id]
            shown = ", ".join(repr(i) for i in ids[:3]) + (", ..." if lacking_n[m.id] > 3 else "")
            log.warning(
                "%s: model %r has no outcome on %d of %d rows (ids %s): left out of the replay; "
                "to keep it, leave those rows out of the table or add their outcomes",
                path, m.id, lacking_n[m.id], len(rows), shown,
            )  # fmt: skip
    if unpriced:
        log.warning("models without prices are ignored: %s", ", ".join(sorted(unpriced)))
    if not present:
        raise ValueError(f"{path}: no priced model has an outcome on every row")
    if len(present) < len(specs):  # keep only the models every row has, in the file's order
        rows = [replace(r, outcomes={n: r.outcomes[n] for n in present}) for r in rows]
    for i, counts in disputed.items():
        rows[i] = replace(rows[i], prompt_tokens=counts[present[0]])
    return Table(tuple(rows), tuple(specs[n] for n in present))


def default_baseline(table: Table) -> str:
    """The most expensive model; among equally expensive ones (free self-hosted models, equal
    prices) the best on the table, not the last by name: which model is the strong end must not
    depend on what the models are called."""
    return _end(table, max)


def cheapest_model(table: Table) -> str:
    """The cheapest model; among equally cheap ones the weakest (the other end from
    `default_baseline` when every model costs the same)."""
    return _end(table, min)


def _end(table: Table, pick: Any) -> str:
    cost = {m.id: table.model_cost(m.id) for m in table.models}
    at = pick(cost.values())
    tied = [m for m in cost if cost[m] == at]
    if len(tied) == 1 or not table.rows:  # no rows (a config check's empty table): by name
        return str(pick(tied))
    return str(pick(tied, key=lambda m: (table.model_quality(m), m)))


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

    order = list(range(len(table.rows)))
    random.Random(seed).shuffle(order)
    rows = []
    for r, j in zip(table.rows, order, strict=True):
        donor = table.rows[j].outcomes
        outs = {m: replace(o, quality=donor[m].quality, text_quality=o.judged())
                for m, o in r.outcomes.items()}  # fmt: skip
        rows.append(replace(r, outcomes=outs))
    return Table(tuple(rows), table.models)
