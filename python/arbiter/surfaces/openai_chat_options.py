"""A chat request's object-valued options checked for shape before routing (the spec's
CreateChatCompletionRequest): `response_format`'s json_schema, `prediction`, `audio`,
`web_search_options`, `prompt_cache_retention` / `prompt_cache_options` and `moderation`, and
the `audio` that `modalities: ["audio"]` requires.

They are forwarded to an OpenAI-protocol upstream as they came. Unchecked, a malformed one
(`prediction: "x"`, a json_schema format without its `json_schema`, `audio: "x"`) was OpenAI's
400 after routing, a guess of an OpenAI-compatible server, or, for `audio`, a 400 that blamed
the pool ("no model can serve this request") without naming the field. Only what the spec
forbids is refused: a response_format type the spec does not name passes on (compatible
servers take their own), and enums OpenAI keeps extending are only typed.
"""

from __future__ import annotations

from typing import Any

from arbiter.errors import InvalidRequest
from arbiter.protocols import _check as c
from arbiter.protocols.function_names import schema_name
from arbiter.protocols.openai_strict import check_strict_format

OPTION_FIELDS = frozenset(
    {
        *("response_format", "prediction", "audio", "web_search_options", "moderation"),
        *("prompt_cache_retention", "prompt_cache_options", "modalities"),
    }
)
AUDIO_FORMATS = ("wav", "aac", "mp3", "flac", "opus", "pcm16")
SEARCH_CONTEXT_SIZES = ("low", "medium", "high")


def check_options(body: dict[str, Any]) -> None:
    """Each option the body sets (null means unset); a body with none costs one set test."""
    if OPTION_FIELDS.isdisjoint(body):
        return
    _response_format(body.get("response_format"))
    _prediction(body.get("prediction"))
    _audio(body.get("audio"))
    modalities = body.get("modalities")  # its items' words are openai_params' check
    if isinstance(modalities, list) and "audio" in modalities and body.get("audio") is None:
        raise InvalidRequest(  # the spec: `audio` is required when audio output is asked for
            "Missing required parameter: 'audio' (its voice and format are required when "
            "'modalities' includes \"audio\").",
            param="audio",
        )
    _web_search(body.get("web_search_options"))
    # only typed, as on /v1/responses: OpenAI adds retentions (and ttls, modes)
    c.opt_string(body.get("prompt_cache_retention"), "prompt_cache_retention")
    cache = body.get("prompt_cache_options")
    if cache is not None:
        cache = c.obj(cache, "prompt_cache_options")
        c.opt_string(cache.get("ttl"), "prompt_cache_options.ttl")
        c.opt_string(cache.get("mode"), "prompt_cache_options.mode")
    moderation = body.get("moderation")
    if moderation is not None:
        moderation = c.obj(moderation, "moderation")
        c.opt_string(moderation.get("model"), "moderation.model")
        if moderation.get("policy") is not None:
            c.obj(moderation["policy"], "moderation.policy")


def _response_format(fmt: Any) -> None:
    """The surface saw it is an object with a string `type`; a json_schema one needs its
    `json_schema` object, named, with an object `schema` and a boolean `strict` when given;
    a strict one's schema within OpenAI's strict subset."""
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return
    spec = fmt.get("json_schema")
    if spec is None:
        raise InvalidRequest(
            "Missing required parameter: 'response_format.json_schema'.",
            param="response_format.json_schema",
        )
    spec = c.obj(spec, "response_format.json_schema")
    schema_name(spec.get("name"), "response_format.json_schema.name")
    c.opt_string(spec.get("description"), "response_format.json_schema.description")
    if spec.get("schema") is not None:
        c.obj(spec["schema"], "response_format.json_schema.schema")
    c.opt_bool(spec.get("strict"), "response_format.json_schema.strict")
    # a strict one outside OpenAI's strict subset: its 400 before any call (openai_strict.py)
    check_strict_format(spec.get("schema"), spec.get("name"), spec.get("strict"), "response_format")


def _prediction(prediction: Any) -> None:
    if prediction is None:
        return
    prediction = c.obj(prediction, "prediction")
    if prediction.get("type") != "content":
        raise InvalidRequest(
            f"Invalid value for 'prediction.type': {str(prediction.get('type'))[:40]!r} "
            "(use 'content').",
            param="prediction.type",
        )
    content = prediction.get("content")
    if isinstance(content, str):
        return
    for i, part in enumerate(c.array(content, "prediction.content", non_empty=True)):
        part = c.obj(part, f"prediction.content[{i}]")
        if part.get("type") != "text":
            raise InvalidRequest(
                f"Invalid value for 'prediction.content[{i}].type' (use 'text').",
                param=f"prediction.content[{i}].type",
            )
        c.string(part.get("text"), f"prediction.content[{i}].text")


def _audio(audio: Any) -> None:
    """Spoken output's settings: a voice (a name, or a custom voice's {id}) and a format."""
    if audio is None:
        return
    audio = c.obj(audio, "audio")
    voice = audio.get("voice")
    if isinstance(voice, dict):
        c.string(voice.get("id"), "audio.voice.id", non_empty=True)
    else:
        c.string(voice, "audio.voice", non_empty=True)
    fmt = audio.get("format")
    if fmt is None:
        raise InvalidRequest("Missing required parameter: 'audio.format'.", param="audio.format")
    c.opt_choice(c.string(fmt, "audio.format"), "audio.format", AUDIO_FORMATS)


def _web_search(options: Any) -> None:
    if options is None:
        return
    options = c.obj(options, "web_search_options")
    c.opt_choice(
        c.opt_string(options.get("search_context_size"), "web_search_options.search_context_size"),
        "web_search_options.search_context_size",
        SEARCH_CONTEXT_SIZES,
    )
    location = options.get("user_location")
    if location is not None:
        location = c.obj(location, "web_search_options.user_location")
        if location.get("type") != "approximate":
            raise InvalidRequest(
                "Invalid value for 'web_search_options.user_location.type' (use 'approximate').",
                param="web_search_options.user_location.type",
            )
        c.obj(location.get("approximate"), "web_search_options.user_location.approximate")
