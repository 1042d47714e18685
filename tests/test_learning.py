"""The learning loop: auto grades, the sampled judge, and feedback that overrides both."""

from __future__ import annotations

import asyncio
from typing import Any

from arbiter.alerts import AlertRules
from arbiter.learning import Answered, Learner
from arbiter.records import AlertRecord, GradeRecord
from arbiter.routing import PoolModel, Router, RouterParams

POOL = [PoolModel(m, 1.0, 1.0, 8000, frozenset({"chat"}), {}) for m in ("cheap", "strong")]


def _learner(
    judge_reply: str | None = "Fine.\nSCORE: 10", rate: float = 1.0
) -> tuple[Learner, Router, list[GradeRecord], list[AlertRecord]]:
    router = Router(POOL, RouterParams(baseline="strong"), seed=1)
    grades: list[GradeRecord] = []
    alerts: list[AlertRecord] = []
    rules = AlertRules(alerts.append)

    async def judge(messages: list[dict[str, str]], tenant: str) -> str:
        assert "[QUESTION]" in messages[-1]["content"]
        assert judge_reply is not None
        return judge_reply

    async def lookup(decision_id: str, tenant: str | None) -> dict[str, Any] | None:
        return None

    learner = Learner(
        lambda _tenant: router,
        grades.append,
        rules,
        judge_call=judge if judge_reply else None,
        judge_sample_rate=rate,
        lookup=lookup,
    )
    return learner, router, grades, alerts


def _answered(decision_id: str, task: str, content: str, model: str = "cheap") -> Answered:
    return Answered(
        decision_id, "t", task, model, "Write a haiku about rain.", content, "stop", None, None
    )


def test_code_is_graded_automatically() -> None:
    async def go() -> None:
        learner, router, grades, _ = _learner()
        learner.after_answer(
            Answered(
                "d1",
                "t",
                "code",
                "cheap",
                "Write a function add(a, b)",
                "```python\ndef add(a, b):\n    return a +\n```",
                "stop",
                None,
                None,
            )
        )
        await learner.drain()
        assert grades[0].grader == "auto" and grades[0].score == 0.0
        assert router.policy.evidence(("t", "code", "cheap")) == (0.0, 1.0, 1.0)

    asyncio.run(go())


def test_open_ended_answers_go_to_the_judge() -> None:
    async def go() -> None:
        learner, router, grades, _ = _learner("Good answer.\nSCORE: 10")
        learner.after_answer(_answered("d2", "creative", "Soft rain on the roof / ..."))
        await learner.drain()
        assert [(g.grader, g.score) for g in grades] == [("judge", 1.0)]
        assert router.policy.evidence(("t", "creative", "cheap")) == (1.0, 0.0, 1.0)

    asyncio.run(go())


def test_an_unverifiable_math_answer_goes_to_the_judge() -> None:
    """Regression: a math answer with a final number but nothing to check it against was
    auto-graded 0.75 "unverified" and the judge never ran; now the judge grades it."""

    async def go() -> None:
        learner, router, grades, _ = _learner("Wrong: 12 * 4 is 48.\nSCORE: 1")
        learner.after_answer(
            Answered(
                "dm",
                "t",
                "math",
                "cheap",
                "Tom has 12 boxes of 4 eggs. How many eggs?",
                "12 boxes of 4 eggs.\nAnswer: 16",
                "stop",
                None,
                None,
            )
        )
        await learner.drain()
        assert [(g.grader, g.score) for g in grades] == [("judge", 0.0)]
        assert router.policy.evidence(("t", "math", "cheap")) == (0.0, 1.0, 1.0)

    asyncio.run(go())


def test_feedback_overrides_the_judge_exactly() -> None:
    async def go() -> None:
        learner, router, grades, _ = _learner("SCORE: 10")
        learner.after_answer(_answered("d3", "creative", "A fine haiku."))
        await learner.drain()
        await learner.feedback("d3", 0.0, "t")
        # the judge's 1.0 was retracted and replaced: one answer, counted once, as bad
        a, b, n = router.policy.evidence(("t", "creative", "cheap"))
        assert (round(a, 9), round(b, 9), round(n, 9)) == (0.0, 1.0, 1.0)
        assert [g.grader for g in grades] == ["judge", "feedback"]

    asyncio.run(go())


def test_a_late_judge_never_overrides_feedback() -> None:
    async def go() -> None:
        learner, router, _grades, _ = _learner("SCORE: 10")
        learner._apply("d4", _answered("d4", "creative", "x"), 0.0, "feedback", "client")
        learner._apply("d4", _answered("d4", "creative", "x"), 1.0, "judge", "late")
        assert router.policy.evidence(("t", "creative", "cheap")) == (0.0, 1.0, 1.0)

    asyncio.run(go())


def test_unsampled_answers_are_not_judged() -> None:
    async def go() -> None:
        learner, _, grades, _ = _learner("SCORE: 10", rate=0.0)
        learner.after_answer(_answered("d5", "chat", "Hello there, here is a friendly answer."))
        await learner.drain()
        assert grades == []

    asyncio.run(go())


