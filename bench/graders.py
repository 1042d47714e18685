"""Code-execution grader bench: HumanEval's canonical solutions must pass, wrong variants must
fail, and the sandbox escape suite must hold.

Every problem's canonical solution (prompt + canonical_solution) and the wrong variants made from
it (deterministic, seeded AST mutations: a flipped comparison, an off-by-one constant, a wrong
constant returned, swapped arguments/operands, a dropped statement, another problem's solution)
are graded through the sidecar's own grader (arbiter.sandbox.executor.CodeExecutor.grade, the
function the learner calls) with the problem's `test` + `check(entry_point)` as the request's
tests, one at a time, timing each grade. A mutant that happens to behave like the original counts
as a wrong answer that passed: the rate is reported as is (an equivalent mutant is never run
outside the sandbox to find out). Nothing here is tuned on the data.

The grader runs the request's tests AND the prompt's worked examples (``>>>`` doctests and
inline ``f(x) == y`` lines, arbiter.sandbox.examples), as the sidecar does for a request that
carries tests.

Honest split: a problem is in the TUNE half when int(sha256(task_id)[:8], 16) is even, else in
VALIDATION. Rules (mutation operators, example parsing) were changed only after looking at TUNE
rows; the JSON line reports both halves and the whole file (``--split`` grades one half only; the
donors of ``other_solution`` always come from the whole file, so a mutant is the same either way).

Usage: python bench/graders.py [--problems FILE] [--limit N] [--seed S]
                              [--split all|tune|validation]
(default FILE: $ARBITER_SHARED_DIR or ../shared, then data/graders/humaneval.dev.jsonl.gz).
Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import gzip
import hashlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "python")]

from arbiter.config import SandboxSettings  # noqa: E402
from arbiter.sandbox.executor import CodeExecutor  # noqa: E402

SHARED = Path(os.environ.get("ARBITER_SHARED_DIR") or REPO.parent / "shared")
DEFAULT_PROBLEMS = SHARED / "data" / "graders" / "humaneval.dev.jsonl.gz"
PROMPT = "Complete this Python function:\n\n"


@dataclass(frozen=True, slots=True)
class Problem:
    task_id: str
    prompt: str
    solution: str
    test: str
    entry_point: str

    @property
    def source(self) -> str:
        return self.prompt + self.solution

    @property
    def tests(self) -> str:
        return f"{self.test}\n\ncheck({self.entry_point})\n"


def half_of(task_id: str) -> str:
    """ "tune" or "validation": a fixed split by the task id's hash, not by anything read."""
    even = int(hashlib.sha256(task_id.encode()).hexdigest()[:8], 16) % 2 == 0
    return "tune" if even else "validation"


def load_problems(path: Path, limit: int | None = None) -> list[Problem]:
    opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    problems = [
        Problem(r["task_id"], r["prompt"], r["canonical_solution"], r["test"], r["entry_point"])
        for r in rows
    ]
    return problems[:limit] if limit else problems


# --- mutations ----------------------------------------------------------------------------

_FLIP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}  # fmt: skip
_NON_COMMUTATIVE = (ast.Sub, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.LShift, ast.RShift)
# Equivalent by construction, so never made: swapping the arguments of these builtins, or the
# operands of a difference inside abs() (|a - b| = |b - a|). Added after reading the mutants that
# passed on the dev file (bench/results/graders.md has the numbers before and after).
_COMMUTATIVE_BUILTINS = frozenset({"max", "min", "hypot", "gcd", "lcm"})


def _commutative_call(node: ast.Call) -> bool:
    func = node.func
    name = (
        func.id
        if isinstance(func, ast.Name)
        else func.attr
        if isinstance(func, ast.Attribute)
        else ""
    )
    return name in _COMMUTATIVE_BUILTINS


def _body_nodes(tree: ast.Module, entry_point: str = "") -> Iterator[ast.AST]:
    """Nodes inside the bodies of the answer's function (the entry point and the functions
    nested in it; docstrings and the prompt's imports excluded). A helper the prompt gives and
    the tests also call (HumanEval/38's encode_cyclic) is part of the problem, not of the
    answer: a wrong answer is a wrong version of the function asked for (changed on reading a
    TUNE row, 2026-12-05; before, every function in the source was mutated)."""
    entry = [
        n for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == entry_point
    ]  # fmt: skip
    roots: list[ast.AST] = [entry[0]] if entry else [tree]
    for fn in (f for root in roots for f in ast.walk(root)):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        body = fn.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]
        for stmt in body:
            yield from ast.walk(stmt)


