"""Small validators shared by the request decoders: each raises InvalidRequest naming the param."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from arbiter import _native, chunked_json
from arbiter.canonical import Tool, ToolChoice
from arbiter.errors import InvalidRequest


def load_json(raw: bytes) -> Any:
    try:
        return chunked_json.loads(raw)  # a large body a piece at a time (the loop's turns)
    except orjson.JSONDecodeError as err:
        raise InvalidRequest(
            f"We could not parse the JSON body of your request ({err.msg} at byte {err.pos})."
        ) from err


# the deepest body orjson writes back (it reads 1,024 levels)
MAX_WRITTEN_DEPTH = 254


def sendable(body: dict[str, Any], raw: bytes | None = None) -> None:
    """orjson reads JSON nested up to 1024 levels deep but writes at most 254: a body we could
    not send on must be the caller's 400 here, not a TypeError (a 500) when it is forwarded.
    `raw`: the text `body` was parsed from (writes_back)."""
    if not writes_back(body, raw):
        raise InvalidRequest("The request body is nested too deeply.")


def writes_back(body: Any, raw: bytes | None = None) -> bool:
    """Whether orjson can write `body`. Given `raw`, the text it was parsed from, the depth is
    read from the text by the Rust core (GIL released past a size: a large body's check no
    longer holds the loop for a whole `orjson.dumps`, bench/results/mem27b.md); the body nests
    no deeper than its text (a duplicate key, a field taken out only drop levels), so a text
    within the bound settles it, and only a deeper one (a 400, or a rare duplicate) is written
    to see."""
    if raw is not None:
        depth = _native.json_depth(raw)
        if depth is not None and depth <= MAX_WRITTEN_DEPTH:
            return True
    try:
        orjson.dumps(body)
    except orjson.JSONEncodeError:
        return False
    return True


# How many containers an Anthropic body puts above a tool call's input: a request's body >
# messages[] > message > content[] > block (an answer's has two fewer).
INPUT_LEVELS_IN_REQUEST = 5
INPUT_LEVELS_IN_ANSWER = 3


def writable_below(value: Any, levels: int) -> bool:
    """Whether orjson can write `value` under `levels` containers: it reads 1,024 levels but
    writes only 255, so a value that writes alone may still fail once inside a body."""
    for _ in range(levels):
        value = [value]
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return False
    return True


def obj(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest(f"{param}: Input should be an object", param=param)
    return value


def array(value: Any, param: str, *, non_empty: bool = False) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidRequest(f"{param}: Input should be a list", param=param)
    if non_empty and not value:
        raise InvalidRequest(f"{param}: List should have at least 1 item", param=param)
    return value


def string(value: Any, param: str, *, non_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{param}: Input should be a valid string", param=param)
    if non_empty and not value:
        raise InvalidRequest(f"{param}: String should have at least 1 character", param=param)
    return value


METADATA_PAIRS, METADATA_KEY_CHARS, METADATA_VALUE_CHARS = 16, 64, 512  # OpenAI's Metadata


def metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    """OpenAI's `metadata`: up to 16 string values under keys of up to 64 characters, values
    of up to 512 (an echo of anything else breaks the spec's schemas; OpenAI refuses it)."""
    if value is None:
        return {}
    pairs = obj(value, param)
    if len(pairs) > METADATA_PAIRS or any(
        len(k) > METADATA_KEY_CHARS or not isinstance(v, str) or len(v) > METADATA_VALUE_CHARS
        for k, v in pairs.items()
    ):
        raise InvalidRequest(
            f"'{param}' must map at most {METADATA_PAIRS} keys of up to {METADATA_KEY_CHARS} "
            f"characters to strings of up to {METADATA_VALUE_CHARS}.",
            param=param,
        )
    return pairs


def opt_string(value: Any, param: str) -> str | None:
    return None if value is None else string(value, param)


def opt_choice(value: Any, param: str, choices: Sequence[str]) -> str | None:
    """None, or one of `choices` (an enum of the spec's): else the 400 listing them."""
    if value is None or (isinstance(value, str) and value in choices):
        return value
    quoted = [repr(choice) for choice in choices]
    listed = f"{', '.join(quoted[:-1])} or {quoted[-1]}" if len(quoted) > 1 else quoted[0]
    raise InvalidRequest(f"{param}: Input should be {listed}", param=param)


def integer(value: Any, param: str, *, minimum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRequest(f"{param}: Input should be a valid integer", param=param)
    if minimum is not None and value < minimum:
        raise InvalidRequest(
            f"{param}: Input should be greater than or equal to {minimum}", param=param
        )
    return value


def opt_integer(value: Any, param: str, *, minimum: int | None = None) -> int | None:
    return None if value is None else integer(value, param, minimum=minimum)


def opt_number(value: Any, param: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidRequest(f"{param}: Input should be a valid number", param=param)
    if not low <= value <= high:
        raise InvalidRequest(f"{param}: Input should be between {low} and {high}", param=param)
    return float(value)


def opt_bool(value: Any, param: str, default: bool = False) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidRequest(f"{param}: Input should be a valid boolean", param=param)
    return value


def json_object_text(arguments: str, param: str) -> dict[str, Any]:
    """Tool-call arguments (JSON text) as the object Anthropic's `input` must be."""
    try:
        value = orjson.loads(arguments) if arguments.strip() else {}
    except orjson.JSONDecodeError as err:
        raise InvalidRequest(
            f"{param}: tool call arguments are not valid JSON", param=param
        ) from err
    if not isinstance(value, dict):
        raise InvalidRequest(f"{param}: tool call arguments must be a JSON object", param=param)
    if not writable_below(value, INPUT_LEVELS_IN_REQUEST):  # else a 500 when the body is sent
        raise InvalidRequest(f"{param}: tool call arguments are nested too deeply", param=param)
    return value


def json_object_or_raw(arguments: str) -> dict[str, Any]:
    """Tool-call arguments as the object Anthropic's `input` must be; text that is not one (a
    model's broken JSON or an array, which OpenAI takes back in a conversation) kept whole under
    `_raw`, as a translated answer shows it to an Anthropic client
    (anthropic_response.tool_input)."""
    try:
        return json_object_text(arguments, "arguments")
    except InvalidRequest:
        return {"_raw": arguments}


def raw_arguments(value: dict[str, Any]) -> str | None:
    """The text that json_object_or_raw (or a translated answer) kept under `_raw`: an
    Anthropic client sending the call back gives the model its own arguments as it wrote them.
    None for any other object (one whose `_raw` holds a JSON object's text stays as it came)."""
    raw = value.get("_raw")
    if len(value) == 1 and isinstance(raw, str) and json_object_or_raw(raw) == value:
        return raw
    return None


def forced_tool_offered(choice: ToolChoice | None, tools: Sequence[Tool], param: str) -> None:
    """A tool_choice that forces a call (`required`/`any`, or one named tool) needs tools, and a
    named one must be among them: OpenAI and Anthropic both refuse it otherwise, so it is the
    caller's 400 here, not an upstream's after routing (nor, from a server that does not check,
    an answer calling a tool nobody offered). `param` names the field of the name."""
    if choice is None or choice.kind in ("auto", "none"):
        return
    if not tools:
        raise InvalidRequest(
            "Invalid value for 'tool_choice': a tool_choice that forces a tool call is only "
            "allowed when 'tools' are specified.",
            param="tool_choice",
        )
    name = choice.name or ""
    # a stand-in name (a toolset's server name or type) is no tool's: it cannot be forced
    if choice.kind == "named" and not any(t.name == name and t.named for t in tools):
        raise InvalidRequest(
            f"Invalid value for '{param}': no tool named {name[:64]!r} in 'tools'.",
            param=param,
        )
