"""Per-prompt difficulty on the hot path: cheap text features -> shipped ONNX model -> easiness.

Owns loading and running the model (onnxruntime, one thread) and the documented train/held-out split
of outcome-table rows. Training lives in `arbiter.offline.train_difficulty`; no I/O per request."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from arbiter import _native

if TYPE_CHECKING:
    from arbiter.embedding import Embedder

log = logging.getLogger(__name__)

MODELS = Path(__file__).with_name("models")
DEFAULT_MODEL = MODELS / "difficulty.onnx"
# shipped alternatives, by the name `routing.difficulty_model` gives: models/difficulty_<name>.onnx
# ("knowledge": MMLU-like questions, all 64 prompt features; train_difficulty.train_knowledge;
# "knowledge_embed": the same 64 and the question's static MiniLM embedding, train_knowledge_embed)
SHIPPED = ("knowledge", "knowledge_embed")
# the shipped ones that read the static MiniLM embedding (the separately installed model package)
EMBEDDING_MODELS = ("knowledge_embed",)
FEATURE_DIM = 64  # prompt_features(text, 64): 48 hashed slots, then 16 text statistics
N_STATS = 16
EMBED_DIM = 384  # arbiter.embedding.DIM (not imported: that module loads lazily)
SEMANTIC_DIM = FEATURE_DIM + EMBED_DIM
INPUT_NAME = "features"
OUTPUT_NAME = "easiness"

Split = Literal["train", "validation", "heldout"]


def split_of(row_id: str) -> Split:
    """Deterministic split of table rows: sha256(id) % 10 -> 0-4 train, 5 validation, 6-9 held-out.

    Every number reported as a generalization result is measured on "heldout" rows only.
    """
    bucket = int(hashlib.sha256(row_id.encode()).hexdigest()[:8], 16) % 10
    if bucket <= 4:
        return "train"
    return "validation" if bucket == 5 else "heldout"


def prompt_stats(text: str) -> bytes:
    """The 16 text statistics of `_native.prompt_features` (the last one is the constant 1.0) as
    the kernels read them: 64 bytes, little-endian f32. Routing computes them once per request
    for this model and for the answer-length model (`output_length`)."""
    return _native.prompt_features(text, FEATURE_DIM)[-4 * N_STATS :]


def prompt_stats_and_shape(text: str) -> tuple[bytes, bytes]:
    """`prompt_stats` and the prompt's shape from one pass over the text. The shape is its words
    as `_native.prompt_features` hashes them (48 signed slots of word uni- and bigrams, a unit
    vector; little-endian f32), which `prompt_stats` drops: prompts written from one template
    share most of it, so the answer-length model reads it to tell kinds of request apart
    (`length_task`)."""
    row = _native.prompt_features(text, FEATURE_DIM)
    cut = len(row) - 4 * N_STATS
    return row[cut:], row[:cut]


def features_wide(text: str, row: bytes = b"") -> np.ndarray:
    """A wide model's input row: all 64 prompt features (`row`, when the caller has them),
    float32, shape (1, 64)."""
    return np.frombuffer(row or _native.prompt_features(text, FEATURE_DIM), dtype="<f4").reshape(
        1, -1
    )


def features_semantic(text: str, embedder: Embedder, row: bytes = b"") -> np.ndarray:
    """A semantic model's input row: the 64 prompt features (`row`, when the caller has them),
    then the static MiniLM embedding (`Embedder.embed`, ~0.05-0.25 ms; the subject lives
    there), float32, shape (1, 448)."""
    wide = np.frombuffer(row or _native.prompt_features(text, FEATURE_DIM), dtype="<f4")
    return np.concatenate([wide, embedder.embed(text)]).reshape(1, SEMANTIC_DIM)


def features(text: str) -> np.ndarray:
    """The model's input row: the 16 text statistics, float32, shape (1, 16)."""
    return np.frombuffer(prompt_stats(text), dtype="<f4").reshape(1, N_STATS)


