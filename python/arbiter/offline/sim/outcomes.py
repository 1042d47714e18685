"""Serving a recorded outcome table: the pool's models answer known prompts with recorded replies.

The tables and models files (shared/data/routing/README.md) are read by
`arbiter.offline.outcome_table`, the same reader `arbiter replay` uses. A prompt matches a row by a
hash of its messages' contents, or of a multi-turn row's first turn (or, failing that, of its last
user message)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arbiter.errors import ConfigError
from arbiter.offline.outcome_table import (
    ModelSpec,
    RecordedRow,
    first_turn,
    load_models,
    read_rows,
)
from arbiter.offline.sim.config import ModelProfile

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

    def __init__(self, models: list[ModelSpec], rows: dict[bytes, dict[str, Recorded]]) -> None:
        self.models = models
        self._rows = rows
        self._by_last_user: dict[bytes, dict[str, Recorded]] = {}

    @classmethod
    def load(cls, table_path: str | Path, models_path: str | Path) -> OutcomeTable:
        try:
            models = load_models(Path(models_path))
        except (OSError, ValueError) as err:
            raise ConfigError(f"cannot read outcome models {models_path}: {err}") from err
        try:
            rows = read_rows(Path(table_path))
        except (OSError, EOFError, ValueError) as err:
            raise ConfigError(f"cannot read outcome table {table_path}: {err}") from err
        known = {m.id for m in models}
        table = cls(models, {})
        for row in rows:
            table._add(row, known)
        logger.info("outcome table loaded", extra={"path": str(table_path), "rows": len(table)})
        return table

    def _add(self, row: RecordedRow, known: set[str]) -> None:
        by_model = {
            model: Recorded(row.id, row.task, out.response or "", out.quality,
                            (out.prompt_tokens, out.completion_tokens))
            for model, out in row.outcomes.items()
            if model in known
        }  # fmt: skip
        self._rows.setdefault(content_key(_contents(row.messages)), by_model)  # first row wins
        # a multi-turn row is also found by its first turn: what `arbiter replay --via-sidecar`
        # sends for it (the request it is routed on); the answer and usage cover every turn
        self._rows.setdefault(content_key(_contents(first_turn(row.messages))), by_model)
        last = _last_user(row.messages)
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
        return [
            dataclasses.replace(
                (overrides or {}).get(m.id) or ModelProfile(m.id),
                name=m.id,
                price_in_per_mtok=m.price_in_per_mtok,
                price_out_per_mtok=m.price_out_per_mtok,
            )
            for m in self.models
        ]
