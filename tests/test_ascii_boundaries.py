"""The patterns that read client or upstream text look for ASCII words on ASCII word boundaries
(regex20): a Unicode ``\\b`` keeps the regex engine's DFA off non-ASCII text, and its fallback
cost 0.4-0.7 ms per 4 KB of CJK for the grader's answer line, the reference grader's letter and
the cascade's partial-expression check (77 ms on 100 KB; bench/regex_cost.py). The matches stay
those of the Unicode originals wherever the words stand apart (bench/regex_equivalence.py: 0 of
13,974 table texts differ outside classify's known Greek-letter row)."""

from __future__ import annotations

import importlib

import pytest

from arbiter import cascade, grading, linear, reference

MODULES = (
    "arbiter.classify",
    "arbiter.cascade",
    "arbiter.grading",
    "arbiter.reference",
    "arbiter.mathcheck",
    "arbiter.judge",
    "arbiter.sandbox.extract",
)
# (\d),(\d{3})\b: its \d is Unicode too, and "1,000元" keeps its comma as before; a comma is rare
# enough that the DFA's prefilter keeps it cheap on CJK (0.001 ms per 4 KB, bench/regex_cost.py)
UNICODE_ON_PURPOSE = {"mathcheck._THOUSANDS_SEP"}
ASCII_B = "(?-u:\\b)"


def _patterns() -> dict[str, linear.Pattern]:
    found: dict[str, linear.Pattern] = {}
    for mod_name in MODULES:
        mod = importlib.import_module(mod_name)
        for name, value in vars(mod).items():
            items = value if isinstance(value, tuple | list) else (value,)
            for i, item in enumerate(items):
                first = item[0] if isinstance(item, tuple) and item else item
                if isinstance(first, linear.Pattern):
                    found[f"{mod_name.removeprefix('arbiter.')}.{name}[{i}]"] = first
    return found


def _has_unicode_boundary(pattern: str) -> bool:
    """A \\b or \\B that is neither ASCII nor an escaped backslash's "b" (\\\\boxed)."""
    rest = pattern.replace(ASCII_B, "").replace("(?-u:\\B)", "").replace("\\\\", "")
    return "\\b" in rest or "\\B" in rest


def test_ascii_boundaries_rewrites_b_and_capital_b_but_not_an_escaped_backslash() -> None:
    assert linear.ascii_boundaries(r"\bx\B") == r"(?-u:\b)x(?-u:\B)"
    assert linear.ascii_boundaries(r"\\boxed\s*\{") == r"\\boxed\s*\{"
    assert linear.ascii_boundaries(r"\\\bx") == r"\\(?-u:\b)x"
    assert linear.compile_ascii_boundaries(r"\\boxed").search(r"a \boxed{1}") is not None


def test_every_pattern_on_client_or_upstream_text_uses_ascii_word_boundaries() -> None:
    patterns = _patterns()
    assert len(patterns) >= 60
    bare = [
        name
        for name, p in patterns.items()
        if name.rsplit("[", 1)[0] not in UNICODE_ON_PURPOSE and _has_unicode_boundary(p.pattern)
    ]
    assert bare == []


# Representative prompts and answers: English, CJK around ASCII words set apart by spaces or
# punctuation, code, JSON. The ASCII-boundary patterns match exactly as the Unicode ones did.
TEXTS = (
    "The answer is 42.",
    "So the final answer is: **3/4**",
    "解答如下。The answer is 42。",
    "答案: the answer is B. 因为……",
    "Answer: (C)",
    "I'm sorry, but I can't help with that.",
    "抱歉。 I'm not sure, it's unclear 这个问题。",
    "Actually, let's assume it's approximately half, however the ratio is 3:1.",
    "x = 3 * (2 +",
    "Then 12 times 3 plus 4 minus 1 divided by 2 multiplied by 5",
    "12 × 3 = 36, then 36 + y * ",
    'Return only JSON: {"a": 1}',
    "select a, b from t where x = 1",
    '```json\n{"id": 1, "name": "item1"}\n```',
    "def f(x):\n    return [i * x for i in range(10) if i % 2]\n",
    "路由模型的成本与质量之间需要权衡。" * 20 + " 2024 the answer is 7",
    "ça coûte 3 € — naïve café? answer is D",
)


def _spans(pattern: linear.Pattern, text: str) -> list[tuple[int, int]]:
    return [m.span(g) for m in pattern.finditer(text) for g in range(len(m.groups()) + 1)]


@pytest.mark.parametrize(
    "name",
    sorted(n for n, p in _patterns().items() if ASCII_B in p.pattern),
)
def test_matches_are_those_of_the_unicode_original(name: str) -> None:
    new = _patterns()[name]
    old = linear.compile(new.pattern.replace(ASCII_B, r"\b"))
    assert [_spans(new, t) for t in TEXTS] == [_spans(old, t) for t in TEXTS]


def test_graders_read_cjk_answers_as_before() -> None:
    assert grading.extract_final_answer("解答如下。The answer is 42。") == "42"
    grade = reference.ReferenceGrader(None).grade("答案如下: the answer is B。", "B")
    assert grade is not None and grade.score == 1.0
    assert cascade.arithmetic_errors("所以 3 * 4 = 12。") == 0
