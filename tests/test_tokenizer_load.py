"""The budget tokenizer's tables (o200k) were built by the first count, on the event loop:
~100-200 ms once per process during which every request waited (tokenizer_load.py). Each case
runs in a fresh interpreter, where the tables are not built yet."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_ON_THE_LOOP = """
import asyncio, threading
import arbiter._native as native
from arbiter import tokenizer_load
from arbiter.types import count_tokens

ticks = 0  # loop turns, counted by a task on the loop
calls = []  # each kernel count: (its thread, the loop turns taken while it ran)
real = native.count_tokens

def watched(texts, *args):
    before = ticks
    result = real(texts, *args)
    calls.append((threading.get_ident(), ticks - before))
    return result

native.count_tokens = watched

async def main():
    global ticks
    loop_thread = threading.get_ident()
    stop = False

    async def tick():
        global ticks
        while not stop:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.get_running_loop().create_task(tick())
    text = "naïve café ✓ 日本語"
    before_ready = count_tokens([text])  # on the loop, the tables not built: the byte bound
    assert before_ready == len(text.encode()), before_ready
    await tokenizer_load.wait_ready()
    stop = True
    await ticker
    (thread, turns), = calls  # the load's count, the only one so far
    assert thread != loop_thread and tokenizer_load.loaded_in() == thread, "built on the loop"
    # the loop ran while they were built: a count holding the GIL (a text under the kernel's
    # 8 KiB threshold) stops it dead for the whole build, exactly 0 turns
    assert turns > 0, turns
    exact = count_tokens([text])
    assert 0 < exact < before_ready, (exact, before_ready)
    print("ok", turns)

asyncio.run(main())
"""

_OFF_THE_LOOP = """
from arbiter import tokenizer_load
from arbiter.types import count_tokens

assert count_tokens(["hello world"]) == 2  # no loop here: counted exactly, loaded in place
assert not tokenizer_load.ready() and tokenizer_load.loaded_in() is None
print("ok")
"""


_ROUTING_ON_THE_LOOP = """
import asyncio
from arbiter import media, tokenizer_load
from arbiter.types import count_tokens, estimate_tokens

async def main():
    text = "The tide rises and falls twice a day along this coast. " * 40  # 2,240 characters
    first = media.text_tokens(text)  # on the loop, the tables not built: the estimate
    assert first == estimate_tokens(text), first
    await tokenizer_load.wait_ready()  # its first long text started the load, in a thread
    exact = media.text_tokens(text)
    assert exact != first and exact < len(text.encode()) // 2, (exact, first)
    print("ok")

asyncio.run(main())
"""


def _fresh(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(ROOT / "python"), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_tables_are_built_in_a_thread_not_on_the_loop() -> None:
    assert _fresh(_ON_THE_LOOP).startswith("ok")


def test_routing_counts_a_long_prompt_before_the_tables_by_the_estimate_not_the_byte_bound() -> (
    None
):
    """A context check reads this count: the byte bound (~4x English's tokens) would rule the
    first long prompt out of context windows it fits while the tables load."""
    assert _fresh(_ROUTING_ON_THE_LOOP).startswith("ok")


def test_a_count_off_the_loop_is_exact_from_the_first() -> None:
    assert _fresh(_OFF_THE_LOOP).startswith("ok")


@pytest.mark.parametrize("caps", [True, False])
def test_the_sidecar_starts_the_load_when_it_starts_with_budget_caps_only(caps: bool) -> None:
    """With caps every request is counted, so the tables load at start (in a thread); without,
    a sidecar may never count a long prompt, and the tables are 66 MB resident (the overhead
    bench's RSS goal): the first count on the loop starts the load (types.count_tokens)."""
    code = f"""
import asyncio
from types import SimpleNamespace as NS
from arbiter import services, tokenizer_load
started = []
tokenizer_load.start = lambda: started.append(1)
class S(services.Services):
    def __init__(self):
        self.settings = NS(budgets=NS(caps={[1] if caps else []}))
    def load_state(self): raise SystemExit("started" if started else "not started")
asyncio.run(S().start())
"""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(ROOT / "python"), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.stderr.strip().endswith("started" if caps else "not started"), done.stderr
