"""probe24b: the sidecar's secrets (upstream keys, operator keys, the store's password, the
budget webhook's token) in every place an outsider or a log reader sees, against an upstream
that quotes back every header it was sent. Defects: the upstream's quoted key reached the
warning log whole, and the webhook's token httpx's INFO line (log_secrets.py now masks both);
an upstream request id or rate-limit header quoting the key was relayed to the client (such a
header is now left out). Held: no secret in a client's body, any /arbiter read, /metrics, a
decision, an alert, `arbiter export` or `check-config`; the upstream gets none of the client's
credentials or control headers, the client none of the upstream's cookies or internal
headers."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from arbiter import logs
from arbiter.config import loads
from tests import probe24b_rig as rig
from tests.pg import fresh_database, require_pg

MARKS = ("OK", *rig.ERRORS, "AT200", "REDIRECT")
# what a client sends that no upstream should get (its own key aside, checked apart)
CLIENT_ONLY = {
    "cookie": "client_session=p24b", "proxy-authorization": "Basic cDI0YjpwMjRi",
    "x-arbiter-tenant": "t-other", "x-arbiter-internal": "1", "x-forwarded-for": "203.0.113.9",
    "x-forwarded-host": "evil.example", "forwarded": "for=203.0.113.9", "x-real-ip": "203.0.113.9",
    "connection": "keep-alive, x-hop", "x-hop": "hop-by-hop", "te": "trailers",
}  # fmt: skip
READS = (
    "/arbiter/stats", "/arbiter/alerts", "/arbiter/decisions?limit=1000", "/arbiter/policy",
    "/arbiter/budgets", "/arbiter/timeseries", "/arbiter/tenants", "/arbiter/pareto", "/metrics",
    "/arbiter/admin/models", "/arbiter/admin/keys", "/arbiter/challengers", "/arbiter/cache",
    "/healthz", "/v1/models", "/arbiter/ui", "/arbiter/ui/app.js",
)  # fmt: skip


@dataclass(slots=True)
class Outcome:
    answers: list[tuple[str, str, int, dict[str, str], str]] = field(default_factory=list)
    reads: dict[str, tuple[int, str]] = field(default_factory=dict)
    upstream_headers: list[dict[str, str]] = field(default_factory=list)
    client_keys: list[str] = field(default_factory=list)
    log: str = ""


def _ask(client: Any, kind: str, model: str, mark: str, out: Outcome) -> None:
    text = f"probe24b {mark}"
    try:
        if kind == "openai":
            r = client.chat.completions.with_raw_response.create(
                model=model, messages=[{"role": "user", "content": text}],
                extra_headers=CLIENT_ONLY,
            )  # fmt: skip
        elif kind == "anthropic":
            r = client.messages.with_raw_response.create(
                model=model, max_tokens=10, messages=[{"role": "user", "content": text}],
                extra_headers=CLIENT_ONLY,
            )  # fmt: skip
        else:
            with client.chat.completions.with_streaming_response.create(
                model=model, messages=[{"role": "user", "content": text}], stream=True,
                extra_headers=CLIENT_ONLY,
            ) as s:  # fmt: skip
                body = s.read().decode()
                out.answers.append((kind, mark, s.status_code, dict(s.headers), body))
            return
        out.answers.append((kind, mark, r.status_code, dict(r.headers), r.http_response.text))
    except (openai.APIStatusError, anthropic.APIStatusError) as err:
        resp = err.response
        out.answers.append((kind, mark, resp.status_code, dict(resp.headers), resp.text))


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    tmp = tmp_path_factory.mktemp("p24b")
    out = Outcome()
    with (
        fresh_database(require_pg()) as db,
        rig.running(tmp, rig.with_password(db)) as s,
    ):
        admin = {"authorization": f"Bearer {rig.ADMIN}"}
        keys = [
            httpx.post(f"{s.root}/arbiter/admin/keys", json={"tenant": t}, headers=admin).json()
            for t in ("t-a", "t-hook")
        ]
        out.client_keys = [str(k["key"]) for k in keys]
        key = out.client_keys[0]
        with (
            openai.OpenAI(base_url=f"{s.root}/v1", api_key=key, max_retries=0, timeout=20) as oa,
            anthropic.Anthropic(base_url=s.root, api_key=key, max_retries=0, timeout=20) as an,
        ):
            for mark in MARKS:
                for model in ("oa-1", "an-1"):
                    _ask(oa, "openai", model, mark, out)
                    _ask(an, "anthropic", model, mark, out)
                    _ask(oa, "stream", model, mark, out)
        # t-hook's cap ($0.02) passes its 50% threshold: the webhook (with its token) fires
        with openai.OpenAI(base_url=f"{s.root}/v1", api_key=out.client_keys[1]) as hook:
            for _ in range(2):
                r = hook.chat.completions.with_raw_response.create(
                    model="hook-1", max_tokens=1, messages=[{"role": "user", "content": "hi"}]
                )
                out.answers.append(
                    ("hook", "OK", r.status_code, dict(r.headers), r.http_response.text)
                )
        # refused after its key was read, before any decision: its log line names the tenant
        rid = {"x-request-id": "p24b-refused-1"}
        with (
            openai.OpenAI(base_url=f"{s.root}/v1", api_key=key, default_headers=rid) as unknown,
            pytest.raises(openai.NotFoundError),
        ):
            unknown.chat.completions.create(
                model="no-such-model", messages=[{"role": "user", "content": "hi"}]
            )
        time.sleep(1.0)  # the recorder's flush (20 ms) and the webhook's POST
        for who, k in (("admin", rig.ADMIN), ("dash", rig.DASH), ("tenant", key),
                       ("metrics", rig.METRICS)):  # fmt: skip
            for path in READS:
                r = s.get(path, k)
                out.reads[f"{who} {path}"] = (r.status_code, rig.flat([r.text, dict(r.headers)]))
        for d in s.get("/arbiter/decisions?limit=1000", rig.ADMIN).json()["data"]:
            r = s.get(f"/arbiter/decisions/{d['id']}", rig.ADMIN)
            out.reads[f"decision {d['id']}"] = (r.status_code, r.text)
        export = s.cli("export", "--config", str(s.config), "--since", "2000-01-01")
        out.reads["export"] = (export.returncode, export.stdout + export.stderr)
        checked = s.cli("check-config", "--probe", str(s.config))
        out.reads["check-config"] = (checked.returncode, checked.stdout + checked.stderr)
        out.upstream_headers = list(s.seen.headers)
    out.log = s.log.read_text(errors="replace")  # the child stopped: every line is written
    yield out


def test_an_upstream_quoting_its_key_never_puts_it_in_the_log(outcome: Outcome) -> None:
    """Fails before (log_secrets): 'upstream oa-1 answered HTTP 401: {... You sent: {...
    'authorization': 'Bearer sk-p24bOA-...'}' at warning, for each error kind, both protocols."""
    assert rig.leaked(outcome.log) == []
    # the lines are still written, naming the model and status, the key as ***
    for model in ("oa-1", "an-1"):
        for status in rig.ERRORS.values():
            assert f"upstream {model} answered HTTP {status}" in outcome.log
    assert "reported an error in its answer" in outcome.log
    assert "***" in outcome.log
    # and none of the clients' keys either
    assert not [k for k in outcome.client_keys if k in outcome.log]