def test_grade_drop_raises_an_alert() -> None:
    """A model whose grades fall from ~0.9 to ~0.2 on a task: one quality_change alert naming
    it, after the detector's warm-up, within a bounded number of grades."""

    async def go() -> None:
        learner, _, _, alerts = _learner(None)
        for i in range(400):
            score = 0.0 if i % 10 == 0 else 1.0  # 0.9
            learner._apply(f"g{i}", _answered(f"g{i}", "chat", "x"), score, "feedback", "")
        assert alerts == []
        for i in range(400, 460):
            score = 1.0 if i % 5 == 0 else 0.0  # 0.2
            learner._apply(f"g{i}", _answered(f"g{i}", "chat", "x"), score, "feedback", "")
        assert [a.kind for a in alerts] == ["quality_change"]
        a = alerts[0]
        assert a.model == "cheap" and a.task == "chat"
        assert a.data["direction"] == "down" and a.data["before"] > 0.85 > 0.3 > a.data["after"]

    asyncio.run(go())


def test_a_price_change_alerts_after_a_few_calls_not_on_one_odd_bill() -> None:
    alerts: list[AlertRecord] = []
    rules = AlertRules(alerts.append)
    for _ in range(20):
        rules.observe_price("t", "m", reported=1.0, expected=1.0)
    rules.observe_price("t", "m", reported=0.4, expected=1.0)  # a prompt-cache discount
    for _ in range(10):
        rules.observe_price("t", "m", reported=1.0, expected=1.0)
    assert alerts == []
    for _ in range(5):
        rules.observe_price("t", "m", reported=1.5, expected=1.0)
    assert len(alerts) == 1 and alerts[0].kind == "price_change"
    assert alerts[0].data["after"] == 1.5 and "x1.50" in alerts[0].message


def test_a_price_wrong_from_the_start_alerts_after_warm_up() -> None:
    alerts: list[AlertRecord] = []
    rules = AlertRules(alerts.append)
    for _ in range(5):
        rules.observe_price("t", "m", reported=2.0, expected=1.0)
    assert [a.kind for a in alerts] == ["price_change"] and alerts[0].data["after"] == 2.0


def test_grading_runs_off_the_event_loop() -> None:
    # Grading a long answer is CPU work (here: bracket-checking 600k characters of JavaScript in
    # a Python loop). On the event loop it froze every other request until done; in a worker
    # thread the loop keeps turning. Counted in loop turns, not timed.
    answer = "```js\n" + "f(a[0], {b: 1});\n" * 40_000 + "```"

    async def go() -> int:
        learner, _, grades, _ = _learner()
        learner.after_answer(_answered("big", "code", answer))
        drained = asyncio.get_running_loop().create_task(learner.drain(timeout_s=60))
        turns = 0
        while not drained.done():
            await asyncio.sleep(0)
            turns += 1
        assert grades[0].grader == "auto" and grades[0].score == 1.0
        return turns

    assert asyncio.run(go()) >= 100  # thousands in a thread; 3 when it ran on the loop


def test_the_judge_sees_the_offered_tools_and_each_choice() -> None:
    """A text answer to a request with tools: the judge's question lists the tools (the model
    chose not to call one); with n > 1 every choice is judged and the grade is their mean."""
    seen: list[str] = []
    replies = iter(["ok\nSCORE: 10", "meh\nSCORE: 1"])

    async def go() -> None:
        learner, _, grades, _ = _learner()

        async def judge(messages: list[dict[str, str]], tenant: str) -> str:
            seen.append(messages[-1]["content"])
            return next(replies)

        learner._judge_call = judge
        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
        body = {
            "choices": [
                {"message": {"content": "It is sunny."}, "finish_reason": "stop"},
                {"message": {"content": "No idea."}, "finish_reason": "stop"},
            ]
        }
        learner.after_answer(
            Answered(
                "dj", "t", "chat", "cheap", "Weather in Paris?", "It is sunny.", "stop", None,
                None, answer_body=body, request_body={"tools": tools},
            )
        )  # fmt: skip
        await learner.drain()
        assert [g.grader for g in grades] == ["judge"] and grades[0].score == 0.5
        assert grades[0].detail.startswith("mean of 2 choices")

    asyncio.run(go())
    assert len(seen) == 2
    assert "get_weather" in seen[0] and "It is sunny." in seen[0] and "No idea." in seen[1]


def _code_answer(decision_id: str) -> Answered:
    return Answered(
        decision_id, "t", "code", "cheap", "Write a function add(a, b)",
        "```python\ndef add(a, b):\n    return a +\n```", "stop", None, None,
    )  # fmt: skip