def _sites(tree: ast.Module, op: str, entry_point: str = "") -> list[ast.AST]:
    nodes = list(_body_nodes(tree, entry_point))
    if op == "flip_comparison":
        return [n for n in nodes if isinstance(n, ast.Compare) and type(n.ops[0]) in _FLIP]
    if op == "off_by_one":
        return [
            n for n in nodes
            if isinstance(n, ast.Constant) and type(n.value) is int
        ]  # fmt: skip
    if op == "wrong_return":
        return [n for n in nodes if isinstance(n, ast.Return) and n.value is not None]
    if op == "swap_arguments":
        in_abs = {
            id(arg) for n in nodes
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "abs"
            for arg in n.args
        }  # fmt: skip
        return [
            n for n in nodes
            if (isinstance(n, ast.Call) and len(n.args) >= 2 and not _commutative_call(n)
                and ast.dump(n.args[0]) != ast.dump(n.args[1]))
            or (isinstance(n, ast.BinOp) and isinstance(n.op, _NON_COMMUTATIVE)
                and id(n) not in in_abs)
        ]  # fmt: skip
    if op == "drop_line":
        return [n for n in nodes if isinstance(n, ast.stmt) and not _is_docstring(n, tree)]
    raise ValueError(op)


def _apply(node: ast.AST, op: str, tree: ast.Module) -> None:
    if op == "flip_comparison":
        assert isinstance(node, ast.Compare)
        node.ops[0] = _FLIP[type(node.ops[0])]()
    elif op == "off_by_one":
        assert isinstance(node, ast.Constant)
        node.value = node.value + 1
    elif op == "wrong_return":
        assert isinstance(node, ast.Return) and node.value is not None
        # a wrong constant: the other truth value for a boolean (None would pass a test that
        # asserts falsiness, `assert not f(x)`), else None
        value = node.value
        boolean = value.value if isinstance(value, ast.Constant) else None
        node.value = ast.Constant(value=not boolean if isinstance(boolean, bool) else None)
    elif op == "swap_arguments":
        if isinstance(node, ast.Call):
            node.args[0], node.args[1] = node.args[1], node.args[0]
        else:
            assert isinstance(node, ast.BinOp)
            node.left, node.right = node.right, node.left
    elif op == "drop_line":
        _drop(tree, node)


def _drop(tree: ast.Module, target: ast.AST) -> None:
    """Remove statement `target` from its body (`pass` when it was the only statement)."""
    for parent in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(parent, field, None)
            if isinstance(block, list) and target in block:
                block.remove(target)
                if not block and field == "body":
                    block.append(ast.Pass())
                return


MUTATIONS = ("flip_comparison", "off_by_one", "wrong_return", "swap_arguments", "drop_line")


def mutants(problem: Problem, others: list[Problem], seed: int) -> list[tuple[str, str]]:
    """(mutation, source) per mutation that applies, each at a seeded site; plus another
    problem's solution under this problem's entry point. Deterministic for (problem, seed)."""
    original = ast.unparse(ast.parse(problem.source))
    out: list[tuple[str, str]] = []
    for op in MUTATIONS:
        tree = ast.parse(problem.source)
        sites = _sites(tree, op, problem.entry_point)
        if not sites:
            continue
        rng = random.Random(f"{seed}:{problem.task_id}:{op}")
        _apply(rng.choice(sites), op, tree)
        source = ast.unparse(ast.fix_missing_locations(tree))
        if source != original:
            out.append((op, source))
    other = [p for p in others if p.task_id != problem.task_id]
    if other:
        donor = random.Random(f"{seed}:{problem.task_id}:other").choice(other)
        alias = f"\n\n{problem.entry_point} = {donor.entry_point}\n"
        out.append(("other_solution", donor.source + alias))
    return out


def _is_docstring(stmt: ast.stmt, tree: ast.Module) -> bool:
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
        return False
    return any(
        isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and fn.body and fn.body[0] is stmt
        for fn in ast.walk(tree)
    )


# --- grading ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Graded:
    task_id: str
    variant: str  # "canonical" or the mutation
    score: float | None
    detail: str
    ms: float


