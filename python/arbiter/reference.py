"""Grading by agreement with a reference answer (the caller's, or the operator's for a prompt).

Which agreement depends on the reference:
  * a choice letter ("B", "(c)", "D."): the answer's chosen letter must be it;
  * a number ("42", "3/4", "$1,250.50"): the answer's final number within tolerance
    (exact arithmetic: mathcheck);
  * a short answer (a few words): normalised equality, or the reference as whole words inside a
    short answer ("Paris" in "The capital is Paris.");
  * free text: the cosine of the two texts' embeddings, CALIBRATED (a logistic fit on held-out
    data, bench/reference_grading.py) into the probability that the answer is acceptable. A raw
    cosine is not a grade: unrelated English texts already score ~0.2-0.4.
The embedder is injected (``embed(texts) -> (n, d) array``), so this module owns no model; without
one, free-text references give no grade (the judge decides instead).
"""

from __future__ import annotations

import importlib
import logging
import math
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson

from arbiter import linear, mathcheck
from arbiter.apposition import apposition_chain, is_candidate
from arbiter.config import ReferenceSettings
from arbiter.errors import ConfigError
from arbiter.grading import _GROUPED, Grade, extract_final_answer, offered_numbers
from arbiter.self_correction import after_correction

__all__ = [
    "DEFAULT_CALIBRATION",
    "Calibration",
    "Embed",
    "ReferenceGrader",
    "load_references",
    "local_embedder",
    "normalise",
    "prompt_key",
]

log = logging.getLogger(__name__)

Embed = Callable[[Sequence[str]], npt.NDArray[np.floating]]

MAX_REFERENCE_CHARS: Final = 20_000  # longer references are refused at the surface (400)
_SHORT_WORDS: Final = 6  # a reference of at most this many words is a "short answer"
_SHORT_ANSWER_WORDS: Final = 60  # containment only counts in an answer this short
_REL_TOL: Final = Fraction(1, 10**6)
_GRADER: Final = "reference"

# linear-time patterns (arbiter.linear): answers come from upstreams, references from clients;
# ASCII \b where the words are ASCII (keeps the DFA on CJK text: linear.ascii_boundaries)
_LETTER_REF = linear.compile(r"^\s*[(\[]?\s*([A-Ja-j])\s*[)\].:]?\s*$")
_LETTER_ANSWER = linear.compile_ascii_boundaries(
    # a leading letter needs its bracket or punctuation ("B.", "(c)"): "I think" and "A good
    # answer" are words, not choices
    r"(?i)(?:^\s*[(\[]?([A-J])(?:[)\].:,]|\s*$)|\banswer\s*(?:is|:)?\s*[(\[]?\s*([A-J])\b)"
)
# as grading reads numbers: thousands grouped by spaces ("4 200") first, and an exponent (1e999
# read as 999 matched a reference of 999)
_NUMBER = linear.compile(
    r"[-−]?\$?(?:" + _GROUPED + r"(?:\.\d+)?|\d[\d,]*(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?"
    r"(?:\s?/\s?\d+)?"
)
# what separates the items of a list ("Paris, Lyon or Marseille"); ASCII words. First, a
# correction between two names ("Paris? No, Lyon", "Paris... actually Lyon": grade27, read as
# Paris before): the name after it starts with a capital (group 2: "Paris, no doubt" and
# "Paris, no I'm sure" are none); group 1 marks it. Dashes and brackets set a name off as
# commas do ("Paris - the capital", "Paris (France)"; "Paris (Lyon)" is a hedge).
_LIST_SEPARATOR = linear.compile_ascii_boundaries(
    r"(?i)(\s*[,;:.?!…\-–—]*\s*\b(?:no|nope|wait|actually|rather)\b[\s,;:.!…\-–—]*((?-i:[A-HJ-Z]|I[a-z])))"
    r"|\s*(?:[,;/&?!|+–—()]|\s-\s|\band\b|\bor\b|\bvs\b\.?|\bversus\b)\s*"
)
# separators that may set off an apposition ("Paris (France)", "Paris - the capital")
_APPOSING: Final = frozenset({",", "-", "–", "—", "(", ")"})
_MORE_LETTERS = linear.compile_ascii_boundaries(
    r"^[)\].]?\s*(?:,|/|\bor\b|\band\b)\s*(?:\bor\b\s*)?[(\[]?([A-J])[)\]]?(?:\s*\z|[.,;:/]|\s+(?:or|and)\b)"
)
_LIST_ITEM_WORDS: Final = 3  # a list's items are names, not clauses
_NOT_WORD = linear.compile(r"[^\w]+")
# invisible format characters (zero-width space and joiners, soft hyphen, BOM, bidi marks): NFKC
# keeps them, and "Pa\u200bris" read as a word other than "paris" (a right answer graded 0)
_FORMAT = linear.compile(r"\p{Cf}+")
_ARTICLES: Final = frozenset({"a", "an", "the"})
# a word before the reference that negates it ("t": "isn't", "wasn't" once normalised)
_NEGATING: Final = frozenset({"not", "t", "never", "nor", "neither"})