def test_a_request_refused_before_its_decision_is_logged_with_its_tenant(outcome: Outcome) -> None:
    """Fails before: 'request request_id=p24b-refused-1 tenant=- surface=chat status=404'."""
    (line,) = [x for x in outcome.log.splitlines() if "request_id=p24b-refused-1" in x]
    assert " tenant=t-a " in line and " status=404 " in line


def test_no_secret_reaches_a_client_or_a_read(outcome: Outcome) -> None:
    """Fails before: the answers' x-request-id / request-id / x-ratelimit-remaining-requests
    held the operator's key as the upstream sent them."""
    assert len(outcome.answers) == len(MARKS) * 2 * 3 + 2
    by_mark = {(kind, mark, status) for kind, mark, status, _, _ in outcome.answers}
    assert ("openai", "E401", 503) in by_mark and ("openai", "E400", 400) in by_mark
    assert ("openai", "OK", 200) in by_mark and ("anthropic", "REDIRECT", 502) in by_mark
    for answer in outcome.answers:
        text = rig.flat(answer)
        assert rig.leaked(text) == [], answer[:3]
        headers = {k.lower() for k in answer[3]}
        assert not headers & {"set-cookie", "x-internal-host", "x-echo"}, answer[:3]
    for where, (_status, text) in outcome.reads.items():
        assert rig.leaked(text) == [], where
        assert not [k for k in outcome.client_keys if k in text], where
    assert outcome.reads["export"][0] == 0 and outcome.reads["check-config"][0] == 0
    assert outcome.reads["admin /arbiter/alerts"][0] == 200
    assert "budget" in outcome.reads["admin /arbiter/alerts"][1]  # the webhook's alert came
    hook = [h for h in outcome.upstream_headers if h.get("authorization", "").startswith("Basic")]
    assert len(hook) == 1  # the webhook's POST, its URL's user info as basic auth