async def grade_one(executor: CodeExecutor, problem: Problem, variant: str, source: str) -> Graded:
    """One answer through the learner's grader, with the problem's tests as the request's."""
    started = time.perf_counter()
    grade = await executor.grade(
        tenant="bench",
        task="code",
        prompt=PROMPT + problem.prompt,
        content=f"```python\n{source}\n```",
        request_tests=problem.tests,
    )
    ms = (time.perf_counter() - started) * 1000
    return Graded(
        problem.task_id,
        variant,
        None if grade is None else grade.score,
        "" if grade is None else grade.detail,
        ms,
    )


async def grade_all(problems: list[Problem], seed: int, split: str = "all") -> list[Graded]:
    executor = CodeExecutor(SandboxSettings())
    why = await asyncio.to_thread(executor.unavailable)
    if why is not None:
        raise SystemExit(f"no sandbox here: {why}")
    results = []
    for problem in problems:
        if split != "all" and half_of(problem.task_id) != split:
            continue
        results.append(await grade_one(executor, problem, "canonical", problem.source))
        for op, source in mutants(problem, problems, seed):
            results.append(await grade_one(executor, problem, op, source))
    return results


def run_escapes() -> tuple[int, list[str]]:
    """The escape suite (tests/sandbox_escapes.py): escapes, and one line per attempt."""
    from tests.sandbox_escapes import ESCAPES, attempt, world

    escapes = 0
    lines = []
    with socket.socket() as other, tempfile.TemporaryDirectory() as tmp:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        with world(Path(tmp), int(other.getsockname()[1])) as w:
            for escape in ESCAPES:
                escaped, outcome, _ = attempt(escape, w)
                held = not escaped and escape.ended_as_expected(outcome.kind)
                escapes += 0 if held else 1
                lines.append(
                    f"  {escape.name:<24} {'held' if held else 'ESCAPED'}  "
                    f"({outcome.kind or 'ran to the end'}, {outcome.wall_ms:.0f} ms)"
                )
    return escapes, lines


def _bwrap_version() -> str:
    try:
        out = subprocess.run(["bwrap", "--version"], capture_output=True, text=True, check=False)
    except OSError:
        return "bubblewrap"
    return out.stdout.strip() or "bubblewrap"


def summarize(results: list[Graded]) -> dict[str, Any]:
    canonical = [r for r in results if r.variant == "canonical"]
    wrong = [r for r in results if r.variant != "canonical"]
    ms = sorted(r.ms for r in results)
    return {
        "solutions": len(canonical),
        "mutants": len(wrong),
        "correct_pass_rate": round(sum(r.score == 1.0 for r in canonical) / len(canonical), 4),
        "wrong_fail_rate": round(
            sum(r.score is not None and r.score < 1.0 for r in wrong) / max(len(wrong), 1), 4
        ),
        "grade_p50_ms": round(statistics.median(ms), 1),
        "grade_p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=Path, default=DEFAULT_PROBLEMS)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", choices=("all", "tune", "validation"), default="all")
    args = parser.parse_args()
    problems = load_problems(args.problems, args.limit)
    started = time.perf_counter()
    results = asyncio.run(grade_all(problems, args.seed, args.split))
    summary = summarize(results)
    halves = {
        half: summarize(part)
        for half in ("tune", "validation")
        if (part := [r for r in results if half_of(r.task_id) == half])
    }
    print(f"{len(problems)} problems from {args.problems}, {time.perf_counter() - started:.0f} s")
    for r in results:
        if r.variant == "canonical" and r.score != 1.0:
            print(f"  canonical FAILED {r.task_id}: {r.score} {r.detail}")
    print("wrong variants by mutation: failed / made (kinds of failure)")
    for op in (*MUTATIONS, "other_solution"):
        made = [r for r in results if r.variant == op]
        failed = [r for r in made if r.score is not None and r.score < 1.0]
        kinds = Counter(r.detail.split("failure: ")[1].split(" ")[0] for r in failed
                        if "failure: " in r.detail)  # fmt: skip
        print(f"  {op:<16} {len(failed):>3} / {len(made):<3} {dict(kinds.most_common())}")
        for r in made:
            if r not in failed:
                print(f"    passed anyway: {r.task_id}")
    for half, numbers in halves.items():
        print(f"{half}: {json.dumps(numbers)}")
    escapes, lines = run_escapes()
    print("escape suite:")
    print("\n".join(lines))
    print(json.dumps({**summary, "escapes": escapes, "sandbox": _bwrap_version(),
                      "split": args.split, **halves}))  # fmt: skip


if __name__ == "__main__":
    main()
