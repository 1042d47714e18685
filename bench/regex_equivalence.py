"""Do the patterns on ASCII word boundaries match what their Unicode-boundary originals matched,
on the shared tables' texts (regex20)?

Every module-level pattern built with ``linear.compile_ascii_boundaries`` (classify, cascade,
grading, reference, mathcheck) is compiled a second time with Unicode ``\\b`` (what it was
before), and both scan every prompt and every model response of the routing tables (GSM8K,
MMLU, AlpacaEval) and HumanEval's prompts and solutions, read in place from ../shared/data. A
text differs when the list of match spans (all groups) differs. The control: the same comparison
on mixed CJK-English texts built to put an ASCII word next to a CJK letter, where the two must
differ for some patterns (so the check can see a difference when there is one).

    python bench/regex_equivalence.py
"""

from __future__ import annotations

import gzip
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from arbiter import linear

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.regex_cost import patterns

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ARBITER_SHARED_DIR", ROOT.parent / "shared"))
TABLES = ("gsm8k", "mmlu", "alpaca_eval")
ASCII_B = "(?-u:\\b)"
CONTROL = (
    "用python写一个函数",
    "the answer is B。答案是B",
    "答案answer is A中",
    "我觉得maybe 3 times4 plus5",
    "請把這段話 translate into French",
    "I'm sorry但是I can't help",
    "结果是percent百分比, half一半",
    "x*太 = 2",
)


def changed_patterns() -> dict[str, tuple[linear.Pattern, linear.Pattern]]:
    """name -> (the ASCII-boundary pattern, its Unicode-boundary original), among the patterns
    bench/regex_cost.py times (the same names)."""
    return {
        name: (p, linear.compile(p.pattern.replace(ASCII_B, r"\b")))
        for name, p in patterns().items()
        if ASCII_B in p.pattern
    }


def table_texts() -> Iterator[str]:
    for table in TABLES:
        with gzip.open(SHARED / "data" / "routing" / f"{table}.dev.jsonl.gz", "rt") as fh:
            for line in fh:
                row = json.loads(line)
                for message in row["messages"]:
                    if isinstance(message.get("content"), str):
                        yield message["content"]
                for outcome in (row.get("outcomes") or {}).values():
                    if isinstance(outcome, dict) and isinstance(outcome.get("response"), str):
                        yield outcome["response"]
    with gzip.open(SHARED / "data" / "graders" / "humaneval.dev.jsonl.gz", "rt") as fh:
        for line in fh:
            row = json.loads(line)
            yield from (row[k] for k in ("prompt", "canonical_solution", "test") if k in row)


def spans(pattern: linear.Pattern, text: str) -> list[tuple[int, int]]:
    groups = pattern._re.groups  # every group's span: a changed capture is a change
    return [m.span(g) for m in pattern.finditer(text) for g in range(groups + 1)]


def compare(texts: list[str]) -> dict[str, int]:
    """name -> how many texts the two versions match differently on."""
    return {
        name: sum(spans(new, t) != spans(old, t) for t in texts)
        for name, (new, old) in changed_patterns().items()
    }


def main() -> None:
    texts = list(table_texts())
    tables = compare(texts)
    control = compare(list(CONTROL))
    print(f"{len(changed_patterns())} patterns on ASCII boundaries; {len(texts):,} table texts")
    print("| pattern | table texts that differ | control texts that differ |")
    print("|---|---|---|")
    for name in tables:
        print(f"| {name} | {tables[name]} of {len(texts):,} | {control[name]} of {len(CONTROL)} |")
    print(
        json.dumps(
            {
                "bench": "regex_equivalence",
                "patterns": len(tables),
                "table_texts": len(texts),
                "table_differences": sum(tables.values()),
                "control_differences": sum(control.values()),
            }
        )
    )


if __name__ == "__main__":
    main()