ADMIN_ONLY = (
    "/arbiter/admin/models",
    "/arbiter/admin/keys",
    "/arbiter/challengers",
    "/arbiter/cache",
)


def test_each_key_reads_only_what_it_may(outcome: Outcome) -> None:
    """Held: the read-only dashboard key and a tenant's key are refused the admin reads (the
    cache's entries hold every tenant's answers); the metrics key reads /metrics alone; a
    client's x-arbiter-tenant header moved none of its decisions to another tenant."""
    status = {where: st for where, (st, _) in outcome.reads.items()}
    for path in ADMIN_ONLY:
        assert status[f"admin {path}"] == 200, path
        assert status[f"dash {path}"] == status[f"tenant {path}"] == 403, path
    assert status["metrics /metrics"] == status["admin /metrics"] == 200
    assert status["tenant /metrics"] == status["dash /metrics"] == 403
    assert status["metrics /arbiter/stats"] == 401  # a scrape-only key reads nothing else
    tenants = {
        orjson.loads(text)["tenant"]
        for where, (st, text) in outcome.reads.items()
        if where.startswith("decision ") and st == 200
    }
    assert tenants == {"t-a", "t-hook"}


def test_the_upstream_gets_none_of_the_clients_credentials_or_controls(outcome: Outcome) -> None:
    calls = [
        h for h in outcome.upstream_headers if "basic" not in h.get("authorization", "").lower()
    ]
    assert len(calls) >= len(MARKS) * 2 * 3
    for headers in calls:
        # its own connection header is the sidecar's (keep-alive), never the client's list
        assert not (set(headers) - {"connection"}) & set(CLIENT_ONLY), sorted(headers)
        assert "x-hop" not in headers.get("connection", "")
        assert headers.get("authorization", f"Bearer {rig.OA_KEY}") == f"Bearer {rig.OA_KEY}"
        assert headers.get("x-api-key", rig.AN_KEY) == rig.AN_KEY
        assert not [k for k in outcome.client_keys if k in rig.flat(headers)]


def _record(message: str, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("arbiter.upstream.http", logging.WARNING, "", 0, message, (), None)
    record.__dict__.update(extra)
    return record


def test_every_form_of_a_secret_is_masked_in_both_formats_and_after_a_reload() -> None:
    """Fails before: no log_secrets module (the formatters wrote the key)."""
    from arbiter import log_secrets

    env = {"K1": "sk-first-0123456789", "K2": "sk-second-abcdefghij", "ADM": "adm-short-key-1"}
    doc = (
        '[auth]\nadmin_key_env = "ADM"\n[store]\nurl = "postgresql://u:pa%40ss-word@h/db"\n'
        '[upstreams.u]\nbase_url = "http://127.0.0.1:1/v1"\napi_key_env = "{}"\n'
        '[models.m]\nupstream = "u"\nprice_in_per_mtok = 1.0\nprice_out_per_mtok = 1.0\n'
    )
    first = loads(doc.format("K1"), env=env, secrets=True)
    log_secrets.use(first)
    echoed = 'You sent {"authorization": "Bearer sk-first-0123456789", "x": "adm-short-key-1"}'
    for formatter in (logs.TextFormatter(), logs.JSONFormatter()):
        line = formatter.format(_record(echoed, error=echoed, model="m"))
        assert "sk-first-0123456789" not in line and "adm-short-key-1" not in line
        assert "pa%40ss-word" not in formatter.format(
            _record("store postgresql://u:pa%40ss-word@h")
        )
        assert line.count(log_secrets.MASK) >= 4  # message and field, both keys
    rotated = loads(doc.format("K2"), env=env, secrets=True)
    log_secrets.use(rotated)  # the new key and the one it replaced are both masked
    line = logs.TextFormatter().format(_record("sk-second-abcdefghij sk-first-0123456789"))
    assert "sk-" not in line
    short = logs.TextFormatter().format(_record("a key of abc"))  # under MIN_CHARS: untouched
    assert short.endswith("a key of abc")
