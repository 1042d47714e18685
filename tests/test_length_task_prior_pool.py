"""A young task's upper spread of answer length is shrunk toward the other tasks' own (median),
not toward the length regression's, which mixes every task's level
(`latency.length_task_prior_pool`, length_task.TaskResiduals.prior_var); off, nothing changes;
the setting reaches the sidecar's length model and is checked."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from arbiter import config
from arbiter.difficulty import prompt_stats_and_shape
from arbiter.offline.demo import demo_settings
from arbiter.output_length import OutputLength
from arbiter.services import Services
from arbiter.toml_text import to_toml
from tests.conftest import ENV

# per task: its typical answer length (tokens); each task's own log spread is 0.15
TASKS = {"math": 25, "translation": 15, "summarization": 120, "code": 200, "chat": 90}


def teach(lengths: OutputLength, chat_answers: int) -> bytes:
    """Four tasks with 60 answers each, far apart in length (the regression's residuals mix
    them), then `chat_answers` chat answers; returns a chat prompt's statistics."""
    rng = random.Random(4)
    for task, typical in TASKS.items():
        n = chat_answers if task == "chat" else 60
        for i in range(n):
            stats, shape = prompt_stats_and_shape(f"{task} request number {i} " + "word " * 20)
            tokens = round(typical * math.exp(rng.gauss(0, 0.15)))
            lengths.observe("m", stats, tokens, task=task, shape=shape)
    return prompt_stats_and_shape("chat request number 999 " + "word " * 20)[0]


def test_a_young_tasks_upper_spread_comes_from_the_other_tasks_not_the_mixed_regression() -> None:
    off, on = OutputLength(350), OutputLength(350, pool_tasks=True)
    stats = [teach(x, 8) for x in (off, on)]
    var_off = off.log_moments("m", stats[0], "chat")[1]
    var_on = on.log_moments("m", stats[1], "chat")[1]
    # the regression's upper spread holds the tasks' distance from each other: far over a
    # task's own 0.15^2 = 0.02 (x2 for the upper half's rule: ~0.02-0.05)
    mixed = off._upside.var()
    assert mixed > 0.3
    pooled = on._tasks.prior_var("chat", mixed)
    assert pooled < 0.08
    # 8 chat answers against the prior's 5: the young task's variance is much narrower
    assert var_on < 0.5 * var_off
    # its own answers still count: a task with many answers moves little
    old_off, old_on = OutputLength(350), OutputLength(350, pool_tasks=True)
    s_off, s_on = teach(old_off, 200), teach(old_on, 200)
    a, b = old_off.log_moments("m", s_off, "chat")[1], old_on.log_moments("m", s_on, "chat")[1]
    assert b < a and a - b < 0.05


def test_with_fewer_than_two_other_tasks_it_is_the_regressions() -> None:
    on = OutputLength(350, pool_tasks=True)
    rng = random.Random(2)
    for i in range(30):
        stats, _ = prompt_stats_and_shape(f"math request {i} " + "word " * 10)
        on.observe("m", stats, round(25 * math.exp(rng.gauss(0, 0.15))), task="math")
    assert on._tasks.prior_var("chat", 0.6) == 0.6
    assert on._tasks.prior_var("math", 0.6) == 0.6


def test_off_by_default_and_the_setting_reaches_the_sidecars_length_model() -> None:
    doc = to_toml(demo_settings("http://127.0.0.1:9/v1", Path("unused.db")))
    settings = config.loads(doc, env=ENV)
    assert settings.latency.length_task_prior_pool is False
    assert Services(settings).lengths._tasks.pool is False
    on = config.loads(doc + "[latency]\nlength_task_prior_pool = true\n", env=ENV)
    assert Services(on).lengths._tasks.pool is True
    with pytest.raises(config.ConfigError, match="length_task_prior_pool"):
        config.loads(doc + "[latency]\nlength_task_prior_pool = 1\n", env=ENV)
