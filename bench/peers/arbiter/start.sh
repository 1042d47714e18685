#!/usr/bin/env bash
# Start the Arbiter sidecar in front of the peerbench mock upstream (used as bench.py --proxy-cmd).
# Inputs (env, set by peerbench's bench.py):
#   UPSTREAM_BASE      mock base URL, e.g. http://127.0.0.1:18080/v1
#   PROXY_HOST         address to bind (127.0.0.1)
#   PROXY_PORT         port to bind
#   PEERBENCH_WORKDIR  scratch folder for the generated arbiter.toml and the SQLite store
# Optional:
#   ARBITER            the arbiter executable (default: the repo venv's, else `arbiter` on PATH)
#   ARBITER_BENCH_DIFFICULTY  "true" (default) or "false": per-prompt difficulty model on the path
#   ARBITER_BENCH_WORKERS     server.workers (default 1): processes on the port (bench/scale.py)
#   ARBITER_BENCH_WRITER      store.writer (default "thread"; "process": a child process writes
#                             the recorder's batches, for before/after runs)
#   ARBITER_BENCH_WRITER_PACE store.writer_pace (default true; "false": one transaction per
#                             batch, back to back, for before/after runs)
#   ARBITER_BENCH_IDLE_POLL_US server.idle_poll_us (unset or 0: not written, the default 0, so
#                             a base tree without the setting still reads the config)
#   ARBITER_BENCH_WRITER_PRIORITY store.writer_priority (default "nice"; "idle": the writer
#                             thread at SCHED_IDLE, or with ARBITER_BENCH_WRITER=process the
#                             writer process, for before/after runs)
# The pool: three models on the mock (it answers every name). `auto` is routed across all three
# (classification, difficulty, bandit choice, decision recording; grading runs off the path);
# `mock-gpt` is a concrete model, so a request naming it is a pass-through. Auth is open.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
: "${UPSTREAM_BASE:?}" "${PROXY_PORT:?}"
host="${PROXY_HOST:-127.0.0.1}"
workdir="${PEERBENCH_WORKDIR:-$(mktemp -d)}"
mkdir -p "$workdir"
store_dir="$(mktemp -d "$workdir/arbiter-store.XXXXXX")"
cfg="$workdir/arbiter.toml"
idle_poll=""
if [ -n "${ARBITER_BENCH_IDLE_POLL_US:-}" ] && [ "${ARBITER_BENCH_IDLE_POLL_US}" != "0" ]; then
  idle_poll="idle_poll_us = ${ARBITER_BENCH_IDLE_POLL_US}"
fi
cat > "$cfg" <<TOML
[server]
log_level = "warning"
workers = ${ARBITER_BENCH_WORKERS:-1}
${idle_poll}

[auth]
mode = "open"

[store]
url = "sqlite:///$store_dir/arbiter.db"
durability = "batched"
writer = "${ARBITER_BENCH_WRITER:-thread}"
writer_pace = ${ARBITER_BENCH_WRITER_PACE:-true}
writer_priority = "${ARBITER_BENCH_WRITER_PRIORITY:-nice}"

[routing]
baseline = "mock-large"
quality_target = 0.95
difficulty = ${ARBITER_BENCH_DIFFICULTY:-true}

[upstreams.mock]
protocol = "openai"
base_url = "$UPSTREAM_BASE"

[models.mock-mini]
upstream = "mock"
upstream_model = "mock-mini"
price_in_per_mtok = 0.15
price_out_per_mtok = 0.60
context_window = 128000
capabilities = ["chat", "json", "json-schema", "tools"]

[models.mock-gpt]
upstream = "mock"
upstream_model = "mock-gpt"
price_in_per_mtok = 2.50
price_out_per_mtok = 10.0
context_window = 128000
capabilities = ["chat", "json", "json-schema", "tools"]

[models.mock-large]
upstream = "mock"
upstream_model = "mock-large"
price_in_per_mtok = 10.0
price_out_per_mtok = 30.0
context_window = 128000
capabilities = ["chat", "json", "json-schema", "tools", "vision"]
TOML
arbiter="${ARBITER:-}"
if [ -z "$arbiter" ]; then
  if [ -x "$repo/.venv/bin/arbiter" ]; then arbiter="$repo/.venv/bin/arbiter"; else arbiter=arbiter; fi
fi
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
exec "$arbiter" serve --config "$cfg" --host "$host" --port "$PROXY_PORT"