def test_a_short_answer_is_graded_after_the_step_without_a_task() -> None:
    """Grading that waits on nothing (a short answer its graders settle) runs as a plain loop
    callback after the response's step: it made a task per answer before (one of the two a
    request made, bench/results/scale.md, fourteenth session)."""

    async def go() -> None:
        learner, router, grades, _ = _learner(None)  # no judge
        loop = asyncio.get_running_loop()
        made: list[object] = []
        create_task = loop.create_task

        def counting(coro: Any, **kw: Any) -> Any:
            made.append(coro)
            return create_task(coro, **kw)

        loop.create_task = counting  # type: ignore[method-assign]
        learner.after_answer(_code_answer("q1"))
        assert grades == []  # not inline: the response's step ends first
        await learner.drain()
        assert [(g.grader, g.score) for g in grades] == [("auto", 0.0)]
        assert router.policy.evidence(("t", "code", "cheap")) == (0.0, 1.0, 1.0)
        assert made == []
        # one that waits (a sampled judge call) still gets its task
        judged, _, judge_grades, _ = _learner("SCORE: 10")
        judged.after_answer(_answered("q2", "creative", "Soft rain on the roof / ..."))
        await judged.drain()
        assert len(made) == 1 and [g.grader for g in judge_grades] == ["judge"]
        # and one the judge's sampling passes over does not
        unsampled, _, none, _ = _learner("SCORE: 10", rate=0.0)
        unsampled.after_answer(_answered("q4", "creative", "Soft rain on the roof / ..."))
        await unsampled.drain()
        assert len(made) == 1 and none == []

    asyncio.run(go())


def test_a_grading_crash_on_the_callback_path_is_logged_not_raised(caplog: Any) -> None:
    async def go() -> None:
        learner, _, grades, _ = _learner(None)

        def broken(*_args: Any) -> Any:
            raise RuntimeError("grader bug")

        learner._signals = broken  # type: ignore[method-assign]
        errors: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        learner.after_answer(_code_answer("q3"))
        await learner.drain()
        assert grades == [] and errors == []

    asyncio.run(go())
    assert "grading crashed" in caplog.text


def test_with_code_execution_on_only_an_answer_it_can_run_gets_a_task() -> None:
    """The sidecar runs with the code executor: a chat answer (nothing to run it against) is
    settled in the callback; a code answer with tests still goes to the executor's task."""
    from arbiter.config import SandboxSettings
    from arbiter.sandbox.executor import CodeExecutor

    async def go() -> None:
        learner, _, grades, _ = _learner(None)
        learner._executor = CodeExecutor(SandboxSettings(enabled=False))
        loop = asyncio.get_running_loop()
        made: list[object] = []
        create_task = loop.create_task

        def counting(coro: Any, **kw: Any) -> Any:
            made.append(coro)
            return create_task(coro, **kw)

        loop.create_task = counting  # type: ignore[method-assign]
        learner.after_answer(_answered("c1", "chat", "Hello there, a friendly answer."))
        await learner.drain()
        assert made == [] and grades == []
        learner.after_answer(_code_answer("c2"))  # a code task: its examples may run
        await learner.drain()
        assert len(made) == 1
        assert [(g.grader, g.score) for g in grades] == [("auto", 0.0)]  # no sandbox: parse

    asyncio.run(go())


def _with_easiness(decision_id: str, easiness: float) -> Answered:
    return Answered(decision_id, "t", "math", "cheap", "What is 12 * 4?", "Answer: 48", "stop",
                    None, easiness)  # fmt: skip


def test_feedback_over_the_judge_leaves_the_slope_as_feedback_alone_does() -> None:
    """The per-prompt slope (learnt from graded answers with a difficulty score) counts each
    answer once, too: a judge grade that landed before the client's feedback had its slope step
    kept when the feedback replaced it, so the answer counted twice there, and the router's
    state (and the demo's later choices, one request at a time) depended on whether the judge's
    call returned before the client's feedback arrived."""

    async def go() -> None:
        judged_first, r1, _, _ = _learner()
        feedback_first, r2, _, _ = _learner()
        for k, e in enumerate((0.2, 0.7, 0.4)):
            a = _with_easiness(f"d{k}", e)
            judged_first._apply(a.decision_id, a, 1.0, "judge", "early")
            judged_first._apply(a.decision_id, a, 0.0, "feedback", "client")
            feedback_first._apply(a.decision_id, a, 0.0, "feedback", "client")
            feedback_first._apply(a.decision_id, a, 1.0, "judge", "late")  # ignored
        one, two = r1.prompt_model("t", "math", "cheap"), r2.prompt_model("t", "math", "cheap")
        assert one is not None and two is not None
        for field in ("mean", "precision", "center", "seen"):
            assert abs(getattr(one, field) - getattr(two, field)) < 1e-9, field
        ev1, ev2 = (
            r1.policy.evidence(("t", "math", "cheap")),
            r2.policy.evidence(("t", "math", "cheap")),
        )
        assert [round(x, 9) for x in ev1] == [round(x, 9) for x in ev2] == [0.0, 3.0, 3.0]

    asyncio.run(go())
