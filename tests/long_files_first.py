"""Long test files first, so the suite's end is short ones.

The Makefile's test-py runs pytest-xdist with `--dist loadfile` (a file's tests on one worker)
and `--no-loadscope-reorder`: files go to workers in collection order. xdist's default orders
them by test count, which put the two slowest files (one test each: the QQP held-out check and
schemathesis) last, one worker running them for minutes while the others had finished. Longest
first (LPT scheduling) leaves the short files to even out the end. Seconds: each file's sum in
session 24's six junit runs under load (about 3x a quiet host's); a file not listed keeps its
collection order after these. Dropped since (suite26b): test_linear_time.py (97 s: one import
of the checks per module now, ~4x less) and test_replay_routing_inputs.py (58 s: one difficulty
model load per file, ~4x less).
"""

from __future__ import annotations

import pytest

LONGEST = (
    "tests/test_probe19a_whole_answers.py",  # 285 s
    "tests/test_probe19a_streams.py",  # 236 s
    "tests/test_semantic_cache_qqp.py",  # 235 s
    "tests/test_schemathesis.py",  # 219 s
    "tests/e2e/test_durability.py",  # 212 s
    "tests/e2e/test_bad_input.py",  # 178 s
    "tests/e2e/test_dashboard_probe17.py",  # 100 s
    "tests/test_probe22b_prompt_tokenizer.py",  # 97 s
    "tests/test_probe19a_other_kinds.py",  # 95 s
    "tests/e2e/test_failover.py",  # 91 s
    "tests/adversarial/test_probe_big_bodies.py",  # 89 s
    "tests/e2e/test_budget_race.py",  # 89 s
    "tests/e2e/test_pg_restart_replicas.py",  # 81 s
    "tests/e2e/test_auth.py",  # 78 s
    "tests/adversarial/test_probe13b_sdk_retries.py",  # 72 s
    "tests/store/test_writer_process.py",  # 71 s
    "tests/adversarial/test_probe10b_dashboard_text.py",  # 69 s
    "tests/e2e/test_cascade_e2e.py",  # 68 s
    "tests/e2e/test_streaming.py",  # 65 s
    "tests/e2e/test_shared_brain.py",  # 62 s
    "tests/test_probe23d_start_refusals.py",  # 62 s
    "tests/e2e/test_dashboard_wide.py",  # 61 s
    "tests/store/test_writer_process_idle.py",  # 57 s
    "tests/e2e/test_metrics.py",  # 56 s
    "tests/test_protocols_fuzz.py",  # 56 s
    "tests/test_probe22b_overshoot.py",  # 55 s
    "tests/e2e/test_non_finite_cost_headers_and_anthropic_streams.py",  # 50 s
    "tests/adversarial/test_probe13b_compression_bombs.py",  # 49 s
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable
