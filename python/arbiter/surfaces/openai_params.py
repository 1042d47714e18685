"""OpenAI request fields that are forwarded upstream as they came, checked against the spec's
limits first (/work/shared/specs, CreateChatCompletionRequest and CreateCompletionRequest).

Unchecked, a bad value reached the upstream: a provider answered 400 after routing (a failed
attempt, and for some a failover through every model), another ignored it or guessed
(`"include_usage": "yes"` read as true). The caller's mistake is the caller's 400 here, in
OpenAI's error shape, naming the parameter. Only what the spec forbids is refused.
"""

from __future__ import annotations

from typing import Any

from arbiter.errors import InvalidRequest
from arbiter.protocols import _check as c

MAX_STOPS = 4  # StopConfiguration: up to 4 sequences
VERBOSITY = ("low", "medium", "high")
MODALITIES = ("text", "audio")  # ResponseModalities' items
MAX_TOP_LOGPROBS = 20
MAX_COMPLETION_LOGPROBS = 5  # /v1/completions' integer `logprobs`
LOGIT_BIAS = 100.0  # each bias in [-100, 100]
MAX_SAFETY_IDENTIFIER = 64
_INT64 = 2**63


# every field check_chat's checks read that can fail or be changed by them (`stream` and
# `tools` are read too, only next to one of these). A body with none of them (model, messages,
# perhaps stream and tools) has nothing here to check, and one with only the sampling ranges
# and token limits (what SDKs and the bench send) only those: the ~25 lookups of the rest are
# no-ops on such a body (tests/test_openai_params.py keeps this set and the checks in step).
CHAT_FIELDS = frozenset(
    {
        *("temperature", "top_p", "presence_penalty", "frequency_penalty", "stream_options"),
        *("user", "stop", "logit_bias", "metadata", "seed", "prompt_cache_key", "service_tier"),
        *("reasoning_effort", "verbosity", "modalities", "safety_identifier", "store"),
        *("parallel_tool_calls", "tool_choice", "logprobs", "top_logprobs", "max_tokens"),
        "max_completion_tokens",
    }
)


def check_chat(body: dict[str, Any]) -> None:
    """/v1/chat/completions: the common fields, the identifiers and flags it relays, logprobs,
    stream_options, both token limits and tool_choice."""
    present = CHAT_FIELDS.intersection(body)
    if not present:
        return
    if present <= _RANGES_AND_LIMITS:  # what check_chat_fields does on such a body, in order
        _check_ranges(body)
        _check_limits(body)
        return
    check_chat_fields(body)


def check_chat_fields(body: dict[str, Any]) -> None:
    """check_chat's checks, whatever fields the body has."""
    _check_common(body)
    # the effort only typed: OpenAI keeps adding efforts (none, xhigh, max), the model decides
    for key in ("prompt_cache_key", "service_tier", "reasoning_effort"):
        c.opt_string(body.get(key), key)
    c.opt_choice(body.get("verbosity"), "verbosity", VERBOSITY)
    modalities = body.get("modalities")
    for item in () if modalities is None else c.array(modalities, "modalities"):
        c.opt_choice(c.string(item, "modalities"), "modalities", MODALITIES)
    identifier = c.opt_string(body.get("safety_identifier"), "safety_identifier")
    if identifier is not None and len(identifier) > MAX_SAFETY_IDENTIFIER:
        raise InvalidRequest(
            f"'safety_identifier' must be at most {MAX_SAFETY_IDENTIFIER} characters.",
            param="safety_identifier",
        )
    c.opt_bool(body.get("store"), "store")
    c.opt_bool(body.get("parallel_tool_calls"), "parallel_tool_calls")
    # OpenAI and vLLM refuse it (/v1/completions' own check is passthrough.parse's)
    if body.get("stream_options") is not None and body.get("stream") is not True:
        raise InvalidRequest(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    _check_tool_choice(body)
    c.opt_bool(body.get("logprobs"), "logprobs")
    top = c.opt_integer(body.get("top_logprobs"), "top_logprobs", minimum=0)
    if top is not None and top > MAX_TOP_LOGPROBS:
        raise InvalidRequest(
            f"'top_logprobs' must be an integer in [0, {MAX_TOP_LOGPROBS}].", param="top_logprobs"
        )
    if top is not None and body.get("logprobs") is not True:  # the spec's rule; OpenAI and
        # vLLM refuse it (forwarded: their 400 after routing, and no log-probabilities here)
        raise InvalidRequest(
            "'logprobs' must be set to true when 'top_logprobs' is used.", param="top_logprobs"
        )
    _check_limits(body)


_LIMITS = ("max_tokens", "max_completion_tokens")


def _check_limits(body: dict[str, Any]) -> None:
    for key in _LIMITS:  # each: a client may send both
        value = body.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            raise InvalidRequest(f"'{key}' must be a positive integer.", param=key)
    # OpenAI refuses both at once; forwarded, they reached an upstream that refused (a failed
    # attempt) or obeyed the one the worst-case reservation did not read
    if body.get("max_tokens") is not None and body.get("max_completion_tokens") is not None:
        raise InvalidRequest(
            "Setting 'max_tokens' and 'max_completion_tokens' at the same time is not supported.",
            param="max_tokens",
        )


def check_completions(body: dict[str, Any]) -> None:
    """/v1/completions: the common fields, its integer `logprobs` (0 to 5), and `echo` and
    `suffix` (a boolean and a string: forwarded, anything else was the upstream's to guess at)."""
    _check_common(body)
    c.opt_bool(body.get("echo"), "echo")
    c.opt_string(body.get("suffix"), "suffix")
    logprobs = c.opt_integer(body.get("logprobs"), "logprobs", minimum=0)
    if logprobs is not None and logprobs > MAX_COMPLETION_LOGPROBS:
        raise InvalidRequest(
            f"'logprobs' must be an integer in [0, {MAX_COMPLETION_LOGPROBS}].", param="logprobs"
        )


# the spec's ranges of the sampling fields both forward (NaN is no JSON: orjson refuses it)
RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}


