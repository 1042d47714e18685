"""What a config problem says. One with a value an `ARBITER_<SECTION>__<KEY>` variable set names
the variable: it was located at the file's line for that key (`arbiter.toml:3: server.port must
be an integer, not 'abc'`), where the operator found `port = 8787`, nothing wrong, and a value
never used; for a key the file does not hold, at no place at all. And a huge value or key is
shown cut, with its length, not repeated whole."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from arbiter.config import ConfigError, load, loads
from arbiter.offline.demo import API_KEY_ENV
from tests.probe23d_rig import config_text

CASES = {  # variable, value -> the problem's start and what it says
    ("ARBITER_SERVER__PORT", "abc"): "server.port must be an integer, not 'abc' (a string)",
    ("ARBITER_SERVER__WORKERS", "0"): "server.workers must be 1 .. 256 processes",
    ("ARBITER_ROUTING__QUALITY_TARGET", "nan"): "routing.quality_target = nan is outside",
    ("ARBITER_SERVER__PORTT", "1"): "unknown key 'portt'; did you mean 'port'?",
    ("ARBITER_ROUTING__BASELINE", '"nope"'): "unknown model 'nope'",
    # read as no override at all, the file's value served in silence
    ("ARBITER_server__port", "1"): "an override is written in capitals, ARBITER_SERVER__PORT",
}


@pytest.mark.parametrize(("var", "value"), sorted(CASES))
def test_a_problem_with_an_overridden_value_names_its_variable(var: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        loads(config_text(port=8787), env={API_KEY_ENV: "k", var: value}, source="arbiter.toml")
    (problem,) = err.value.problems
    assert problem.startswith(f"environment variable {var}: {CASES[(var, value)]}"), problem


def test_the_files_own_problems_keep_their_lines() -> None:
    """The control: the same value written in the file is located at its line."""
    text = config_text(port=8787).replace("port = 8787", 'port = "abc"')
    with pytest.raises(ConfigError) as err:
        loads(text, env={API_KEY_ENV: "k"}, source="arbiter.toml")
    line = text.splitlines().index('port = "abc"') + 1
    assert err.value.problems == [
        f"arbiter.toml:{line}: server.port must be an integer, not 'abc' (a string)"
    ]


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("shutdown_grace_s = {big}", "server.shutdown_grace_s must be a float, not '[[[["),
        ("{key} = 1", "unknown key 'kkkk"),
    ],
)
def test_a_huge_value_or_key_is_not_repeated_whole(where: str, said: str) -> None:
    """A 100,000-character string where a number belongs (or as a key) was repeated whole in
    the problem: one 100 KB line (10 MB for a 10 MB value) on the terminal and in the log."""
    line = where.format(big='"' + "[" * 100_000 + '"', key="k" * 100_000)
    text = config_text().replace("[server]\n", f"[server]\n{line}\n", 1)
    with pytest.raises(ConfigError) as err:
        loads(text, env={API_KEY_ENV: "k"}, source="arbiter.toml")
    (problem,) = err.value.problems
    assert said in problem and "(100,00" in problem, problem[:300]
    assert len(problem) < 600, len(problem)


def test_a_one_underscore_override_is_warned_not_ignored_in_silence(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`ARBITER_SERVER_PORT=9999` (one underscore) overrode nothing and said nothing: the file's
    port served. It is now a warning naming the override meant; names that are no override
    (ARBITER_SHARED_DIR, ARBITER_ADMIN_KEY: no section) stay silent."""
    path = tmp_path / "arbiter.toml"
    path.write_text(config_text(port=8787))
    env = {API_KEY_ENV: "k", "ARBITER_SERVER_PORT": "9999", "ARBITER_STORE_URLL": "x",
           "ARBITER_SHARED_DIR": "/x", "ARBITER_ADMIN_KEY": "a",
           "ARBITER_SERVER_NOPE": "1"}  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="arbiter.config"):
        assert load(path, env=env).server.port == 8787  # not an override, as before
    said = [r.getMessage() for r in caplog.records if r.name == "arbiter.config"]
    assert len(said) == 2, said
    assert "ARBITER_SERVER_PORT overrides nothing" in said[0] and "ARBITER_SERVER__PORT?" in said[0]
    assert "ARBITER_STORE_URLL" in said[1] and "ARBITER_STORE__URL?" in said[1]
