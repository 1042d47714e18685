"""Outside probe (twenty-fourth session) of the semantic cache's false hits, through a real
`arbiter serve` (the shipped MiniLM stages) and the official SDKs.

1. A long last turn whose texts differ only past what the embeddings read.

Both embeddings (the static table and the exact MiniLM stage) read a text's first ~126 WordPieces
(embedding.MAX_TOKENS); a user who pastes a memo and asks about it puts the question after that.
"<memo> Question: who should own the hiring plan?" and "<memo> Question: what are the biggest
risks mentioned?" were one vector (cosine 1.0), and at `max_false_hit_rate = 0.3` (a bound an
operator may set; the default 0.02 serves nothing) the second was served the first's answer
through the official SDKs. Now the parts no embedding read must be the same text
(SemanticMatcher.differ_unread); a paraphrase inside the window with the same memo after it is
still served (the control: the semantic side is on and serving at that bound).

2. Opposites: "Is ibuprofen safe for dogs?" was served the answer to "... unsafe ..." and to
"... dangerous ..." at 0.3 (P(false) 0.31-0.32, a paraphrase's 0.37); "raise" / "lower" blood
pressure, "before" / "after" eating, import / export at 0.5. pair_guard's `opposites` rule
refuses a pair where one prompt has a word whose opposite (or un-/in-/dis-/non- negation) the
other has.

3. Unquoted literals: "Is bob@mail.net a valid email?" was served the answer to "... bob@mail.com
..." at 0.3 (P(false) 0.34); "rm -r" / "rm -f", "git reset --hard" / "--soft" at 0.5. The values
rule read only quoted values; pair_guard's `literals` rule compares the tokens that hold a
symbol.

4. Accents: the embeddings' tokenizer strips diacritics, so "Qual é o nome da minha avó?"
(grandmother) and "... avô?" (grandfather), "un año" / "un ano", "schon" / "schön" were one
vector (cosine 1.00) and served each other's answer at 0.3; pair_guard's `accents` rule refuses
a pair whose words differ by their marks alone. bench/semantic_guard_opposites.py measures the
rules."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from tokenizers import Tokenizer

from arbiter.cache.pair_guard import differ
from arbiter.cache.semantic import default_matcher
from arbiter.embedding import MAX_TOKENS, Embedder
from tests.conftest import ADMIN_KEY, Sidecar, open_sidecar
from tests.probe24a_rig import cache_status

MEMO = (
    "The following is an internal memo about our quarterly planning. Our team met on several "
    "occasions to discuss the roadmap, the hiring plan, the budget for the coming year, and the "
    "risks we see in the supply chain. Everyone agreed that the priorities should be reliability, "
    "customer support and the new reporting features. The meeting notes were circulated "
    "afterwards and several people added comments about the timeline. "
) * 3
TAIL = (
    MEMO + "\n\nQuestion: who should own the hiring plan?",
    MEMO + "\n\nQuestion: what are the biggest risks mentioned?",
)
# the control: the words that differ are inside the window, the memo after them the same
HEAD = ("Summarize this memo: " + MEMO, "Give me a summary of this memo: " + MEMO)


OPPOSITES = [
    ("Is ibuprofen safe for dogs?", "Is ibuprofen unsafe for dogs?"),
    ("Is aspirin safe for cats?", "Is aspirin dangerous for cats?"),
]
SAME = ("Write a haiku about the sea", "Write a haiku about the ocean")
LITERALS = ("Is bob@mail.net a valid email?", "Is bob@mail.com a valid email?")
SAME_LITERALS = ("How do I use os.path.join?", "How can I use os.path.join?")
ACCENTS = ("Qual é o nome da minha avó?", "Qual é o nome da minha avô?")
SAME_ACCENTS = ("How do I write a résumé?", "How can I write a résumé?")


@pytest.fixture(scope="module")
def loose(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    def edit(doc: dict[str, Any]) -> None:
        doc["cache"] = {"enabled": True, "semantic": True, "max_false_hit_rate": 0.3}
        for model in doc["models"].values():  # images read by every pool model
            if "tools" in model["capabilities"]:
                model["capabilities"].append("vision")

    yield from open_sidecar(tmp_path_factory.mktemp("probe24a-window"), sim_url, edit)


def _trap_then_control(
    sc: Sidecar, trap: tuple[str, str], control: tuple[str, str], limit: int, sdk: str = "openai"
) -> list[str]:
    """Store trap[0] and control[0], each alone in its partition (max_tokens `limit`, `limit` +
    1: no neighbour's crowding decides for it), then ask trap[1] and control[1]."""
    return [
        cache_status(sc, trap[0], limit, sdk),
        cache_status(sc, control[0], limit + 1, sdk),
        cache_status(sc, trap[1], limit, sdk),
        cache_status(sc, control[1], limit + 1, sdk),
    ]


# stored, stored, the trap asked (before the fixes: semantic-hit), the control asked
HELD = ["miss", "miss", "miss", "semantic-hit"]


def test_a_question_after_a_long_memo_is_not_served_another_questions_answer(
    loose: Sidecar,
) -> None:
    assert _trap_then_control(loose, TAIL, HEAD, 300) == HELD


def test_the_same_through_the_anthropic_sdk(loose: Sidecar) -> None:
    memo = MEMO.replace("quarterly", "yearly")  # entries of its own, whatever the first test left
    tail = (TAIL[0].replace(MEMO, memo), TAIL[1].replace(MEMO, memo))
    head = (HEAD[0].replace(MEMO, memo), HEAD[1].replace(MEMO, memo))
    assert _trap_then_control(loose, tail, head, 300, "anthropic") == HELD


def test_what_differ_unread_calls_unread() -> None:
    m = default_matcher(Embedder.load(), 0.3)
    end = m.embedder.window_end(MEMO)
    assert 0 < end < len(MEMO)  # the memo alone runs past the window
    assert m.differ_unread(*TAIL)
    middle = (MEMO + "The budget is approved. " + MEMO, MEMO + "The budget is cut. " + MEMO)
    assert m.differ_unread(*middle)  # a change in the middle, the same ending
    assert not m.differ_unread(*HEAD)  # the change inside the window, the tail shared
    assert not m.differ_unread(TAIL[0], TAIL[0])
    assert not m.differ_unread("What is the capital of France?", "Capital of France?")
    # a text the window reads whole is the stages' to judge, however it differs
    assert m.embedder.window_end("word " * 30) == len("word " * 30)


def test_window_end_is_where_the_whole_texts_window_ends() -> None:
    """window_end tokenizes a prefix; it must name the character the whole text's 126th
    WordPiece ends at (or the text's length when it has no more), whatever the words."""
    e = Embedder.load()
    whole = Tokenizer.from_str(e._tok.to_str())
    whole.no_truncation()
    k = MAX_TOKENS - 2
    rng = random.Random(24)
    words = ["memo", ".", "antidisestablishmentarianism", "é", "日本語", "x" * 300, "a-b", "\n"]
    for _ in range(200):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 600)))[:4000]
        enc = whole.encode(text, add_special_tokens=False)
        expected = len(text) if len(enc.ids) <= k else enc.offsets[k - 1][1]
        assert e.window_end(text) == expected, text[:80]


