"""`arbiter replay --routing-config` with outsiders' TOML: parsed by the sidecar's own strict
parser, files named relative to the TOML, keys the replay cannot model said out loud, and each
shipped example replayed on every synthetic table shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arbiter import difficulty
from arbiter.offline import outcome_table as ot
from arbiter.offline import replay_cli
from arbiter.routing_file import read_routing
from tests.replay_shapes import SHAPES, STRONG, TWO, WEAK, write_shape
from tests.test_replay_inputs import CONTRACT

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "routing"
KNOBS = {"math": "0.2,0.5", "knowledge": "0.01,1.0", "knowledge_calls": "0.8,1.0", "chat": "0,2",
         "chat_judge": "0,2"}  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _one_difficulty_model_per_file() -> Iterator[None]:
    """Each replay loads its difficulty model (the knowledge ones: the embedder's weights and an
    ONNX session, ~0.7 s of CPU), and each example replays 14 table shapes: the module loads each
    model file once (the same real model; a file that cannot load still raises every time)."""
    real, loaded = difficulty.Difficulty, {}

    def shared(path: Path = difficulty.DEFAULT_MODEL) -> difficulty.Difficulty:
        if path not in loaded:
            loaded[path] = real(path)
        return loaded[path]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(difficulty, "Difficulty", shared)
        yield


def _toml(tmp: Path, body: str, name: str = "r.toml") -> Path:
    path = tmp / name
    path.write_text(body, encoding="utf-8")
    return path


def _run(table: Path, models: Path, cfg: Path, *extra: str) -> int:
    args = [str(table), "--models", str(models), "--routing-config", str(cfg), "--no-progress"]
    return replay_cli.main([*args, *extra])


@pytest.mark.parametrize("example", sorted(KNOBS))
def test_each_shipped_example_replays_every_table_shape(tmp_path: Path, example: str) -> None:
    assert {p.stem for p in EXAMPLES.glob("*.toml")} == set(KNOBS)  # a new example joins here
    cfg = EXAMPLES / f"{example}.toml"
    if example == "chat_judge":  # the shapes' pool has no gpt-3.5: its strong model judges
        text = cfg.read_text().replace('"gpt-3.5-turbo-1106"', json.dumps(STRONG))
        cfg = _toml(tmp_path, text, "chat_judge.toml")
    for shape in sorted(SHAPES):
        table, models = write_shape(tmp_path, shape)
        out = tmp_path / f"{shape}.json"
        knobs = ["--sweep", "--knobs", KNOBS[example], "--out", str(out)]
        assert _run(table, models, cfg, *knobs) == 0, shape
        text = out.read_text()
        assert "NaN" not in text and "Infinity" not in text, shape
        doc = json.loads(text)
        assert [k for k in CONTRACT if k not in doc] == [], shape
        assert doc["requests"] == SHAPES[shape][1] and doc["routing_config"].endswith(
            example + ".toml"
        )


def test_chat_example_on_a_pool_without_its_first_models_names_the_pool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """chat.toml names AlpacaEval's and MT Bench's Mixtral; a table with neither is told which
    models it has (the sidecar refuses that config on such a pool too)."""
    table, models = write_shape(tmp_path, "plain_jsonl")
    renamed = tmp_path / "renamed.jsonl"
    renamed.write_text(table.read_text().replace(WEAK, "my-small-model"))
    prices = json.loads(models.read_text())
    prices["models"][1]["id"] = "my-small-model"
    models.write_text(json.dumps(prices))
    assert _run(renamed, models, EXAMPLES / "chat.toml") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the pool is the table's models: " in err[0], err
    assert "my-small-model" in err[0]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("[routing]\ncost_wieght = 0.5\n", "unknown key 'cost_wieght'"),
        ('[routing]\nexplore = "high"\n', "routing.explore must be a float"),
        ("[server]\nport = 8080\n", "no [routing] section"),
        ("[routing\n", "invalid TOML"),
        ('[routing]\npriors_file = "absent.json"\n', "routing.priors_file"),
        ('[routing]\nbaseline = "ghost"\n', "unknown model 'ghost' (the pool is the table's"),
        (
            '[routing]\njudge_model = "gpt-3.5-turbo-1106"\n',
            "unknown model 'gpt-3.5-turbo-1106' (the pool is the table's",
        ),
    ],
)
def test_bad_routing_configs_are_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, says: str
) -> None:
    table, models = write_shape(tmp_path, "plain_jsonl")
    assert _run(table, models, _toml(tmp_path, body)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("arbiter replay: ") and says in err[0], err


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("[routing]\nexplore = 0.5\ncost_weight = = 1\n", 3),
        ("# the routing\n\n[routing]\nexplore = [0.5,\n", 4),  # cut short: its last line
    ],
)
def test_invalid_toml_in_a_routing_config_names_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, line: int
) -> None:
    """file:line, as the sidecar's config says it (was the file alone)."""
    table, models = write_shape(tmp_path, "plain_jsonl")
    cfg = _toml(tmp_path, body)
    assert _run(table, models, cfg) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{cfg}:{line}: invalid TOML" in err[0], err