@dataclass(frozen=True, slots=True)
class Calibration:
    """p(acceptable) = 1 / (1 + exp(-(slope * cosine + intercept)))."""

    slope: float
    intercept: float

    def __call__(self, cosine: float) -> float:
        z = self.slope * cosine + self.intercept
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


# Fitted by bench/reference_grading.py on AlpacaEval dev (the fit half of the prompts; label:
# as good as the reference answer). Nearly flat: on open-ended answers the cosine to a reference
# barely predicts quality (bench/results/reference_grading.md), so the calibrated grade stays
# near the base rate instead of pretending; [references] semantic is off by default for that.
DEFAULT_CALIBRATION: Final = Calibration(slope=0.437, intercept=-2.438)


def normalise(text: str) -> str:
    """Casefolded words without punctuation or articles, NFKC: "The  Eiffel-Tower!" -> "eiffel
    tower"."""
    text = unicodedata.normalize("NFKC", _FORMAT.sub("", text)).casefold()
    words = _NOT_WORD.sub(" ", text).split()
    return " ".join(w for w in words if w not in _ARTICLES)


def last_number(text: str) -> str | None:
    """The last number written in `text` (its last 2,000 characters), as written."""
    numbers = _NUMBER.findall(text[-2000:])
    return numbers[-1] if numbers else None


def _number(text: str) -> Fraction | None:
    return mathcheck.to_fraction(text.strip().rstrip("."))


class ReferenceGrader:
    def __init__(
        self,
        embed: Embed | None,
        calibration: Calibration = DEFAULT_CALIBRATION,
        *,
        max_embedding: int = 2,
    ) -> None:
        self._embed = embed
        self.calibration = calibration
        # an embedding is ~0.1 s of CPU per text: at most this many at once; past it a free-text
        # answer gets no reference grade (the judge may grade it) rather than a growing queue
        self._slots = threading.BoundedSemaphore(max_embedding)
        self.skipped_busy = 0

    @property
    def semantic(self) -> bool:
        return self._embed is not None

    def grade(self, answer: str, reference: str) -> Grade | None:
        """The answer's agreement with `reference`, or None (free text and no embedder)."""
        if not answer.strip():
            return Grade(0.0, _GRADER, "empty answer")
        letter = _LETTER_REF.match(reference)
        if letter is not None:
            return self._letter(answer, (letter.group(1) or "").upper())
        expected = _number(reference)
        if expected is not None:
            return self._numeric(answer, expected)
        ref_norm = normalise(reference)
        if ref_norm and len(ref_norm.split()) <= _SHORT_WORDS:
            return self._short(answer, ref_norm)
        return self.semantic_grade([answer], reference)[0]

    def semantic_grade(self, answers: Sequence[str], reference: str) -> list[Grade | None]:
        """Calibrated cosine of each answer with the reference (one embedder call for all)."""
        if self._embed is None:
            return [None] * len(answers)
        if not self._slots.acquire(blocking=False):
            self.skipped_busy += 1
            return [None] * len(answers)
        try:
            cosines = self.cosines(answers, [reference] * len(answers))
        except EmbedderMissing:
            return [None] * len(answers)
        finally:
            self._slots.release()
        return [Grade(self.calibration(c), _GRADER, f"semantic: cosine {c:.3f}") for c in cosines]

    def cosines(self, answers: Sequence[str], references: Sequence[str]) -> list[float]:
        """Row-wise cosine of answers[i] with references[i] (the embedder's vectors)."""
        assert self._embed is not None
        vectors = np.asarray(self._embed([*answers, *references]), dtype=np.float64)
        a, r = vectors[: len(answers)], vectors[len(answers) :]
        norms = np.linalg.norm(a, axis=1) * np.linalg.norm(r, axis=1)
        dots = np.einsum("ij,ij->i", a, r)
        return [float(d / n) if n > 0 else 0.0 for d, n in zip(dots, norms, strict=True)]

    def _letter(self, answer: str, expected: str) -> Grade:
        corrected = after_correction(answer)  # "B... no wait, C": the last stated choice
        m = _LETTER_ANSWER.search((answer if corrected is None else corrected[1])[:2000])
        got = ((m.group(1) or m.group(2) or "") if m is not None else "").upper()
        if not got:
            return Grade(0.0, _GRADER, f"choice: expected {expected}, no letter found")
        text = answer if corrected is None else corrected[1]
        assert m is not None  # a letter was found
        offered = _offered_letters(text[:2000], m.end(1) if m.group(1) else m.end(2), got)
        if len(offered) > 1:  # "A or B": guessing among them is worth 1/k
            score = 1.0 / len(offered) if expected in offered else 0.0
            return Grade(score, _GRADER, f"choice: answer {'/'.join(offered)}, expected {expected}")
        ok = got == expected
        return Grade(1.0 if ok else 0.0, _GRADER, f"choice: answer {got}, expected {expected}")

    def _numeric(self, answer: str, expected: Fraction) -> Grade:
        offered = offered_numbers(answer)
        if offered:  # "41 or 42": guessing among k is worth 1/k
            hit = any(mathcheck.answers_match(n, expected) for n in offered)
            return Grade(1.0 / len(offered) if hit else 0.0, _GRADER,
                         f"numeric: answer {' or '.join(offered)[:40]}, one of them")  # fmt: skip
        final = extract_final_answer(answer)
        if final is None or mathcheck.to_fraction(final) is None:
            final = last_number(answer)
        shown = mathcheck.format_fraction(expected)
        shown = shown if len(shown) <= 40 else f"{shown[:12]}… ({len(shown)} chars)"  # 1e999
        if final is None:
            return Grade(0.0, _GRADER, f"numeric: expected {shown}, no number found")
        value = mathcheck.to_fraction(final)
        ok = mathcheck.answers_match(final, expected) or (
            value is not None
            and abs(value - expected) <= _REL_TOL * max(Fraction(1), abs(expected))
        )
        return Grade(1.0 if ok else 0.0, _GRADER, f"numeric: answer {final[:40]}, expected {shown}")

    def _short(self, answer: str, ref_norm: str) -> Grade:
        corrected = after_correction(answer[:4000])  # "Lyon... no wait, Paris": what follows
        answer = answer[:4000] if corrected is None else corrected[1]
        got = normalise(answer)
        if got == ref_norm:
            return Grade(1.0, _GRADER, "exact: normalised match")
        if f" {ref_norm} " not in f" {got} ":
            return Grade(0.0, _GRADER, f"exact: expected {ref_norm[:60]!r}")
        if len(got.split()) <= _SHORT_ANSWER_WORDS:
            return _in_short_answer(got.split(), ref_norm.split(), answer)
        # in a long answer the words may sit in any claim ("not Paris but ..."): likely, not sure
        return Grade(0.75, _GRADER, "exact: the reference appears in a long answer")


