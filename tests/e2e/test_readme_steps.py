"""README.md's "Running the sidecar" steps, run as written: the commands are read out of the
section's first ```sh block and run by bash in a copy of examples/, with two changes only: the
two ports (9100, 8787) become free ones, and after each command sent to the background the
harness waits until that server answers (a person typing the next line takes that long)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from arbiter.inherited_socket import unheld_port
from tests.child_process import die_with_parent

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(120)


def readme_commands() -> list[str]:
    """The section's shell block, one logical command per item (continuations joined)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Running the sidecar", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "no ```sh block in README's 'Running the sidecar'"
    joined = block.group(1).replace("\\\n", " ")
    return [ln for ln in joined.splitlines() if ln.strip()]


def _wait(url: str) -> str:
    probe = (
        "import httpx, sys, time\n"
        "end = time.monotonic() + 30\n"
        "while time.monotonic() < end:\n"
        "    try:\n"
        # below 500: a lone sidecar answers 503 `starting` until its start-up is done
        f"        if httpx.get({url!r}, timeout=1).status_code < 500: sys.exit(0)\n"
        "    except httpx.HTTPError: pass\n"
        "    time.sleep(0.1)\n"
        f"sys.exit('{url} did not come up')\n"
    )
    return f"{sys.executable} -c {_quote(probe)}"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def test_readme_running_the_sidecar_steps_work_verbatim(tmp_path: Path) -> None:
    commands = readme_commands()
    assert any(c.startswith("arbiter serve") for c in commands)
    # the README's commands take port numbers: a verbatim run cannot be handed a socket
    sim_port, port = unheld_port(), unheld_port()
    ports = {"9100": str(sim_port), "8787": str(port)}

    def with_ports(text: str) -> str:
        return re.sub(r"\b(9100|8787)\b", lambda m: ports[m.group(1)], text)

    shutil.copytree(
        ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("*.db*")
    )
    for cfg in (tmp_path / "examples").glob("*.toml"):
        cfg.write_text(with_ports(cfg.read_text()))
    bin_dir = tmp_path / "bin"  # `arbiter` on PATH runs this checkout with this interpreter
    bin_dir.mkdir()
    (bin_dir / "arbiter").write_text(f'#!/bin/sh\nexec {sys.executable} -m arbiter "$@"\n')
    (bin_dir / "arbiter").chmod(0o755)

    script = ["set -euo pipefail"]
    for cmd in commands:
        script.append(with_ports(cmd))
        if re.search(r"&\s*(#.*)?$", cmd):  # sent to the background: wait until it answers
            if "arbiter sim" in cmd:
                script.append(_wait(f"http://127.0.0.1:{sim_port}/health"))
            else:
                script.append(_wait(f"http://127.0.0.1:{port}/healthz"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SIM_", "ARBITER_"))},
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }
    # files, not pipes: the servers it leaves in the background hold its stdout open
    with (tmp_path / "out").open("w") as stdout, (tmp_path / "err").open("w") as stderr:
        proc = subprocess.Popen(
            ["bash", "-c", "\n".join(script)],
            cwd=tmp_path,
            env=env,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # its background servers share its process group
            preexec_fn=die_with_parent(),  # bash only: what it leaves running is killed below
        )
        try:
            proc.wait(timeout=90)
        finally:
            with contextlib.suppress(ProcessLookupError):  # the sim and sidecar it left running
                os.killpg(proc.pid, signal.SIGTERM)
    out, err = (tmp_path / "out").read_text(), (tmp_path / "err").read_text()
    assert proc.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"
    reply = json.loads(out.strip().splitlines()[-1])
    assert reply["object"] == "chat.completion", reply
    assert reply["choices"][0]["message"]["content"]
    assert reply["model"].startswith("sim-")
    assert "every upstream answered" in out
    assert (tmp_path / "examples" / "arbiter.db").exists()  # beside the config, not in the cwd