def test_a_routing_config_that_is_not_utf8_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table, models = write_shape(tmp_path, "plain_jsonl")
    cfg = tmp_path / "latin1.toml"
    cfg.write_bytes(b"[routing]\n# caf\xe9\nexplore = 0.5\n")
    assert _run(table, models, cfg) == 2
    assert "not UTF-8 text" in capsys.readouterr().err


def test_a_routing_config_with_a_bom_is_refused_saying_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Notepad's BOM: tomllib calls it an invalid statement; the sidecar and the replay say what
    it is (both refuse it: the replay runs only what a sidecar would)."""
    from arbiter.config import load
    from arbiter.errors import ConfigError

    table, models = write_shape(tmp_path, "plain_jsonl")
    cfg = tmp_path / "bom.toml"
    cfg.write_bytes(b"\xef\xbb\xbf[routing]\nexplore = 0.5\n")
    assert _run(table, models, cfg) == 2
    assert "byte order mark (BOM)" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="byte order mark"):
        load(cfg, env={})


def test_bad_knobs_with_a_routing_config_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table, models = write_shape(tmp_path, "plain_jsonl")
    cfg = _toml(tmp_path, '[routing]\npriors_file = ""\n')
    for knobs in ("0.5,high", "0.5,nan"):
        assert _run(table, models, cfg, "--sweep", "--knobs", knobs) == 2
        assert "--knobs" in capsys.readouterr().err


def test_keys_the_replay_cannot_model_are_named_not_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table, models = write_shape(tmp_path, "plain_jsonl")
    body = ('[routing]\npriors_file = ""\nlatency_quantile = 0.95\nseed = 3\n'
            '[models.small]\nupstream = "x"\n')  # fmt: skip
    out = tmp_path / "out.json"
    assert _run(table, models, _toml(tmp_path, body), "--out", str(out)) == 0
    err = capsys.readouterr().err
    assert "not replayed: routing.latency_quantile" in err and "[models] (only [routing]" in err
    assert json.loads(out.read_text())["routing_ignored"] == [
        "routing.latency_quantile",
        "routing.seed",
        "[models]",
    ]
    quiet = _toml(tmp_path, '[routing]\npriors_file = ""\n', "quiet.toml")
    assert _run(table, models, quiet, "--out", str(out)) == 0
    assert "not replayed" not in capsys.readouterr().err
    assert "routing_ignored" not in json.loads(out.read_text())


def test_optimistic_is_replayed_as_the_sidecar_runs_it(tmp_path: Path) -> None:
    table, models = write_shape(tmp_path, "plain_jsonl")
    loaded = ot.load_table(table, ot.load_models(models))
    for value in (False, True):
        cfg = _toml(tmp_path, f'[routing]\npriors_file = ""\noptimistic = {str(value).lower()}\n')
        routing, _ = read_routing(cfg, TWO)
        replayed, _ = replay_cli.from_routing(routing, loaded)
        assert replayed.params is not None and replayed.params.optimistic is value


def test_files_a_routing_config_names_are_read_from_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """priors_file = "priors/mine.json" means next to the TOML, wherever the replay runs from."""
    table, models = write_shape(tmp_path, "plain_jsonl")
    conf = tmp_path / "conf"
    (conf / "priors").mkdir(parents=True)
    mine: dict[str, Any] = {"quality": {STRONG: {"math": 0.97}, WEAK: {"math": 0.11}}}
    (conf / "priors" / "mine.json").write_text(json.dumps(mine))
    cfg = _toml(conf, '[routing]\npriors_file = "priors/mine.json"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    routing, _ = read_routing(cfg, TWO)
    assert Path(routing.priors_file) == conf / "priors" / "mine.json"
    replayed, _ = replay_cli.from_routing(routing, ot.load_table(table, ot.load_models(models)))
    assert replayed.priors[WEAK]["math"] == pytest.approx(0.11)
    assert _run(table, models, cfg, "--difficulty", "none") == 0
    shipped = _toml(conf, '[routing]\npriors_file = "builtin"\ndifficulty_model = "knowledge"\n')
    routing, _ = read_routing(shipped, TWO)  # shipped names stay names
    assert (routing.priors_file, routing.difficulty_model) == ("builtin", "knowledge")