def test_a_question_is_not_served_its_opposites_answer(loose: Sidecar) -> None:
    assert _trap_then_control(loose, OPPOSITES[0], SAME, 400) == HELD
    assert cache_status(loose, OPPOSITES[1][0], 402) == "miss"
    assert cache_status(loose, OPPOSITES[1][1], 402) == "miss"  # before the fix: semantic-hit


def test_what_the_opposites_rule_calls_opposite() -> None:
    assert differ(*OPPOSITES[0]) == "opposites"
    assert differ(*OPPOSITES[1]) == "opposites"
    assert differ("Take it before meals", "Take it after meals") == "opposites"
    assert differ("Is it legal here?", "Is it illegal here?") == "opposites"
    assert differ("Is it toxic?", "Is it non-toxic?") == "opposites"
    assert (
        differ("Is the Moon bigger than Pluto?", "Is the Moon smaller than Pluto?") == "opposites"
    )
    assert differ(*SAME) is None
    # two words of one end of a scale are synonyms, not opposites
    assert differ("How do I delete a branch?", "How do I remove a branch?") is None
    assert differ("Is it dangerous?", "Is it harmful?") is None
    assert differ("Is it big?", "Is it large?") is None
    assert differ("What is an index?", "What is a dex?") is None  # a stem under 4 letters
    assert differ("Is it safe and fast?", "Is it fast and safe here?") is None  # both words each


def test_a_question_is_not_served_the_answer_for_another_literal(loose: Sidecar) -> None:
    assert _trap_then_control(loose, LITERALS, SAME_LITERALS, 500, "anthropic") == HELD


def test_what_the_literals_rule_calls_another_literal() -> None:
    assert differ(*LITERALS) == "literals"
    assert differ("What does rm -r do?", "What does rm -f do?") == "literals"
    assert differ("Explain git reset --hard", "Explain git reset --soft") == "literals"
    assert differ(*SAME_LITERALS) is None
    # a compound word, an apostrophe, sentence marks and brackets make no literal
    assert differ("What is long-term memory?", "What's long-term memory (briefly)?") is None
    assert differ("Is it ok?", "Is it ok!") is None


def test_a_question_is_not_served_the_answer_for_another_accent(loose: Sidecar) -> None:
    assert _trap_then_control(loose, ACCENTS, SAME_ACCENTS, 700) == HELD


def test_what_the_accents_rule_calls_another_word() -> None:
    assert differ(*ACCENTS) == "accents"
    assert differ("¿Cuántos días tiene un año?", "¿Cuántos días tiene un ano?") == "accents"
    assert differ("Ist das Haus schon verkauft?", "Ist das Haus schön verkauft?") == "accents"
    assert differ(*SAME_ACCENTS) is None
    assert differ("Qual é o nome da minha avó?", "Qual o nome da minha avó?") is None  # no pair


