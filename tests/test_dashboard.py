"""The dashboard's server side: its static files (public, no data, strict CSP), the read-only
dashboard key, and /arbiter/pareto scoped like every other read API."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from arbiter.dashboard import CSP
from tests.conftest import ENV
from tests.inproc import sidecar_in_process

DASHBOARD_KEY = "dash-" + "k" * 20
ENV["ARBITER_DASHBOARD_KEY"] = DASHBOARD_KEY  # the in-process sidecar reads ENV


def _with_dashboard_key(text: str) -> str:
    return text.replace("[auth]\n", '[auth]\ndashboard_key_env = "ARBITER_DASHBOARD_KEY"\n', 1)


CHAT = {"model": "auto", "messages": [{"role": "user", "content": "Write a haiku about tea."}]}


def test_static_files_are_public_carry_a_strict_csp_and_no_inline_script(tmp_path: Path) -> None:
    async def go() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            files = ("app.js", "views.js", "charts.js", "style.css")
            for path in ("/arbiter/ui", "/arbiter/ui/", *(f"/arbiter/ui/{f}" for f in files)):
                r = await sc.client.get(path)  # no key: the files hold no data
                assert r.status_code == 200, path
                assert r.headers["content-security-policy"] == CSP
                assert r.headers["x-content-type-options"] == "nosniff"
            page = (await sc.client.get("/arbiter/ui")).text
            assert r.headers["content-type"].startswith("text/css")
            # every script is a file of ours; no inline code, no other origin
            assert re.findall(r"<script[^>]*>", page) == [
                '<script type="module" src="/arbiter/ui/app.js">'
            ]
            assert "http" not in re.sub(r'"https?://www\.w3\.org[^"]*"', "", page)
            assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
            r = await sc.client.get("/arbiter/ui/../server.py")
            assert r.status_code == 404
            r = await sc.client.get("/arbiter/ui/secret.txt")
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"

    asyncio.run(go())


def test_scripts_never_write_data_as_markup() -> None:
    ui = Path(__file__).resolve().parents[1] / "python" / "arbiter" / "ui"
    for js in ui.glob("*.js"):
        text = js.read_text()
        for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert banned not in text, f"{js.name} uses {banned}"


def test_dashboard_key_reads_every_tenant_and_can_do_nothing_else(tmp_path: Path) -> None:
    async def go() -> None:
        async with sidecar_in_process(
            tmp_path, edit_config=_with_dashboard_key, tenant="team-a"
        ) as sc:
            r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=sc.auth)
            assert r.status_code == 200
            dash = {"authorization": f"Bearer {DASHBOARD_KEY}"}
            stats = (await sc.client.get("/arbiter/stats", headers=dash)).json()
            assert stats["requests"] >= 1
            feed = (await sc.client.get("/arbiter/decisions", headers=dash)).json()["data"]
            assert {d["tenant"] for d in feed} == {"team-a"}
            one = await sc.client.get(f"/arbiter/decisions/{feed[0]['id']}", headers=dash)
            assert one.status_code == 200
            for path in ("/arbiter/pareto", "/arbiter/alerts", "/arbiter/budgets",
                         "/arbiter/policy", "/arbiter/timeseries"):  # fmt: skip
                assert (await sc.client.get(path, headers=dash)).status_code == 200, path
            # read-only: no model calls, no feedback, no admin API
            r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=dash)
            assert r.status_code == 403 and "read-only" in r.json()["error"]["message"]
            assert r.json()["error"]["code"] == "read_only_key"
            r = await sc.client.post(
                "/v1/feedback", json={"decision_id": feed[0]["id"], "score": 1}, headers=dash
            )
            assert r.status_code == 403
            for key in (dash, sc.auth):  # the admin API: the code says what is missing
                for path in ("/arbiter/admin/keys", "/metrics"):
                    r = await sc.client.get(path, headers=key)
                    assert r.status_code == 403, path
                    err = r.json()["error"]
                    assert err["code"] == "admin_key_required", err
                    assert err["type"] == "permission_error", err

    asyncio.run(go())


def test_pareto_is_scoped_to_the_callers_tenant(tmp_path: Path) -> None:
    async def go() -> None:
        async with sidecar_in_process(tmp_path, tenant="team-a") as sc:
            for _ in range(3):
                r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=sc.auth)
                assert r.status_code == 200
            # grading runs after the answers: done, so both reads below see the same grades
            await sc.services.learner.drain(10.0)
            mine = (await sc.client.get("/arbiter/pareto", headers=sc.auth)).json()["data"]
            assert [t["task"] for t in mine] == [r.headers["x-arbiter-task"]]
            router = mine[0]["router"]
            assert router["requests"] == 3
            admin = (await sc.client.get("/arbiter/pareto", headers=sc.admin)).json()["data"]
            assert admin == mine
            from arbiter.auth import create_key

            other = create_key(sc.services.store, "team-b").key
            r = await sc.client.get("/arbiter/pareto", headers={"authorization": f"Bearer {other}"})
            assert r.json()["data"] == []
            assert (await sc.client.get("/arbiter/pareto")).status_code == 401

    asyncio.run(go())


def test_the_page_and_the_csv_export_mark_the_same_controls() -> None:
    """ui/text.js's character class and store/export.py's table name one set of characters:
    the bidi controls and the zero-width ones."""
    from arbiter.store.export import _DISGUISING

    js = (Path(__file__).resolve().parents[1] / "python/arbiter/ui/text.js").read_text()
    (cls,) = re.findall(r'const CONTROLS = "\[(.*)\]";', js)
    ranges = re.findall(r"\\u([0-9a-f]{4})(?:-\\u([0-9a-f]{4}))?", cls)
    shown = {c for lo, hi in ranges for c in range(int(lo, 16), int(hi or lo, 16) + 1)}
    assert shown == set(_DISGUISING) and len(shown) == 17
    assert {0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF} <= shown
