"""Outside probe: an image given by URL (OpenAI's `image_url.url`, the Responses API's
`input_image`, Anthropic's `source.type: url`) pointing at an address only the sidecar's host
can reach (here a listener on 127.0.0.1; in the field 169.254.169.254 or an admin port). The
sidecar prices a linked image without fetching it (1024 x 1024, README "Token counts, images and
audio"): it must never connect there itself, whatever the surface, routed or named."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

from tests.adversarial.test_probe5_image_data import _vision
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks


class Listener:
    """A loopback port that counts the connections it gets (none expected)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


def _loopback_allowed(text: str) -> str:
    """Vision models, and links to this host's loopback allowed (media.image_url_hosts refuses
    them by default, image_links.py): what is checked here is that the sidecar never fetches."""
    return _vision(text) + '\n[media]\nimage_url_hosts = ["*", "127.0.0.0/8"]\n'


def test_a_linked_image_is_priced_without_the_sidecar_fetching_it(tmp_path: Path) -> None:
    listener = Listener()
    # over http and https: neither may be reached from the sidecar's host
    urls = [f"http://127.0.0.1:{listener.port}/secret.png", f"https://127.0.0.1:{listener.port}/"]

    async def main() -> None:
        async with (
            sidecar_in_process(
                tmp_path, edit_config=_loopback_allowed, anthropic_models=("sim-medium",)
            ) as sc,
            sdks(sc) as (claude, gpt),
        ):  # fmt: skip
            for url in urls:
                for model in ("auto", "sim-small"):
                    content = [
                        {"type": "text", "text": "What is in this picture?"},
                        {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
                    ]
                    answer = await gpt.chat.completions.create(
                        model=model,
                        messages=[{"role": "user", "content": content}],  # type: ignore[misc,list-item]
                    )
                    assert answer.choices[0].message.content
                response = await gpt.responses.create(
                    model="auto",
                    input=[
                        {"role": "user", "content": [{"type": "input_image", "image_url": url}]}
                    ],  # type: ignore[list-item,misc,typeddict-item]
                )
                assert response.output_text
                image = {"type": "image", "source": {"type": "url", "url": url}}
                message = await claude.messages.create(
                    model="sim-medium",
                    max_tokens=20,
                    messages=[{"role": "user", "content": [image]}],  # type: ignore[list-item]
                )
                assert message.content
                counted = await claude.messages.count_tokens(
                    model="sim-medium",
                    messages=[{"role": "user", "content": [image]}],  # type: ignore[list-item]
                )
                assert counted.input_tokens >= 765  # priced as the unseen 1024 x 1024 image

    try:
        asyncio.run(main())
        listener.stop.wait(0.3)  # a connection made late would still be counted
    finally:
        listener.close()
    assert listener.connections == 0, "the sidecar connected to an image URL's host"