class Difficulty:
    """Scores a prompt: standardized, 0 = average, + = the cheap end more likely suffices."""

    def __init__(self, path: Path = DEFAULT_MODEL) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        self.path = path
        self._session = ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        meta = self._session.get_modelmeta().custom_metadata_map
        self.version: str = meta.get("version", "unknown")
        width = self._session.get_inputs()[0].shape[-1]
        if width not in (N_STATS, FEATURE_DIM, SEMANTIC_DIM):
            raise ValueError(
                f"{path}: input width {width}, expected {N_STATS}, {FEATURE_DIM} or {SEMANTIC_DIM}"
            )
        # a wide model reads all 64 prompt features (hashed n-grams too), so it needs the text
        self.wide = width != N_STATS
        self._run = _direct_run(self._session)
        self._embedder: Embedder | None = None
        if width == SEMANTIC_DIM:
            from arbiter.embedding import Embedder

            # loaded and its token table read now, at startup, never on a request (raises
            # EmbedderUnavailable when the MiniLM package is not installed)
            self._embedder = Embedder.load()
            self._embedder.table()

    def easiness(self, text: str) -> float:
        return self.easiness_of(prompt_stats(text), text)

    def easiness_of(self, stats: bytes, text: str = "", shape: bytes = b"") -> float:
        """The same score from statistics already computed (`prompt_stats`); a wide model reads
        all 64 features: `shape` + `stats` when the caller has the shape from the same pass
        (`prompt_stats_and_shape`), else computed from `text` (a second pass over it)."""
        whole = shape + stats if shape else b""
        if self._embedder is not None:
            row = features_semantic(text, self._embedder, whole)
        elif self.wide:
            row = features_wide(text, whole)
        else:
            row = np.frombuffer(stats, dtype="<f4").reshape(1, N_STATS)
        out = self._run(_OUTPUTS, {INPUT_NAME: row}, None)[0]
        return float(np.asarray(out).reshape(-1)[0])


_OUTPUTS = [OUTPUT_NAME]


def _direct_run(session: Any) -> Callable[[list[str], dict[str, Any], Any], list[Any]]:
    """The session's compiled `run`, without the Python wrapper's checks around it, where those
    checks cannot fail for this feed: a model whose one input is INPUT_NAME and whose output
    OUTPUT_NAME is, fed a numpy row (no OrtValue to check), on the CPU provider alone (no
    graph capture, no provider to fall back to). They were a third of the model's cost per
    routed request (~3 us of ~9, hot; bench/results/scale.md, eighteenth session). Otherwise,
    or when the wrapper has no compiled session to hand (another onnxruntime), the wrapper's."""
    inner: Any = getattr(session, "_sess", None)
    plain = (
        inner is not None
        and [i.name for i in session.get_inputs()] == [INPUT_NAME]
        and OUTPUT_NAME in [o.name for o in session.get_outputs()]
        and session.get_providers() == ["CPUExecutionProvider"]
    )
    run: Callable[[list[str], dict[str, Any], Any], list[Any]] = inner.run if plain else session.run
    return run


def model_path(name: str) -> Path:
    """`routing.difficulty_model`: "" = the default model, a shipped name, else a file path."""
    if not name:
        return DEFAULT_MODEL
    if name in SHIPPED:
        return MODELS / f"difficulty_{name}.onnx"
    return Path(name)


def load(name: str) -> Difficulty:
    """The model `routing.difficulty_model` names; raises when missing or unloadable (a model
    asked for by name must not silently turn into no model)."""
    path = model_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"routing.difficulty_model: no model at {path}")
    return Difficulty(path)


def load_default() -> Difficulty | None:
    """The shipped model, or None when missing or unloadable (routing goes on without it)."""
    if not DEFAULT_MODEL.exists():
        return None
    try:
        return Difficulty(DEFAULT_MODEL)
    except Exception as err:  # onnxruntime raises its own untyped errors; never fail startup
        log.warning("difficulty model %s not loaded: %s", DEFAULT_MODEL, err)
        return None
