"""The semantic cache's matcher (the arbiter.cache.matcher.Matcher the response cache calls).

- embed: the last user turn -> a 384-d MiniLM vector (arbiter.embedding, the static table: tens
  of microseconds); empty, binary or huge text is not embedded (None: the cache bypasses and
  counts it).
- nearest neighbours per (tenant, context key) only: a partition never sees another tenant's or
  another context's entries. A small partition is an exact faiss flat index; past ``HNSW_FROM``
  entries it moves to a faiss HNSW graph (bench/results/semantic_cache.md: an exact scan grows
  with the entries, HNSW stays well under a millisecond).
- the hit decision, in two stages: the verifier (arbiter.cache.verifier: a logistic model on
  cosine and word features, ~0.1 ms) gives each of the ``K`` nearest a P(false); the pair model
  (arbiter.cache.pair_model, a small cross-encoder, milliseconds) reads only the best
  ``cross_k`` of those that pass its gate and gives the P(false) that decides; when the exact
  stage's file loads (arbiter.cache.exact_stage: the exact MiniLM vectors of the ask and its
  best ``read_k`` candidates, when the best passes its gate) it decides instead. The best is served
  when P(false) <= the threshold calibrated for the operator's bound
  (``cache.max_false_hit_rate``) times the tenant's learned scale, and never when the two
  prompts' numbers, negations, quoted values or languages differ or they are the same words
  reordered (arbiter.cache.pair_guard: rules no learned stage overrules), nor when they differ
  past the embeddings' window (`differ_unread`: no stage but the word counts read that part).
  Without the pair model file the verifier alone decides, with its own curve.
- learn: a wrong semantic hit halves the tenant's bound; a confirmed one lets it recover a little
  (vCache's idea, per tenant). The scale lives in the store (migration 0007), written relative
  to what is there so replicas compose, and polled every ``POLL_S``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from arbiter.cache.exact_stage import EXACT_STAGE_PATH, ExactStage
from arbiter.cache.matcher import SemanticMatch
from arbiter.cache.pair_guard import RULES, differ
from arbiter.cache.pair_model import PAIR_MODEL_PATH, PairModel
from arbiter.cache.verifier import Calibration, Verifier
from arbiter.embedding import DIM, MAX_TOKENS, Embedder, EmbedderUnavailable
from arbiter.workers import is_worker

if TYPE_CHECKING:
    from arbiter.config import Settings
    from arbiter.store import Store

__all__ = [
    "SemanticMatcher",
    "TenantBounds",
    "build_matcher",
    "default_matcher",
    "embeddable",
    "load_exact_stage",
    "load_pair_model",
]

log = logging.getLogger(__name__)

K: Final = 4  # candidates the verifier sees per lookup
HNSW_FROM: Final = 4096  # a partition this large moves from an exact scan to HNSW
HNSW_M: Final = 32
HNSW_EF_SEARCH: Final = 64
MAX_CHARS: Final = 4000  # longer "last turns" are documents, not questions: bypass
WRONG_FACTOR: Final = 0.5  # a wrong hit halves the tenant's bound
CONFIRMED_FACTOR: Final = 1.02  # ~35 confirmed hits undo one wrong one
POLL_S: Final = 10.0
WINDOW: Final = "window"  # the rule of `differ_unread`, named beside pair_guard's RULES
NOT_READ: Final = 2.0  # P(false) of a candidate the pair model did not read: never served


def embeddable(text: str) -> bool:
    """Empty, binary (NUL or other control characters, decoding debris) or huge text is not."""
    if not text.strip() or len(text) > MAX_CHARS:
        return False
    bad = sum(1 for ch in text if (ch < " " and ch not in "\t\n\r") or ch == "\ufffd")
    return bad == 0


def _shared_ending(a: str, b: str) -> int:
    """How many characters the two texts' endings share (texts of at most MAX_CHARS)."""
    n, i = min(len(a), len(b)), 0
    while i < n and a[-1 - i] == b[-1 - i]:
        i += 1
    return i


def _faiss() -> Any:
    import faiss

    # one query at a time gains nothing from OpenMP, and its spinning threads cost tens of ms
    # at p99 on a busy machine (bench/results/semantic_cache.md)
    faiss.omp_set_num_threads(1)
    return faiss