def _in_short_answer(words: list[str], ref: list[str], answer: str) -> Grade:
    """The reference is in a short answer: right, unless every time it is negated ("It is not
    Paris.") or, where it is not, offered beside alternatives ("Paris or Lyon"; a list of
    candidates "Paris, Lyon, Marseille" is graded 1/k for k candidates, what guessing among
    them is worth): words a reviewer would not grade as the answer."""
    k = len(ref)
    around = [
        (words[i - 1] if i else "", words[i + k] if i + k < len(words) else "")
        for i in range(len(words) - k + 1)
        if words[i : i + k] == ref
    ]
    meant = [(before, after) for before, after in around if before not in _NEGATING]
    if not meant:
        return Grade(0.0, _GRADER, "exact: the short answer negates the reference")
    candidates = _listed_candidates(answer, " ".join(ref))
    if candidates == 0:
        return Grade(
            0.0, _GRADER, "exact: the reference only qualifies another name, or is withdrawn"
        )
    if candidates > 1:
        return Grade(
            1.0 / candidates, _GRADER, f"exact: the reference is one of {candidates} listed"
        )
    if all("or" in pair for pair in meant):
        return Grade(0.5, _GRADER, "exact: the reference is one of the answer's alternatives")
    return Grade(1.0, _GRADER, "exact: the reference is in the short answer")


def _offered_letters(text: str, end: int, first: str) -> list[str]:
    """The chosen letter and the letters listed right after it ("A or B", "A, B, C"): the
    others must stand alone (capital, then the end, punctuation, or "or"/"and"), so "A, I
    think" offers A only."""
    offered = [first]
    while len(offered) < 10:
        m = _MORE_LETTERS.match(text[end : end + 40])
        if m is None:
            break
        letter = m.group(1) or ""
        if letter not in offered:
            offered.append(letter)
        end += m.end(1)
    return offered


