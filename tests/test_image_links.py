"""Linked images against `media.image_url_hosts`: Arbiter never fetches them, but a self-hosted
upstream (vLLM) does, from the operator's network. A link that is not http(s), carries a user or
password, or (by default) names a loopback, private or link-local address or an internal name is
the caller's 400 naming the part, through the official SDKs, before any upstream is called."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anthropic
import openai
import pytest

from arbiter import config
from arbiter.errors import ConfigError
from arbiter.image_links import parse_hosts, refusal
from tests.adversarial.test_probe5_image_data import _vision
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks, sim_requests
from tests.test_config import ENV, EXAMPLE

INSIDE = [
    "file:///etc/passwd",
    "ftp://example.com/a.png",
    "gopher://example.com/",
    "javascript:alert(1)",
    "http://127.0.0.1/x.png",
    "http://[::1]:8080/",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.7:9200/_cat",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://[::ffff:127.0.0.1]/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://localhost:8080/x.png",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://printer.local/",
    "https://user:secret@example.com/a.png",
    "https://example.com:notaport/",
    "https:///a.png",
]
PUBLIC = ["https://example.com/a.png", "http://8.8.8.8/x.png", "https://cdn.example.co.uk:8443/x"]


@pytest.mark.parametrize("url", INSIDE)
def test_the_default_refuses_links_inside_and_odd_schemes(url: str) -> None:
    assert refusal(url, parse_hosts(["*"])) is not None


@pytest.mark.parametrize("url", PUBLIC)
def test_the_default_passes_public_links(url: str) -> None:
    assert refusal(url, parse_hosts(["*"])) is None


def test_a_list_allows_only_what_it_names() -> None:
    policy = parse_hosts(["images.example.com", "*.corp.example", "10.0.0.0/8"])
    for ok in (
        "https://images.example.com/a.png",
        "https://cdn.corp.example/a",
        "http://10.1.2.3/",
    ):
        assert refusal(ok, policy) is None, ok
    for bad in ("https://example.com/a.png", "http://127.0.0.1/", "file:///etc/passwd",
                "https://corp.example.evil.com/", "http://user@images.example.com/"):  # fmt: skip
        assert refusal(bad, policy) is not None, bad
    assert all(refusal(url, parse_hosts([])) is not None for url in PUBLIC)


def test_a_bad_entry_is_a_config_error_naming_the_key() -> None:
    text = EXAMPLE.read_text()
    assert config.loads(text, env=ENV).media.image_url_hosts == ["*"]
    for bad in ('["http://example.com"]', '["exa mple.com"]', '["10.0.0.0/33"]'):
        with pytest.raises(ConfigError, match=r"media\.image_url_hosts"):
            config.loads(text + f"\n[media]\nimage_url_hosts = {bad}\n", env=ENV)


def test_the_sdks_get_a_400_naming_the_part(tmp_path: Path) -> None:
    url = "http://169.254.169.254/latest/meta-data/iam/"

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=_vision, anthropic_models=("sim-medium",))
            as sc,
            sdks(sc) as (claude, gpt),
        ):  # fmt: skip
            before = await sim_requests(sc)
            content = [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": url}},
            ]
            with pytest.raises(openai.BadRequestError) as info:
                await gpt.chat.completions.create(
                    model="auto",
                    messages=[{"role": "user", "content": content}],  # type: ignore[misc,list-item]
                )
            assert info.value.param == "messages[0].content[1].image_url.url", info.value.body
            assert "image_url_hosts" in info.value.message
            with pytest.raises(openai.BadRequestError) as info:
                await gpt.responses.create(
                    model="auto",
                    input=[
                        {"role": "user", "content": [{"type": "input_image", "image_url": url}]}
                    ],  # type: ignore[list-item,misc,typeddict-item]
                )
            assert info.value.param == "input[0].content[0].image_url", info.value.body
            image = {"type": "image", "source": {"type": "url", "url": "file:///etc/passwd"}}
            with pytest.raises(anthropic.BadRequestError) as caught:
                await claude.messages.create(
                    model="sim-medium", max_tokens=20,
                    messages=[{"role": "user", "content": [image]}],  # type: ignore[list-item]
                )  # fmt: skip
            assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
            assert "messages[0].content[0].source.url" in caught.value.message
            assert await sim_requests(sc) == before, "nothing reached an upstream"
            public = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
            answer = await gpt.chat.completions.create(
                model="auto",
                messages=[{"role": "user", "content": [content[0], public]}],  # type: ignore[misc,list-item]
            )
            assert answer.choices[0].message.content

    asyncio.run(main())


def test_links_inside_tool_results_are_listed_with_their_param() -> None:
    import orjson

    from arbiter.surfaces.anthropic_messages import parse_messages_request
    from arbiter.surfaces.openai_responses import parse_responses_request

    image = {"type": "image", "source": {"type": "url", "url": "http://10.0.0.7/x.png"}}
    body = {
        "model": "auto", "max_tokens": 10,
        "messages": [
            {"role": "user", "content": "Take a screenshot."},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "t1", "name": "shot", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": [image]}]},
        ],
    }  # fmt: skip
    req = parse_messages_request(orjson.dumps(body))
    assert req.linked_media == (
        ("messages[2].content[0].content[0].source.url", image["source"]["url"]),
    )
    output = [{"type": "input_image", "image_url": "http://10.0.0.7/x.png"}]
    body = {
        "model": "auto",
        "input": [
            {"type": "function_call", "call_id": "c1", "name": "shot", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": output},
        ],
    }
    req = parse_responses_request(orjson.dumps(body))
    assert req.linked_media == (("input[1].output[0].image_url", "http://10.0.0.7/x.png"),)


def test_every_linked_medium_is_held_to_the_same_hosts(tmp_path: Path) -> None:
    """Documents, vLLM's audio and video parts and a file's `file_url` are fetched by a
    self-hosted server as an image is: the same 400 naming the part, through the SDKs, and
    nothing reaches an upstream."""
    inside = "http://169.254.169.254/latest/meta-data/doc.pdf"

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=_vision, anthropic_models=("sim-medium",))
            as sc,
            sdks(sc) as (claude, gpt),
        ):  # fmt: skip
            before = await sim_requests(sc)
            ask = {"type": "text", "text": "Summarize this."}
            document = {"type": "document", "source": {"type": "url", "url": inside}}
            image = {"type": "image", "source": {"type": "url", "url": "http://10.0.0.7/x.png"}}
            in_content = {"type": "document", "source": {"type": "content", "content": [image]}}
            tool_result = [
                {"role": "user", "content": "Fetch the report."},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "t1", "name": "fetch", "input": {}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": [document]}]},
            ]  # fmt: skip
            for messages, param in (
                ([{"role": "user", "content": [document, ask]}],
                 "messages[0].content[0].source.url"),
                ([{"role": "user", "content": [in_content, ask]}],
                 "messages[0].content[0].source.content[0].source.url"),
                (tool_result, "messages[2].content[0].content[0].source.url"),
            ):  # fmt: skip
                with pytest.raises(anthropic.BadRequestError) as caught:
                    await claude.messages.create(
                        model="sim-medium", max_tokens=20, messages=messages,  # type: ignore[arg-type]
                    )  # fmt: skip
                assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
                assert f"'{param}'" in caught.value.message, caught.value.message
            for part, param in (
                ({"type": "file", "file": {"file_id": "file-1", "file_url": inside}},
                 "messages[0].content[1].file.file_url"),
                ({"type": "video_url", "video_url": {"url": "http://10.0.0.7/v.mp4"}},
                 "messages[0].content[1].video_url.url"),
                ({"type": "audio_url", "audio_url": {"url": "file:///etc/passwd"}},
                 "messages[0].content[1].audio_url.url"),
            ):  # fmt: skip
                with pytest.raises(openai.BadRequestError) as info:
                    await gpt.chat.completions.create(
                        model="sim-small",
                        messages=[{"role": "user", "content": [ask, part]}],  # type: ignore[misc,list-item]
                    )
                assert info.value.param == param, info.value.body
                assert "image_url_hosts" in info.value.message
            # the Responses API refuses a `file_url` whatever its host (no Chat Completions form)
            with pytest.raises(openai.BadRequestError) as info:
                await gpt.responses.create(
                    model="auto",
                    input=[
                        {"role": "user", "content": [{"type": "input_file", "file_url": inside}]}
                    ],  # type: ignore[list-item,misc,typeddict-item]
                )
            assert info.value.param == "input[0].content[0].file_url", info.value.body
            assert await sim_requests(sc) == before, "nothing reached an upstream"
            public = {
                "type": "document",
                "source": {"type": "url", "url": "https://example.com/a.pdf"},
            }
            answer = await claude.messages.create(
                model="sim-medium", max_tokens=20,
                messages=[{"role": "user", "content": [public, ask]}],  # type: ignore[list-item]
            )  # fmt: skip
            assert answer.content

    asyncio.run(main())
