"""The linear nesting scan config files pass before tomllib (toml_depth.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from arbiter.toml_depth import MAX_TOML_NESTING, NestedTooDeeply, load_toml, nests_deeper_than

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").rglob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_shipped_config_is_shallow(path: Path) -> None:
    assert not nests_deeper_than(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "text",
    [
        'a = "' + "[" * 200 + '"\n',  # brackets in a basic string
        "a = '" + "{" * 200 + "'\n",  # in a literal string
        'a = """\n' + "[" * 200 + '\n"""\n',  # in a multi-line basic string
        "a = '''\n" + "[" * 200 + "\n'''\n",  # in a multi-line literal string
        'a = "\\"' + "[" * 200 + '"\n',  # after an escaped quote
        "# " + "[" * 200 + "\na = 1\n",  # in a comment
    ],
)
def test_brackets_inside_strings_and_comments_do_not_count(text: str) -> None:
    tomllib.loads(text)  # valid TOML
    assert not nests_deeper_than(text)


def test_nesting_is_counted_up_to_the_limit() -> None:
    def nested(depth: int) -> str:
        return "a = " + "[" * depth + "]" * depth + "\n"

    assert not nests_deeper_than(nested(MAX_TOML_NESTING))
    tomllib.loads(nested(MAX_TOML_NESTING))  # what the limit lets through, tomllib parses
    assert nests_deeper_than(nested(MAX_TOML_NESTING + 1))
    assert nests_deeper_than("a = " + "{b = " * 100 + "1" + "}" * 100 + "\n")
    assert nests_deeper_than('a = ["x", ' * 100 + "1" + "]" * 100 + "\n")  # strings between


def test_load_toml_refuses_deep_text_before_tomllib_recurses() -> None:
    assert load_toml("a = [[1]]\n") == {"a": [[1]]}
    with pytest.raises(NestedTooDeeply):
        load_toml("a = " + "[" * 100_000 + "]" * 100_000 + "\n")


def test_a_deep_env_override_is_read_as_a_string_not_recursed() -> None:
    """ARBITER_<SECTION>__<KEY> values are parsed as TOML values (else kept as strings)."""
    from arbiter import config

    example = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"
    deep = "[" * 100_000
    env = {"SIM_API_KEY": "sk-test", "ARBITER_ADMIN_KEY": "adm-test", "ARBITER_SERVER__HOST": deep}
    settings = config.loads(example.read_text(), env=env)
    assert settings.server.host == deep
