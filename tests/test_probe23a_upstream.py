"""probe23a (streams and transport), the upstream's side: a real `arbiter serve` in front of a
raw-socket upstream (tests/probe23a_rig.py).

- A kept-alive connection the upstream closes, with no byte of an answer, long after it was
  sent a request (a load balancer's idle timeout cutting a long generation): the sidecar took
  it for an idle connection closed as it was reused and sent the request again on a fresh one,
  so the upstream ran (and billed) it twice while the record showed one call. Only a close that
  crosses the request (within transport.STALE_CLOSE_S) is retried; the quick close still is."""

from __future__ import annotations

import socket
import time
import weakref
from collections.abc import Iterator
from typing import Any

import openai
import orjson
import pytest

from tests.probe22a_rig import chat_whole
from tests.probe23a_rig import Rig, rig, whole

OK = orjson.dumps(chat_whole({"content": "ok"}, "stop"))


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("p23a_up")) as it:
        yield it


def _answers_then_closes(hold_s: float) -> Any:
    """Each connection: its first request answered and kept alive; the next one read, held
    `hold_s`, then the connection closed without a byte of an answer."""

    served: weakref.WeakSet[socket.socket] = weakref.WeakSet()

    def script(sock: socket.socket, path: str, body: dict[str, Any]) -> bool:
        if sock not in served:
            served.add(sock)
            return whole(sock, OK)
        time.sleep(hold_s)
        return False

    return script


def _ask(r: Rig, marker: str) -> str:
    try:
        a = r.oa.chat.completions.create(
            model="oa-1", messages=[{"role": "user", "content": marker}]
        )
        return f"ok {a.choices[0].message.content}"
    except Exception as err:  # the outcome is what the test reads
        return f"error {type(err).__name__}"


def test_a_close_long_after_the_request_is_not_sent_again(r: Rig) -> None:
    marker = r.script("held-close", _answers_then_closes(hold_s=2.5))
    assert _ask(r, marker) == "ok ok"  # the connection is now idle in the sidecar's pool
    # its reuse: read, held, closed unanswered: a 503, the call counted as possibly billed
    with pytest.raises(openai.InternalServerError) as failed:
        r.oa.chat.completions.create(model="oa-1", messages=[{"role": "user", "content": marker}])
    row = r.decision(failed.value.response.headers["x-arbiter-decision-id"])
    assert [(a["model"], a["billed"]) for a in row["attempts"]] == [("oa-1", True)], row
    sent = [b for _, b in r.upstream.seen if marker in orjson.dumps(b).decode()]
    to_oa1 = [b for b in sent[1:] if b["model"] == "oa-1"]
    assert len(to_oa1) == 1, f"the held request reached oa-1 {len(to_oa1)} times"


def test_a_close_crossing_the_reuse_is_retried_once(r: Rig) -> None:
    marker = r.script("quick-close", _answers_then_closes(hold_s=0.0))
    assert _ask(r, marker) == "ok ok"
    # the reused connection closes at once: a fresh one (whose first request is answered)
    assert _ask(r, marker) == "ok ok"
    assert r.upstream.calls("quick-close") == 3
