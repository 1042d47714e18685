"""The running simulator's state: current model profiles, request counters, stats, run-time control.

Also decides what a model replies to a request (judge verdict, recorded outcome, or generated
answer). One SimState per server; no module-level state.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from random import Random
from typing import Any

from arbiter.errors import ConfigError
from arbiter.offline.sim import content
from arbiter.offline.sim.config import ModelProfile, SimConfig, parse_failures
from arbiter.offline.sim.content import FinishReason
from arbiter.offline.sim.failures import paired_draw
from arbiter.offline.sim.judge import AnswerRegistry, judge_reply, parse_judge_prompt
from arbiter.offline.sim.latency_profile import InFlight, LatencyProfile, parse_latency
from arbiter.offline.sim.outcomes import OutcomeTable
from arbiter.offline.sim.schedule import Schedule
from arbiter.offline.workload import TASKS, last_user_text, recognise

_ALIASES = {"error_rate_5xx": "error_5xx", "error_rate_429": "error_429"}
_FAILURE_PATCH = frozenset(
    {"error_5xx", "error_429", "timeout", "malformed", "stream_cut_after", "stream_cut", "stall",
     "stall_ms", "trickle", "trickle_ms", "malformed_chunk"}
)  # fmt: skip
_PROFILE_PATCH = frozenset(
    {"latency_ms", "latency_jitter_ms", "ms_per_chunk", "reported_price_factor", "report_cost",
     "price_in_per_mtok", "price_out_per_mtok"}
)  # fmt: skip
_FLAG_PATCH = frozenset({"down", "listed", "list_price"})  # listing changes: discovery tests


def count_tokens(text: str) -> int:
    """ceil(characters / 4), the estimate the outcome tables use too."""
    return math.ceil(len(text) / 4)


def prompt_tokens(messages: list[Any]) -> int:
    total = 0
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        value = message.get("content")
        if isinstance(value, str):
            total += count_tokens(value)
        elif isinstance(value, list):
            text = "".join(str(p.get("text", "")) for p in value if isinstance(p, Mapping))
            total += count_tokens(text)
    return total


@dataclass(frozen=True, slots=True)
class Reply:
    content: str
    finish_reason: FinishReason
    task: str
    good: bool | None  # None for judge replies and recorded outcomes
    headers: Mapping[str, str] = field(default_factory=dict)
    usage: tuple[int, int] | None = None  # recorded (prompt, completion) tokens, if any


class ModelStats:
    __slots__ = ("bad", "cache_read_tokens", "cache_write_tokens", "completion_tokens",
                 "failures", "good", "judged", "ok", "prompt_tokens", "recorded", "requests",
                 "streams", "streams_left", "tool_calls", "true_cost_usd")  # fmt: skip

    def __init__(self) -> None:
        self.requests = self.ok = self.streams = self.good = self.bad = self.judged = 0
        self.streams_left = 0  # streams the client closed before their end (billed as made)
        self.prompt_tokens = self.completion_tokens = self.recorded = 0
        self.tool_calls = 0  # answers (choices) that are a tool call
        self.cache_read_tokens = self.cache_write_tokens = 0  # parts of prompt_tokens
        self.true_cost_usd = 0.0
        self.failures: Counter[str] = Counter()

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "ok": self.ok,
            "streams": self.streams,
            "streams_left": self.streams_left,
            "failures": dict(self.failures),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "good": self.good,
            "bad": self.bad,
            "judged": self.judged,
            "recorded": self.recorded,
            "tool_calls": self.tool_calls,
            "true_cost_usd": round(self.true_cost_usd, 9),
        }


class SimState:
    def __init__(self, config: SimConfig, outcomes: OutcomeTable | None = None) -> None:
        self.config = config
        self.outcomes = outcomes
        base = dict(config.models)
        if outcomes is not None:  # table models take their prices from the models file
            base.update({m.name: m for m in outcomes.profiles(config.models)})
        self._base: dict[str, ModelProfile] = base
        self.profiles: dict[str, ModelProfile] = dict(base)
        self.registry = AnswerRegistry()
        self._counters: Counter[str] = Counter()
        self.stats: dict[str, ModelStats] = {name: ModelStats() for name in base}
        self._prompt_cache: set[bytes] = set()  # (model, prefix) digests written so far
        for i, (_after, patch) in enumerate(config.schedule):  # a bad entry fails at start
            target = patch.get("model")
            try:
                for name in list(self._base) if target == "*" else [str(target)]:
                    self._patched(self._base[name], patch)
            except (KeyError, ConfigError) as err:
                raise ConfigError(f"schedule[{i}]: {err}") from None
        self.in_flight = InFlight()  # the load each model's latency profile sees
        # shifts that apply after so many requests: the config's [[schedule]], or one set at run
        # time by POST /_sim/schedule (schedule.py)
        self.schedule = self._configured_schedule()

    def _configured_schedule(self) -> Schedule:
        return Schedule([(after, dict(patch)) for after, patch in self.config.schedule])

    def cache_lookup(self, model: str, prefix: bytes) -> bool:
        """Whether `prefix` (a digest) is in `model`'s prompt cache; writes it if not."""
        key = model.encode() + b"|" + prefix
        hit = key in self._prompt_cache
        self._prompt_cache.add(key)
        return hit

    def set_schedule(self, schedule: Schedule) -> None:
        """Adopt a schedule after checking each patch on a copy (a bad one is a 400 now, not a
        surprise later)."""
        for _, patch in schedule.steps:
            target = patch.get("model")
            if target != "*" and target not in self.profiles:
                raise ConfigError(f"model: unknown model {target!r}")
            for name in list(self.profiles) if target == "*" else [str(target)]:
                self._patched(self.profiles[name], patch)
        self.schedule = schedule

    def advance(self) -> None:
        """One more request was counted: apply the scheduled shifts now due (the request being
        served keeps the profile it started with)."""
        if self.schedule.steps:
            for patch in self.schedule.due():
                self.control(patch)

    def next_counter(self, model: str) -> int:
        """Count one request to `model` (and apply the schedule's changes that are due)."""
        self._counters[model] += 1
        self.advance()
        return self._counters[model]

    def reset(self) -> None:
        """Stats, request counters, prompt caches and run-time overrides back to the start
        (answers are kept)."""
        self.profiles = dict(self._base)
        self._counters.clear()
        self.schedule = self._configured_schedule()
        self.stats = {name: ModelStats() for name in self._base}
        self._prompt_cache.clear()
        self.in_flight.clear()

    def stats_json(self) -> dict[str, Any]:
        models = {name: s.as_json() for name, s in self.stats.items()}
        return {"models": models, "total_requests": sum(s.requests for s in self.stats.values())}

    def control(self, patch: Mapping[str, Any]) -> list[ModelProfile]:
        """Apply a run-time change to one model (or "*": all); raises ConfigError on a bad patch."""
        target = patch.get("model")
        if target != "*" and target not in self.profiles:
            raise ConfigError(f"model: unknown model {target!r}")
        names = list(self.profiles) if target == "*" else [str(target)]
        changed = [self._patched(self.profiles[n], patch) for n in names]
        for profile in changed:
            self.profiles[profile.name] = profile
        return changed

    def _patched(self, profile: ModelProfile, patch: Mapping[str, Any]) -> ModelProfile:
        failure_patch: dict[str, Any] = {}
        changes: dict[str, Any] = {}
        for key, value in patch.items():
            key = _ALIASES.get(key, key)
            if key == "model":
                continue
            if key in _FAILURE_PATCH:
                failure_patch[key] = value
            elif key in _FLAG_PATCH:
                if not isinstance(value, bool):
                    raise ConfigError(f"{key}: expected true or false")
                changes[key] = value
            elif key == "quality":
                changes["quality"] = _quality_patch(profile.quality, value)
            elif key == "latency":  # a table merged over the current profile (or the defaults)
                if not isinstance(value, Mapping):
                    raise ConfigError("latency: expected a table")
                base = profile.latency or LatencyProfile()
                merged = {f: getattr(base, f) for f in base.__slots__} | dict(value)
                changes["latency"] = parse_latency(merged, "latency")
            elif key in _PROFILE_PATCH:
                changes[key] = value
            else:
                raise ConfigError(f"unknown control key {key}")
        changes["failures"] = parse_failures(failure_patch, "", base=profile.failures)
        if "report_cost" in changes and changes["report_cost"] not in (
            "none",
            "body",
            "header",
            "both",
        ):
            raise ConfigError("report_cost: expected none, body, header or both")
        for key in _PROFILE_PATCH - {"report_cost"}:
            if key in changes and (
                isinstance(changes[key], bool)
                or not isinstance(changes[key], int | float)
                or not 0 <= changes[key] < 1e9
            ):
                raise ConfigError(f"{key}: expected a number")
        return replace(profile, **changes)

    def reply(self, profile: ModelProfile, body: Mapping[str, Any], rng: Random) -> Reply:
        """What `profile` answers to this request body."""
        messages = body.get("messages") or []
        prompt = last_user_text(messages)
        if profile.judge:
            judge_request = parse_judge_prompt(prompt)
            if judge_request is not None:
                solution = recognise(judge_request.question)
                task = (
                    solution.task if solution else content.detect_task(judge_request.question, None)
                )
                accuracy = profile.quality.get(task, 1.0)
                text = judge_reply(judge_request, self.registry, accuracy, rng)
                return Reply(text, "stop", "judge", None)
        if self.outcomes is not None:
            recorded = self.outcomes.lookup(messages, profile.name)
            if recorded is not None:
                return Reply(recorded.response, "stop", recorded.task, None,
                             headers=recorded.headers(), usage=recorded.usage)  # fmt: skip
        response_format = body.get("response_format")
        if not isinstance(response_format, Mapping):
            response_format = None
        solution = recognise(prompt)
        task = (
            solution.task if solution is not None else content.detect_task(prompt, response_format)
        )
        p_good = profile.quality.get(task, 0.7)
        if solution is not None and p_good > 0.0:
            p_good **= 1.0 + 2.0 * self.config.difficulty_effect * (solution.difficulty - 0.5)
        u = rng.random()
        if self.config.paired_quality_draws:
            u = paired_draw(self.config.seed, messages)
        good = u < p_good
        answer = content.generate(prompt, solution, task, response_format, good, rng)
        self.registry.record(answer.content, answer.good)
        return Reply(answer.content, answer.finish_reason, task, answer.good)


def _quality_patch(current: Mapping[str, float], value: Any) -> dict[str, float]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not 0.0 <= value <= 1.0:
            raise ConfigError("quality: expected a probability in [0, 1]")
        return dict.fromkeys(TASKS, float(value))
    if not isinstance(value, Mapping):
        raise ConfigError("quality: expected a number or a table of task = probability")
    merged = dict(current)
    for task, q in value.items():
        if task not in TASKS:
            raise ConfigError(f"unknown key quality.{task}")
        if isinstance(q, bool) or not isinstance(q, int | float) or not 0.0 <= q <= 1.0:
            raise ConfigError(f"quality.{task}: expected a probability in [0, 1]")
        merged[task] = float(q)
    return merged


def state_of(request: Any) -> SimState:
    """The simulator's state, hung off the Starlette app (both wire formats read it)."""
    state: SimState = request.app.state.sim
    return state
