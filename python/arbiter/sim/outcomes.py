"""Serving a recorded outcome table: the pool's models answer known prompts with recorded replies.

Reads the gzip JSONL tables and models files described in shared/data/routing/README.md. A prompt
matches a row by a hash of its messages' contents (or, failing that, of its last user message).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from arbiter.errors import ConfigError
from arbiter.sim.config import ModelProfile

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Recorded:
    row_id: str
    task: str
    response: str
    quality: float
    usage: tuple[int, int]  # (prompt_tokens, completion_tokens) as recorded

    def headers(self) -> dict[str, str]:
        return {"x-sim-quality": repr(self.quality), "x-sim-row-id": self.row_id}


@dataclass(frozen=True, slots=True)
class TableModel:
    name: str
    price_in_per_mtok: float
    price_out_per_mtok: float


def content_key(contents: Iterable[str]) -> bytes:
    """The match key of a list of message contents."""
    h = hashlib.sha256()
    for text in contents:
        h.update(text.encode())
        h.update(b"\x1e")
    return h.digest()


def _contents(messages: Any) -> list[str]:
    out: list[str] = []
    if not isinstance(messages, list):
        return out
    for m in messages:
        if not isinstance(m, Mapping):
            continue
        value = m.get("content")
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, list):
            out.append("".join(str(p.get("text", "")) for p in value if isinstance(p, Mapping)))
    return out


def _last_user(messages: Any) -> str | None:
    if not isinstance(messages, list):
        return None
    for m in reversed(messages):
        if isinstance(m, Mapping) and m.get("role") == "user" and isinstance(m.get("content"), str):
            return str(m["content"])
    return None


class OutcomeTable:
    """Rows indexed by message hash; `lookup` gives one model's recorded outcome."""

    def __init__(self, models: list[TableModel], rows: dict[bytes, dict[str, Recorded]]) -> None:
        self.models = models
        self._rows = rows
        self._by_last_user: dict[bytes, dict[str, Recorded]] = {}

    @classmethod
    def load(cls, table_path: str | Path, models_path: str | Path) -> OutcomeTable:
        models = load_models(models_path)
        known = {m.name for m in models}
        table = cls(models, {})
        try:
            with gzip.open(table_path, "rb") as fh:
                for n, line in enumerate(fh, start=1):
                    if line.strip():
                        table._add(orjson.loads(line), known, f"{table_path}:{n}")
        except (OSError, EOFError, orjson.JSONDecodeError) as err:
            raise ConfigError(f"cannot read outcome table {table_path}: {err}") from err
        logger.info("outcome table loaded", extra={"path": str(table_path), "rows": len(table)})
        return table

    def _add(self, row: Any, known: set[str], where: str) -> None:
        if not isinstance(row, Mapping) or not isinstance(row.get("outcomes"), Mapping):
            raise ConfigError(f"{where}: a row needs messages and outcomes")
        row_id, task = str(row.get("id", "")), str(row.get("task", "chat"))
        by_model: dict[str, Recorded] = {}
        for model, out in row["outcomes"].items():
            if model not in known or not isinstance(out, Mapping):
                continue
            response = out.get("response") or ""
            usage = (int(out.get("prompt_tokens", 0)), int(out.get("completion_tokens", 0)))
            quality = float(out.get("quality", 0.0))
            by_model[model] = Recorded(row_id, task, str(response), quality, usage)
        messages = row.get("messages")
        self._rows.setdefault(content_key(_contents(messages)), by_model)  # first row wins
        last = _last_user(messages)
        if last is not None:
            self._by_last_user.setdefault(content_key([last]), by_model)

    def __len__(self) -> int:
        return len(self._rows)

    def lookup(self, messages: Any, model: str) -> Recorded | None:
        """The recorded outcome of `model` for these messages, or None for an unknown prompt."""
        row = self._rows.get(content_key(_contents(messages)))
        if row is None:
            last = _last_user(messages)
            row = self._by_last_user.get(content_key([last])) if last is not None else None
        return row.get(model) if row is not None else None

    def profiles(self, overrides: Mapping[str, ModelProfile] | None = None) -> list[ModelProfile]:
        """One profile per table model: prices from the models file, the rest from `overrides`."""
        out: list[ModelProfile] = []
        for m in self.models:
            base = (overrides or {}).get(m.name) or ModelProfile(m.name)
            out.append(
                ModelProfile(
                    name=m.name,
                    price_in_per_mtok=m.price_in_per_mtok,
                    price_out_per_mtok=m.price_out_per_mtok,
                    latency_ms=base.latency_ms,
                    latency_jitter_ms=base.latency_jitter_ms,
                    ms_per_chunk=base.ms_per_chunk,
                    chars_per_chunk=base.chars_per_chunk,
                    report_cost=base.report_cost,
                    reported_price_factor=base.reported_price_factor,
                    judge=base.judge,
                    quality=base.quality,
                    failures=base.failures,
                )
            )
        return out


def load_models(path: str | Path) -> list[TableModel]:
    """The `models` list of a models file: id and prices per model."""
    try:
        raw = orjson.loads(Path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError) as err:
        raise ConfigError(f"cannot read outcome models {path}: {err}") from err
    entries = raw.get("models") if isinstance(raw, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: expected a non-empty 'models' list")
    models: list[TableModel] = []
    for i, entry in enumerate(entries):
        try:
            models.append(
                TableModel(
                    str(entry["id"]),
                    float(entry["price_in_per_mtok"]),
                    float(entry["price_out_per_mtok"]),
                )
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"{path}: models[{i}] needs id and prices ({err})") from err
    return models
