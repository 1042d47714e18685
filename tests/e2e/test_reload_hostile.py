"""probe21c: hostile reloads against a real `arbiter serve` (the official openai SDK as client,
an upstream on 127.0.0.1 that records each call's key). A key file missing, empty, binary,
1 MB, a directory or a FIFO; a config cut mid-line; two reloads at once (the endpoint and
SIGHUP); a reload taking out a model a tenant names; a reload taking out the admin key: each
is a 400 in the admin endpoint's shape naming the setting (file:line where it applies), the
running config stays and the sidecar keeps serving."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import openai
import pytest

from tests.conftest import ADMIN_KEY, Sidecar
from tests.scripted_upstream import ScriptedHandler, capped_sidecar, ok_chat_answer, serving
from tests.waiting import until

USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
ASK = [{"role": "user", "content": "Hello?"}]


class _Keyed(ScriptedHandler):
    protocol_version = "HTTP/1.1"
    keys: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        req = self.read_json()
        self.keys.append(self.headers.get("authorization", ""))
        self.answer(*ok_chat_answer(req["model"], bool(req.get("stream")), USAGE))


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serving(_Keyed) as url:
        yield url


def _from_file(doc: dict[str, Any]) -> None:
    up = doc["upstreams"]["sim"]
    up.pop("api_key_env", None)
    up["api_key_file"] = "sim.key"
    doc["tenants"] = {"t-h": {"allowed_models": ["sim-premium", "sim-tiny"]}}


def _line_of(s: Sidecar, start: str) -> int:
    lines = s.config_path.read_text().splitlines()
    return next(i for i, x in enumerate(lines, 1) if x.startswith(start))


def _ask(gpt: openai.OpenAI) -> str:
    answer = gpt.chat.completions.create(model="sim-premium", max_tokens=20, messages=ASK)  # type: ignore[arg-type]
    return answer.choices[0].message.content or ""


def _reload_400(s: Sidecar, *needles: str) -> str:
    r = s.admin("POST", "/arbiter/admin/reload", timeout=10)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error", r.text
    for needle in needles:
        assert needle in error["message"], (needle, error["message"])
    return str(error["message"])


def _sha(s: Sidecar) -> str:
    return str(httpx.get(f"{s.root_url}/healthz").json()["config"]["sha256"])


def test_a_hostile_key_file_or_config_is_a_400_naming_it_and_the_old_config_serves(
    upstream: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "sim.key"
    key_file.write_text("sk-good\n")
    with capped_sidecar(upstream, "sqlite", tmp_path, edit=_from_file) as s:
        key = str(s.create_key("t-h")["key"])
        sha = _sha(s)
        line = _line_of(s, "api_key_file")
        where = f"a.toml:{line}"
        setting = "upstreams.sim.api_key_file"
        with openai.OpenAI(base_url=s.base_url, api_key=key, max_retries=0, timeout=30) as gpt:
            assert _ask(gpt) == "ok" and _Keyed.keys[-1] == "Bearer sk-good"
            hostile: list[tuple[str, Any]] = [
                ("missing", lambda: None),  # removed just before
                ("empty", lambda: key_file.write_bytes(b"")),
                ("blank", lambda: key_file.write_bytes(b" \n\t\n")),
                ("binary", lambda: key_file.write_bytes(bytes(range(256)))),
                ("non-ascii", lambda: key_file.write_text("sk-\u00e9t\u00e9\n")),
                ("two keys", lambda: key_file.write_text("sk-a\nsk-b\n")),
                ("1 MB", lambda: key_file.write_bytes(b"k" * (1 << 20))),
                ("a directory", lambda: key_file.mkdir()),
                ("a FIFO", lambda: os.mkfifo(key_file)),
            ]
            for what, make in hostile:
                if key_file.is_dir():
                    key_file.rmdir()
                elif key_file.exists() or key_file.is_fifo():
                    key_file.unlink()
                make()
                message = _reload_400(s, where, setting)
                assert "sk-good" not in message, (what, message)
                assert _ask(gpt) == "ok" and _Keyed.keys[-1] == "Bearer sk-good", what
                assert _sha(s) == sha, what
            key_file.unlink()
            key_file.write_text("sk-good\n")
            # the config cut mid-line (an editor's half-written save): the parser's file:line
            text = s.config_path.read_text()
            cut = text.index("price_in_per_mtok") + len("price_in_per_")
            s.config_path.write_text(text[:cut])
            cut_line = text[:cut].count("\n") + 1
            _reload_400(s, f"a.toml:{cut_line}")
            assert _ask(gpt) == "ok" and _sha(s) == sha
            s.config_path.write_text(text)
            r = s.admin("POST", "/arbiter/admin/reload")
            assert r.status_code == 200 and r.json()["outcome"] == "unchanged", r.text
        assert s.proc.proc.poll() is None


def test_two_reloads_at_once_a_model_a_tenant_names_and_the_admin_key_taken_out(
    upstream: str, tmp_path: Path
) -> None:
    (tmp_path / "sim.key").write_text("sk-good\n")
    with capped_sidecar(upstream, "sqlite", tmp_path, edit=_from_file) as s:
        key = str(s.create_key("t-h")["key"])
        with openai.OpenAI(base_url=s.base_url, api_key=key, max_retries=0, timeout=30) as gpt:
            # two at once, the endpoint and SIGHUP, on a changed file: one applies, the other
            # finds the file serving; neither fails
            s.edit_config(lambda d: d["routing"].__setitem__("explore", 0.03))
            got: dict[str, httpx.Response] = {}
            post = threading.Thread(
                target=lambda: got.setdefault("r", s.admin("POST", "/arbiter/admin/reload"))
            )
            post.start()
            os.kill(s.proc.proc.pid, signal.SIGHUP)
            post.join(30)
            r = got["r"]
            assert r.status_code == 200 and r.json()["outcome"] in ("applied", "unchanged"), r.text

            def counts() -> dict[str, float]:
                text = s.admin("GET", "/metrics").text
                out = {}
                for x in text.splitlines():
                    if x.startswith("arbiter_config_reloads_total{"):
                        out[x.split('"')[1]] = float(x.split()[-1])
                return out

            until(lambda: counts()["applied"] + counts()["unchanged"] == 2, "both reloads done")
            assert counts()["applied"] == 1 and counts()["invalid"] == 0, counts()
            assert _ask(gpt) == "ok"
            sha = _sha(s)

            # a model the tenant's allowed_models names, taken out: the parser's 400 names it
            def drop_tiny(doc: dict[str, Any]) -> None:
                del doc["models"]["sim-tiny"]

            serving_text = s.config_path.read_text()
            s.edit_config(drop_tiny)
            _reload_400(
                s,
                f"a.toml:{_line_of(s, 'allowed_models')}: "
                "tenants.t-h.allowed_models: unknown model 'sim-tiny'",
            )
            assert _ask(gpt) == "ok" and _sha(s) == sha
            s.config_path.write_text(serving_text)

            # the admin key taken out of [auth] (keys mode): as a start with that file would
            # (the admin API off), applied; the old key is refused at once, and SIGHUP (no
            # key needed) with the key back is the way in again (README says so)
            with_admin = s.config_path.read_text()

            def no_admin(doc: dict[str, Any]) -> None:
                doc["auth"].pop("admin_key_env", None)

            s.edit_config(no_admin)
            r = s.admin("POST", "/arbiter/admin/reload")
            assert r.status_code == 200 and "auth.admin_key" in r.json()["changed"], r.text
            assert ADMIN_KEY not in r.text
            assert s.admin("GET", "/arbiter/admin/keys").status_code == 401
            assert s.admin("POST", "/arbiter/admin/reload").status_code == 401
            assert _ask(gpt) == "ok"  # clients are served throughout
            s.config_path.write_text(with_admin)
            os.kill(s.proc.proc.pid, signal.SIGHUP)
            until(
                lambda: s.admin("GET", "/arbiter/admin/keys").status_code == 200,
                "the admin key back after SIGHUP",
            )
