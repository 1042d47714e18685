"""Inline audio checked at the edge: an OpenAI chat `input_audio` part whose `format` is not one
the spec names (CreateChatCompletionRequest's InputAudio: wav or mp3) or whose `data` is not
RFC 4648 base64 is the caller's 400 naming the field, not a part forwarded for the upstream to
refuse after routing and the budget reservation (a failed attempt, then a failover through every
audio model), or for a server that does not check to pass to its model as noise.

The base64 check is the one inline images get (image_data.base64_problem: linear, in C, no
decoding); a body big enough for it to matter is already decoded off the event loop."""

from __future__ import annotations

from typing import Any

from arbiter.errors import InvalidRequest
from arbiter.image_data import base64_problem

AUDIO_FORMATS = ("wav", "mp3")


def check_inline_audio(spec: dict[str, Any], param: str) -> None:
    """`spec`: the part's `input_audio` object (its `data` and `format` already strings);
    `param`: where it is, e.g. messages[0].content[1].input_audio."""
    fmt = spec["format"]
    if fmt not in AUDIO_FORMATS:
        raise InvalidRequest(
            f"Invalid value for '{param}.format': {fmt[:40]!r} (supported: "
            f"{', '.join(AUDIO_FORMATS)}).",
            param=f"{param}.format",
        )
    problem = base64_problem(spec["data"])
    if problem is not None:
        raise InvalidRequest(
            f"'{param}.data': the audio data is not valid base64: {problem}.",
            param=f"{param}.data",
        )
