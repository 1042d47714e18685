"""What a caller may tell the grader about one request, by header or in the body:

  x-arbiter-reference: <text>            a reference answer (ASCII; use the body for other text)
  x-arbiter-grade-choices: mean | best   n > 1: grade the mean of the choices (default), or the
                                         best one (say "best" when your app keeps the best choice)
  body {"arbiter": {"reference": "...", "grade_choices": "best"}}   the same, as an extra-body
                                         field (OpenAI SDK `extra_body=`, Anthropic SDK too)

The body field is removed before the request is forwarded (no upstream knows it: OpenAI and
Anthropic both refuse unknown parameters). A header wins over the body field. Bad values are a 400
naming the parameter, in the surface's error shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from arbiter.errors import InvalidRequest

__all__ = ["BODY_FIELD", "GradingHints", "hints_from", "take_body_field"]

BODY_FIELD: Final = "arbiter"
REFERENCE_HEADER: Final = "x-arbiter-reference"
CHOICES_HEADER: Final = "x-arbiter-grade-choices"
MAX_REFERENCE_CHARS: Final = 20_000

Pick = Literal["mean", "best"]


@dataclass(frozen=True, slots=True)
class GradingHints:
    reference: str | None = None
    pick: Pick = "mean"


def take_body_field(body: dict[str, Any]) -> Any:
    """Remove and return the body's `arbiter` field (None when absent)."""
    return body.pop(BODY_FIELD, None)


def hints_from(headers: Mapping[str, str], field: Any) -> GradingHints | None:
    """The hints of one request, or None when it gives none (the common case: no work)."""
    ref_h, pick_h = headers.get(REFERENCE_HEADER), headers.get(CHOICES_HEADER)
    only_tests = isinstance(field, dict) and set(field) <= {"tests"}  # the sandbox's, not ours
    if (field is None or only_tests) and ref_h is None and pick_h is None:
        return None
    if field is not None and not isinstance(field, dict):
        raise InvalidRequest(f"'{BODY_FIELD}' must be an object.", param=BODY_FIELD)
    field = field or {}
    unknown = sorted(set(field) - {"reference", "grade_choices", "tests"})  # tests: the sandbox's
    if unknown:
        raise InvalidRequest(
            f"Unknown field '{BODY_FIELD}.{unknown[0]}' (known: reference, grade_choices, tests).",
            param=f"{BODY_FIELD}.{unknown[0]}",
        )
    reference = ref_h if ref_h is not None else field.get("reference")
    where = REFERENCE_HEADER if ref_h is not None else f"{BODY_FIELD}.reference"
    if reference is not None:
        if not isinstance(reference, str) or not reference.strip():
            raise InvalidRequest(f"'{where}' must be a non-empty string.", param=where)
        if len(reference) > MAX_REFERENCE_CHARS:
            raise InvalidRequest(
                f"'{where}' is {len(reference)} characters; at most {MAX_REFERENCE_CHARS}.",
                param=where,
            )
    pick = pick_h if pick_h is not None else field.get("grade_choices", "mean")
    where = CHOICES_HEADER if pick_h is not None else f"{BODY_FIELD}.grade_choices"
    if pick not in ("mean", "best"):
        raise InvalidRequest(f"'{where}' must be 'mean' or 'best'.", param=where)
    return GradingHints(reference, "best" if pick == "best" else "mean")
