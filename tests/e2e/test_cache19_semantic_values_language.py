"""The semantic cache at a bound an operator may set (`max_false_hit_rate = 0.5`) on a live
sidecar (`arbiter serve`, real sockets) in front of a live sim, driven by the official `openai`
SDK: a prompt whose quoted or JSON values differ from the stored one's (`{"status": "shipped"}` /
`"lost"`, `git stash pop` / `drop`), or that asks for another language ("Answer in English" /
"in Spanish", "Translate to German" / "to Italian"), was served the stored answer by the exact
stage. The hard rules (cache/pair_guard.py: `values`, `language`) now refuse them; a paraphrase
is still served at the same bound (the control). bench/semantic_guard_values_language.py
measures the rules on trap pairs (a validation split) and on Quora's holdout rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from arbiter.cache.pair_guard import _may_be_outside_latin, _script_of, differ, quoted, written_in
from arbiter.cache.verifier import words
from tests.conftest import ADMIN_KEY, Sidecar, open_sidecar

TRAPS = [
    (
        'Summarize {"status": "shipped", "item": "lamp"}',
        'Summarize {"status": "lost", "item": "lamp"}',
    ),
    ("Explain `git stash pop`", "Explain `git stash drop`"),
    ("Translate to German: the cat sleeps", "Translate to Italian: the cat sleeps"),
    ("Answer in English: what is photosynthesis?", "Answer in Spanish: what is photosynthesis?"),
    ("Explain photosynthesis in French", "Explain photosynthesis in German"),
]
SAME = ("Write a haiku about the sea", "Write a haiku about the ocean")


@pytest.fixture(scope="module")
def loose(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    def edit(doc: dict[str, Any]) -> None:
        doc["cache"] = {"enabled": True, "semantic": True, "max_false_hit_rate": 0.5}

    yield from open_sidecar(tmp_path_factory.mktemp("cache19-traps"), sim_url, edit)


def test_other_values_and_other_languages_are_never_a_semantic_hit(loose: Sidecar) -> None:
    with openai.OpenAI(
        base_url=loose.base_url, api_key=ADMIN_KEY, max_retries=0, timeout=60
    ) as gpt:

        def status(text: str, context: int) -> str:
            raw = gpt.chat.completions.with_raw_response.create(
                model="sim-small",
                # each pair in a context of its own: its stored prompt is the only candidate
                messages=[{"role": "system", "content": f"Session {context}."},
                          {"role": "user", "content": text}],
                max_tokens=300,  # its own limit: an answer the sim cuts short is still stored
            )  # fmt: skip
            raw.parse()
            return raw.headers["x-arbiter-cache"]

        pairs = [*TRAPS, SAME]
        for i, (stored, _) in enumerate(pairs):
            assert status(stored, i) == "miss", stored
        served = [(s, a) for i, (s, a) in enumerate(TRAPS) if status(a, i) != "miss"]
        assert served == [], served  # before the rules: each of the five was a semantic hit
        assert status(SAME[1], len(TRAPS)) == "semantic-hit", "the control: a paraphrase is served"


def test_what_the_values_and_language_rules_call_another_question() -> None:
    assert differ('Summarize {"status": "shipped"}', 'Summarize {"status": "lost"}') == "values"
    assert differ('Is {"a": null} valid?', 'Is {"a": 1} valid?') == "numbers"
    assert differ('Is {"a": null} valid?', 'Is {"a": []} valid?') == "values"
    # case and spacing inside a quote are not a value; quoting on one side only is words
    assert differ('What does "Lit" mean?', 'What does " lit " mean?') is None
    assert differ('What does "lit" mean?', "What does lit mean?") is None
    assert quoted('a "b  C" and `d` and \u201ce\u201d and "unclosed') == {"b c": 1, "d": 1, "e": 1}
    assert differ("Answer in French", "Answer in German") == "language"
    # which languages, not how often: both ask about English writing
    assert (
        differ("Improve my English writing and English grammar", "Improve English writing") is None
    )
    assert differ("Answer in French", "Réponds en français") is None  # French either way
    assert differ("How do I learn Spanish fast?", "Fastest way to learn español?") is None
    assert differ("Why is the sky blue?", "¿Por qué el cielo es azul?") == "language"
    assert differ("What is the weather like today?", "Какая сегодня погода?") == "language"
    assert written_in("こんにちは、元気ですか", words("こんにちは、元気ですか")) == "ja"
    assert written_in("你好吗", words("你好吗")) == "han"
    assert written_in("Van Gogh paintings", words("Van Gogh paintings")) is None  # too little
    # English paraphrases are never told apart by the language they are written in
    assert differ("How can I improve my sleep?", "How do I improve my sleep?") is None
    assert written_in("What does 你好 mean in English?", words("What does 你好 mean?")) == "en"
    # the C-speed precheck never skips a text whose letters are mostly outside Latin
    texts = ["Какая сегодня погода?", "你好吗", "Où est la gare la plus proche ?", "ok", "Straße",
             "Ελληνικά και English", "日本語 and English words here", "¿Qué?"]  # fmt: skip
    for text in texts:
        assert _may_be_outside_latin(text) or _script_of(text) is None, text