_RANGES_AND_LIMITS = frozenset((*RANGES, *_LIMITS))


def _check_ranges(body: dict[str, Any]) -> None:
    for key, (low, high) in RANGES.items():
        value = body.get(key)
        if value is not None:  # (opt_number's own test, without a call per absent field)
            c.opt_number(value, key, low, high)


def _check_common(body: dict[str, Any]) -> None:
    _check_ranges(body)
    options = body.get("stream_options")
    if isinstance(options, dict):  # its type is the surface's own check
        c.opt_bool(options.get("include_usage"), "stream_options.include_usage")
    c.opt_string(body.get("user"), "user")
    _check_stop(body.get("stop"))
    _check_logit_bias(body.get("logit_bias"))
    c.metadata(body.get("metadata"))
    seed = body.get("seed")
    if seed is not None and (
        not isinstance(seed, int) or isinstance(seed, bool) or not -_INT64 <= seed < _INT64
    ):
        raise InvalidRequest("'seed' must be a 64-bit integer.", param="seed")


def _check_stop(stop: Any) -> None:
    if stop is None or isinstance(stop, str):
        return
    if (
        not isinstance(stop, list)
        or len(stop) > MAX_STOPS
        or not all(isinstance(s, str) for s in stop)
    ):
        raise InvalidRequest(
            f"'stop' must be a string or an array of at most {MAX_STOPS} strings.", param="stop"
        )


def _check_logit_bias(bias: Any) -> None:
    if bias is None:
        return
    if not isinstance(bias, dict):
        raise InvalidRequest(
            "'logit_bias' must be an object of token ids to numbers.", param="logit_bias"
        )
    for token, value in bias.items():
        if not (token.isascii() and token.isdigit()):
            raise InvalidRequest(
                f"'logit_bias' keys must be token ids, not {token[:32]!r}.", param="logit_bias"
            )
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not -LOGIT_BIAS <= value <= LOGIT_BIAS
        ):
            raise InvalidRequest(
                f"'logit_bias' values must be numbers in [-{LOGIT_BIAS:g}, {LOGIT_BIAS:g}].",
                param="logit_bias",
            )


# a tool_choice object's type -> where its tool's name is, in it and in a `tools` entry
_NAMED_CHOICES = {"function": "function", "custom": "custom"}


def _check_tool_choice(body: dict[str, Any]) -> None:
    """A tool_choice that forces a call needs `tools`, and the tool it names must be one of them
    (OpenAI refuses both: forwarded, they were the upstream's 400 after routing, or from a
    server that does not check, an answer calling a tool nobody offered). Without tools,
    "auto", "none" and `parallel_tool_calls` mean nothing, and OpenAI refuses them too: agent
    frameworks send them on every turn (a Responses echo), so they are left out upstream."""
    choice = body.get("tool_choice")
    tools = body.get("tools")
    if not tools:
        if choice in ("auto", "none"):
            del body["tool_choice"]
        body.pop("parallel_tool_calls", None)
    if choice is None or choice in ("auto", "none"):
        return
    if not tools:
        raise InvalidRequest(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
            "specified.",
            param="tool_choice",
        )
    if choice == "required":
        return
    if not isinstance(choice, dict):  # a word OpenAI lacks was forwarded as it came
        raise InvalidRequest(
            "Invalid value for 'tool_choice': use 'none', 'auto', 'required' or an object "
            "naming a tool.",
            param="tool_choice",
        )
    kind = c.string(choice.get("type"), "tool_choice.type", non_empty=True)
    if kind == "allowed_tools":
        _check_allowed_tools(choice.get("allowed_tools"))
    where = _NAMED_CHOICES.get(kind)
    if where is None:
        return  # allowed_tools, or a type the spec does not name: nothing named to look for
    named = c.obj(choice.get(where), f"tool_choice.{where}")
    name = c.string(named.get("name"), f"tool_choice.{where}.name", non_empty=True)
    offered = (
        t[where].get("name")
        for t in c.array(tools, "tools")
        if isinstance(t, dict) and t.get("type") == kind and isinstance(t.get(where), dict)
    )
    if name not in offered:
        raise InvalidRequest(
            f"Invalid value for 'tool_choice': no {kind} named {name[:64]!r} in 'tools'.",
            param=f"tool_choice.{where}.name",
        )


ALLOWED_TOOLS_MODES = ("auto", "required")


def _check_allowed_tools(spec: Any) -> None:
    """An allowed_tools choice's object: a mode and a non-empty array of tool objects (which
    of them are offered, the canonical decoder checks when it translates)."""
    spec = c.obj(spec, "tool_choice.allowed_tools")
    mode = spec.get("mode")
    if mode is None:
        raise InvalidRequest(
            "Missing required parameter: 'tool_choice.allowed_tools.mode'.",
            param="tool_choice.allowed_tools.mode",
        )
    c.opt_choice(mode, "tool_choice.allowed_tools.mode", ALLOWED_TOOLS_MODES)
    for i, tool in enumerate(
        c.array(spec.get("tools"), "tool_choice.allowed_tools.tools", non_empty=True)
    ):
        c.obj(tool, f"tool_choice.allowed_tools.tools[{i}]")
