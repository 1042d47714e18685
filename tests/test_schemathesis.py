"""Property-based fuzzing of the OpenAI surface from OpenAI's own spec (../shared/specs), with
schemathesis: valid and invalid requests to the operations Arbiter serves (chat completions,
responses, embeddings, completions, models), against a real sidecar
on loopback backed by the sim pool. Whatever the input: no 5xx, and no server error in its log.

Bounded and reproducible: a fixed number of examples per operation and mode, derandomized (the
same cases on every run), no example database; the whole test takes well under a minute.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.core.errors import UnsupportedSchema

from arbiter.inherited_socket import fd_args, loopback_listener, port_of, spawn_on
from arbiter.offline.demo import _wait_http, demo_config
from tests.child_process import die_with_parent
from tests.conftest import ADMIN_KEY, ENV
from tests.openapi_spec import _spec

# the spec's paths Arbiter serves (under /v1)
OPERATIONS = r"^/(chat/completions|models|models/\{model\}|responses|embeddings|completions)$"
EXAMPLES = 100  # per operation and generation mode
EXAMPLES_NEWER = 40  # the same for the endpoints beyond chat and models (bounds the run time)
# Server-side failures as the sidecar logs them (uvicorn's and our own unhandled-error lines)
LOG_ERRORS = ("Traceback", "unhandled error", "Exception in ASGI application")


class LoggedSidecar:
    """`arbiter serve` as a child process whose stderr (its log) goes to a file we read."""

    def __init__(self, config: Path, log: Path) -> None:
        sock = loopback_listener()
        self.port = port_of(sock)
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log = log
        self._log_file = log.open("wb")
        self.proc = spawn_on(
            sock, [sys.executable, "-m", "arbiter", "serve", "--config", str(config),
                   *fd_args(sock)],
            ENV, stderr=self._log_file, start_new_session=True, preexec_fn=die_with_parent(),
        )  # fmt: skip
        _wait_http(f"http://127.0.0.1:{self.port}/healthz", self.proc)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log_file.close()


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[LoggedSidecar]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    config = tmp / "arbiter.toml"
    config.write_text(demo_config(sim_url, tmp / "arbiter.db"))
    sidecar = LoggedSidecar(config, tmp / "sidecar.log")
    yield sidecar
    sidecar.stop()


def _operations() -> list[schemathesis.APIOperation]:
    # _spec(): OpenAPI 3.0's `nullable` made JSON Schema, so nulls are generated where allowed
    schema = schemathesis.openapi.from_dict(_spec()).include(path_regex=OPERATIONS)
    return [result.ok() for result in schema.get_all_operations()]


def _fuzz(
    operation: schemathesis.APIOperation, mode: GenerationMode, send: Any, examples: int
) -> None:
    @settings(
        max_examples=examples,
        derandomize=True,  # seeded from the test itself: the same cases every run
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: failures are collected instead
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        send(case)

    run()


@pytest.mark.timeout(300)
def test_no_input_from_the_spec_gets_a_5xx(fuzzed: LoggedSidecar) -> None:
    key = httpx.post(
        fuzzed.base_url.removesuffix("/v1") + "/arbiter/admin/keys",
        json={"tenant": "fuzz"},
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
        timeout=10,
    ).json()["key"]
    operations = _operations()
    served = {(op.method.upper(), op.path) for op in operations}
    assert {
        ("POST", "/chat/completions"), ("GET", "/models"), ("GET", "/models/{model}"),
        ("POST", "/responses"), ("POST", "/embeddings"), ("POST", "/completions"),
    } <= served  # fmt: skip
    sent: list[int] = []
    server_errors: list[str] = []
    unsupported: list[str] = []  # (operation, mode) pairs schemathesis could not draw from

    def send(case: schemathesis.Case) -> None:
        # Half the cases name `auto`, so fuzzed fields reach routing and the upstream too (a
        # random model name stops at the registry); every fourth keeps its generated API key.
        if isinstance(case.body, dict) and "model" in case.body and len(sent) % 2:
            case.body["model"] = "auto"
        headers = None if len(sent) % 4 == 0 else {"Authorization": f"Bearer {key}"}
        response = case.call(base_url=fuzzed.base_url, headers=headers, timeout=30)
        sent.append(response.status_code)
        if response.status_code >= 500:
            server_errors.append(
                f"{response.status_code} {case.method} {case.path} body={case.body!r:.300} "
                f"-> {response.text[:300]}"
            )

    for operation in operations:
        examples = (
            EXAMPLES if operation.path in ("/chat/completions", "/models") else EXAMPLES_NEWER
        )
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, send, examples)
            except UnsupportedSchema as err:
                # schemathesis itself gave up drawing (its negative mode met a `not` it cannot
                # complement): once in a clean-clone CI run, not reproduced in 9 local runs
                # (hash seeds 1-4, CI=true); the case it stopped at was never sent
                unsupported.append(f"{operation.method} {operation.path} {mode}: {err}")
    log = fuzzed.log.read_text(errors="replace")
    assert len(sent) >= EXAMPLES_NEWER * len(served)  # it ran (one mode per operation at least)
    assert 200 in sent and 400 in sent  # fuzzed requests reached the upstream, and were refused
    assert not server_errors, "\n".join(server_errors)
    assert len(unsupported) <= 1, unsupported  # one pair cut short; the rest fuzzed in full
    assert not [line for line in log.splitlines() if any(e in line for e in LOG_ERRORS)], log[
        -3000:
    ]
