"""The learning loop after an answer: grade it (auto graders, sampled LLM judge, client feedback)
and fold the grade into the policy. Runs off the request path; never delays a response.

Precedence (records.GRADER_PRECEDENCE, the one table the store ranks by too): feedback >
execution > reference > auto > judge. A later, higher-precedence grade retracts the earlier one
from the policy (additive deltas make that exact), so the policy counts each answer once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from arbiter import answer_grading, grading, judge, telemetry
from arbiter.alerts import AlertRules
from arbiter.answer_choices import Choice, OfferedTools, ToolCall, choices_of, offered_tools
from arbiter.canonical import Protocol
from arbiter.errors import ArbiterError, BudgetExceeded, InvalidRequest, NotFound
from arbiter.grading_hints import GradingHints
from arbiter.records import NOT_OWN_MODES, DecisionMode, GradeRecord, GraderKind, precedence
from arbiter.reference import ReferenceGrader, prompt_key
from arbiter.routing import Router
from arbiter.routing_types import SlopeStep
from arbiter.sandbox.executor import CodeExecutor

log = logging.getLogger(__name__)
_T = TypeVar("_T")
# answers judged at once (routing.judge_max_in_flight's default): past it a sampled answer is
# not judged. A slow or hung judge upstream (up to upstream.total_timeout_s a call) otherwise
# held a task, the answer's text and a connection for every sampled answer meanwhile, without
# bound.
JUDGE_MAX_IN_FLIGHT = 32

_FAILED = (
    "That request failed: its client got an error, not an answer, so there is nothing to grade "
    "(feedback is for answers you received)."
)
_NOT_ANSWERED = (
    "That decision was not an answer sent to a client (a shadow or judge call): feedback is for "
    "answers you received."
)
JudgeCall = Callable[[list[dict[str, str]], str], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Answered:
    """What grading needs to know of one answered request."""

    decision_id: str
    tenant: str
    task: str
    model: str
    prompt: str
    content: str
    finish_reason: str | None
    response_format: Mapping[str, Any] | None
    easiness: float | None
    learn: bool = True
    tests: str | None = None  # the request's own tests for a code answer (arbiter.sandbox)
    answer_body: Any = None  # the upstream's whole answer (every choice, tool calls), if kept
    answer_protocol: Protocol = "openai"
    request_body: Mapping[str, Any] | None = None  # kept when the request offered tools
    request_protocol: Protocol = "openai"
    hints: GradingHints | None = None
    tool_calls: tuple[ToolCall, ...] = ()  # a relayed stream's (its codec reassembled them)
    mode: DecisionMode = "routed"  # the answer's decision's (shadow.py: "shadow" or "probe")

    def choices(self) -> list[Choice]:
        found = choices_of(self.answer_body, self.answer_protocol) if self.answer_body else []
        return found or [Choice(self.content, self.finish_reason, self.tool_calls)]

    def tools(self) -> OfferedTools | None:
        if self.request_body is None:
            return None
        return offered_tools(self.request_body, self.request_protocol)

    def heavy(self) -> bool:
        """Grading it is CPU work (long text, tools, several choices, a reference to embed)."""
        return (
            len(self.content) + len(self.prompt) > grading.INLINE_CHARS
            or self.request_body is not None
            or self.hints is not None
            or (self.answer_body is not None and len(self.answer_body.get("choices") or ()) > 1)
        )


@dataclass(frozen=True, slots=True)
class _Applied:
    tenant: str
    task: str
    model: str
    easiness: float | None
    reward: float
    grader: GraderKind
    slope: SlopeStep | None = None  # what its grade added to the arm's slope, to take back
    mode: DecisionMode = "routed"  # the graded decision's (feedback on learning calls is refused)


class Learner:
    def __init__(
        self,
        router_for: Callable[[str], Router],
        submit: Callable[[GradeRecord], None],
        alerts: AlertRules,
        *,
        judge_call: JudgeCall | None,
        judge_sample_rate: float,
        judge_max_in_flight: int = JUDGE_MAX_IN_FLIGHT,
        lookup: Callable[[str, str | None], Awaitable[dict[str, Any] | None]],
        remember: int = 50_000,
        executor: CodeExecutor | None = None,
        references: ReferenceGrader | None = None,
        registered_references: Mapping[str, str] | None = None,
    ) -> None:
        self._router_for = router_for  # a tenant's router: its baseline shapes the slope prior
        self._submit = submit
        self._alerts = alerts
        self._judge_call = judge_call
        self._rate = judge_sample_rate
        self._lookup = lookup
        self._applied: OrderedDict[str, _Applied] = OrderedDict()
        self._remember = remember
        self._tasks: set[asyncio.Task[Any]] = set()
        self._judging = 0  # answers whose judge calls are in flight (at most _judge_max)
        self._judge_max = judge_max_in_flight
        self.judge_skipped_busy = 0  # sampled answers not judged: that many were being judged
        self._soon = 0  # answers queued for grading by after_answer, not yet looked at
        # called with every grade recorded (shadow.py pairs a challenger's grade with the served
        # answer's)
        self.observers: list[Callable[[GradeRecord], None]] = []
        # decisions no client received (shadow calls): feedback on them is refused
        self.not_for_feedback: list[Callable[[str], bool]] = []
        self._executor = executor  # runs code answers against tests (None: parse only)
        self._references = references if references is not None else ReferenceGrader(None)
        self._registered = registered_references or {}  # the operator's, by prompt_key

    def after_answer(self, answered: Answered) -> None:
        """Grade in the background, after this step of the loop (the response has been sent or
        goes out at the step's end, step_writes.py): as a plain callback where grading waits on
        nothing, the common case (a short answer its graders settle), else in a task. A task per
        answer was one of the two a request made (bench/results/scale.md, fourteenth session)."""
        self._soon += 1
        asyncio.get_running_loop().call_soon(self._grade_soon, answered)

    def _grade_soon(self, a: Answered) -> None:
        self._soon -= 1
        try:
            if telemetry.TRACER is not None or a.heavy() or self._reference(a) is not None:
                self._track(self._grade(a))  # a span, a thread or an embedding: as before
                return
            found, choices, tools = self._signals(a, None)
            if self._waits(a, found):  # code execution or a sampled judge call
                self._track(self._guarded(a, self._graded_from(a, found, choices, tools)))
            else:
                self._settle(a, found)
        except Exception as err:
            _log_failure(a, err)

    def _track(self, coro: Coroutine[Any, Any, Any]) -> None:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def replica_view(self) -> dict[str, int]:
        """This process's judge load (/arbiter/stats' learning.this_replica, operators only)."""
        return {
            "judging": self._judging,
            "judge_max_in_flight": self._judge_max,
            "judge_skipped_busy": self.judge_skipped_busy,
        }

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait for pending grading (tests, shutdown)."""
        if self._soon:
            await asyncio.sleep(0)  # the callbacks queued before this step run first (FIFO)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    def _reference(self, a: Answered) -> str | None:
        """The caller's reference, else the operator's for this prompt."""
        if a.hints is not None and a.hints.reference is not None:
            return a.hints.reference
        return self._registered.get(prompt_key(a.prompt)) if self._registered else None

    def _signals(
        self, a: Answered, reference: str | None
    ) -> tuple[list[answer_grading.Signal], list[Choice], OfferedTools | None]:
        choices, tools = a.choices(), a.tools()
        hints = a.hints or GradingHints()
        found = answer_grading.signals(
            choices,
            task=a.task,
            prompt=a.prompt,
            response_format=a.response_format,
            tools=tools,
            reference=reference,
            references=self._references,
            pick=hints.pick,
        )
        return found, choices, tools

    async def _grade(self, a: Answered) -> None:
        if telemetry.TRACER is None:
            await self._graded(a)
            return
        with telemetry.grade_span(a.decision_id, a.task, a.model) as span:
            graded = await self._graded(a)
            if graded is not None:
                span.set_attributes({"arbiter.grader": graded[0], "arbiter.score": graded[1]})

    async def _graded(self, a: Answered) -> tuple[str, float] | None:
        """Grade one answer: (grader, score), or None when it got no grade."""
        return await self._guarded(a, self._grading(a))

    async def _grading(self, a: Answered) -> tuple[str, float] | None:
        reference = self._reference(a)
        work = functools.partial(self._signals, a, reference)
        # Graders scan (and parse) the whole answer: a long one is CPU work, kept off the
        # event loop; a short one costs less than the hand-off to a thread (~0.2 ms at most).
        # An embedding (a reference) is always CPU work.
        heavy = a.heavy() or reference is not None
        found, choices, tools = await asyncio.to_thread(work) if heavy else work()
        return await self._graded_from(a, found, choices, tools)

    def _waits(self, a: Answered, found: list[answer_grading.Signal]) -> bool:
        """Whether grading these signals awaits something: code execution or a judge call
        (sampling is by the decision id: this asks it as _graded_from will)."""
        # code execution when there is something to run it against (tests, examples, a code
        # task): else its grade is None at once (executor.grade's own first step; cheap here,
        # the text is short)
        executor = self._executor
        if (
            executor is not None
            and _parse_only(found)
            and executor.checks_for(a.tenant, a.task, a.prompt, a.tests) is not None
        ):
            return True
        return (
            not found
            and self._judge_call is not None
            and judge.should_judge(a.decision_id, self._rate)
        )

    def _settle(self, a: Answered, found: list[answer_grading.Signal]) -> None:
        """_graded_from where it waits on nothing (`_waits` is False): apply what was found."""
        for s in found:
            self._apply(a.decision_id, a, s.score, s.grader, s.detail)

    async def _guarded(self, a: Answered, step: Awaitable[_T]) -> _T | None:
        """`await step`, with grading's failures logged, never raised (None then)."""
        try:
            return await step
        except Exception as err:
            _log_failure(a, err)
            return None

    async def _graded_from(
        self,
        a: Answered,
        found: list[answer_grading.Signal],
        choices: list[Choice],
        tools: OfferedTools | None,
    ) -> tuple[str, float] | None:
        """The rest of grading once the graders' signals are in (raises; see _guarded)."""
        if self._executor is not None and _parse_only(found):
            executed = await self._executor.grade(
                tenant=a.tenant, task=a.task, prompt=a.prompt, content=a.content,
                request_tests=a.tests,
            )  # fmt: skip
            if executed is not None:  # ran against tests: outranks the parse check
                # (it replaces the parse check, which it answers better)
                self._apply(a.decision_id, a, executed.score, "execution", executed.detail)
                return "execution", executed.score
        if found:  # strongest first: it teaches, the others are recorded beside it
            for s in found:
                self._apply(a.decision_id, a, s.score, s.grader, s.detail)
            return found[0].grader, found[0].score
        if self._judge_call is None or not judge.should_judge(a.decision_id, self._rate):
            return None
        if self._judging >= self._judge_max:  # a slow judge: sampling skips, never queues
            self.judge_skipped_busy += 1
            if self.judge_skipped_busy % 1000 == 1:  # the first, then one line a thousand
                log.warning("judge skipped: %d answers judged at once (%d skipped so far)",
                            self._judging, self.judge_skipped_busy)  # fmt: skip
            return None
        grades: list[grading.Grade] = []
        self._judging += 1
        try:
            for question, answer in answer_grading.judge_asks(choices, a.prompt, tools):
                messages = judge.build_judge_messages(question, answer)
                score = judge.parse_judge_reply(await self._judge_call(messages, a.tenant))
                if score is None:
                    log.warning("judge reply had no score", extra={"decision_id": a.decision_id})
                    return None
                grades.append(grading.Grade(score, "judge", judge.JUDGE_VERSION))
        finally:
            self._judging -= 1
        if not grades:
            return None
        pick = a.hints.pick if a.hints is not None else "mean"
        score, detail = answer_grading.combine(grades, pick)
        detail = judge.JUDGE_VERSION if len(grades) == 1 else detail
        self._apply(a.decision_id, a, score, "judge", detail)
        return "judge", score

    def _apply(
        self,
        decision_id: str,
        a: Answered | _Applied,
        score: float,
        grader: GraderKind,
        detail: str,
    ) -> None:
        score = min(max(score, 0.0), 1.0)
        learn = a.learn if isinstance(a, Answered) else True
        record = GradeRecord(
            decision_id, time.time(), a.tenant, a.task, a.model, score, grader, detail, a.mode
        )
        self._submit(record)
        for observe in self.observers:
            observe(record)
        prev = self._applied.get(decision_id)
        if prev is not None and precedence(prev.grader) > precedence(grader):
            return  # a stronger grade already stands (e.g. feedback arrived before the judge)
        slope = None
        if learn:
            if prev is not None:
                router = self._router_for(prev.tenant)
                router.learn(prev.tenant, prev.task, prev.model, prev.reward, weight=-1.0)
                if prev.slope is not None:  # the slope counts the answer once too
                    router.unlearn_slope(prev.tenant, prev.task, prev.model, prev.slope)
            slope = self._router_for(a.tenant).learn(
                a.tenant, a.task, a.model, score, easiness=a.easiness
            )
            if prev is None or prev.grader != grader:  # an answer counts once per grade kind
                self._alerts.observe_grade(a.tenant, a.model, a.task, score, grader)
        self._applied[decision_id] = _Applied(
            a.tenant, a.task, a.model, a.easiness, score, grader, slope, a.mode
        )
        self._applied.move_to_end(decision_id)
        while len(self._applied) > self._remember:
            self._applied.popitem(last=False)

    async def feedback(self, decision_id: str, score: float, tenant: str | None) -> dict[str, Any]:
        """Client feedback overrides any automatic or judge grade of that decision."""
        if not 0.0 <= score <= 1.0:
            raise InvalidRequest("'score' must be in [0, 1].", param="score")
        if any(hidden(decision_id) for hidden in self.not_for_feedback):
            raise InvalidRequest(_NOT_ANSWERED, param="decision_id")
        row = await self._lookup(decision_id, tenant)
        known = self._applied.get(decision_id)  # after the read: a grade may have landed
        if row is None:  # written nowhere yet (a store outage): this replica's memory alone
            if known is None or (tenant is not None and known.tenant != tenant):
                raise NotFound(f"No decision with id {decision_id!r}.", param="decision_id")
            target = known
        else:
            if tenant is not None and row["tenant"] != tenant:
                raise NotFound(f"No decision with id {decision_id!r}.", param="decision_id")
            if row.get("mode") in NOT_OWN_MODES:
                raise InvalidRequest(_NOT_ANSWERED, param="decision_id")
            if row.get("status") == "failed":  # graded, the model that failed learnt an answer
                raise InvalidRequest(_FAILED, param="decision_id")
            target = _standing(row, known)
            if target is not known and row.get("grade") is not None:
                self._applied[decision_id] = target  # retract the stored grade when we override
        self._apply(decision_id, target, score, "feedback", "client feedback")
        return {
            "decision_id": decision_id,
            "score": score,
            "model": target.model,
            "task": target.task,
        }