class _Partition:
    """The vectors of one (tenant, context key) in a faiss index: exact (IndexFlatIP) while
    small, HNSW from HNSW_FROM entries. Removed rows are tombstones (None in `ids`), filtered
    from results; a partition half dead is rebuilt without them (rows move: add/remove say so).
    faiss, not a numpy matmul, even for the exact scan: numpy's BLAS threads made a 2,000-row
    scan cost ~15 ms at p50 on a loaded machine."""

    def __init__(self) -> None:
        self.ids: list[str | None] = []  # row -> entry id (None: removed)
        self.live = 0
        self.index: Any = _faiss().IndexFlatIP(DIM)
        self.hnsw = False

    def add(self, entry_id: str, vector: npt.NDArray[np.float32]) -> bool:
        """Add a row at the end; True when that compacted the partition (rows moved)."""
        self.index.add(vector[None, :])
        self.ids.append(entry_id)
        self.live += 1
        if not self.hnsw and self.live >= HNSW_FROM:
            moved = self.live != len(self.ids)
            self._rebuild()
            return moved
        return False

    def remove(self, row: int) -> bool:
        """Forget a row; True when that compacted the partition (rows moved)."""
        self.ids[row] = None
        self.live -= 1
        if len(self.ids) > 64 and self.live < len(self.ids) // 2:
            self._rebuild()  # half tombstones: compact (and maybe fall back to a flat index)
            return True
        return False

    def _rebuild(self) -> None:
        faiss = _faiss()
        rows = [i for i, e in enumerate(self.ids) if e is not None]
        old = self.index.reconstruct_n(0, self.index.ntotal)
        kept = np.ascontiguousarray(old[rows] if rows else np.empty((0, DIM), np.float32))
        self.ids = [self.ids[i] for i in rows]
        self.live = len(self.ids)
        self.hnsw = self.live >= HNSW_FROM
        if self.hnsw:
            index = faiss.IndexHNSWFlat(DIM, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = HNSW_EF_SEARCH
        else:
            index = faiss.IndexFlatIP(DIM)
        if len(kept):
            index.add(kept)
        self.index = index

    def all_vectors(self) -> npt.NDArray[np.float32]:
        return np.asarray(self.index.reconstruct_n(0, self.index.ntotal), dtype=np.float32)

    def vector(self, row: int) -> npt.NDArray[np.float32]:
        return np.asarray(self.index.reconstruct(row), dtype=np.float32)

    def search(self, vector: npt.NDArray[np.float32], k: int) -> list[tuple[int, float]]:
        """Up to k (row, cosine) of live entries, nearest first."""
        n = len(self.ids)
        if n == 0 or self.live == 0:
            return []
        dead = n - self.live
        want = min(n, k + (dead * k) // max(1, self.live) + 2)
        sims, labels = self.index.search(vector[None, :], want)
        pairs = zip(labels[0].tolist(), sims[0].tolist(), strict=True)
        out = [(int(r), float(s)) for r, s in pairs if r >= 0 and self.ids[r] is not None]
        return out[:k]


@dataclass(slots=True)
class _Entry:
    tenant: str
    context_key: str
    row: int
    text: str


@dataclass(slots=True)
class TenantBounds:
    """Each tenant's scale on the operator's bound, learned from feedback and shared through
    the store. A store failure keeps the local value (learning never fails a request)."""

    store: Store | None
    scales: dict[str, float] = field(default_factory=dict)
    polled: float = float("-inf")
    polling: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def scale(self, tenant: str) -> float:
        self._poll()
        return self.scales.get(tenant, 1.0)

    def learn(self, tenant: str, wrong: bool) -> float:
        factor = WRONG_FACTOR if wrong else CONFIRMED_FACTOR
        with self.lock:
            local = min(1.0, max(1e-3, self.scales.get(tenant, 1.0) * factor))
            self.scales[tenant] = local
        if self.store is not None:
            try:
                shared = self.store.semantic_learn(tenant, factor, wrong, time.time())
                with self.lock:
                    self.scales[tenant] = shared
                return shared
            except Exception:
                log.warning(
                    "semantic cache: storing what tenant %s taught failed", tenant, exc_info=True
                )
        return local

    def load(self) -> None:
        """Read every tenant's scale now (at start, and in tests)."""
        self.polled = time.monotonic()
        if self.store is not None:
            self._fetch()

    def _poll(self) -> None:
        """Every POLL_S, re-read the scales in a background thread: a lookup never waits on
        the store (a hung store must not hang requests)."""
        now = time.monotonic()
        if self.store is None or now - self.polled < POLL_S or self.polling:
            return
        self.polled = now
        self.polling = True
        threading.Thread(target=self._fetch, name="semantic-bounds", daemon=True).start()

    def _fetch(self) -> None:
        assert self.store is not None
        try:
            fresh = self.store.semantic_scales()
            with self.lock:
                self.scales.update(fresh)
        except Exception:
            log.warning("semantic cache: reading learned bounds failed", exc_info=True)
        finally:
            self.polling = False


class SemanticMatcher:
    def __init__(
        self,
        embedder: Embedder,
        verifier: Verifier,
        *,
        bound: float,
        store: Store | None = None,
        k: int = K,
        pair_model: PairModel | None = None,
        exact_stage: ExactStage | None = None,
        guard: bool = True,
    ) -> None:
        """`guard`: apply cache/pair_guard.py's rules (off only to measure what they change);
        `rules`: which of them (all but to measure one)."""
        self.embedder = embedder
        self.guard = guard
        self.rules: tuple[str, ...] = (*RULES, WINDOW)
        # a long text's window end, once per text (the stored ones are read at each lookup)
        self._window_end = functools.lru_cache(maxsize=1024)(embedder.window_end)
        self.verifier = verifier
        # with a pair model, the verifier is the cheap stage: it ranks and gates the candidates
        # and the cross-encoder decides (its calibration curve replaces the verifier's)
        self.pair_model = pair_model
        # the exact stage, when loaded, decides instead of the pair model: it serves far more
        # at the middle bounds on calib and holdout and is level at the strict end, for more
        # CPU per read (bench/results/semantic_cache.md, fourth pass)
        self.exact_stage = exact_stage
        self.bound = bound
        self.k = k
        self.tenants = TenantBounds(store)
        self._parts: dict[tuple[str, str], _Partition] = {}
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self.counts = {"unembeddable": 0, "no_text": 0, "pair_model_calls": 0, "exact_calls": 0}

    # -- the Matcher protocol -------------------------------------------------------------
    def embed(self, text: str) -> npt.NDArray[np.float32] | None:
        if not embeddable(text):
            self.counts["unembeddable"] += 1
            return None
        return self.embedder.embed(text)

    def add(
        self,
        tenant: str,
        context_key: str,
        entry_id: str,
        vector: npt.NDArray[np.float32],
        text: str | None = None,
    ) -> None:
        if text is None:
            self.counts["no_text"] += 1  # nothing to verify a match against: never served
            return
        vec = np.ascontiguousarray(vector, dtype=np.float32).reshape(DIM)
        with self._lock:
            self._remove_locked(entry_id)
            part = self._parts.setdefault((tenant, context_key), _Partition())
            self._entries[entry_id] = _Entry(tenant, context_key, len(part.ids), text)
            if part.add(entry_id, vec):
                self._renumber(part)

    def candidates(
        self, tenant: str, context_key: str, vector: npt.NDArray[np.float32]
    ) -> list[tuple[str, str, float, npt.NDArray[np.float32]]]:
        """The k nearest live entries of this tenant and context: (entry id, text, cosine,
        vector)."""
        vec = np.ascontiguousarray(vector, dtype=np.float32).reshape(DIM)
        with self._lock:
            part = self._parts.get((tenant, context_key))
            if part is None:
                return []
            out: list[tuple[str, str, float, npt.NDArray[np.float32]]] = []
            for row, sim in part.search(vec, self.k):
                entry_id = part.ids[row]
                if entry_id is not None:
                    out.append((entry_id, self._entries[entry_id].text, sim, part.vector(row)))
            return out

    def lookup(
        self, tenant: str, context_key: str, text: str, vector: npt.NDArray[np.float32]
    ) -> SemanticMatch | None:
        threshold = self.threshold(tenant)
        if threshold < 0:
            return None  # the bound admits nothing: no candidate could be served
        best = self.best(tenant, context_key, text, vector)
        if best is None or best.p_false > threshold:
            return None
        return best

    def best(
        self, tenant: str, context_key: str, text: str, vector: npt.NDArray[np.float32]
    ) -> SemanticMatch | None:
        """The candidate the verifier trusts most, whatever the bound."""
        found = self.candidates(tenant, context_key, vector)
        if not found:
            return None
        sims = [f[2] for f in found]
        x = np.stack(
            [
                self.verifier.row(text, cand, sim, vector, cv, sims[:i] + sims[i + 1 :])
                for i, (_, cand, sim, cv) in enumerate(found)
            ]
        )
        p = self.verifier.p_false_of(x)
        if self.decider == "exact-stage":
            p = self._exact(text, [f[1] for f in found], p)
        elif self.decider == "pair-model":
            p = self._cross(text, [f[1] for f in found], p)
        if self.guard:  # other numbers, negations, word order, or words no stage read:
            # another question, whatever the stages said
            other = [
                differ(text, f[1], self.rules) is not None
                or (WINDOW in self.rules and self.differ_unread(text, f[1]))
                for f in found
            ]
            p = np.where(other, NOT_READ, p)
        i = int(np.argmin(p))
        return SemanticMatch(found[i][0], found[i][2], float(p[i]))

    def differ_unread(self, ask: str, stored: str) -> bool:
        """Whether the two texts differ past what the embeddings read (Embedder.window_end: a
        long last turn's first ~126 WordPieces): every stage but the verifier's word counts sees
        only that window, so "<memo> Who owns the hiring plan?" and "<memo> What are the risks?"
        were one vector (cosine 1.0) and served each other's answer at bound 0.3. Each text's
        unread part must lie in the ending the two share; a paraphrase inside the window with the
        same long tail ("Summarize this memo: <memo>" / "Give me a summary of this memo: <memo>")
        is still the stages' to judge."""
        if max(len(ask), len(stored)) <= MAX_TOKENS - 2:  # both read whole
            return False
        shared = _shared_ending(ask, stored)
        return any(len(t) - shared > self._window_end(t) for t in (ask, stored))

    def _cross(
        self, text: str, stored: list[str], cheap: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """The pair model's P(false) for the candidates it reads (PairModel.to_read: the best
        `cross_k` by the verifier, gated); NOT_READ (above any threshold: never served) for the
        rest, which cost nothing more, and for all when two or more match (the ambiguity
        rule, PairModel.ambiguous)."""
        assert self.pair_model is not None
        pm = self.pair_model
        chosen = pm.to_read(cheap)
        out = np.full(len(stored), NOT_READ, dtype=np.float64)
        if chosen:
            self.counts["pair_model_calls"] += 1
            p = pm.p_false(text, [stored[j] for j in chosen])
            if not pm.ambiguous(p):
                out[chosen] = p
        return out

    def _exact(
        self, text: str, stored: list[str], cheap: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """The exact stage's P(false) for the `read_k` candidates the verifier ranks best, when
        the best of them passes the gate; NOT_READ (never served) otherwise."""
        assert self.exact_stage is not None
        st = self.exact_stage
        out = np.full(len(stored), NOT_READ, dtype=np.float64)
        order = [int(j) for j in np.argsort(cheap, kind="stable")[: st.read_k]]
        if order and cheap[order[0]] <= st.gate:
            self.counts["exact_calls"] += 1
            out[order] = st.p_false(text, [stored[j] for j in order], cheap[order].tolist())
        return out

    @property
    def decider(self) -> str:
        """Which stage gives the P(false) served on: the exact stage when its file loads,
        unless the pair model's file says it decides first (a model that beat the exact
        stage on calib and holdout); else the pair model; else the verifier alone."""
        pm, ex = self.pair_model, self.exact_stage
        if ex is not None and not (pm is not None and pm.decides_first):
            return "exact-stage"
        return "pair-model" if pm is not None else "verifier"

    @property
    def calibration(self) -> Calibration:
        if self.decider == "exact-stage":
            assert self.exact_stage is not None
            return self.exact_stage.calibration
        return self.pair_model.calibration if self.pair_model else self.verifier.calibration

    def threshold(self, tenant: str) -> float:
        return self.calibration.threshold(self.bound * self.tenants.scale(tenant))

    def remove(self, entry_id: str) -> None:
        with self._lock:
            self._remove_locked(entry_id)

    def _remove_locked(self, entry_id: str) -> None:
        entry = self._entries.pop(entry_id, None)
        if entry is None:
            return
        part = self._parts[(entry.tenant, entry.context_key)]
        if part.remove(entry.row):
            self._renumber(part)
        if part.live == 0:
            del self._parts[(entry.tenant, entry.context_key)]

    def _renumber(self, part: _Partition) -> None:
        """After a compaction rows move: point each entry at its new row."""
        for row, entry_id in enumerate(part.ids):
            if entry_id is not None:
                self._entries[entry_id].row = row

    def learn(self, tenant: str, match: SemanticMatch, wrong: bool) -> None:
        self.tenants.learn(tenant, wrong)

    def __len__(self) -> int:
        return len(self._entries)


def build_matcher(settings: Settings, store: Store | None) -> SemanticMatcher | None:
    """The response cache's semantic side; None (exact cache only, logged) when the local model
    files are not installed."""
    try:
        embedder = Embedder.load()
    except EmbedderUnavailable as exc:
        log.warning(
            "cache.semantic is on but the embedding model is unavailable (%s): exact cache only",
            exc,
        )
        return None
    embedder.table()  # build or load the static table now, not on the first request
    matcher = default_matcher(embedder, settings.cache.max_false_hit_rate, store)
    if (why := serves_nothing(matcher.bound, matcher.calibration)) and not is_worker():
        log.warning("%s", why)  # (a worker set's supervisor said it once for the set)
    return matcher
    # its learned bounds are read on first use (the store may not be migrated yet)


def serves_nothing(bound: float, calibration: Calibration) -> str | None:
    """Why a bound under every point of the calibration curve serves no semantic hit at all
    (the shipped 0.02 is: the curve starts near 0.2), or None when some hit can be served."""
    if calibration.threshold(bound) >= 0 or not calibration.upper:
        return None
    lowest = min(calibration.upper)
    return (
        f"cache.max_false_hit_rate = {bound:g} is below the lowest false-hit rate the semantic "
        f"cache's calibration reaches ({lowest:.3f}): no semantic hit is ever served (exact "
        f"hits only); set it to at least {lowest:.3f} for semantic hits"
    )


def shipped_calibration(
    exact_path: Path = EXACT_STAGE_PATH, pair_path: Path = PAIR_MODEL_PATH
) -> Calibration:
    """The curve the shipped files decide with (SemanticMatcher.decider's order), read without
    loading any model: for `arbiter check-config`."""
    pair: dict[str, Any] | None = None
    with contextlib.suppress(OSError, ValueError, KeyError), np.load(pair_path) as f:
        pair = json.loads(str(f["meta"]))
    exact: dict[str, Any] | None = None
    if pair is None or not pair.get("decides_first", False):
        with contextlib.suppress(OSError, ValueError):
            exact = json.loads(exact_path.read_text(encoding="utf-8"))
    doc = exact if exact is not None else pair
    if doc is None:
        return Verifier.load().calibration
    cal = doc["calibration"]
    return Calibration(tuple(cal["thresholds"]), tuple(cal["upper"]))


def default_matcher(
    embedder: Embedder, bound: float, store: Store | None = None
) -> SemanticMatcher:
    """The shipped verifier and, when their files load, the shipped exact stage (which
    decides) and pair model (which decides without it)."""
    return SemanticMatcher(
        embedder,
        Verifier.load(),
        bound=bound,
        store=store,
        pair_model=load_pair_model(embedder),
        exact_stage=load_exact_stage(embedder),
    )


def load_exact_stage(embedder: Embedder, path: Path = EXACT_STAGE_PATH) -> ExactStage | None:
    """The shipped exact stage; None (logged: the pair model decides) when its file is
    missing or unreadable."""
    try:
        return ExactStage.load(embedder, path)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("semantic cache: exact stage %s not loaded (%s)", path, exc)
        return None


def load_pair_model(embedder: Embedder, path: Path = PAIR_MODEL_PATH) -> PairModel | None:
    """The shipped cross-encoder; None (logged: the verifier alone decides, serving less) when
    its file is missing or unreadable."""
    try:
        return PairModel.load(embedder, path)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("semantic cache: pair model %s not loaded (%s)", path, exc)
        return None