def _image(byte: int) -> dict[str, Any]:
    png = b"\x89PNG\r\n\x1a\n" + bytes([byte]) * 24  # the signature, then other bytes
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    return {"type": "image_url", "image_url": {"url": url}}


def _ask(text: str, image: int | None = None) -> list[dict[str, Any]]:
    if image is None:
        return [{"role": "user", "content": text}]
    return [{"role": "user", "content": [{"type": "text", "text": text}, _image(image)]}]


TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
SCHEMA = {"type": "json_schema", "json_schema": {"name": "poem", "schema": {"type": "object"}}}
# the stored request (SAME[0] under these fields), then SAME[1] under other ones: the paraphrase
# would be served if the rest were the same (the control), so each is a semantic miss only
# because of the field it changes
CONTEXTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "system prompt": (
        {"messages": [{"role": "system", "content": "Answer in rhyme."}, *_ask(SAME[0])]},
        {"messages": [{"role": "system", "content": "Answer in prose."}, *_ask(SAME[1])]},
    ),
    "an earlier turn": (
        {"messages": [{"role": "user", "content": "I live in Oslo."},
                      {"role": "assistant", "content": "Noted."}, *_ask(SAME[0])]},
        {"messages": [{"role": "user", "content": "I live in Lima."},
                      {"role": "assistant", "content": "Noted."}, *_ask(SAME[1])]},
    ),
    "tools": ({"messages": _ask(SAME[0])}, {"messages": _ask(SAME[1]), "tools": [TOOL]}),
    "response_format": (
        {"messages": _ask(SAME[0])},
        {"messages": _ask(SAME[1]), "response_format": SCHEMA},
    ),
    "temperature": ({"messages": _ask(SAME[0])}, {"messages": _ask(SAME[1]), "temperature": 1.5}),
    "another image": ({"messages": _ask(SAME[0], 1)}, {"messages": _ask(SAME[1], 2)}),
    "auto, not the model named": (
        {"messages": _ask(SAME[0])},
        {"messages": _ask(SAME[1]), "model": "auto"},
    ),
}  # fmt: skip


def _reworded(body: dict[str, Any]) -> dict[str, Any]:
    """The stored request with its last turn's text reworded (SAME[0] -> SAME[1])."""
    out: dict[str, Any] = json.loads(json.dumps(body).replace(SAME[0], SAME[1]))
    return out


def test_a_paraphrase_is_served_only_in_the_same_context(loose: Sidecar) -> None:
    """Held on base24: the context key (every field but the last user turn's text, its images
    kept) partitions the semantic side. The control is the same paraphrase in the same context,
    served; each pair has a max_tokens of its own (its own partition)."""
    served = []
    for i, (name, (stored, asked)) in enumerate(CONTEXTS.items()):
        assert cache_status(loose, stored, 600 + i) == "miss", name
        if cache_status(loose, asked, 600 + i) != "miss":
            served.append(name)
    assert served == []
    controls = {
        name: cache_status(loose, _reworded(stored), 600 + i)
        for i, (name, (stored, _)) in enumerate(CONTEXTS.items())
    }
    assert controls == dict.fromkeys(CONTEXTS, "semantic-hit")


def test_a_semantic_hit_streams_the_stored_answer_through_both_sdks(loose: Sidecar) -> None:
    """Held on base24: the stored answer (asked whole) is what a paraphrase asked streamed gets,
    as a stream each SDK reads to its end (OpenAI chunks, Anthropic events)."""
    with (
        openai.OpenAI(base_url=loose.base_url, api_key=ADMIN_KEY, max_retries=0, timeout=60) as gpt,
        anthropic.Anthropic(
            base_url=loose.root_url, api_key=ADMIN_KEY, max_retries=0, timeout=60
        ) as claude,
    ):
        stored = gpt.chat.completions.create(
            model="sim-small", max_tokens=800, messages=_ask(SAME[0])
        )
        with gpt.chat.completions.with_streaming_response.create(
            model="sim-small", max_tokens=800, messages=_ask(SAME[1]), stream=True
        ) as raw:
            assert raw.headers["x-arbiter-cache"] == "semantic-hit"
            chunks = list(raw.parse())
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == stored.choices[0].message.content
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        whole = claude.messages.create(
            model="sim-small", max_tokens=801, messages=[{"role": "user", "content": SAME[0]}]
        )
        with claude.messages.stream(
            model="sim-small", max_tokens=801, messages=[{"role": "user", "content": SAME[1]}]
        ) as stream:
            assert stream.response.headers["x-arbiter-cache"] == "semantic-hit"
            final = stream.get_final_message()
        assert [b.text for b in final.content if b.type == "text"] == [
            b.text for b in whole.content if b.type == "text"
        ]
        assert final.stop_reason == whole.stop_reason