def _standing(row: dict[str, Any], known: _Applied | None) -> _Applied:
    """The grade a decision's feedback overrides: the store's standing one (read afresh each
    time: another replica may have graded it since), or this replica's own record of it when
    they agree (its slope step is known) or the store has none yet. Before, a replica retracted
    the grade it had applied itself: a client re-grading one answer through two replicas left
    its arm with the answer counted twice, or at a grade it no longer stood at."""
    grade = row.get("grade")
    grader: GraderKind = row.get("grader") or "auto"
    if known is not None and (
        grade is None or (known.grader == grader and math.isclose(known.reward, grade))
    ):
        return known
    return _Applied(
        row["tenant"], row["task"], row["chosen_model"], row.get("difficulty"),
        grade or 0.0, grader,
    )  # fmt: skip


def _parse_only(found: list[answer_grading.Signal]) -> bool:
    """No grade beyond a code answer's parse check: code execution (if on) may say more."""
    return not found or (found[0].grader == "auto" and found[0].detail.startswith("code_parse"))


def _log_failure(a: Answered, err: Exception) -> None:
    """Grading is best-effort background work: a failure costs a grade, never a request."""
    extra = {"decision_id": a.decision_id}
    if isinstance(err, BudgetExceeded):  # the judge's caps (budgets.judge_scope) refused it
        log.warning("judge call skipped: %s", err.message, extra=extra)
    elif isinstance(err, ArbiterError):  # a failed judge call
        log.warning("grading failed: %s", err.message, extra=extra)
    else:  # a bug: logged with its traceback, never raised into the loop
        log.error("grading crashed", exc_info=err, extra=extra)
