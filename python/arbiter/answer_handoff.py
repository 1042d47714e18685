"""An answered request handed on to be graded in the background: the shadow evaluator and the
learner get the answer, once it has left (after_answer.py; split from pipeline.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arbiter.answer_choices import ToolCall
from arbiter.learning import Answered
from arbiter.request_plan import Plan
from arbiter.types import ChatRequest, ChatResult

if TYPE_CHECKING:
    from arbiter.services import Services


def after_answer(
    s: Services,
    req: ChatRequest,
    plan: Plan,
    model: str,
    content: str,
    finish: str | None,
    result: ChatResult | None = None,
    *,
    calls: tuple[ToolCall, ...] = (),
    choices: dict[str, Any] | None = None,
) -> None:
    """Grade in the background, handed on after the answer has left (after_answer.py).
    `result`: the whole answer (every choice, its tool calls); a relayed stream leaves its text
    and the tool `calls` its codec reassembled, and with several choices `choices`, every one
    as a chat.completion body's (OpenAI's words)."""
    # in this request's context: a shadow's call carries its request id, a grade's span its trace
    s.after_answer.defer_in_context(
        _hand_on, s, req, plan, model, content, finish, result, calls, choices
    )


def _hand_on(
    s: Services,
    req: ChatRequest,
    plan: Plan,
    model: str,
    content: str,
    finish: str | None,
    result: ChatResult | None,
    calls: tuple[ToolCall, ...],
    choices: dict[str, Any] | None,
) -> None:
    s.shadow.after_answer(req, plan, model)
    s.learner.after_answer(
        Answered(
            plan.decision_id,
            plan.tenant,
            plan.task,
            model,
            req.prompt_text,
            content,
            finish,
            req.response_format,
            plan.easiness,
            tests=req.tests,
            answer_body=result.body if result is not None else choices,
            answer_protocol=result.protocol if result is not None else "openai",
            request_body=req.body if req.has_tools else None,
            request_protocol=req.protocol,
            hints=req.grading,
            tool_calls=calls,
        )
    )