def _listed_candidates(answer: str, ref: str) -> int:
    """How many candidates an answer that lists the reference among others offers (1: not
    such a list). Items split at commas, semicolons, slashes, "and", "or"; the list's items
    are short names (the first may lead in: "The capital is Paris, Lyon or Marseille"), one
    of them the reference; a negated item ("not Lyon") is no candidate, nor one that places,
    describes or hedges the reference (`apposition.py`: "Paris, France", "Paris, I think"),
    while two of a kind are ("Paris, Lyon": 1/2; grade25b)."""
    if any(w in ("and", "or") for w in ref.split()):
        return 1  # the reference's own words would split it
    items: list[str] = []
    at = 0
    commas = True  # every separator a comma or dash: maybe one name and its appositions
    withdrawn = False
    for m in _LIST_SEPARATOR.finditer(answer):
        if m.group(1):  # a correction: what came before it is withdrawn
            items, at, commas, withdrawn = [], m.start(2), True, True
            continue
        items.append(answer[at : m.start()])
        commas = commas and m.group(0).strip() in _APPOSING
        at = m.end()
    items.append(answer[at:])
    names = [normalise(item) for item in items]
    names = [n for n in names if n]
    if withdrawn and not any(f" {ref} " in f" {n} " for n in names):
        return 0  # "Paris? No, Lyon"
    if len(names) < 2:
        return 1
    if any(len(n.split()) > _LIST_ITEM_WORDS for n in names[1:]):
        return 1  # clauses, not a list of names
    # an item holding the reference names it: a lead-in ("The capital is Paris"), "only Paris",
    # "or rather Paris itself"
    names = [ref if f" {ref} " in f" {n} " else n for n in names]
    if ref not in names or len(names[0].split()) > _LIST_ITEM_WORDS:
        return 1
    if commas:
        chain = apposition_chain(names)
        if chain is not None:
            return chain.count(ref)  # the head's: 1 (the reference places it: 1), or 0
    others = {n for n in names if n != ref and is_candidate(n, ref)}
    return 1 + len(others)


# --- the operator's references and the local embedder ---------------------------------------
MAX_REFERENCES_FILE_BYTES: Final = 64 * 1024 * 1024


def prompt_key(prompt_text: str) -> str:
    """How a request finds the operator's reference: its prompt text, whitespace collapsed."""
    return " ".join(prompt_text.split())


def load_references(path: str | Path) -> dict[str, str]:
    """The operator's references file: JSON Lines of {"prompt": str, "reference": str}.
    Raises ValueError naming the line (read once, at start)."""
    raw = Path(path).read_bytes()
    if len(raw) > MAX_REFERENCES_FILE_BYTES:
        raise ValueError(f"{path}: over {MAX_REFERENCES_FILE_BYTES} bytes")
    out: dict[str, str] = {}
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as err:
            raise ValueError(f"{path}:{n}: not JSON ({err})") from err
        if not (
            isinstance(row, dict)
            and isinstance(row.get("prompt"), str)
            and isinstance(row.get("reference"), str)
            and row["reference"].strip()
        ):
            raise ValueError(f"{path}:{n}: needs string 'prompt' and non-empty 'reference'")
        out[prompt_key(row["prompt"])] = row["reference"]
    return out


def local_embedder() -> Embed | None:
    """The local sentence embedder (arbiter.embedding, all-MiniLM-L6-v2), loaded on first use in
    the grading thread; None when that module is not part of this build. A model that turns out
    missing at first use makes free-text references ungraded (logged once), never an error."""
    try:
        module: Any = importlib.import_module("arbiter.embedding")
    except ImportError:
        return None
    lock = threading.Lock()
    state: dict[str, Any] = {}

    def embed(texts: Sequence[str]) -> npt.NDArray[np.floating]:
        with lock:
            if "model" not in state:
                try:
                    state["model"] = module.Embedder.load()
                except (RuntimeError, OSError) as err:
                    log.warning("reference grading without embeddings: %s", err)
                    state["model"] = None
            model = state["model"]
        if model is None:
            raise EmbedderMissing
        return np.asarray(model.encode_batch(list(texts)))

    return embed


class EmbedderMissing(RuntimeError):
    """The embedding model's files are not installed: free text gets no reference grade."""


def from_settings(settings: ReferenceSettings) -> tuple[ReferenceGrader, dict[str, str]]:
    """The grader ([references] semantic and calibration) and the operator's references."""
    cal = DEFAULT_CALIBRATION
    if settings.calibration_slope is not None or settings.calibration_intercept is not None:
        cal = Calibration(
            settings.calibration_slope if settings.calibration_slope is not None else cal.slope,
            settings.calibration_intercept
            if settings.calibration_intercept is not None
            else cal.intercept,
        )
    registered: dict[str, str] = {}
    if settings.file is not None:
        try:
            registered = load_references(settings.file)
        except (OSError, ValueError) as err:
            raise ConfigError(f"references.file: {err}") from err
    return ReferenceGrader(local_embedder() if settings.semantic else None, cal), registered
